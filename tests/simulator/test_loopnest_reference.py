"""The traffic kernel against a literal loop-nest walk (`tests/simulator/loopnest_reference.py`), which picks
each Einsum's in-tile order itself: a kernel that picked the worse order would not pass.

Small shapes and a small arch, the shipped mappings with their sizes overridden in the YAML text.
Besides the shipped loop orders, cases with spatial folds (parts larger than the array), permuted
DRAM loops and loops of one iteration (B = H = 1 inside other DRAM loops, E = 1, K = 1): a loop of one
iteration never changes a tile, so it must not end a tensor's reuse.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from loopnest_reference import einsum_loop_nest, reference_counts

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import PRESET_DIR, parse_mapping
from simulator.spatial.batch import traffic
from simulator.spatial.lower import lower_group

ATTENTION = {"B": 1, "H": 1, "M": 32, "P": 32, "E": 4, "F": 4}


def preset_text(name: str, sizes: dict[str, int], replace: dict[str, str] | None = None) -> str:
    """A shipped mapping's YAML with part sizes (and other snippets) replaced."""
    text = (PRESET_DIR / f"{name}.yaml").read_text()
    for part, size in sizes.items():
        text, count = re.subn(rf"\b{part}: (\d+|max_fit|rows|cols|lanes)\b", f"{part}: {size}", text)
        assert count, f"{name}.yaml sizes no part {part}"
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} not in {name}.yaml"
        text = text.replace(old, new)
    return text


CASES = {
    "fusemax": ("fusemax", "fusemax", preset_text("fusemax", {"p0": 4, "m0": 4, "p1": 2}), ATTENTION, 4),
    "flat": ("softmax-3pass", "flat", preset_text("flat", {"p0": 4, "m0": 4}), ATTENTION, 4),
    "unfused": ("softmax-3pass", "unfused", preset_text("unfused", {"p0": 4, "m0": 4}), ATTENTION, 4),
    "gemm": ("gemm", "fusemax", preset_text("gemm", {"m0": 4, "n0": 4, "m1": 2}), {"M": 32, "K": 8, "N": 16}, 4),
    "fusemax-fusemax-no-binding": ("fusemax", "fusemax", preset_text("fusemax-no-binding", {"p0": 4, "m0": 4, "p1": 2}),
                                   {**ATTENTION, "M": 16, "E": 2, "F": 2}, 4),
    "fusemax-on-flat-hw": ("fusemax", "flat", preset_text("fusemax-cascade-on-flat-hw", {"p0": 4, "m0": 4, "p1": 1}),
                           {**ATTENTION, "P": 16}, 4),
    # spatial folds (parts of 4 on a 2 x 2 array), B = H = 2 with permuted DRAM loops, E = 1
    "fusemax-folds": ("fusemax", "fusemax", preset_text("fusemax", {"p0": 4, "m0": 4, "p1": 2},
                                                        {"[b, h, p2, m1]": "[p2, b, m1, h]"}),
                      {"B": 2, "H": 2, "M": 16, "P": 16, "E": 1, "F": 2}, 2),
    # DRAM loops of one iteration inside the ones that index Q: Q is fetched once per p2, not per m1
    "fusemax-unit-dram-loops": ("fusemax", "fusemax", preset_text("fusemax", {"p0": 4, "m0": 4, "p1": 2},
                                                                  {"[b, h, p2, m1]": "[p2, m1, b, h]"}),
                                {**ATTENTION, "M": 16, "P": 16, "E": 2, "F": 2}, 4),
    "flat-folds": ("softmax-3pass", "flat", preset_text("flat", {"p0": 4, "m0": 4}, {"[b, h, p2]": "[p2, b, h]"}),
                   {"B": 2, "H": 2, "M": 16, "P": 16, "E": 1, "F": 2}, 2),
    "unfused-folds": ("softmax-3pass", "unfused", preset_text("unfused", {"p0": 4, "m0": 4},
                                                             {"[b, h, p2, m1]": "[m1, b, p2, h]"}),
                      {"B": 2, "H": 2, "M": 16, "P": 16, "E": 1, "F": 2}, 2),
    "gemm-folds": ("gemm", "fusemax", preset_text("gemm", {"m0": 4, "n0": 4, "m1": 2}, {"[m2, n1]": "[n1, m2]"}),
                   {"M": 32, "K": 1, "N": 16}, 2),
}


