"""The GPU model's half of `run_point`: a GPU mapping's kernel for a workload's attention or given shapes.

`gpu_workload_point` maps the workload's attention (batch, heads, K/V heads, sequence length, head dims) onto
the GPU and returns the shared keys of a point (design, workload, seq_len, latency_s, energy_pj, dram_bytes,
util_2d, util_1d, area_mm2, scope, bound, mapping, arch, cascade) plus GPU fields (achieved TFLOP/s, per-phase
table, tile and occupancy, fitted efficiencies). `end_to_end` adds the layer's projection and FFN GEMMs
(cuBLAS-like). Energy: no per-action GPU energies are cited, so `energy_pj` is an upper bound, board power x
time. A mapping `with_cascade` runs its kernel on another cascade: its tile work is derived from that
cascade's Einsums (`simulator.gpu.cascade_work`, reported as `tile_work`). `gpu_shape_point` takes the
problem from shape symbols instead of a workload. `achieved_tflops` counts the FLOPs of softmax attention of
the problem's shape (REFERENCE.md §2) whatever the cascade computes, over the query-key pairs its masks keep
(their declared density), as causal attention's are halved.
"""

from __future__ import annotations

from arch_models.gpu import GpuArch
from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.errors import SpecError
from einsum_cascade.library import resolve_cascade
from mappers.gpu_kernels import GpuMapping, load_gpu_mapping
from simulator.gpu.attention import AttentionProblem
from simulator.gpu.cascade_work import mapping_tile_work, pair_density
from simulator.gpu.model import time_phase
from simulator.gpu.simulate import GpuReport, default_efficiency, simulate_attention
from simulator.gpu.unfused import gemm
from simulator.studies.result import PointResult, point_result
from workloads.zoo import attention_shapes, layer_gemms, load_model, parse_seq_len

PJ_PER_JOULE = 1e12
GEMM_MAPPING = "pytorch-unfused"  # its tile is the cuBLAS-like GEMM tile
OCCUPANCY_KEYS = ("blocks_per_sm", "occupancy_limiter", "registers_per_thread", "shared_memory_bytes", "grid_blocks",
                  "splits")
ENERGY_NOTE = "upper bound: board power limit x time (no per-action GPU energies are cited)"


def gpu_workload_point(gpu: GpuArch, mapping: GpuMapping, workload: str, seq_len: int | str,
                       batch: int | None = None, end_to_end: bool = False, causal: bool = False,
                       mapping_overrides: dict | None = None, design: str | None = None) -> PointResult:
    """A workload's attention on the GPU (`end_to_end`: plus the layer's GEMMs); `mapping_overrides` only label
    the row (they are already applied to `mapping`)."""
    model, tokens, problem = workload_problem(mapping, workload, seq_len, batch, causal)
    efficiency = default_efficiency()
    row = _problem_row(gpu, mapping, problem, efficiency, {"workload": model.key, "seq_len": tokens,
                                                           "mapping_overrides": dict(mapping_overrides or {})})
    if end_to_end:
        row.update(_add_layer(row, gpu, model, tokens, batch, problem, efficiency))
    return _result(row, design)


SHAPE_SYMBOLS = {"M": "keys", "P": "queries (default M)", "E": "head dim", "F": "value head dim (default E)",
                 "B": "batch (default 1)", "H": "query heads (default 1)", "HKV": "K/V heads (default H)"}


def gpu_shape_point(gpu: GpuArch, mapping: GpuMapping, shapes: dict[str, int],
                    mapping_overrides: dict | None = None, design: str | None = None) -> PointResult:
    """One attention problem given by shape symbols (`--shape M=8192,E=128,H=16,B=4`) instead of a workload."""
    unknown = sorted(set(shapes) - set(SHAPE_SYMBOLS))
    missing = [s for s in ("M", "E") if s not in shapes]
    if unknown or missing:
        wrong = f"unknown: {', '.join(unknown)}" if unknown else f"missing: {', '.join(missing)}"
        sizes = ", ".join(f"{k} ({v})" for k, v in SHAPE_SYMBOLS.items())
        raise SpecError(f"a GPU attention problem is sized by {sizes}; {wrong}", key="--shape")
    heads = shapes.get("H", 1)
    fixed = cascade_queries(mapping)
    if fixed is not None and shapes.get("P", fixed) != fixed:
        raise SpecError(f"P = {shapes['P']} contradicts cascade {mapping.cascade!r}, which fixes P = {fixed} (params)",
                        key="--shape")
    queries = shapes.get("P", fixed or shapes["M"])
    problem = AttentionProblem(batch=shapes.get("B", 1), heads=heads, kv_heads=shapes.get("HKV", heads),
                               seqlen_q=queries, seqlen_kv=shapes["M"], head_dim=shapes["E"],
                               head_dim_v=shapes.get("F", shapes["E"]),
                               pair_density=_pair_density(mapping, queries, shapes["M"]))
    return _result(_problem_row(gpu, mapping, problem, default_efficiency(),
                                {"workload": None, "seq_len": problem.seqlen_kv, "shape": dict(shapes),
                                 "mapping_overrides": dict(mapping_overrides or {})}), design)


def _result(row: dict, design: str | None) -> PointResult:
    if design is not None:
        row["design"] = design
    return point_result("gpu", row, {"energy_basis": "board power limit x time (upper bound)"})


