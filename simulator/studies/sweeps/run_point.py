"""Evaluate one sweep point (a design or arch + mapping, optional overrides, mapper settings, growth rule)
into one tidy result row plus one row per Einsum. Runs in worker processes: imports stay local."""

from __future__ import annotations

from arch_models.gpu import is_gpu_name
from einsum_cascade.errors import SpecError

METRICS = ("status", "reason", "latency_s", "energy_pj", "energy_basis", "dram_bytes", "util_2d", "util_1d",
           "area_mm2", "bound", "cascade", "arch_name", "mapping_name", "pass_lower_bound", "kv_dram_reads_per_element",
           "buffer_bytes_used", "energy_compute_pj", "energy_registers_pj", "energy_buffer_pj", "energy_staging_pj",
           "energy_dram_pj", "useful_ops", "peak_ops_per_s", "dram_bandwidth_bytes_per_s", "mapper_evaluated",
           "mapper_seconds", "note")


def evaluate_point(values: dict, grow: dict | None = None) -> tuple[dict, list[dict]]:
    """(row, einsum_rows) for one point; a point the model rejects becomes a row with status 'rejected'.
    With a growth rule the grown key is multiplied by its factor while the point is memory-bound or does not
    fit (the smallest buffer that holds the mapping and keeps it compute-bound), up to its maximum."""
    try:
        return _grown(values, grow)
    except SpecError as rejected:
        return _rejected_row(rejected), []


def _grown(values: dict, grow: dict | None) -> tuple[dict, list[dict]]:
    """Evaluate, growing the key while the point is memory-bound or overflows; the last overflow is the
    answer when even the maximum does not fit. Only a capacity rejection grows: any other is final."""
    from simulator.spatial.lower import CapacityRejected

    while True:
        overflow = None
        try:
            row, einsums = _evaluate(values)
        except CapacityRejected as rejected:
            if not grow:
                raise
            overflow = rejected
        if not grow or (overflow is None and row.get("bound") != "memory"):
            break
        grown = int((values.get(grow["key"]) or _arch_value(values, grow["key"])) * grow.get("factor", 2))
        if grown > grow.get("max", 1 << 34):
            if overflow is not None:
                raise overflow
            break
        values = {**values, grow["key"]: grown}
    row["grown_value"] = values.get(grow["key"]) if grow else None
    return row, einsums


def _rejected_row(rejected: SpecError) -> dict:
    return {"status": "rejected", "reason": str(rejected).replace("\n", "; ")}


def _arch_value(values: dict, key: str):
    from arch_models import load_arch

    return load_arch(_arch_and_mapping(values)[0]).override_value(key.split(".", 1)[1])


def _arch_and_mapping(values: dict) -> tuple[str, str | None]:
    from simulator.studies.designs import load_design

    if "design" in values:
        design = load_design(values["design"])
        return values.get("arch", design.arch), values.get("mapping", design.mapping)
    return values["arch"], values.get("mapping")


def _evaluate(values: dict) -> tuple[dict, list[dict]]:
    from arch_models import load_arch
    from simulator.studies.point import run_point

    arch_name, mapping_name = _arch_and_mapping(values)
    overrides = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("arch.")}
    if is_gpu_name(arch_name):
        from arch_models.gpu import load_gpu

        return _evaluate_gpu(values, load_gpu(arch_name).with_overrides(**overrides), mapping_name)
    arch = load_arch(arch_name, overrides)
    row = {"status": "ok", "reason": ""}
    mapping, report = mapping_name, None
    if "mapper" in values:  # the search's best Mapping, and its report unless the search came from the cache
        mapping, report, found = _searched_mapping(values, arch, mapping_name)
        row.update(mapper_evaluated=found["evaluated"], mapper_seconds=found["seconds"])
    result = run_point(arch, mapping, values["workload"], values["seq_len"], design=values.get("design"),
                       end_to_end=values.get("scope") == "end-to-end", batch=values.get("batch"), report=report,
                       causal=bool(values.get("causal")))
    row.update(result.to_row())
    return row, result.einsum_rows()


