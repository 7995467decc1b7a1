"""What a group's traffic costs, for a batch of tilings: spill, words per storage level, DRAM time, per-tile
task durations, busy and useful cycles, and energy by component, in one pass over the rows (the mapper's
batches are small, so one kernel call beats some forty array operations around it).

The prices come in as numbers per access and per point, read once from the architecture
(`simulator.spatial.batch.level_prices`); this kernel only counts and multiplies.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LEVELS = ("buffer_read", "buffer_write", "staging", "dram_read", "dram_write")  # columns of `words`


@njit(cache=True, inline="always")
def _real_fraction(spans, k, real, shared, totals, inner, ext):
    """The real fraction of the points of Einsum or tensor `k` (row `k` of `spans`): the product of its split
    ranks' `real` fractions, except that ranks cut into the same chunks (`shared`: their common outer part) are
    counted together, chunk by chunk: chunk i pairs the i-th tile of each (queries and keys of one chunk), so
    the real points are the full chunks times the tiles, plus the one chunk where the shortest rank ends."""
    fraction = 1.0
    n = real.shape[0]
    for r in range(n):
        if not spans[k, r]:
            continue
        if shared[r] < 0:
            fraction *= real[r]
            continue
        seen = False
        for q in range(r):
            seen = seen or (spans[k, q] and shared[q] == shared[r])
        if seen:
            continue  # counted with the first rank of its chunks
        full = np.inf  # chunks in which every rank is whole
        whole = 1.0
        for q in range(r, n):
            if spans[k, q] and shared[q] == shared[r]:
                full = min(full, np.floor(totals[q] / inner[q]))
                whole *= inner[q]
        tail = 1.0  # the chunk after them: what is left of each rank (nothing of the shortest beyond it)
        for q in range(r, n):
            if spans[k, q] and shared[q] == shared[r]:
                tail *= max(0.0, min(inner[q], totals[q] - full * inner[q]))
        fraction *= (full * whole + tail) / (ext[shared[r]] * whole)
    return fraction


@njit(cache=True)
def group_costs(cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles,
                einsum_array, cycles_per_point, energy_per_point, spill_columns, capacity_words,
                dram_bytes_per_cycle, word_bytes, register_pj, access_words, access_pj, unpriced, padding):
    """Spill the overflowing fraction of spillable tensors' buffer traffic to DRAM (in place, as `costs` in
    `batch.py` describes), then per row: spilled fraction [B], words per level [B, 5] (LEVELS), DRAM bytes [B],
    task durations per tile [B, E+1] (the Einsums', then the DRAM transfer's), busy cycles [B, 3] (2D, 1D,
    DRAM), useful PE-cycles [B, 2], energy [B, 6 or 7] (compute and registers of the 2D array, then of the
    1D array, then the buffer, the staging buffer if it has a price, DRAM) and its sum [B].

    `padding` = (extents [B, parts], split_parts [R, parts], split_totals [R], split_shared [R], span_patterns
    [K, R], einsum_span [E], tensor_span [T], real_density [E], density [B or 1, E]) (`LoweredGroup`): where tiles
    do not divide a split rank, the last is padded. The array runs a padded tile whole (time, compute and register
    energy), but only its real points are useful work, and DRAM moves only real elements (a transfer stops at the
    rank's end: the padding is never in memory). The real fraction of an Einsum or a tensor is the product, over
    the split ranks it spans (its span pattern, worked out once per pattern and row), of the rank's length over
    the length its tiles cover (ranks cut into the same chunks: `_real_fraction`); an Einsum's, times its masks'
    density at the real lengths over their density at the covered ones (`lower.at_covered_lengths`)."""
    batch, n_einsums = cycles.shape
    n_tensors = dram_read.shape[1]
    has_staging = access_pj[2] >= 0.0
    spilled = np.zeros(batch)
    words = np.zeros((batch, 5))
    dram_bytes = np.zeros(batch)
    durations = np.zeros((batch, n_einsums + 1))
    busy = np.zeros((batch, 3))
    useful = np.zeros((batch, 2))
    spent = np.zeros(2)
    extents, split_parts, split_totals, split_shared, patterns, einsum_span, tensor_span, real_density, density = \
        padding
    pattern_real = np.ones(patterns.shape[0])  # per span pattern: the real fraction of its points in this row
    n_split, n_parts = split_parts.shape
    real = np.ones(n_split)  # per split rank: its length over the length the row's tiles cover
    inner = np.ones(n_split)  # per split rank: its tile inside a shared outer part (chunk)
    tensor_real = np.ones(n_tensors)  # per tensor: the real fraction of its elements
    energy = np.zeros((batch, 7 if has_staging else 6))
    chunked = np.zeros(patterns.shape[0], dtype=np.bool_)  # a pattern spanning ranks cut into shared chunks
    for k in range(patterns.shape[0]):
        for r in range(n_split):
            chunked[k] = chunked[k] or (patterns[k, r] and split_shared[r] >= 0)
    total = np.zeros(batch)  # energy summed over the components
    per_row = density.shape[0] > 1
    # (the same for every row but where densities are per row; a batch of no rows has no first density)
    density_ratio = real_density / density[0] if density.shape[0] else real_density.copy()
    for b in range(batch):
        if unpriced[b]:
            for out in (spilled[b:b + 1], dram_bytes[b:b + 1], total[b:b + 1], words[b], durations[b], busy[b],
                        useful[b], energy[b], dram_read[b], dram_write[b], buffer_read[b], buffer_write[b], staging[b]):
                out[:] = np.nan
            continue
        padded = False
        for r in range(n_split):
            covered = 1.0
            for p in range(n_parts):
                if split_parts[r, p]:
                    covered *= extents[b, p]
            real[r] = split_totals[r] / covered
            if split_shared[r] >= 0:
                inner[r] = covered / extents[b, split_shared[r]]
            padded = padded or covered != split_totals[r]
        for k in range(patterns.shape[0]):
            if not padded:
                pattern_real[k] = 1.0
            elif chunked[k]:
                pattern_real[k] = _real_fraction(patterns, k, real, split_shared, split_totals, inner, extents[b])
            else:  # no ranks in shared chunks: the product of the real fractions (as `_real_fraction` has it)
                fraction = 1.0
                for r in range(n_split):
                    if patterns[k, r]:
                        fraction *= real[r]
                pattern_real[k] = fraction
        for t in range(n_tensors):
            tensor_real[t] = pattern_real[tensor_span[t]]
            dram_read[b, t] *= tensor_real[t]
            dram_write[b, t] *= tensor_real[t]
        if occupancy[b, 0] > capacity_words and occupancy[b, 1] > 0:
            fraction = min(1.0, (occupancy[b, 0] - capacity_words) / max(occupancy[b, 1], 1e-30))
            spilled[b] = fraction
            for t in range(n_tensors):
                if spill_columns[t]:
                    moved_read = buffer_read[b, t] * fraction
                    moved_write = buffer_write[b, t] * fraction
                    dram_read[b, t] += moved_read * tensor_real[t]  # the padding is not written out
                    dram_write[b, t] += moved_write * tensor_real[t]
                    buffer_read[b, t] -= moved_read
                    buffer_write[b, t] -= moved_write
        read, write, staged, fetched, drained = 0.0, 0.0, 0.0, 0.0, 0.0  # summed in registers, tensor by tensor
        for t in range(n_tensors):
            read += buffer_read[b, t]
            write += buffer_write[b, t]
            staged += staging[b, t]
            fetched += dram_read[b, t]
            drained += dram_write[b, t]
        words[b, 0], words[b, 1], words[b, 2], words[b, 3], words[b, 4] = read, write, staged, fetched, drained
        dram_bytes[b] = (words[b, 3] + words[b, 4]) * word_bytes
        dram_cycles = dram_bytes[b] / dram_bytes_per_cycle
        spent[:] = 0.0  # PE-cycles the arrays spend, padding included: what their registers are charged for
        for e in range(n_einsums):
            array = einsum_array[e]
            durations[b, e] = cycles[b, e] / tiles[b]
            busy[b, array] += cycles[b, e]
            work = points[b, e] * cycles_per_point[e]
            fill = (real_density[e] / density[b, e] if per_row else density_ratio[e]) * pattern_real[einsum_span[e]]
            useful[b, array] += work * fill
            spent[array] += work
            energy[b, 2 * array] += points[b, e] * energy_per_point[e]
        for array in range(2):
            energy[b, 2 * array + 1] = spent[array] * register_pj[array]
        durations[b, n_einsums] = dram_cycles / tiles[b]
        busy[b, 2] = dram_cycles
        energy[b, 4] = words[b, 0] / access_words[0] * access_pj[0] + words[b, 1] / access_words[1] * access_pj[1]
        column = 5
        if has_staging:
            energy[b, 5] = words[b, 2] / access_words[2] * access_pj[2]
            column = 6
        energy[b, column] = words[b, 3] / access_words[3] * access_pj[3] + words[b, 4] / access_words[4] * access_pj[4]
        for c in range(energy.shape[1]):  # in column order, as summing the parts one by one
            total[b] += energy[b, c]
    return spilled, words, dram_bytes, durations, busy, useful, energy, total
