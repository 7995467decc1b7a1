"""`simulator.heap`: glibc keeps the mapper's freed batch arrays for the next batch (mallopt accepted)."""

import platform

import pytest

from simulator.heap import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_glibc_takes_both_thresholds_once_per_process():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # cached: the thresholds are set once
    assert keep_freed_memory.cache_info().misses == 1
