"""Start Numba's cached kernels without its BLAS probe, which imports scipy.linalg (about 0.35 s of every
command's first kernel call on this machine).

Numba's `numba.np.arraymath` checks, once per process, whether SciPy's BLAS is importable so that `np.dot`
and `np.linalg` can be compiled. No Cascade kernel uses them (they take element loops over arrays), so the
probe is made to fail fast by hiding SciPy for the moment `arraymath` is imported; SciPy itself stays
importable for everything else. A kernel that called `np.dot` would fail to compile with Numba's own error
("scipy 0.16+ is required for linear algebra"), not compute anything different.
"""

from __future__ import annotations

import sys


def skip_blas_probe() -> None:
    """Import `numba.np.arraymath` with SciPy hidden, unless it or SciPy's linalg is already loaded."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    hidden = "scipy" if "scipy" not in sys.modules else "scipy.linalg"
    sys.modules[hidden] = None  # an import of it raises ImportError at once
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        del sys.modules[hidden]
