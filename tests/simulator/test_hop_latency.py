"""The hop latency of a spatial reduction (`batch.delivery_lag`, `lower._returns_to_own_array`), worked out by
hand on FuseMax's ablation step without binding (fusemax-no-binding.yaml, docs/fusemax-deviations.md §6).

The rule (REFERENCE.md §1 "How the artifact's model charges time and energy"; deviations §5): a reduction over
a part spread across an array dimension delivers its result after hops = min(extent, array dimension) PEs,
each costing the reduce operator's cycles; a consumer on the other array waits for it only when the result
comes back to the reducing array within the tile (LM on the 2D array -> RM on the 1D array -> SLN on the 2D
array). SLD -> RD and SLNV -> RNV leave the 2D array for good: no lag.

One tile without binding (one tile in flight, every Einsum in stage 0; tasks issue in order on each array:
2D QK, LM, SLN, SLD, SLNV; 1D RM, PRM, SPD, RD, SPNV, RNV, AV), with k = ceil(m0 / rows) folds of the keys,
h the 2D max unit's cycles and L = min(m0, rows) * h the hop lag:
    QK     2D  [0, kE]
    LM     2D  [kE, kE + kh]
    RM     1D  [kE + kh + L, R]                      R = kE + kh + L + 1   (waits for LM's hops)
    SLN    2D  [R, R + 7k]     PRM 1D [R, R + 7]      exp = 6 MAC + 1 add, 7 cycles
    SPD    1D  [R + 7, R + 8]  SLD 2D [R + 7k, R + 8k]
    RD     1D  [R + 8k, R + 8k + 1]                  (waits for SLD, no lag: SLD's result is one-way)
    SPNV   1D  [R + 8k + 1, R + 8k + 1 + F]          (issues after RD on the lanes)
    SLNV   2D  [R + 8k, R + 8k + kF]
    RNV    1D  starts when SPNV and SLNV are done, takes F
    AV     1D  the final division, F * P / lanes cycles in all, charged evenly over the tiles: F / M1 per tile
At the 256 x 256 array (k = 1, h = 1, L = 256): RNV ends at E + 1 + 256 + 1 + 8 + 1 + F + F = E + 2F + 267
(deviations §6), plus F / M1 for AV. Tiles run one after another (one tile in flight), each after its DRAM
load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arch_models import load_arch
from arch_models.load import parse_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping, parse_mapping
from simulator.spatial.batch import delivery_lag
from simulator.spatial.lower import lower_group
from simulator.studies.mapping_choice import simulate_family

ROOT = Path(__file__).resolve().parents[2]
FREE_DRAM = {"dram_bandwidth_bytes_per_s": 1e18}  # DRAM time ~1e-3 cycles: the compute chain alone


@pytest.mark.parametrize(("M", "P", "E", "F", "tiles", "per_tile"), [
    (1024, 256, 64, 64, 4, 64 + 2 * 64 + 267 + 64 / 4),  # M1 = 4, P1 = 1: 475 cycles per tile
    (1024, 512, 64, 32, 8, 64 + 2 * 32 + 267 + 32 / 4),  # M1 = 4, P1 = 2: 403
    (256, 256, 128, 64, 1, 128 + 2 * 64 + 267 + 64 / 1),  # M1 = 1: 587
])
def test_no_binding_tile_is_e_plus_2f_plus_267(M, P, E, F, tiles, per_tile):
    arch = load_arch("fusemax").with_overrides(**FREE_DRAM)
    report = simulate_family(library_cascade("fusemax"), arch, load_mapping("fusemax-no-binding"),
                      {"B": 1, "H": 1, "M": M, "P": P, "E": E, "F": F})
    extents = report.groups[0].extents
    assert extents["m1"] * extents["p1"] * extents["p2"] == tiles
    assert report.cycles == pytest.approx(tiles * per_tile, abs=0.01)


def test_no_binding_tiles_wait_for_their_dram_loads():
    """With the real 400 GiB/s, each tile's DRAM task (Q, K, V in, AV out, spread evenly over the tiles) runs
    before its compute and after the previous tile (one tile in flight): cycles = 4 * 475 + all DRAM time.
    DRAM words: Q E*P + K E*M + V F*M + AV F*P = 16384 + 65536 + 65536 + 16384 = 163840, 327680 bytes at
    400 * 2^30 / 940e6 = 456.91 bytes per cycle: 717.16 cycles."""
    report = simulate_family(library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax-no-binding"),
                      {"B": 1, "H": 1, "M": 1024, "P": 256, "E": 64, "F": 64})
    dram_cycles = 163840 * 2 / (400 * 2**30 / 940e6)
    assert report.cycles == pytest.approx(4 * 475 + dram_cycles, rel=1e-9)


# A 4 x 4 array (pe_dim override, 4 lanes) whose 2D max unit takes h = 3 cycles, so that a hop's cost is not
# the same as a hop count; m0 below, at, and above the 4 rows. Shape: M = 16, P = 8 (p0 = 4, p1 = 1, p2 = 2),
# E = F = 2.
SMALL_SHAPE = {"B": 1, "H": 1, "M": 16, "P": 8, "E": 2, "F": 2}


def small_arch():
    spec = yaml.safe_load((ROOT / "arch_models" / "presets" / "fusemax.yaml").read_text())
    spec["array_2d"]["operators"]["max"]["cycles"] = 3
    return parse_arch(yaml.safe_dump(spec), "<fusemax, 3-cycle max>").with_overrides(pe_dim=4)


def no_binding(m0: int):
    document = yaml.safe_load((ROOT / "mappers" / "presets" / "fusemax-no-binding.yaml").read_text())
    document["groups"][0]["sizes"] = {"p0": 4, "m0": m0, "p1": 1}
    return parse_mapping(yaml.safe_dump(document), f"<no binding, m0 = {m0}>")


@pytest.mark.parametrize(("m0", "lm_lag"), [(2, 2 * 3), (4, 4 * 3), (8, 4 * 3)])  # min(m0, 4 rows) hops x 3
def test_hop_lag_is_min_of_extent_and_array_dim_times_hop_cycles(m0, lm_lag):
    lowered = lower_group(library_cascade("fusemax"), small_arch(), no_binding(m0), 0, SMALL_SHAPE)
    row = delivery_lag(lowered, lowered.extents[None, :])[0]  # one lag per Einsum, then the DRAM task's
    assert row[-1] == 0.0
    lag = dict(zip([e.name for e in lowered.einsums], row[:-1], strict=True))
    assert lag["LM"] == lm_lag
    # SLD (add over m0) and SLNV (mac over m0) reduce across the rows too, but their results leave the 2D
    # array for good; QK reduces e in time, not across the array
    assert {name: value for name, value in lag.items() if name != "LM"} == dict.fromkeys(
        [e.name for e in lowered.einsums if e.name != "LM"], 0.0)
    hop = dict(zip([e.name for e in lowered.einsums], lowered.reduce_hop_cycles, strict=True))
    assert (hop["LM"], hop["SLD"], hop["SLNV"]) == (3, 0, 0)  # max on the 2D array: 3 cycles per hop


@pytest.mark.parametrize(("m0", "tiles", "per_tile"), [
    # k = 1, L = 6: R = 2 + 3 + 6 + 1 = 12; RNV ends at R + 8 + 1 + F + F = 25; AV 4 / 16 tiles = 0.25
    (2, 16, 25.25),
    # k = 1, L = 12: R = 18; RNV ends at 31; AV 4 / 8 = 0.5
    (4, 8, 31.5),
    # k = 2, L = 12: R = 4 + 6 + 12 + 1 = 23; SLD ends R + 16 = 39, RD 40, SPNV 42, SLNV 39 + 4 = 43,
    # RNV [43, 45]; AV 4 / 4 = 1
    (8, 4, 46.0),
])
def test_no_binding_tile_latency_on_a_small_array(m0, tiles, per_tile):
    report = simulate_family(library_cascade("fusemax"), small_arch().with_overrides(**FREE_DRAM), no_binding(m0),
                      SMALL_SHAPE)
    extents = report.groups[0].extents
    assert (extents["m0"], extents["m1"] * extents["p2"]) == (m0, tiles)
    assert report.cycles == pytest.approx(tiles * per_tile, abs=0.01)
