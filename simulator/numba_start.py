"""Start Numba's cached kernels without its BLAS probe, which imports scipy.linalg (about 0.35 s of every
command's first kernel call on this machine).

Numba's `numba.np.arraymath` checks, once per process, whether SciPy's BLAS is importable so that `np.dot`
and `np.linalg` can be compiled. No Cascade kernel uses them (they take element loops over arrays), so the
probe is made to fail fast by hiding scipy.linalg for the moment `arraymath` is imported (`import numba`
has already imported the top-level `scipy`); scipy.linalg stays importable for everything else. A kernel
that called `np.dot` would fail to compile with Numba's own error ("scipy 0.16+ is required for linear
algebra"), not compute anything different.
"""

from __future__ import annotations

import sys


def skip_blas_probe() -> None:
    """Import `numba.np.arraymath` with scipy.linalg hidden, unless either is already loaded."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # an import of it raises ImportError at once
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        del sys.modules["scipy.linalg"]
