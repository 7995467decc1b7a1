"""Threadblock tiles on a GPU: what a tile needs (registers, shared memory), how many blocks fit on an
SM, and the space of legal tilings the search loop in `mappers.search` walks.

Resource estimates (documented, not measured):
- registers per consumer thread = fp32 accumulators of the score tile S (Br x Bc) and of the output O
  (Br x Dv) spread over the consumer threads, plus Q fragments if the mapping keeps Q in registers
  (Br x D halves, two per register), plus `REGISTER_OVERHEAD` for addresses, loop state and the
  running row max/sum; rounded up to 8. A cascade that keeps more running state across key tiles than
  O and the row max and sum (`state`: values per query row and per block, from
  `simulator.gpu.cascade_work`) adds the excess to the accumulators; less state is not credited. A
  producer warpgroup (warp specialization) keeps `PRODUCER_REGISTERS` per thread (FlashAttention-3 lowers
  it with setmaxnreg). Registers are allocated per warp in units of the GPU's `register_allocation_unit`.
- shared memory = Q tile (Br x D) + `stages` K and V tiles (Bc x D, Bc x Dv) + P (Br x Bc) if the
  mapping passes P through shared memory, 2 bytes per element; the GPU reserves a little per block.
  With one stage this is the (Br + 2 Bc) x d x 2 bytes of FlashAttention-2 (REFERENCE.md §2).
- blocks per SM = min(max blocks, max warps / warps, shared memory / block's, registers / block's).
Shape rules: mma (m16n8k16 per warp) needs Br to be a multiple of 16 x consumer warps; wgmma
(m64nNk16 per warpgroup) needs consumer warps in whole warpgroups, Br a multiple of 64 per
warpgroup and Bc <= 256; Bc is a multiple of 16 (the k-step of the second product).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from arch_models.gpu import GpuArch
from mappers.genome import GenomeSpace

REGISTER_OVERHEAD = 32
ROW_STATISTICS = 2  # running row max and row sum per query row, inside REGISTER_OVERHEAD
PRODUCER_REGISTERS = 24
ELEMENT_BYTES = 2
BR_CHOICES = (16, 32, 64, 128, 192, 256)
BC_CHOICES = tuple(range(16, 257, 16))
WARP_CHOICES = (1, 2, 4, 8, 12, 16)
STAGE_CHOICES = (1, 2, 3, 4)
GENES = ("br", "bc", "warps", "stages", "splits")


@dataclass(frozen=True, slots=True)
class TileFlags:
    """The mapping properties that change a tile's resources."""

    family: str  # "mma" or "wgmma"
    producer_warpgroup: bool = False
    q_in_registers: bool = False
    p_through_shared: bool = False


def tile_resources(gpu: GpuArch, flags: TileFlags, head_dim: int, head_dim_v: int, br, bc, warps, stages,
                   state: tuple[float, float] | None = None) -> dict:
    """Registers, shared memory and blocks per SM of tiles (scalars or equal-length arrays), plus the reason
    each tile is illegal ("" when legal) and what limits its occupancy. `state`: (values per query row,
    values per block) of running state the kernel keeps across key tiles (default: O's row and the row
    max and sum)."""
    br, bc, warps, stages = (np.asarray(x, dtype=np.int64) for x in (br, bc, warps, stages))
    producer_warps = 4 if flags.producer_warpgroup else 0
    consumer_warps = np.maximum(warps - producer_warps, 0)
    consumer_threads = np.maximum(consumer_warps * 32, 1)
    accumulators = (br * bc + br * head_dim_v + state_beyond_output(head_dim_v, br, state)) / consumer_threads
    q_fragments = br * head_dim / 2 / consumer_threads if flags.q_in_registers else 0.0
    per_thread, per_warp = _registers(gpu, accumulators + q_fragments)
    unit = gpu.register_allocation_unit
    producer = int(np.ceil(PRODUCER_REGISTERS * 32 / unit) * unit) * producer_warps
    registers_per_block = per_warp * consumer_warps + producer
    shared = ELEMENT_BYTES * (br * head_dim + stages * bc * (head_dim + head_dim_v)
                              + (br * bc if flags.p_through_shared else 0))
    limits = _blocks_per_sm_limits(gpu, warps, shared, registers_per_block)
    stacked = np.stack([np.broadcast_to(v, br.shape) for v in limits.values()])
    blocks_per_sm = stacked.min(axis=0)
    limiter = np.array(list(limits))[stacked.argmin(axis=0)]
    reason = _reasons(gpu, flags, br, bc, warps, consumer_warps, per_thread, registers_per_block, shared)
    blocks_per_sm = np.where(reason == "", blocks_per_sm, 0)
    return {"registers_per_thread": per_thread, "registers_per_block": registers_per_block,
            "shared_memory_bytes": shared, "blocks_per_sm": blocks_per_sm, "occupancy_limiter": limiter,
            "reason": reason, "threads": warps * 32}


