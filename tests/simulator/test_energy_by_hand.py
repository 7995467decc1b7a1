"""Energy per score and storage accesses of the spatial model, derived by hand from the preset YAML numbers
and the mapping (issue 11 review): every expected value below is written out as the count of actions the
mapping implies times the energy per action the preset gives, not read back from the model.

The charges (REFERENCE.md §1 "Energy per action" and "How the artifact's model charges time and energy";
docs/fusemax-deviations.md §7):
- compute: each point of an Einsum costs its operators' energy; exp(a - b) on FuseMax (no exp unit) is a
  5th-order Taylor series, 6 MAC + 1 add (7 cycles); on FLAT's and the unfused design's lanes the adder feeds
  the exp unit (sub + exp energy, 1 cycle);
- registers: one update (priced as a write) per busy PE cycle, so an Einsum costs points x cycles x write_pj;
- global buffer: per row of `access_words` = 256 words, read_pj / write_pj per row;
- staging buffer: per row of 256 words; reads and writes are counted together (`kernels/costs.py` LEVELS) and each
  row access is charged the mean of the read and write row energies;
- DRAM: per access of `access_words` = 4 words (64 bits), read_pj / write_pj per access.

The energies per action are read from the preset files as plain YAML (not through `arch_models.load`), so a
change of the loader or of the operator composition cannot move the expected values with the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping
from simulator.studies.mapping_choice import simulate_family

ROOT = Path(__file__).resolve().parents[2]
REL = 1e-12  # every expected value is exact arithmetic on the preset's numbers


def preset(name: str) -> dict:
    return yaml.safe_load((ROOT / "arch_models" / "presets" / f"{name}.yaml").read_text())


def energies(spec: dict) -> dict[str, float]:
    """Energy per action from a preset file. The composed exponentials are composed here, by the rule
    REFERENCE.md §1 states, from the primitive units' energies."""
    two, one = spec["array_2d"], spec["array_1d"]
    e = {
        "mac2": two["operators"]["mac"]["energy_pj"], "add2": two["operators"]["add"]["energy_pj"],
        "mul1": one["operators"]["mul"]["energy_pj"],
        "add1": one["operators"]["add"]["energy_pj"], "max1": one["operators"]["max"]["energy_pj"],
        "div1": one["operators"]["div"]["energy_pj"],
        "reg2": two["register_file"]["write_pj"], "reg1": one["register_file"]["write_pj"],
        "gb_row_words": spec["global_buffer"]["access_words"],
        "gb_read": spec["global_buffer"]["read_pj"], "gb_write": spec["global_buffer"]["write_pj"],
        "dram_words": spec["dram"]["access_words"],
        "dram_read": spec["dram"]["read_pj"], "dram_write": spec["dram"]["write_pj"],
    }
    for name, array, key in (("max2", two, "max"), ("mac1", one, "mac")):  # FuseMax only
        if key in array["operators"]:
            e[name] = array["operators"][key]["energy_pj"]
    if spec.get("staging_buffer"):
        staging = spec["staging_buffer"]
        e.update(st_row_words=staging["access_words"], st_read=staging["read_pj"], st_write=staging["write_pj"])
    return e


def test_the_preset_numbers_the_derivations_use():
    """The values the hand derivations below are written for (REFERENCE.md §1 "Energy per action")."""
    fusemax, unfused = energies(preset("fusemax")), energies(preset("unfused"))
    assert (fusemax["mac2"], fusemax["add2"], fusemax["max2"], fusemax["div1"]) == (17.1645, 8.3395, 0.028036,
                                                                                  36.251153)
    assert (fusemax["reg2"], fusemax["reg1"]) == (0.56957, 0.56957)
    assert (fusemax["gb_row_words"], fusemax["gb_read"], fusemax["gb_write"]) == (256, 484.97271, 451.30271)
    assert (fusemax["st_row_words"], fusemax["st_read"], fusemax["st_write"]) == (256, 15.155, 14.103)
    assert (fusemax["dram_words"], fusemax["dram_read"], fusemax["dram_write"]) == (4, 249.6, 249.6)
    assert (unfused["reg2"], unfused["reg1"]) == (0.225259, 0.336188)
    assert preset("unfused")["array_1d"]["operators"]["exp"]["energy_pj"] == 94.6475


