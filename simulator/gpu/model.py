"""The GPU threadblock model: one kernel launch (a `Phase`) -> time, utilization and what bounds it.

A phase is a grid of blocks in launch order, each running a number of identical tile iterations (some
of them partial, i.e. masked element-wise), plus what one tile does: tensor FMAs, special-function
results (exp and FP32->16-bit conversions share the quarter-rate pipe), FP32 and compare/min/max ops,
shared-memory bytes, and the phase's HBM bytes (after L2 reuse). Timing, in SM clock cycles:

1. occupancy: resident blocks per SM = min(blocks the resources allow, blocks per SM the grid gives);
2. per-tile demands on one SM: tensor = FMAs / (rate x efficiency of the instruction family),
   shared = bytes / shared-memory bandwidth, vector = max(special-function, FP32, ALU, issue),
   memory = the larger of HBM bytes per tile / the SM's share of HBM bandwidth (capped by loads in flight /
   latency) and the tile's operand bytes / the SM's share of L2 bandwidth (every load crosses L2; small
   query tiles re-read K and V from L2 for few rows each);
3. overlap: compute = max(tensor, vector, (tensor + vector) / tiles in flight) for explicitly ping-ponged
   warpgroups (the tiles in flight share one tile's serial chain of products and softmax), else MVA over
   the resident streams; a warpgroup keeps 2 key tiles in flight with FA3's intra-warpgroup pipelining,
   else 1, and without a producer warpgroup a block's warpgroups run in step as one stream
   (`simulator.gpu.attention.overlap_counts`); memory overlaps compute by the same MVA with the loads in
   flight (stages + 1 per block) as customers (`simulator.gpu.kernels`);
4. per-block prologue and epilogue: one DRAM latency plus the first tiles (Q and one K/V tile) at the SM's
   share of L2 bandwidth before compute starts (hidden for persistent kernels with a producer warpgroup,
   which prefetch the next work tile), and the epilogue: normalizing and converting the output tile, and
   for kernels that write their output only at the end (GEMMs with a short reduction) the write itself;
5. schedule: blocks in launch order onto SMs x resident slots (waves, partial last wave, imbalance);
6. time = makespan / clock + launch overhead.
The only fitted numbers are one efficiency per instruction family: the tensor families (`mma`, `wgmma`: the
fraction of the dense rate their matrix products reach) and the global-memory loads/stores (`memory`: the
fraction of a datasheet bandwidth they reach, applied to both bandwidths they draw on, HBM and L2, since a
load served by L2 is the same instruction as one served by HBM; `machine_rates`); see
`simulator/gpu/calibration.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arch_models.gpu import GpuArch
from simulator.gpu.kernels import schedule_cycles

RESOURCES = ("tensor", "special-function", "fp32", "shared-memory", "l2", "hbm")


@dataclass(frozen=True)
class Phase:
    """One kernel launch. Counts are per tile unless named otherwise; bytes are bytes."""

    name: str
    family: str | None
    tiles_per_block: np.ndarray
    masked_per_block: np.ndarray
    blocks_per_sm: int
    tensor_fma: float = 0.0
    sfu_ops: float = 0.0
    fp32_ops: float = 0.0
    alu_ops: float = 0.0
    shared_bytes: float = 0.0
    mask_alu_ops: float = 0.0  # extra ALU ops of one masked (partial) tile
    hbm_bytes: float = 0.0  # whole phase
    l2_bytes: float = 0.0  # per tile: bytes one tile iteration reads from L2 into the SM (fused kernels' K/V tiles)
    first_load_bytes: float = 0.0  # bytes a block waits for from L2 before its first tile
    masked_loop_refill: bool = False  # masked tiles run in a second loop: its first load waits again
    epilogue_fp32_ops: float = 0.0  # per block
    epilogue_sfu_ops: float = 0.0  # per block (e.g. converting an output tile to 16 bits)
    epilogue_alu_ops: float = 0.0  # per block (compare/min/max of a cascade's per-block Einsums)
    epilogue_tensor_fma: float = 0.0  # per block (a cascade's per-block contractions, e.g. linear attention's Q x KV)
    epilogue_bytes: float = 0.0  # per block, written to HBM after the last tile (not in `hbm_bytes`)
    streams_per_block: int = 1  # independent compute streams per block (queueing customers)
    pingpong_groups: int = 0  # >0: ping-ponged consumer warpgroups; the key tiles they keep in flight
    stages: int = 1
    inflight_bytes_per_block: float = 0.0
    prefetch_across_blocks: bool = False  # persistent + producer warpgroup: next tile's loads overlap
    notes: tuple[str, ...] = ()

    @property
    def blocks(self) -> int:
        return int(len(self.tiles_per_block))


@dataclass
class PhaseResult:
    name: str
    time_s: float
    cycles: float
    tile_cycles: float  # SM time per tile at full residency
    demands: dict[str, float]  # per tile per SM, cycles
    utilization: dict[str, float]
    bound: str
    resident_blocks: int
    blocks: int
    waves: float
    tiles_per_block_max: int
    hbm_bytes: float
    notes: list[str] = field(default_factory=list)


def time_phase(phase: Phase, gpu: GpuArch, efficiency: dict[str, float]) -> PhaseResult:
    """Time one kernel launch on `gpu`; `efficiency` maps instruction family (mma, wgmma, memory) -> fitted factor."""
    sms, clock = gpu.sm_count, gpu.clock_hz
    demands = tile_demands(phase, gpu, efficiency)
    overhead = block_overhead_cycles(phase.family, phase.epilogue_tensor_fma, phase.epilogue_sfu_ops,
                                     phase.epilogue_fp32_ops, phase.epilogue_alu_ops, gpu, efficiency)
    work = np.array([phase.hbm_bytes, phase.epilogue_bytes, overhead, phase.first_load_bytes,
                     phase.mask_alu_ops / gpu.alu_ops_per_clk_per_sm, phase.inflight_bytes_per_block,
                     phase.l2_bytes])
    limits = np.array([phase.blocks_per_sm, phase.streams_per_block, phase.pingpong_groups, phase.stages],
                      dtype=np.float64)
    flags = np.array([int(phase.prefetch_across_blocks), int(phase.masked_loop_refill)])
    machine = machine_rates(gpu, efficiency)
    cycles, tile, resident, memory = schedule_cycles(
        phase.tiles_per_block.astype(np.int64), phase.masked_per_block.astype(np.int64),
        np.array([demands["tensor"], demands["shared-memory"], demands["vector"]]), work, limits, flags, machine)
    active = max(1, min(sms, phase.blocks))
    demands["l2"] = phase.l2_bytes / (machine[3] / active)
    demands["hbm"] = float(memory)
    total_tiles = max(float(phase.tiles_per_block.sum()), 1.0)
    hbm_total = phase.hbm_bytes + phase.epilogue_bytes * phase.blocks
    time_s = float(cycles) / clock + gpu.launch_overhead_s
    resident = int(resident)
    busy = {  # cycles each pipe is occupied, summed over SMs (the tensor pipe at its achieved rate)
        "tensor": demands["tensor"] * total_tiles,
        "special-function": demands["special-function"] * total_tiles,
        "fp32": demands["fp32"] * total_tiles,
        "shared-memory": demands["shared-memory"] * total_tiles,
        "l2": phase.l2_bytes * total_tiles / gpu.l2_bytes_per_clk * sms,  # L2 -> SM bytes at the L2 bandwidth
        "hbm": hbm_total / gpu.hbm_bytes_per_clk * sms,  # against the datasheet bandwidth
    }
    available = max(time_s * clock * sms, 1e-30)
    utilization = {key: min(1.0, value / available) for key, value in busy.items()}
    bound = _bound(utilization)
    # reported tensor utilization: FMAs executed (padding included) at the datasheet peak of the best family
    if phase.family is not None:
        executed = phase.tensor_fma * total_tiles
        utilization["tensor"] = min(1.0, executed / gpu.tensor_rate(gpu.best_family()) / available)
    return PhaseResult(
        name=phase.name, time_s=time_s, cycles=cycles, tile_cycles=float(tile), demands=demands,
        utilization=utilization, bound=bound, resident_blocks=resident, blocks=phase.blocks,
        waves=phase.blocks / (sms * resident),
        tiles_per_block_max=int(phase.tiles_per_block.max()), hbm_bytes=float(hbm_total), notes=list(phase.notes))


def machine_rates(gpu: GpuArch, efficiency: dict[str, float]) -> np.ndarray:
    """What `schedule_cycles` needs of the GPU: SMs, HBM bytes per clock, DRAM latency in clocks, L2 bytes per
    clock; both bandwidths at the fraction global loads/stores reach (the `memory` family's efficiency)."""
    memory = efficiency.get("memory", 1.0)
    return np.array([gpu.sm_count, gpu.hbm_bytes_per_clk * memory, gpu.dram_latency_s * gpu.clock_hz,
                     gpu.l2_bytes_per_clk * memory])


def tile_demands(phase: Phase, gpu: GpuArch, efficiency: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in demands_per_tile(phase.family, phase.tensor_fma, phase.sfu_ops, phase.fp32_ops,
                                                     phase.alu_ops, phase.shared_bytes, gpu, efficiency).items()}


def block_overhead_cycles(family, tensor_fma, sfu_ops, fp32_ops, alu_ops, gpu: GpuArch, efficiency: dict[str, float]):
    """Cycles of a block's work outside the tile loop (prologue and epilogue), one pipe after another."""
    tensor = 0.0 if family is None else np.asarray(tensor_fma, dtype=np.float64) / (
        gpu.tensor_rate(family) * efficiency.get(family, 1.0))
    return (tensor + np.asarray(sfu_ops, dtype=np.float64) / gpu.sfu_ops_per_clk_per_sm
            + np.asarray(fp32_ops, dtype=np.float64) / gpu.fp32_fma_per_clk_per_sm
            + np.asarray(alu_ops, dtype=np.float64) / gpu.alu_ops_per_clk_per_sm)


def demands_per_tile(family, tensor_fma, sfu_ops, fp32_ops, alu_ops, shared_bytes, gpu: GpuArch,
                     efficiency: dict[str, float]) -> dict:
    """Cycles one tile keeps each pipe of an SM busy (scalars, or arrays of tilings for the mapper)."""
    if family is not None:
        tensor = np.asarray(tensor_fma, dtype=np.float64) / (gpu.tensor_rate(family) * efficiency.get(family, 1.0))
    else:
        tensor = np.zeros_like(np.asarray(tensor_fma, dtype=np.float64))
    sfu = np.asarray(sfu_ops, dtype=np.float64) / gpu.sfu_ops_per_clk_per_sm
    fp32 = np.asarray(fp32_ops, dtype=np.float64) / gpu.fp32_fma_per_clk_per_sm
    alu = np.asarray(alu_ops, dtype=np.float64) / gpu.alu_ops_per_clk_per_sm
    issue = (np.asarray(sfu_ops) + np.asarray(fp32_ops) + np.asarray(alu_ops)) / gpu.issue_thread_ops_per_clk_per_sm
    scalar = np.maximum(np.maximum(fp32, alu), issue)
    return {"tensor": tensor, "shared-memory": np.asarray(shared_bytes, dtype=np.float64)
            / gpu.shared_memory_bytes_per_clk_per_sm, "special-function": sfu, "fp32": scalar,
            "vector": np.maximum(sfu, scalar)}


def _bound(utilization: dict[str, float]) -> str:
    """The busiest resource; `latency` when nothing is more than half busy (waiting on loads, tails)."""
    resource = max(RESOURCES, key=lambda r: utilization[r])
    return resource if utilization[resource] >= 0.5 else f"latency/occupancy (busiest: {resource})"
