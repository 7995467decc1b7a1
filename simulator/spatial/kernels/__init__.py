"""Numba kernels. Leaves: they import nothing from the project and take only arrays and scalars."""