# ---------------------------------------------------------------------------------------------------------
# FuseMax (fusemax.yaml on the fusemax preset) at B = 1, H = 2, M = P = 512, E = 64, F = 32.
#
# Loops: b, h, p2, m1 at the DRAM level, p1 in the buffer, spatial m0 x p0 = 256 x 256 (2D) and p0 on the
# 256 lanes. M0 = P0 = 256, so M1 = M / 256 = 2; p1 is max_fit: Q, RM, RD, RNV for all 512 queries plus
# the K and V tiles are well under 16 MB, so P1 = P / 256 = 2 and P2 = 1. Per (b, h) instance (I = B*H = 2):
#
# Points (each Einsum's iteration space):
#   2D: QK M*P*E (mac), LM M*P (max), SLN M*P (exp = 6 mac + 1 add, 7 cycles), SLD M*P (add), SLNV M*P*F (mac)
#   1D: RM M1*P (max), PRM M1*P (exp, 7 cycles), SPD M1*P (mul), RD M1*P (add), SPNV M1*F*P (mul),
#       RNV M1*F*P (add), AV F*P (div)
# DRAM (only Q, K, V and AV touch it): Q once (no DRAM loop but p2 indexes it), K and V once per p2:
#   read E*P + E*M + F*M, write AV F*P.
# Global buffer (every tile moves 256-word rows; one read per point / broadcast):
#   writes: Q, K, V as fetched (E*P + E*M + F*M), RM and RD (M1*P each), RNV (M1*F*P);
#   reads:  Q by QK once per key tile: M1*P*E; K by QK once per block of 256 queries: E*M*P1;
#           V by SLNV likewise: F*M*P1; RM by RM, SLN and PRM (PRM names RM twice, one operand): 3*M1*P;
#           RD by SPD (M1*P) and AV (P); RNV by SPNV (M1*F*P) and AV (F*P).
# Staging (LM, SLD, PRM, SPD, one value per query per tile):
#   writes 4*M1*P; reads 5*M1*P (RM <- LM, RD <- SLD, RD <- SPD, SPD <- PRM, SPNV <- PRM).
# ---------------------------------------------------------------------------------------------------------
FUSEMAX_SHAPE = {"B": 1, "H": 2, "M": 512, "P": 512, "E": 64, "F": 32}