def _problem_row(gpu: GpuArch, mapping: GpuMapping, problem: AttentionProblem, efficiency: dict,
                 labels: dict) -> dict:
    report = simulate_attention(mapping, gpu, problem, efficiency)
    cascade = resolve_cascade(mapping.cascade)
    work = None if mapping.kind == "unfused" else mapping_tile_work(mapping, problem).report()
    return {"design": mapping.name, **labels, **_metrics(report, gpu),
            "scope": "attention", "bound": report.bound, "mapping": mapping.name, "arch": gpu.name,
            "cascade": cascade.name, "pass_lower_bound": analyze_passes(cascade).passes,
            "achieved_tflops": report.tflops, "flops": report.flops, "tile": report.info.get("tile"),
            "occupancy": {k: report.info[k] for k in OCCUPANCY_KEYS if k in report.info},
            "instruction_family": report.info.get("family"), "efficiency": efficiency,
            "phase_share": {p.name: p.time_s / report.time_s for p in report.phases},
            "phases": report.phase_table(), "utilization": report.utilization(), "energy_note": ENERGY_NOTE,
            "problem": {"batch": problem.batch, "heads": problem.heads, "kv_heads": problem.kv_heads,
                        "seqlen_q": problem.seqlen_q, "seqlen_kv": problem.seqlen_kv, "head_dim": problem.head_dim,
                        "causal": problem.causal},
            "tile_work": work}


def workload_problem(mapping: GpuMapping, workload: str, seq_len: int | str, batch: int | None = None,
                     causal: bool = False):
    """(model, tokens, AttentionProblem) of a workload's attention at `seq_len` tokens; a split-KV mapping
    decodes one query token against that many cached keys."""
    model = load_model(workload)
    tokens = parse_seq_len(seq_len)
    shapes = attention_shapes(model, tokens, batch)
    fixed = cascade_queries(mapping)
    queries = 1 if mapping.kind == "split-kv" else (fixed or tokens)
    decode = queries == 1
    problem = AttentionProblem(batch=shapes["B"], heads=shapes["H"], kv_heads=shapes["HKV"],
                               seqlen_q=queries, seqlen_kv=tokens, head_dim=shapes["E"],
                               head_dim_v=shapes["F"], causal=causal and not decode,
                               passes="decode" if decode else "fwd",
                               pair_density=_pair_density(mapping, queries, tokens))
    return model, tokens, problem


def cascade_queries(mapping: GpuMapping) -> int | None:
    """The query length a mapping's cascade fixes (decode's and MLA decode's P = 1, a param of its query rank's
    shape P), else None: the workload's tokens. It wins over the workload, as on the spatial model
    (`Cascade.bind_shapes`): a decode cascade answers one query token, whatever the kernel it runs in."""
    cascade = resolve_cascade(mapping.cascade)
    fixed = [cascade.params[cascade.shapes[r]] for r in cascade.query_ranks
             if cascade.shapes[r] == "P" and cascade.shapes[r] in cascade.params]
    return int(fixed[0]) if fixed else None


def _pair_density(mapping: GpuMapping, queries: int, keys: int) -> float:
    return pair_density(resolve_cascade(mapping.cascade), queries, keys)


def _metrics(report: GpuReport, gpu) -> dict:
    utilization = report.utilization()
    return {"latency_s": report.time_s, "energy_pj": _energy_pj(gpu, report.time_s),
            "dram_bytes": sum(p.hbm_bytes for p in report.phases), "util_2d": utilization["tensor"],
            "util_1d": max(utilization["special-function"], utilization["fp32"]), "area_mm2": gpu.die_area_mm2}


def _energy_pj(gpu, seconds: float) -> float | None:
    return None if gpu.board_power_w is None else gpu.board_power_w * seconds * PJ_PER_JOULE


def _add_layer(row: dict, gpu, model, tokens: int, batch: int | None, problem: AttentionProblem,
               efficiency: dict) -> dict:
    """The projections and FFN as cuBLAS-like GEMMs with the GPU's best tensor instructions."""
    mapping = load_gpu_mapping(GEMM_MAPPING)
    family = gpu.best_family(problem.dtype)
    results = []
    for g in layer_gemms(model, tokens, batch):
        phase = gemm(g.name, mapping, gpu, problem, family, 1, g.rows, g.cols, g.reduction,
                     input_bytes=2 * (g.rows * g.reduction + g.reduction * g.cols), output_bytes=2 * g.rows * g.cols)
        results.append(time_phase(phase, gpu, efficiency))
    layer_time = sum(r.time_s for r in results)
    total = row["latency_s"] + layer_time

    def busy(resource: str) -> float:
        return sum(r.utilization[resource] * r.time_s for r in results)

    tensor = row["util_2d"] * row["latency_s"] + busy("tensor")
    vector = row["util_1d"] * row["latency_s"] + max(busy("special-function"), busy("fp32"))
    return {"scope": "end-to-end", "attention_latency_s": row["latency_s"], "attention_energy_pj": row["energy_pj"],
            "latency_s": total, "energy_pj": _energy_pj(gpu, total),
            "dram_bytes": row["dram_bytes"] + sum(r.hbm_bytes for r in results),
            "util_2d": tensor / total, "util_1d": vector / total,
            "layer_gemms": [{"gemm": r.name, "time_s": r.time_s, "bound": r.bound} for r in results]}
