"""The GPU model as the mapper's batch cost function: tilings of a fused attention kernel -> latency.

`GpuTilingCost(space, mapping, problem)` scores genomes of a `mappers.gpu_space.GpuTilingSpace`: illegal
tilings (registers, shared memory, shape rules) cost inf and are counted by reason; legal ones are timed
by the same schedule as `simulate_attention` (`simulator.gpu.kernels.fused_batch_cycles`, one Numba call
per batch), plus the split-KV combine kernel where a tiling splits the keys. `best_tiling` runs
`mappers.search.search` with it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import yaml

from arch_models.gpu import GpuArch
from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import read_text
from mappers.gpu_kernels import GpuMapping, TileChoice
from mappers.gpu_space import GpuTilingSpace
from mappers.search import TIE_TOLERANCE, SearchSettings, search
from simulator.gpu.attention import (
    AttentionProblem,
    combine_phase,
    forward_hbm_bytes,
    fused_phases,
    fused_tile_work,
    kernel_state,
    key_tiles_per_query_block,
    mapping_flags,
    rows_and_heads,
    split_and_order,
    state_note,
)
from simulator.gpu.cascade_work import mapping_tile_work, mask_tile_bounds
from simulator.gpu.kernels import fused_batch_cycles, schedule_cycles
from simulator.gpu.model import block_overhead_cycles, demands_per_tile, machine_rates, time_phase
from simulator.gpu.simulate import GpuReport, default_efficiency, simulate_attention


class GpuTilingCost:
    def __init__(self, space: GpuTilingSpace, mapping: GpuMapping, problem: AttentionProblem,
                 efficiency: dict[str, float] | None = None):
        if mapping.kind == "unfused":
            raise SpecError(f"mapping {mapping.name!r} is unfused: its GEMM tiles are not searched here")
        self.space, self.mapping, self.problem = space, mapping, problem
        self.gpu: GpuArch = space.gpu
        self.family = space.flags.family
        self.efficiency = efficiency or default_efficiency()
        self._combine: dict[int, float] = {}

    def __call__(self, genomes: np.ndarray) -> tuple[np.ndarray, Counter]:
        return self.latency(genomes)

    def latency(self, genomes: np.ndarray) -> tuple[np.ndarray, Counter]:
        genomes = np.asarray(genomes).reshape(-1, len(self.space.dimensions))
        values = self.space.values(genomes)
        resources = self.space.resources(genomes)
        legal = resources["reason"] == ""
        reasons = Counter(str(r) for r in resources["reason"][~legal])
        splits = values["splits"]  # always 1 unless the mapping is split-kv (see `tiling_space`)
        latency = np.full(len(genomes), np.inf)
        rows = np.flatnonzero(legal)
        if len(rows):
            pick = {k: v[rows] for k, v in values.items()}
            latency[rows] = self._times(pick["br"], pick["bc"], pick["warps"], pick["stages"], splits[rows],
                                        resources["blocks_per_sm"][rows])
        return latency, reasons

    def _times(self, br, bc, warps, stages, splits, blocks_per_sm) -> np.ndarray:
        gpu, problem, mapping = self.gpu, self.problem, self.mapping
        rows_count, heads = rows_and_heads(mapping, problem)
        work = fused_tile_work(mapping, self.family, problem, br, bc, warps, stages)
        n = len(br)
        d = demands_per_tile(self.family, *(work[k] for k in ("tensor_fma", "sfu_ops", "fp32_ops", "alu_ops",
                                                              "shared_bytes")), gpu, self.efficiency)
        demands = np.stack([d["tensor"], d["shared-memory"], d["vector"]], axis=1)  # `time_phase`'s formulas
        query_blocks = np.ceil(rows_count / br)
        overhead = block_overhead_cycles(self.family, *(work[k] for k in (
            "epilogue_tensor_fma", "epilogue_sfu_ops", "epilogue_fp32_ops", "epilogue_alu_ops")), gpu, self.efficiency)
        batch_work = np.stack([forward_hbm_bytes(gpu, problem, query_blocks, splits, heads, blocks_per_sm,
                                                 mapping_tile_work(mapping, problem)),
                               np.zeros(n), overhead, work["first_load_bytes"], work["mask_alu_ops"] /
                               gpu.alu_ops_per_clk_per_sm, work["inflight_bytes_per_block"],
                               work["l2_bytes"]], axis=1)
        limits = np.stack([blocks_per_sm, work["streams_per_block"], work["pingpong_groups"], stages],
                          axis=1).astype(np.float64)
        flags = np.array([int(mapping.persistent and mapping.producer_warpgroup), int(mapping.masked_loop)])
        machine = machine_rates(gpu, self.efficiency)
        bounds = mask_tile_bounds(mapping_tile_work(mapping, problem), problem, rows_count != problem.seqlen_q)
        if bounds is None:
            cycles = fused_batch_cycles(br.astype(np.int64), bc.astype(np.int64), splits.astype(np.int64), demands,
                                        batch_work, limits, flags, machine, rows_count, problem.seqlen_kv,
                                        problem.causal and rows_count == problem.seqlen_q, problem.batch * heads,
                                        bool(mapping.grid and mapping.grid[0] in ("query_blocks", "kv_splits")),
                                        mapping.block_order == "longest-first", mapping.masking == "dense")
        else:  # the cascade's masks decide the tiles: the Python tile grid, tiling by tiling
            cycles = np.array([schedule_cycles(*self._blocks(int(b), int(c), int(s), bounds), demands[i],
                                               batch_work[i], limits[i], flags, machine)[0]
                               for i, (b, c, s) in enumerate(zip(br, bc, splits, strict=True))])
        times = cycles / gpu.clock_hz + gpu.launch_overhead_s
        return times + np.array([self._combine_time(int(s)) for s in splits])

    def _blocks(self, br: int, bc: int, splits: int, bounds) -> tuple[np.ndarray, np.ndarray]:
        """Key tiles and partial tiles of every block in launch order (`fused_phases`' grid)."""
        problem, mapping = self.problem, self.mapping
        rows_count, heads = rows_and_heads(mapping, problem)
        tile = TileChoice(problem.head_dim, br, bc, 1, 1)
        tiles, masked = key_tiles_per_query_block(problem, tile, mapping.masking, rows_count != problem.seqlen_q,
                                                  bounds)
        return split_and_order(mapping, tiles, masked, splits, problem.batch * heads)

    def _combine_time(self, splits: int) -> float:
        if splits <= 1:
            return 0.0
        if splits not in self._combine:
            self._combine[splits] = time_phase(combine_phase(self.gpu, self.problem, splits), self.gpu,
                                               self.efficiency).time_s
        return self._combine[splits]


def tiling_space(gpu: GpuArch, mapping: GpuMapping, problem: AttentionProblem) -> GpuTilingSpace:
    family = mapping.family(gpu.families, gpu.best_family(problem.dtype))
    max_splits = mapping.max_splits if mapping.kind == "split-kv" else 1
    argument = {"br": "br_choices", "bc": "bc_choices", "warps": "warp_choices", "stages": "stage_choices"}
    supported = {argument[gene]: choices for gene, choices in mapping.tile_space.items()}
    return GpuTilingSpace(gpu, mapping_flags(mapping, family), problem.head_dim, problem.head_dim_v, max_splits,
                          **supported, state=kernel_state(mapping_tile_work(mapping, problem)))


def best_tiling(gpu: GpuArch, mapping: GpuMapping, problem: AttentionProblem,
                settings: SearchSettings | None = None, progress: bool = False) -> dict:
    """Search the legal tilings of `mapping`'s kernel for the fastest on `gpu` (exhaustive when small)."""
    space = tiling_space(gpu, mapping, problem)
    cost = GpuTilingCost(space, mapping, problem)
    result = search(space, cost, settings or SearchSettings(seconds=None), progress=progress)
    if result.best is None:
        raise SpecError(f"no legal tiling of {mapping.name!r} on {gpu.name}; most common reason: "
                        f"{result.binding_constraint()}{state_note(mapping_tile_work(mapping, problem), problem)}")
    chosen = space.decode(result.best)
    return {"tile": chosen, "latency_s": result.best_value, "evaluated": result.evaluated, "legal": result.legal,
            "pruned": result.pruned, "duplicates": result.duplicates,
            "rejections": dict(result.rejections), "strategy": result.strategy,
            "space_size": space.size, "seconds": result.seconds, "candidates_per_s": result.candidates_per_s,
            "time_to_best_s": result.history[-1]["seconds"] if result.history else 0.0}


def search_against_shipped(gpu: GpuArch, mapping: GpuMapping, problem: AttentionProblem,
                           settings: SearchSettings | None = None, progress: bool = False) -> dict:
    """`best_tiling`, with the kernel's shipped tile timed beside it (`shipped`). A searched tile within
    `TIE_TOLERANCE` of the shipped one gives way to it: the model's accuracy is measured on shipped tiles, and
    a fraction of a percent is below what it can tell apart."""
    found = best_tiling(gpu, mapping, problem, settings, progress)
    try:
        shipped = simulate_attention(mapping, gpu, problem)
    except SpecError as error:  # the shipped tile may not fit this GPU or head dim
        found.update(shipped={"error": error.message}, best_is_shipped_tile=False)
        return found
    tile = {**shipped.info["tile"], "splits": shipped.info.get("splits", 1)}
    found["shipped"] = {"tile": tile, "latency_s": shipped.time_s, "tflops": shipped.tflops}
    if shipped.time_s <= found["latency_s"] * (1 + TIE_TOLERANCE):
        found["tile"], found["latency_s"] = tile, shipped.time_s
    found["best_is_shipped_tile"] = found["tile"] == tile
    return found


def tiling_report(gpu: GpuArch, mapping: GpuMapping, problem: AttentionProblem, chosen: dict,
                  efficiency: dict[str, float] | None = None) -> GpuReport:
    """The detailed report (phases, bounds, occupancy) of one searched tiling, key splits included."""
    efficiency = efficiency or default_efficiency()
    family = mapping.family(gpu.families, gpu.best_family(problem.dtype))
    tile = TileChoice(problem.head_dim, chosen["br"], chosen["bc"], chosen["warps"], chosen["stages"])
    splits = chosen.get("splits", 1) if mapping.kind == "split-kv" else 1
    phases, info = fused_phases(mapping, gpu, problem, family, tile=tile, splits=splits)
    results = [time_phase(phase, gpu, efficiency) for phase in phases]
    return GpuReport(gpu=gpu.name, mapping=mapping.name, problem=problem, time_s=sum(r.time_s for r in results),
                     phases=results, info=info, efficiency=efficiency)


def searched_mapping_yaml(mapping: GpuMapping, head_dim: int, tile: dict, command: str) -> str:
    """The kernel's mapping file with a searched tile as its only tile (readable by `simulate --mapping`)."""
    data = yaml.safe_load(read_text(mapping.source))
    entry = {"head_dim_max": head_dim, **{k: int(tile[k]) for k in ("br", "bc", "warps", "stages")}}
    if mapping.kind == "split-kv":
        entry["splits"] = int(tile["splits"])
    data.update(name=f"{mapping.name}-searched", description=f"{mapping.description}; searched tile",
                cascade=mapping.cascade, tiles=[entry])
    header = (f"# Written by: {command}\n"
              f"# The best tile of {mapping.name} found by the search (head dim {head_dim}).\n")
    return header + yaml.safe_dump(data, sort_keys=False)
