"""Suspect measurements: a tile-skipping kernel's causal run slower than its non-causal run of the same shape."""

from __future__ import annotations

from simulator.gpu.consistency import suspect_rows
from simulator.gpu.measurements import Measurement


def _row(kernel: str, causal: bool, value: float, headdim: int = 64, seqlen: int = 512, unit: str = "TFLOPs/s"):
    return Measurement(gpu="H100-SXM5-80GB", kernel=kernel, passes="fwd", causal=causal, headdim=headdim,
                       nheads_q=32, nheads_kv=32, batch=32, seqlen_q=seqlen, seqlen_kv=seqlen, dtype="fp16",
                       value=value, unit=unit, source="test", provenance="test")


def test_causal_slower_than_non_causal_is_flagged():
    # FA2 at d = 64 uses a 128 x 128 tile either way; 512 tokens: causal computes 10 of 16 tiles. Counted FLOPs
    # halve for causal, so 40 TFLOP/s causal is 1.25x the non-causal time at 100 TFLOP/s; 60 is 0.83x.
    found = suspect_rows([_row("FA2", False, 100.0), _row("FA2", True, 40.0)])
    assert list(found) == [1] and "62%" in found[1]
    assert suspect_rows([_row("FA2", False, 100.0), _row("FA2", True, 60.0)]) == {}


def test_times_in_microseconds_are_compared_directly():
    assert list(suspect_rows([_row("FA2", False, 200.0, unit="us"), _row("FA2", True, 210.0, unit="us")])) == [1]
    assert suspect_rows([_row("FA2", False, 200.0, unit="us"), _row("FA2", True, 190.0, unit="us")]) == {}


def test_not_flagged_where_the_subset_argument_does_not_hold():
    # the unfused chain computes every score (dense masking): causal is slower, and rightly so
    assert suspect_rows([_row("PyTorch-std", False, 100.0), _row("PyTorch-std", True, 20.0)]) == {}
    # FA3 ships a different tile for causal at d = 128 (128 x 128 against 128 x 192)
    assert suspect_rows([_row("FA3", False, 500.0, headdim=128), _row("FA3", True, 100.0, headdim=128)]) == {}
    # one 128-row query block, one key tile: the causal run computes every tile, masked
    assert suspect_rows([_row("FA2", False, 100.0, seqlen=128), _row("FA2", True, 40.0, seqlen=128)]) == {}
    # no non-causal partner of the same shape
    assert suspect_rows([_row("FA2", False, 100.0, seqlen=1024), _row("FA2", True, 40.0)]) == {}
