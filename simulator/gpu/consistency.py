"""Measured rows that contradict the structure of the kernel they time, found without the cost model.

A kernel that skips the key tiles a causal mask hides entirely (`masking: tile-skip`) computes, for a causal
run, a subset of the tiles it computes for the non-causal run of the same shape. So the causal run cannot take
longer: not with the same launch configuration (the shipped mapping must pick the same tile for both), and
not with one tuned for the causal run either (an autotuner picks nothing slower than the shared one). When it
does, something outside the tiles (host-side launch cost, clocks, the benchmark itself) set its time. Such a
row is reported as `suspect`; it stays in every statistic and target, the flag only says what a model of the
kernel cannot explain.
"""

from __future__ import annotations

from mappers.gpu_kernels import mapping_for_kernel
from simulator.gpu.attention import tile_grid
from simulator.gpu.measurements import Measurement

# flag only when the causal run skips at least this fraction of the tiles, so that the element-wise masking of
# the diagonal tiles cannot be what makes it slower
MIN_SKIPPED_FRACTION = 0.25


def _shape(m: Measurement) -> tuple:
    return (m.gpu, m.kernel, m.passes, m.headdim, m.nheads_q, m.nheads_kv, m.batch, m.seqlen_q, m.seqlen_kv,
            m.dtype)


def suspect_rows(measurements: list[Measurement]) -> dict[int, str]:
    """Index in `measurements` -> why the row is suspect: forward causal runs of tile-skipping kernels that take
    longer than the non-causal run of the same kernel, shape and tile."""
    non_causal = {_shape(m): m for m in measurements if not m.causal}
    found = {}
    for index, m in enumerate(measurements):
        pair = non_causal.get(_shape(m)) if m.causal and m.passes == "fwd" else None
        mapping = mapping_for_kernel(m.kernel) if pair is not None else None
        if mapping is None or mapping.masking != "tile-skip":
            continue
        gpu = m.gpu_preset
        tile = mapping.tile_for(m.headdim, gpu, causal=True)
        if tile != mapping.tile_for(m.headdim, gpu, causal=False):
            continue
        computed, _ = tile_grid(m.problem(), tile.br, tile.bc, mapping.masking)
        fraction = computed.sum() / computed.size
        causal_s, non_causal_s = m.time_s(), pair.time_s()
        if fraction <= 1.0 - MIN_SKIPPED_FRACTION and causal_s > non_causal_s:
            found[index] = (f"causal run {causal_s * 1e6:.0f} us > non-causal run {non_causal_s * 1e6:.0f} us, "
                            f"though it computes {fraction:.0%} of the same {tile.br}x{tile.bc} tiles")
    return found
