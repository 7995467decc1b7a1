"""Register occupancy of a register-homed tensor = its elements per PE x its pipeline copies (the traffic
kernel's `occupancy[:, 3]` per 2D PE and `occupancy[:, 4]` per 1D lane, each checked against its own array's
register file by `batch.fits`), counted by hand for FuseMax.

FuseMax (fusemax.yaml, docs/fusemax-deviations.md §5): QK[m1, m0, p] is homed in registers, one element per
PE (m0 x p0 = 256 x 256 on 256 x 256 PEs). QK is born in stage 0 and SLN = exp(QK - RM) overwrites it in place
(SLN is QK's last reader, same parts, same home) in stage 3, where SLD and SLNV read SLN: the entries live
from stage 0 to stage 3, 4 copies. SLNV and SPNV stream into RNV (no entries). So 4 registers per PE of 16.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import parse_mapping
from simulator.spatial.lower import CapacityRejected
from simulator.studies.mapping_choice import simulate_family

ROOT = Path(__file__).resolve().parents[2]
WORD = 2  # bytes, fusemax.yaml word_bytes
SHAPE = {"B": 1, "H": 1, "M": 512, "P": 256, "E": 64, "F": 64}
LATE = ("SLN", "SLD", "SLNV", "PRM", "SPD", "RD", "SPNV", "RNV", "AV")  # stage 3 in fusemax.yaml


def fusemax_mapping(stages: dict[str, int] | None = None, sizes: dict | None = None):
    document = yaml.safe_load((ROOT / "mappers" / "presets" / "fusemax.yaml").read_text())
    group = document["groups"][0]
    if stages is not None:
        group["stages"] = stages
    group["sizes"].update(sizes or {})
    return parse_mapping(yaml.safe_dump(document), "<fusemax variant>")


def run(mapping, shape=SHAPE):
    return simulate_family(library_cascade("fusemax"), load_arch("fusemax"), mapping, shape)


def test_fusemax_needs_four_registers_per_pe():
    # 1 element of QK per PE x 4 copies (stages 0..3) = 4 words = 8 bytes
    assert run(fusemax_mapping()).occupancy_bytes["register_per_pe"] == 4 * WORD


def test_two_keys_per_pe_double_the_registers():
    # m0 = 512 keys on 256 rows: 2 elements of QK per PE (folded), x 4 copies = 8 words
    report = run(fusemax_mapping(sizes={"m0": 512}))
    assert report.groups[0].extents["m0"] == 512
    assert report.occupancy_bytes["register_per_pe"] == 8 * WORD


def deep_binding(stage: int) -> dict[str, int]:
    """fusemax.yaml's binding with the exponentials and the 1D correction `stage` tiles behind QK."""
    return {"RM": 1, **dict.fromkeys(LATE, stage)}


def test_copies_fill_the_register_file_exactly():
    # SLN in stage 15: QK's entries live in stages 0..15, 16 copies of 1 word = the 16-entry file, which fits
    assert run(fusemax_mapping(deep_binding(15))).occupancy_bytes["register_per_pe"] == 16 * WORD


def test_one_copy_more_than_the_register_file_is_rejected():
    # SLN in stage 16: 17 copies of 1 word > 16 entries (one copy per PE would fit: only the copies overflow)
    with pytest.raises(CapacityRejected, match=r"registers 17\.0 words per 2D PE of 16"):
        run(fusemax_mapping(deep_binding(16)))


# RNV one stage after SPNV and SLNV (3 -> 4): both hold their results for one more tile, 2 copies each
HELD = {"RM": 1, **dict.fromkeys(("SLN", "SLD", "SLNV", "PRM", "SPD", "RD", "SPNV"), 3), "RNV": 4, "AV": 4}


def test_a_held_1d_result_counts_per_lane():
    # F = 32: SPNV[m1, f, p] on the 1D array is f x p0 = 32 x 256 words over 256 lanes, x 2 copies = 64 words
    # per lane, more than the lanes' 32 entries (and than the PEs' 16): rejected however the arrays are combined
    with pytest.raises(CapacityRejected, match="registers"):
        run(fusemax_mapping(HELD), {**SHAPE, "F": 32})


def test_each_array_holds_its_own_registers():
    # HELD, F = 8. 2D PE: QK 1 word x 4 copies + SLNV[m1, f, p] (f x p0 = 8 x 256 words over 65536 PEs) x 2 copies
    #   = 4 + 0.0625 = 4.0625 words of 16.
    # 1D lane: SPNV[m1, f, p] (8 x 256 words over 256 lanes) x 2 copies = 16 words of 32.
    # Each array fits its own file (a sum of the two, 20.06 words, would overflow the PEs' 16).
    report = run(fusemax_mapping(HELD), {**SHAPE, "F": 8})
    assert report.occupancy_bytes["register_per_pe"] == pytest.approx(4.0625 * WORD)
    assert report.occupancy_bytes["register_per_lane"] == pytest.approx(16 * WORD)


def test_the_lanes_fill_their_own_larger_file():
    # HELD, F = 16. 1D lane: SPNV (16 x 256 words over 256 lanes) x 2 copies = 32 words: the lanes' 32 entries
    # exactly, twice the PEs' 16. 2D PE: 4 + 16 x 256 / 65536 x 2 = 4.125 words.
    report = run(fusemax_mapping(HELD), {**SHAPE, "F": 16})
    assert report.occupancy_bytes["register_per_lane"] == pytest.approx(32 * WORD)
    assert report.occupancy_bytes["register_per_pe"] == pytest.approx(4.125 * WORD)