def _searched_mapping(values: dict, arch, mapping_name: str | None):
    """(best Mapping, its attention report or None, the search's summary) for this point's shapes."""
    from einsum_cascade.library import resolve_cascade
    from simulator.studies.spatial_search import search_best
    from workloads.zoo import attention_shapes, load_model

    cascade = resolve_cascade(values.get("cascade") or _mapping_cascade(mapping_name))
    if values.get("causal"):
        from einsum_cascade.library import causal_form

        cascade = causal_form(cascade)
    shapes = attention_shapes(load_model(values["workload"]), values["seq_len"], values.get("batch"))
    found, mapping, report = search_best(cascade, arch, shapes, values["mapper"].get("objective", "latency"),
                                         _search_settings(values["mapper"]), progress=False)
    return mapping, report, found


def _evaluate_gpu(values: dict, gpu, mapping_name: str) -> tuple[dict, list[dict]]:
    """A GPU point on `gpu` (a GpuArch with the point's arch.* overrides applied)."""
    from simulator.studies.point import run_point

    if mapping_name is None:
        raise SpecError(f"a GPU point needs `mapping` (a GPU mapping such as fa2); {gpu.name} has no mapping here")
    row = {"status": "ok", "reason": "", "arch_name": gpu.name, "mapping_name": mapping_name}
    mapping = mapping_name
    if "mapper" in values:  # search the kernel's tile space for this point, then simulate the best tile
        mapping, found = _searched_gpu_mapping(values, gpu, mapping_name)
        row.update(mapper_evaluated=found["evaluated"], mapper_seconds=found["seconds"])
    result = run_point(gpu, mapping, values["workload"], values["seq_len"], batch=values.get("batch"),
                       end_to_end=values.get("scope") == "end-to-end", causal=bool(values.get("causal")))
    row.update(result.to_row())  # mapping_name: `<kernel>-searched` when the mapper chose the tile
    return row, []


def _searched_gpu_mapping(values: dict, gpu, mapping_name: str):
    """(the kernel's GpuMapping with the searched tile as its only tile, the search's summary)."""
    from mappers.gpu_kernels import load_gpu_mapping, parse_gpu_mapping
    from simulator.studies.gpu_point import workload_problem
    from simulator.studies.gpu_search import search_against_shipped, searched_mapping_yaml

    mapping = load_gpu_mapping(mapping_name)
    if mapping.kind == "unfused":
        raise SpecError(f"mapper: GPU mapping {mapping_name!r} is unfused; only fused and split-KV kernels have "
                        "tiles to search")
    _, _, problem = workload_problem(mapping, values["workload"], values["seq_len"], values.get("batch"),
                                     bool(values.get("causal")))
    found = search_against_shipped(gpu, mapping, problem, _search_settings(values["mapper"]))
    text = searched_mapping_yaml(mapping, problem.head_dim, found["tile"], f"cascade sweep (point {values})")
    return parse_gpu_mapping(text, f"<{mapping.name} searched tile>"), found


def _search_settings(mapper: dict):
    """The sweep's `mapper:` section as search settings (budget `10s` = seconds, `2000` = evaluations)."""
    from mappers.search import SearchSettings, parse_budget

    evaluations, seconds = parse_budget(mapper.get("budget", "10s"), key="mapper.budget")
    return SearchSettings(strategy=mapper.get("strategy", "auto"), evaluations=evaluations, seconds=seconds,
                          seed=int(mapper.get("seed", 0)))


def _mapping_cascade(mapping_name: str | None) -> str:
    from mappers.load import load_mapping

    if mapping_name is None:
        raise SpecError("a mapper point needs `cascade` (or a mapping whose cascade to map)")
    return load_mapping(mapping_name).cascade
