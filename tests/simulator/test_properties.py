"""Properties of `simulate` on random mappings at small shapes.

Legal mappings (sizes that divide, permuted DRAM loops, the buffer loop kept or moved to DRAM, random
homes and spills, stages that never put a consumer before its producer, sometimes `max_fit`) must give
reports with utilizations in [0, 1], latency at least the busiest array's cycles and the DRAM time,
at least the compulsory DRAM traffic and the compute energy, and no higher latency with twice the DRAM
bandwidth; the traffic kernel must agree with the literal loop-nest reference on them. Mappings with
random defects must be rejected with `MappingRejected` and a message, never with another exception.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from loopnest_reference import reference_counts

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import PRESET_DIR, parse_mapping
from simulator.spatial.batch import traffic
from simulator.spatial.lower import MappingRejected, lower_group
from simulator.studies.mapping_choice import max_fit_sizes, simulate_family

FUSEMAX_ON_1D = ("RM", "PRM", "SPD", "RD", "SPNV", "RNV", "AV")
FUSEMAX_EINSUMS = ("QK", "LM", "RM", "SLN", "PRM", "SPD", "SLD", "RD", "SPNV", "SLNV", "RNV", "AV")
SOFTMAX_EINSUMS = ("QK", "GM", "SN", "SD", "A", "AV")
REL = 1e-9
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                                           HealthCheck.too_slow])


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def stages_for(draw, einsums, cascade_name: str) -> dict[str, int]:
    """Random stages, raised so that every Einsum is in the stage of its producers or a later one."""
    cascade = library_cascade(cascade_name)
    stages: dict[str, int] = {}
    for name in einsums:
        producers = [stages[r] for r in cascade.einsum(name).input_names if r in stages and r != name]
        stages[name] = max([draw(st.integers(0, 2))] + producers)
    return stages


def homes_for(draw, tensors, arch_name: str) -> dict[str, str]:
    levels = ["buffer", "buffer", "reg", "dram"] + (["staging", "staging"] if arch_name == "fusemax" else [])
    return {t: draw(st.sampled_from(levels)) for t in tensors}


def dram_loops(draw, loops: list[str], moved: list[str]) -> tuple[list[str], list[str]]:
    """A permutation of the DRAM loops; each of `moved` (buffer loops) stays a buffer loop or joins them."""
    order = list(draw(st.permutations(loops)))
    buffer = []
    for part in moved:
        if draw(st.booleans()):
            order.insert(draw(st.integers(0, len(order))), part)
        else:
            buffer.append(part)
    return order, buffer


@st.composite
def legal_cases(draw):
    """(cascade name, arch, mapping document, shapes) for a mapping that respects the structural rules."""
    kind = draw(st.sampled_from(["fusemax", "fusemax-on-1d", "flat", "unfused", "gemm"]))
    arch_name = "fusemax" if kind == "fusemax" else draw(st.sampled_from(["fusemax", "flat", "unfused", "flat-edge"]))
    pe_dim = draw(st.sampled_from([2, 4, 8]))
    arch = load_arch(arch_name).with_overrides(pe_dim=pe_dim, global_buffer_bytes=draw(st.sampled_from(
        [1 << 14, 1 << 16, 1 << 20])))
    if kind == "gemm":
        shapes = {"M": draw(st.sampled_from([8, 16, 32])), "K": draw(st.sampled_from([1, 2, 4, 8])),
                  "N": draw(st.sampled_from([8, 16]))}
    else:
        shapes = {"B": draw(st.sampled_from([1, 2])), "H": draw(st.sampled_from([1, 2])),
                  "M": draw(st.sampled_from([8, 16, 32])), "P": draw(st.sampled_from([8, 16, 32])),
                  "E": draw(st.sampled_from([1, 2, 4])), "F": draw(st.sampled_from([1, 2, 4]))}
    if kind in ("fusemax", "fusemax-on-1d"):
        p0 = draw(st.sampled_from(divisors(shapes["P"])))
        m0 = draw(st.sampled_from(divisors(shapes["M"])))
        p1 = draw(st.sampled_from(divisors(shapes["P"] // p0) + ["max_fit"]))
        loops, buffer = dram_loops(draw, ["b", "h", "p2", "m1"], ["p1"])
        if kind == "fusemax":
            arrays = {"default": "2d", **dict.fromkeys(FUSEMAX_ON_1D, "1d")}
        else:
            arrays = {"default": "1d", "QK": "2d", "SLNV": "2d"}
        intermediates = [e for e in FUSEMAX_EINSUMS if e != "AV"]
        group = {"name": "attention", "splits": {"p": ["p2", "p1", "p0"]}, "sizes": {"p0": p0, "m0": m0, "p1": p1},
                 "dram_loops": loops, "buffer_loops": buffer,
                 "spatial": {"2d": {"rows": "m0", "cols": "p0"}, "1d": {"lanes": "p0"}}, "arrays": arrays,
                 "stages": stages_for(draw, FUSEMAX_EINSUMS, "fusemax"),
                 "homes": {**homes_for(draw, intermediates, arch_name), "AV": "dram"}}
        document = {"version": 1, "name": kind, "cascade": "fusemax", "groups": [group]}
        return "fusemax", arch, document, shapes
    if kind in ("flat", "unfused"):
        p0 = draw(st.sampled_from(divisors(shapes["P"])))
        m0 = draw(st.sampled_from(divisors(shapes["M"])))
        splits = {"p": ["p2", "p0"], "m": ["m1", "m0"]}
        arrays = {"QK": "2d", "AV": "2d", "GM": "1d", "SN": "1d", "SD": "1d", "A": "1d"}
        if kind == "flat":
            loops, _ = dram_loops(draw, ["b", "h", "p2"], [])
            group = {"name": "attention", "splits": splits, "sizes": {"p0": p0, "m0": m0}, "dram_loops": loops,
                     "spatial": {"2d": {"rows": "m0", "cols": "p0"}, "1d": {"lanes": "p0"}}, "arrays": arrays,
                     "stages": stages_for(draw, SOFTMAX_EINSUMS, "softmax-3pass"),
                     "homes": {**homes_for(draw, ["QK", "GM", "SN", "SD", "A"], arch_name), "AV": "dram"},
                     "spill": [t for t in ("QK", "SN", "A") if draw(st.booleans())]}
            groups = [group]
        else:
            def matmul(name, einsum, rank_loops):
                loops, _ = dram_loops(draw, rank_loops, [])
                return {"name": name, "einsums": [einsum], "splits": splits, "sizes": {"p0": p0, "m0": m0},
                        "dram_loops": loops, "spatial": {"2d": {"rows": "m0", "cols": "p0"}},
                        "arrays": {einsum: "2d"}, "homes": {einsum: "dram"}}
            softmax_loops, _ = dram_loops(draw, ["b", "h", "p"], [])
            softmax = {"name": "softmax", "einsums": ["GM", "SN", "SD", "A"], "splits": {"m": ["m1", "m0"]},
                       "sizes": {"m0": m0}, "dram_loops": softmax_loops, "spatial": {"1d": {"lanes": "m0"}},
                       "arrays": {"default": "1d"}, "overlap_previous": draw(st.booleans()),
                       "stages": stages_for(draw, ["GM", "SN", "SD", "A"], "softmax-3pass"),
                       "homes": {**homes_for(draw, ["GM", "SN", "SD"], arch_name), "A": "dram"}}
            values = matmul("values", "AV", ["b", "h", "p2", "m1"])
            values["overlap_previous"] = draw(st.booleans())
            groups = [matmul("scores", "QK", ["b", "h", "p2", "m1"]), softmax, values]
        document = {"version": 1, "name": kind, "cascade": "softmax-3pass", "groups": groups}
        return "softmax-3pass", arch, document, shapes
    m0 = draw(st.sampled_from(divisors(shapes["M"])))
    n0 = draw(st.sampled_from(divisors(shapes["N"])))
    m1 = draw(st.sampled_from(divisors(shapes["M"] // m0) + ["max_fit"]))
    loops, buffer = dram_loops(draw, ["m2", "n1"], ["m1"])
    group = {"name": "gemm", "splits": {"m": ["m2", "m1", "m0"], "n": ["n1", "n0"]},
             "sizes": {"m0": m0, "n0": n0, "m1": m1}, "dram_loops": loops, "buffer_loops": buffer,
             "spatial": {"2d": {"rows": "n0", "cols": "m0"}}, "arrays": {"Z": "2d"},
             "homes": {"A": draw(st.sampled_from(["buffer", "dram"])), "Z": "dram"}}
    return "gemm", arch, {"version": 1, "name": "gemm", "cascade": "gemm", "groups": [group]}, shapes


def parse(document: dict):
    return parse_mapping(yaml.safe_dump(document, sort_keys=False), f"<{document['name']}>")


def simulated(draw_case):
    """A legal case and its report; cases the simulator rejects (e.g. tiles that overflow the buffer)
    are skipped, after checking the rejection carries a message."""
    cascade_name, arch, document, shapes = draw_case
    cascade = library_cascade(cascade_name)
    mapping = parse(document)
    try:
        report = simulate_family(cascade, arch, mapping, shapes)
    except MappingRejected as rejected:
        assert rejected.message
        assume(False)
    return cascade, arch, mapping, shapes, report


@SETTINGS
@given(legal_cases())
def test_utilization_in_unit_interval(case):
    _, arch, _, _, report = simulated(case)
    useful = np.sum([g.useful for g in report.groups], axis=0)  # before the report clamps it to 1
    assert useful[0] <= report.cycles * arch.array_2d.pes * (1 + REL)
    assert useful[1] <= report.cycles * arch.array_1d.pes * (1 + REL)


@SETTINGS
@given(legal_cases())
def test_latency_at_least_compute_and_dram_bounds(case):
    _, arch, _, _, report = simulated(case)
    busiest_array = np.sum([g.busy[:2] for g in report.groups], axis=0).max()
    dram_time = report.dram_bytes / arch.dram_bytes_per_cycle
    assert report.cycles >= max(busiest_array, dram_time) * (1 - REL)


def compulsory_words(cascade_name: str, shapes: dict[str, int]) -> float:
    """Every input read once and every output written once."""
    if cascade_name == "gemm":
        m, k, n = shapes["M"], shapes["K"], shapes["N"]
        return k * m + k * n + m * n
    b, h, m, p, e, f = (shapes[s] for s in "BHMPEF")
    return b * h * (e * p + e * m + f * m + f * p)  # Q, K, V in; AV out


@SETTINGS
@given(legal_cases())
def test_dram_traffic_at_least_compulsory(case):
    cascade, arch, _, shapes, report = simulated(case)
    assert report.dram_bytes >= compulsory_words(cascade.name, shapes) * arch.word_bytes * (1 - REL)


@SETTINGS
@given(legal_cases())
def test_energy_at_least_compute_energy(case):
    cascade, arch, mapping, shapes, report = simulated(case)
    variant = next(v for v in mapping.family() if v.name == report.mapping)
    compute = 0.0
    for position in range(len(variant.groups)):
        lowered = lower_group(cascade, arch, variant, position, shapes)
        for e in range(len(lowered.einsums)):
            points = np.prod(lowered.extents[lowered.einsum_parts[e]]) * lowered.density[e]
            compute += points * lowered.energy_per_point[e]
    assert compute > 0
    assert report.energy_pj >= compute * (1 - REL)


@SETTINGS
@given(legal_cases())
def test_more_dram_bandwidth_never_slower(case):
    cascade, arch, mapping, shapes, report = simulated(case)
    faster = arch.with_overrides(dram_bandwidth_bytes_per_s=2 * arch.dram.bandwidth_bytes_per_s)
    assert simulate_family(cascade, faster, mapping, shapes).cycles <= report.cycles * (1 + REL)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(legal_cases())
def test_traffic_kernel_equals_loop_nest_reference(case):
    cascade_name, arch, document, shapes = case
    cascade, mapping = library_cascade(cascade_name), parse(document)
    checked = 0
    for position in range(len(mapping.groups)):
        try:
            auto = max_fit_sizes(cascade, arch, mapping, position, shapes)
            lowered = lower_group(cascade, arch, mapping, position, shapes, auto)
        except MappingRejected:
            continue
        (cycles, _, dram_read, _, buffer_read, buffer_write, staging, _, _,
         reduced_innermost) = traffic(lowered, lowered.extents[None, :])
        reference = reference_counts(lowered)
        assert reduced_innermost[0].astype(bool).tolist() == [reference.reduced_innermost[e.name]
                                                             for e in lowered.einsums]
        for t, tensor in enumerate(lowered.tensors):
            assert buffer_read[0, t] == pytest.approx(reference.buffer_read[tensor], rel=1e-12), tensor
            assert buffer_write[0, t] == pytest.approx(reference.buffer_write[tensor], rel=1e-12), tensor
            assert dram_read[0, t] == pytest.approx(reference.dram_read[tensor], rel=1e-12), tensor
            assert staging[0, t] == pytest.approx(reference.staging[tensor], rel=1e-12), tensor
        for e, einsum in enumerate(lowered.einsums):
            assert cycles[0, e] == pytest.approx(reference.cycles[einsum.name], rel=1e-12), einsum.name
        checked += 1
    assume(checked)


DEFECTS = ("size", "reduced-dram-loop", "unknown-loop", "spatial-loop", "unknown-spatial", "staging",
           "array", "tiny-buffer", "unknown-einsum", "missing-shape", "registers", "raw-stages", "tiles-in-flight")


@st.composite
def defective_cases(draw):
    """A legal case with one to three random defects (most of them make the mapping illegal)."""
    cascade_name, arch, document, shapes = draw(legal_cases())
    shapes = dict(shapes)
    group = document["groups"][draw(st.integers(0, len(document["groups"]) - 1))]
    for defect in draw(st.lists(st.sampled_from(DEFECTS), min_size=1, max_size=3, unique=True)):
        if defect == "size" and group["sizes"]:
            part = draw(st.sampled_from(sorted(group["sizes"])))
            group["sizes"][part] = draw(st.sampled_from([3, 5, 7, 64]))
        elif defect == "reduced-dram-loop":  # a part a producer reduces, looped above its consumer
            part = {"fusemax": "e", "softmax-3pass": "m1", "gemm": "k"}[cascade_name]
            group["dram_loops"] = list(group["dram_loops"]) + [part]
        elif defect == "unknown-loop":
            group["dram_loops"] = list(group["dram_loops"]) + ["zz"]
        elif defect == "spatial-loop":
            dims = next(iter(group["spatial"].values()))
            group["buffer_loops"] = list(group.get("buffer_loops", [])) + [next(iter(dims.values()))]
        elif defect == "unknown-spatial":
            array, dims = next(iter(group["spatial"].items()))
            dims[draw(st.sampled_from(["rows", "cols"] if array == "2d" else ["lanes"]))] = "q9"
        elif defect == "staging":
            einsums = group.get("einsums") or list(group.get("stages") or []) or list(group["arrays"])
            group["homes"][draw(st.sampled_from([e for e in einsums if e != "default"]))] = "staging"
        elif defect == "array":
            einsums = [e for e in group["arrays"] if e != "default"]
            if einsums:
                name = draw(st.sampled_from(einsums))
                group["arrays"][name] = {"2d": "1d", "1d": "2d"}[group["arrays"][name]]
        elif defect == "tiny-buffer":
            arch = arch.with_overrides(global_buffer_bytes=draw(st.sampled_from([16, 256])))
        elif defect == "unknown-einsum":
            group["einsums"] = list(group.get("einsums") or []) + ["NOPE"]
        elif defect == "missing-shape":
            del shapes[draw(st.sampled_from(sorted(shapes)))]
        elif defect == "raw-stages" and group.get("stages"):  # not raised to their producers' stages
            group["stages"] = {e: draw(st.integers(0, 2)) for e in group["stages"]}
        elif defect == "tiles-in-flight":
            group["tiles_in_flight"] = 1
        elif defect == "registers":
            for einsum in list(group["arrays"]):
                if einsum != "default":
                    group["homes"][einsum] = "reg"
    return cascade_name, arch, document, shapes


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(defective_cases())
def test_defective_mappings_are_rejected_with_a_message(case):
    cascade_name, arch, document, shapes = case
    try:
        report = simulate_family(library_cascade(cascade_name), arch, parse(document), shapes)
    except MappingRejected as rejected:
        assert rejected.message.strip() and str(rejected).strip()
        return
    assert report.cycles > 0 and math.isfinite(report.energy_pj)


def flat_pipelined(stages: str, tiles_in_flight: int | None = None):
    text = (PRESET_DIR / "flat-best.yaml").read_text().replace("p0: cols, m0: rows", "p0: 4, m0: 4")
    old = "stages: {GM: 1, SN: 1, SD: 1, A: 1, AV: 2}"
    assert old in text
    new = f"stages: {stages}" + (f"\n  tiles_in_flight: {tiles_in_flight}" if tiles_in_flight else "")
    mapping = parse_mapping(text.replace(old, new))
    return next(v for v in mapping.variants if v.name == "flat-best-pipelined")


def test_consumer_in_an_earlier_stage_than_its_producer_is_rejected():
    cascade, arch = library_cascade("softmax-3pass"), load_arch("flat").with_overrides(pe_dim=4)
    shapes = {"B": 1, "H": 1, "M": 16, "P": 16, "E": 4, "F": 4}
    simulate_family(cascade, arch, flat_pipelined("{GM: 1, SN: 1, SD: 1, A: 1, AV: 2}"), shapes)
    # GM would work on tile t while QK, which GM reads, is still on tile t - 2
    with pytest.raises(MappingRejected, match="GM .*reads QK.* later stage 2"):
        simulate_family(cascade, arch, flat_pipelined("{QK: 2, GM: 1, SN: 1, SD: 1, A: 1}"), shapes)


def test_fewer_tiles_in_flight_than_the_stages_is_rejected():
    # stages 0, 1 and 2 work on tiles t, t - 1 and t - 2: three tiles' buffers coexist. With two, tile t's load
    # (the DRAM task, issued first in its step) would take the slot of tile t - 2 before its stage-2 AV issued
    cascade, arch = library_cascade("softmax-3pass"), load_arch("flat").with_overrides(pe_dim=4)
    shapes = {"B": 1, "H": 1, "M": 16, "P": 16, "E": 4, "F": 4}
    simulate_family(cascade, arch, flat_pipelined("{GM: 1, SN: 1, SD: 1, A: 1, AV: 2}", 3), shapes)
    for slots in (1, 2):
        with pytest.raises(MappingRejected, match=f"tiles_in_flight = {slots} .* at least 3 tiles"):
            simulate_family(cascade, arch, flat_pipelined("{GM: 1, SN: 1, SD: 1, A: 1, AV: 2}", slots), shapes)