def fusemax_by_hand(B, H, M, P, E, F) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(energy components, energy per Einsum, words per storage level and direction) for the whole run."""
    e = energies(preset("fusemax"))
    exp2 = 6 * e["mac2"] + e["add2"]  # Taylor exp(a - b) on the 2D array: 6 MAC + 1 add, 7 cycles
    exp1 = 6 * e["mac1"] + e["add1"]  # the same on the lanes
    I, M1, P1 = B * H, M // 256, P // 256  # noqa: E741 (the instance count)
    points = {"QK": M * P * E, "LM": M * P, "SLN": M * P, "SLD": M * P, "SLNV": M * P * F,
              "RM": M1 * P, "PRM": M1 * P, "SPD": M1 * P, "RD": M1 * P, "SPNV": M1 * F * P, "RNV": M1 * F * P,
              "AV": F * P}
    per_point = {"QK": e["mac2"], "LM": e["max2"], "SLN": exp2, "SLD": e["add2"], "SLNV": e["mac2"],
                 "RM": e["max1"], "PRM": exp1, "SPD": e["mul1"], "RD": e["add1"], "SPNV": e["mul1"],
                 "RNV": e["add1"], "AV": e["div1"]}
    cycles = {name: 7 if name in ("SLN", "PRM") else 1 for name in points}  # busy cycles per point
    on_2d = ("QK", "LM", "SLN", "SLD", "SLNV")
    reg = {name: e["reg2"] if name in on_2d else e["reg1"] for name in points}
    einsum = {n: I * points[n] * (per_point[n] + cycles[n] * reg[n]) for n in points}
    words = {
        "dram_read": I * (E * P + E * M + F * M),
        "dram_write": I * F * P,
        "buffer_write": I * (E * P + E * M + F * M + 2 * M1 * P + M1 * F * P),
        "buffer_read": I * (M1 * P * E + E * M * P1 + F * M * P1 + 3 * M1 * P + M1 * P + P + M1 * F * P + F * P),
        "staging": I * (4 * M1 * P + 5 * M1 * P),
    }
    parts = {
        "compute_2d": sum(I * points[n] * per_point[n] for n in on_2d),
        "registers_2d": sum(I * points[n] * cycles[n] for n in on_2d) * e["reg2"],
        "compute_1d": sum(I * points[n] * per_point[n] for n in points if n not in on_2d),
        "registers_1d": sum(I * points[n] * cycles[n] for n in points if n not in on_2d) * e["reg1"],
        "buffer": words["buffer_read"] / e["gb_row_words"] * e["gb_read"]
        + words["buffer_write"] / e["gb_row_words"] * e["gb_write"],
        "staging": words["staging"] / e["st_row_words"] * (e["st_read"] + e["st_write"]) / 2,
        "dram": words["dram_read"] / e["dram_words"] * e["dram_read"]
        + words["dram_write"] / e["dram_words"] * e["dram_write"],
    }
    return parts, einsum, words


@pytest.fixture(scope="module")
def fusemax_report():
    return simulate_family(library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax"), FUSEMAX_SHAPE)


def test_fusemax_tiling_the_derivation_assumes(fusemax_report):
    extents = fusemax_report.groups[0].extents
    assert (extents["m1"], extents["m0"], extents["p2"], extents["p1"], extents["p0"]) == (2, 256, 1, 2, 256)


def test_fusemax_energy_components_by_hand(fusemax_report):
    parts, _, _ = fusemax_by_hand(**FUSEMAX_SHAPE)
    assert set(fusemax_report.energy_breakdown) == set(parts)
    for name, expected in parts.items():
        assert fusemax_report.energy_breakdown[name] == pytest.approx(expected, rel=REL), name
    assert fusemax_report.energy_pj == pytest.approx(sum(parts.values()), rel=REL)


def test_fusemax_energy_per_score_by_hand(fusemax_report):
    # Per score (I*M*P = 524288 scores) the sum of the parts above is 1859.239 pJ, of which the 2D array's
    # compute is (E + F)*17.1645 + 0.028036 + 111.3265 + 8.3395 = 1767.486 pJ and its registers
    # (E + 1 + 7 + 1 + F) * 0.56957 = 59.805 pJ.
    scores = FUSEMAX_SHAPE["B"] * FUSEMAX_SHAPE["H"] * FUSEMAX_SHAPE["M"] * FUSEMAX_SHAPE["P"]
    parts, _, _ = fusemax_by_hand(**FUSEMAX_SHAPE)
    assert fusemax_report.energy_pj / scores == pytest.approx(sum(parts.values()) / scores, rel=REL)
    assert fusemax_report.energy_pj / scores == pytest.approx(1859.239, abs=1e-3)
    assert fusemax_report.energy_breakdown["compute_2d"] / scores == pytest.approx(
        96 * 17.1645 + 0.028036 + 6 * 17.1645 + 8.3395 + 8.3395, rel=REL)
    assert fusemax_report.energy_breakdown["registers_2d"] / scores == pytest.approx(105 * 0.56957, rel=REL)


def test_fusemax_energy_per_einsum_by_hand(fusemax_report):
    """Compute plus registers of each Einsum: the exp Einsums (SLN, PRM) pay 7 register updates per point."""
    _, einsum, _ = fusemax_by_hand(**FUSEMAX_SHAPE)
    assert set(fusemax_report.einsum_energy_pj) == set(einsum)
    for name, expected in einsum.items():
        assert fusemax_report.einsum_energy_pj[name] == pytest.approx(expected, rel=REL), name


def test_fusemax_storage_accesses_are_words_over_access_width(fusemax_report):
    """Words per level by hand, and accesses = words / access_words (256 for the buffers, 4 for DRAM)."""
    _, _, words = fusemax_by_hand(**FUSEMAX_SHAPE)
    storage = fusemax_report.storage
    # Q, K, V from DRAM: I*E*P = 65536, I*E*M = 65536, I*F*M = 32768 words; AV back: I*F*P = 32768 words
    assert words["dram_read"] == 65536 + 65536 + 32768 and words["dram_write"] == 32768
    assert storage["dram"] == {"read_words": words["dram_read"], "read_accesses": words["dram_read"] / 4,
                               "write_words": words["dram_write"], "write_accesses": words["dram_write"] / 4,
                               "access_words": 4}
    assert storage["dram"]["read_accesses"] == 40960 and storage["dram"]["write_accesses"] == 8192
    assert storage["buffer"] == {"read_words": words["buffer_read"], "read_accesses": words["buffer_read"] / 256,
                                 "write_words": words["buffer_write"],
                                 "write_accesses": words["buffer_write"] / 256, "access_words": 256}
    assert storage["staging"] == {"words": words["staging"], "accesses": words["staging"] / 256,
                                  "access_words": 256}
    reads = fusemax_report.groups[0].tensor_dram_reads
    assert (reads["Q"], reads["K"], reads["V"]) == (65536, 65536, 32768)
    assert fusemax_report.dram_bytes == (words["dram_read"] + words["dram_write"]) * 2


def test_fusemax_storage_when_k_and_v_are_restreamed():
    """A 384 KB buffer holds only two blocks of 256 queries: K and V stream from DRAM once per block pair.

    Buffer words for P1 blocks (E = F = 64): Q P1*256*E (one copy, read in stage 0), RM P1*256 x 3 copies
    (born in stage 1, read in stage 3), RD and RNV P1*256*(1 + F) (stage 3 only), K 2 x 256*E (double-
    buffered stream), V 4 x 256*F (loaded in stage 0, read in stage 3): P1*256*132 + 256*384 words.
    P1 = 2: 165,888 words = 331,776 B fits 393,216 B; P1 = 4: 233,472 words = 466,944 B does not.
    So at P = 1024, M = 512: P1 = 2, P2 = 2, and DRAM reads are Q once (E*P = 65536) plus K and V once per
    p2 (2 * (E + F)*M = 131072): 196608 words, 49152 accesses; AV written once: F*P = 65536 words."""
    arch = load_arch("fusemax").with_overrides(global_buffer_bytes=384 * 1024)
    report = simulate_family(library_cascade("fusemax"), arch, load_mapping("fusemax"),
                      {"B": 1, "H": 1, "M": 512, "P": 1024, "E": 64, "F": 64})
    extents = report.groups[0].extents
    assert (extents["p2"], extents["p1"], extents["m1"]) == (2, 2, 2)
    assert report.storage["dram"] == {"read_words": 196608, "read_accesses": 49152, "write_words": 65536,
                                      "write_accesses": 16384, "access_words": 4}
    reads = report.groups[0].tensor_dram_reads
    assert (reads["Q"], reads["K"], reads["V"]) == (65536, 65536, 65536)
    assert report.occupancy_bytes["buffer"] == (2 * 256 * 132 + 256 * 384) * 2


# ---------------------------------------------------------------------------------------------------------
# Unfused (unfused.yaml on the unfused preset, the 3-pass cascade) at B = 1, H = 2, M = P = 512, E = 64,
# F = 32; three groups one after another, every M x P intermediate through DRAM. Per instance:
#   scores (2D, p1 max_fit: P1 = 2, P2 = 1; M1 = 2):
#     QK M*P*E mac. DRAM: read Q E*P, K E*M; write QK M*P. Buffer: write Q, K as fetched (E*P + E*M);
#     read Q once per key tile (E*M1*P), K once per block of 256 queries (E*M*P1).
#   softmax (1D, dram loops b, h, p; m0 = 256 lanes, m1 = 2 in time):
#     GM max, SN sub+exp (8.3395 + 94.6475, 1 cycle), SD add, A div: M*P points each.
#     DRAM: read QK M*P, write A M*P. Buffer: write QK as fetched (M*P), GM (P), SN (M*P), SD (P);
#     read QK by GM and SN (2*M*P), GM by SN (P), SN by SD and A (2*M*P), SD by A (P).
#   values (2D, P1 = 2, P2 = 1, M1 = 2):
#     AV M*P*F mac. DRAM: read V F*M and A M*P (A streamed: every array read is a DRAM read), write AV F*P.
#     Buffer: write V as fetched (F*M) and AV (F*P); read V once per block of 256 queries (F*M*P1).
#     AV's partial sums go back to the buffer once per further key tile m1 (the DRAM loop m1 is outside the
#     buffer loop p1): F*P*(M1 - 1) read and written again.
# ---------------------------------------------------------------------------------------------------------
UNFUSED_SHAPE = {"B": 1, "H": 2, "M": 512, "P": 512, "E": 64, "F": 32}


def unfused_by_hand(B, H, M, P, E, F) -> tuple[dict[str, float], dict[str, float]]:
    spec = preset("unfused")
    e = energies(spec)
    ops = spec["array_1d"]["operators"]
    sub_exp = ops["sub"]["energy_pj"] + ops["exp"]["energy_pj"]  # composed_of {sub: 1, exp: 1}, 1 cycle
    I, M1, P1 = B * H, M // 256, P // 256  # noqa: E741
    words = {
        "dram_read": I * ((E * P + E * M) + M * P + (F * M + M * P)),
        "dram_write": I * (M * P + M * P + F * P),
        "buffer_read": I * ((E * M1 * P + E * M * P1) + (4 * M * P + 2 * P) + (F * M * P1 + F * P * (M1 - 1))),
        "buffer_write": I * ((E * P + E * M) + (2 * M * P + 2 * P) + (F * M + F * P + F * P * (M1 - 1))),
    }
    parts = {
        "compute_2d": I * M * P * (E + F) * e["mac2"],
        "registers_2d": I * M * P * (E + F) * e["reg2"],
        "compute_1d": I * M * P * (e["max1"] + sub_exp + e["add1"] + e["div1"]),
        "registers_1d": I * M * P * 4 * e["reg1"],  # one busy cycle per point for each of GM, SN, SD, A
        "buffer": words["buffer_read"] / e["gb_row_words"] * e["gb_read"]
        + words["buffer_write"] / e["gb_row_words"] * e["gb_write"],
        "dram": words["dram_read"] / e["dram_words"] * e["dram_read"]
        + words["dram_write"] / e["dram_words"] * e["dram_write"],
    }
    return parts, words


@pytest.fixture(scope="module")
def unfused_report():
    return simulate_family(library_cascade("softmax-3pass"), load_arch("unfused"), load_mapping("unfused"),
                           UNFUSED_SHAPE)


def test_unfused_energy_by_hand(unfused_report):
    parts, _ = unfused_by_hand(**UNFUSED_SHAPE)
    assert [g.extents["p1"] for g in unfused_report.groups if "p1" in g.extents] == [2, 2]
    assert set(unfused_report.energy_breakdown) == set(parts)  # no staging buffer
    for name, expected in parts.items():
        assert unfused_report.energy_breakdown[name] == pytest.approx(expected, rel=REL), name
    scores = 2 * 512 * 512
    assert unfused_report.energy_pj / scores == pytest.approx(sum(parts.values()) / scores, rel=REL)
    assert unfused_report.energy_pj / scores == pytest.approx(2104.559, abs=1e-3)


def test_unfused_storage_by_hand(unfused_report):
    _, words = unfused_by_hand(**UNFUSED_SHAPE)
    storage = unfused_report.storage
    assert set(storage) == {"buffer", "dram"}
    for level, row in (("buffer", 256), ("dram", 4)):
        for direction in ("read", "write"):
            assert storage[level][f"{direction}_words"] == words[f"{level}_{direction}"], (level, direction)
            assert storage[level][f"{direction}_accesses"] == words[f"{level}_{direction}"] / row
        assert storage[level]["access_words"] == row