def state_beyond_output(head_dim_v: int, br, state: tuple[float, float] | None):
    """Running-state values per block beyond O (Br x Dv) and the row statistics the register estimate
    already holds; 0 for less."""
    if state is None:
        return 0.0
    per_row, per_block = state
    return np.maximum(0.0, (per_row - head_dim_v - ROW_STATISTICS) * np.asarray(br, dtype=np.float64) + per_block)


def _registers(gpu: GpuArch, values_per_thread):
    """(registers per thread, registers per warp as allocated): the values plus `REGISTER_OVERHEAD`, rounded
    up to 8 per thread, then per warp to the GPU's allocation unit."""
    per_thread = (np.ceil((np.asarray(values_per_thread) + REGISTER_OVERHEAD) / 8) * 8).astype(np.int64)
    unit = gpu.register_allocation_unit
    return per_thread, np.ceil(per_thread * 32 / unit).astype(np.int64) * unit


def _blocks_per_sm_limits(gpu: GpuArch, warps, shared, registers_per_block) -> dict:
    """Resident blocks per SM each resource allows (block slots, warps, shared memory, registers)."""
    shared_per_sm = np.asarray(shared) + gpu.shared_memory_reserved_bytes_per_block
    return {"blocks": np.full(np.shape(shared), gpu.max_blocks_per_sm),
            "warps": gpu.max_warps_per_sm // np.maximum(warps, 1),
            "shared memory": gpu.shared_memory_bytes_per_sm // np.maximum(shared_per_sm, 1),
            "registers": gpu.registers_per_sm // np.maximum(registers_per_block, 1)}


def _reasons(gpu, flags, br, bc, warps, consumer_warps, per_thread, registers_per_block, shared) -> np.ndarray:
    """The first broken rule of every tile, in a fixed order (shape, threads, registers, shared memory)."""
    rules = [
        (consumer_warps <= 0, "no consumer warps (a producer warpgroup needs consumer warps beside it)"),
        (bc % 16 != 0, "Bc must be a multiple of 16 (the k-step of the P x V product)"),
    ]
    if flags.family == "wgmma":
        groups = consumer_warps // 4
        rules += [(consumer_warps % 4 != 0, "wgmma needs consumer warps in whole warpgroups (multiples of 4)"),
                  (br % np.maximum(64 * groups, 1) != 0,
                   "wgmma needs Br to be a multiple of 64 per consumer warpgroup"),
                  (bc > 256, "wgmma needs Bc <= 256 (largest N of one instruction)")]
    else:
        rules += [(br % np.maximum(16 * consumer_warps, 1) != 0, "mma needs Br to be a multiple of 16 x warps")]
    rules += [
        (warps * 32 > gpu.max_threads_per_block, f"more than {gpu.max_threads_per_block} threads per block"),
        (per_thread > gpu.registers_per_thread_max,
         f"registers: needs more than {gpu.registers_per_thread_max} per thread"),
        (registers_per_block > gpu.registers_per_sm, f"registers: block needs more than {gpu.registers_per_sm}"),
        (shared > gpu.shared_memory_bytes_per_block,
         f"shared memory: tile needs more than {gpu.shared_memory_bytes_per_block} bytes per block"),
    ]
    reason = np.full(br.shape, "", dtype=object)
    for broken, message in reversed(rules):
        reason = np.where(np.broadcast_to(broken, br.shape), message, reason)
    return reason


def backward_tile_resources(gpu: GpuArch, head_dim: int, head_dim_v: int, br: int, bc: int, warps: int,
                            stages: int) -> dict:
    """Resources of a FlashAttention-2-style backward block (Bc keys, walking Br-query tiles).

    Registers per thread: the dK and dV accumulators (Bc x (D + Dv)) and the S and dP tiles (2 Br x Bc) in
    fp32 over the block's threads, plus `REGISTER_OVERHEAD`. Shared memory: `stages` Q and dO tiles, the
    block's K and V, and dS (P reuses its space), 2 bytes per element."""
    threads = warps * 32
    per_thread, per_warp = (int(x) for x in _registers(gpu, (bc * (head_dim + head_dim_v) + 2 * br * bc) / threads))
    per_block = per_warp * warps
    shared = ELEMENT_BYTES * (stages * br * (head_dim + head_dim_v) + bc * (head_dim + head_dim_v) + br * bc)
    reason = ""
    if per_thread > gpu.registers_per_thread_max:
        reason = f"registers: needs more than {gpu.registers_per_thread_max} per thread"
    elif shared > gpu.shared_memory_bytes_per_block:
        reason = f"shared memory: tile needs more than {gpu.shared_memory_bytes_per_block} bytes per block"
    blocks = 0 if reason else int(min(_blocks_per_sm_limits(gpu, warps, shared, per_block).values()))
    return {"registers_per_thread": per_thread, "registers_per_block": per_block, "shared_memory_bytes": shared,
            "blocks_per_sm": blocks, "reason": reason, "threads": threads}


def explain_tile(gpu: GpuArch, flags: TileFlags, head_dim: int, head_dim_v: int, br: int, bc: int, warps: int,
                 stages: int) -> dict:
    """One tile's resources as plain numbers (for reports and error messages)."""
    res = tile_resources(gpu, flags, head_dim, head_dim_v, [br], [bc], [warps], [stages])
    return {key: (value[0].item() if hasattr(value[0], "item") else value[0]) for key, value in res.items()}


class GpuTilingSpace(GenomeSpace):
    """Tilings (Br, Bc, warps, stages, key splits) of an attention kernel on a GPU, as integer genomes.

    Compatible with `mappers.search.search`: `.dimensions`, `.size`, `.random`, `.mutate`, `.enumerate`.
    `legality(genomes)` says which genomes fit the GPU and why the others do not; the cost function
    (the simulator's) scores the legal ones.
    """

    def __init__(self, gpu: GpuArch, flags: TileFlags, head_dim: int, head_dim_v: int, max_splits: int = 1,
                 br_choices=BR_CHOICES, bc_choices=BC_CHOICES, warp_choices=WARP_CHOICES, stage_choices=STAGE_CHOICES,
                 state: tuple[float, float] | None = None):
        self.gpu, self.flags, self.head_dim, self.head_dim_v = gpu, flags, head_dim, head_dim_v
        self.state = state  # running state per row and per block (see `tile_resources`)
        splits = [1 << k for k in range(max(1, max_splits).bit_length()) if (1 << k) <= max_splits]
        self.choices = {"br": np.array(br_choices), "bc": np.array(bc_choices), "warps": np.array(warp_choices),
                        "stages": np.array(stage_choices), "splits": np.array(splits)}

    @property
    def dimensions(self) -> list[int]:
        return [len(self.choices[g]) for g in GENES]

    def values(self, genomes: np.ndarray) -> dict[str, np.ndarray]:
        genomes = np.asarray(genomes).reshape(-1, len(GENES))
        return {gene: self.choices[gene][genomes[:, n]] for n, gene in enumerate(GENES)}

    def decode(self, genome) -> dict[str, int]:
        return {gene: int(value[0]) for gene, value in self.values(np.asarray(genome)[None]).items()}

    def resources(self, genomes: np.ndarray) -> dict:
        v = self.values(genomes)
        return tile_resources(self.gpu, self.flags, self.head_dim, self.head_dim_v, v["br"], v["bc"], v["warps"],
                              v["stages"], self.state)

    def legality(self, genomes: np.ndarray) -> tuple[np.ndarray, Counter]:
        reasons = self.resources(genomes)["reason"]
        legal = reasons == ""
        return legal, Counter(str(r) for r in reasons[~legal])
