"""Numba kernels. Leaves: they import nothing from the project but the start-up helper, and take only arrays
and scalars."""

from simulator.numba_start import skip_blas_probe

skip_blas_probe()