def lowered_groups(case: str):
    cascade_name, arch_name, text, shapes, pe_dim = CASES[case]
    cascade = library_cascade(cascade_name)
    arch = load_arch(arch_name).with_overrides(pe_dim=pe_dim, global_buffer_bytes=1 << 20)
    mapping = parse_mapping(text, f"<{case}>")
    for variant in mapping.family():
        for position in range(len(variant.groups)):
            yield variant.name, lower_group(cascade, arch, variant, position, shapes)


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_loop_nest_reference(case):
    orders = set()
    for variant, lowered in lowered_groups(case):
        (cycles, _, dram_read, _, buffer_read, buffer_write, staging, _, _,
         reduced_innermost) = traffic(lowered, lowered.extents[None, :])
        start = time.perf_counter()
        reference = reference_counts(lowered)
        assert time.perf_counter() - start < 1.0
        assert reduced_innermost[0].astype(bool).tolist() == [reference.reduced_innermost[e.name]
                                                             for e in lowered.einsums], variant
        orders |= set(reduced_innermost[0].tolist())
        where = f"{variant}/{lowered.name}"
        for t, tensor in enumerate(lowered.tensors):
            for label, kernel, expected in (("buffer reads", buffer_read, reference.buffer_read),
                                            ("buffer writes", buffer_write, reference.buffer_write),
                                            ("DRAM reads", dram_read, reference.dram_read),
                                            ("staging accesses", staging, reference.staging)):
                assert kernel[0, t] == pytest.approx(expected[tensor], rel=1e-12), f"{where}: {label} of {tensor}"
        for e, einsum in enumerate(lowered.einsums):
            assert cycles[0, e] == pytest.approx(reference.cycles[einsum.name], rel=1e-12), \
                f"{where}: cycles of {einsum.name} (loops {reference.loops[einsum.name]})"
    assert orders, case


def test_cases_cover_both_orders_and_partial_sums():
    """Both in-tile orders are chosen somewhere, and some outputs are updated more often than written."""
    orders, partial = set(), 0
    for case in CASES:
        for _, lowered in lowered_groups(case):
            chosen = traffic(lowered, lowered.extents[None, :])[9][0]
            orders |= set(chosen.tolist())
            reference = reference_counts(lowered)
            for einsum in lowered.einsums:
                size = np.prod(lowered.extents[lowered.tensor_parts[lowered.tensors.index(einsum.name)]])
                partial += reference.updates[einsum.name] > size
    assert orders == {0, 1}
    assert partial > 0


def test_reference_counts_a_gemm_by_hand():
    """Z[m,n] = A[k,m] B[k,n]; DRAM loops m2 (2), n1 (4); buffer loop m1 (2); rows n0 (4), cols m0 (4) on a
    4 x 4 array; k (8) walked in time, innermost (output stationary)."""
    cascade = library_cascade("gemm")
    arch = load_arch("fusemax").with_overrides(pe_dim=4, global_buffer_bytes=1 << 20)
    mapping = parse_mapping(preset_text("gemm", {"m0": 4, "n0": 4, "m1": 2}))
    lowered = lower_group(cascade, arch, mapping, 0, {"M": 16, "K": 8, "N": 16})
    nest = [(lowered.parts[p], n) for p, n in einsum_loop_nest(lowered, lowered.extents, 0, True)]
    assert nest == [("m2", 2), ("n1", 4), ("m1", 2), ("k", 8)]  # m0 and n0 fit the array: no folds
    counts = reference_counts(lowered)
    # k innermost keeps Z in the PEs: 256 updates (x2) + 1024 operand reads, against 2048 updates with k outer
    assert counts.reduced_innermost["Z"] is True
    m2, n1, m1, k, m0, n0 = 2, 4, 2, 8, 4, 4
    # A (k, m) is indexed by m2 but not n1: fetched once per m2, its tile k x m1 x m0; B (k, n) by n1,
    # the innermost DRAM loop: fetched every DRAM step, its tile k x n0.
    assert counts.dram_read["A"] == m2 * (k * m1 * m0)
    assert counts.dram_read["B"] == m2 * n1 * (k * n0)
    # Each step of the nest reads a column slice of A (m0 words) and a row slice of B (n0 words).
    steps = m2 * n1 * m1 * k
    assert counts.steps["Z"] == steps
    assert counts.buffer_read["A"] == steps * m0 and counts.buffer_read["B"] == steps * n0
    # Z stays in the PEs over k: one update per (m2, n1, m1) of m0 x n0 words, written to DRAM (home dram).
    assert counts.updates["Z"] == m2 * n1 * m1 * m0 * n0
    assert counts.buffer_write["Z"] == 0 and counts.buffer_read["Z"] == 0
