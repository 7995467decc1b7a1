"""Per-Einsum compute cycles and per-tensor accesses of a fused group, for a batch of tilings.

Loop-nest reuse (as in Timeloop): a tensor kept in the global buffer is refetched from DRAM once per
iteration of the DRAM-level loops down to the innermost loop that indexes it, and each fetch brings
its buffer tile (all parts not looped at the DRAM level). A tensor the group reads but homes in DRAM
is streamed: it takes no buffer space and every array read of it is a DRAM read (FLAT's K and V,
re-streamed for every block of query rows). An array reads an operand from the buffer
once per point, divided by the spatial broadcast over array dimensions bound to parts the operand
does not have. Outputs are written once per output point.
"""

from __future__ import annotations

import numpy as np
from numba import njit

HOME_REG, HOME_STAGING, HOME_BUFFER, HOME_DRAM = 0, 1, 2, 3


@njit(cache=True)
def _loop_sequences(dram_position, buffer_position, spatial_part, spatial_size, einsum_parts, einsum_reduced,
                    einsum_array):
    """Per Einsum and per order (0: reduced parts innermost = output stationary, 1: reduced outermost),
    its loops from outermost to innermost: DRAM loops, buffer loops, spatial folds, then the temporal
    loops inside a tile. Entries are part indices; `fold` marks a spatial fold (trip = ceil(ext/dim)).
    The structure depends only on the loop order, so it is built once per batch."""
    n_einsums, n_parts = einsum_parts.shape
    length = 3 * n_parts
    parts = -np.ones((n_einsums, 2, length), dtype=np.int64)
    fold = np.zeros((n_einsums, 2, length))  # 0: plain loop, else the array dimension size of the fold
    counts = np.zeros((n_einsums, 2), dtype=np.int64)
    for e in range(n_einsums):
        array = einsum_array[e]
        for order in range(2):
            count = 0
            for levels in range(2):
                positions = dram_position if levels == 0 else buffer_position
                for position in range(n_parts):
                    for p in range(n_parts):
                        if positions[p] == position and einsum_parts[e, p]:
                            parts[e, order, count] = p
                            count += 1
            for p in range(n_parts):
                for d in range(2):
                    if spatial_part[array, d] == p and einsum_parts[e, p]:
                        parts[e, order, count] = p
                        fold[e, order, count] = spatial_size[array, d]
                        count += 1
            for phase in range(2):
                want_reduced = (phase == 1) == (order == 0)
                for p in range(n_parts):
                    inside = dram_position[p] < 0 and buffer_position[p] < 0 and einsum_parts[e, p]
                    spatial = spatial_part[array, 0] == p or spatial_part[array, 1] == p
                    if inside and not spatial and einsum_reduced[e, p] == want_reduced:
                        parts[e, order, count] = p
                        count += 1
            counts[e, order] = count
    return parts, fold, counts


@njit(cache=True)
def _innermost(parts, counts, tensor_parts, e, order, t):
    """Index in the sequence of the innermost loop that indexes tensor t (-1: none)."""
    innermost = -1
    for k in range(counts[e, order]):
        if tensor_parts[t, parts[e, order, k]]:
            innermost = k
    return innermost


@njit(cache=True)
def _spatial_dims(e, t, spatial_part, einsum_parts, einsum_array, tensor_parts):
    """The (part, dim) pairs of Einsum e's array that tensor t spreads over: 0, 1 or 2 of them."""
    dims = -np.ones(2, dtype=np.int64)
    array = einsum_array[e]
    for d in range(2):
        p = spatial_part[array, d]
        if p >= 0 and einsum_parts[e, p] and tensor_parts[t, p]:
            dims[d] = p
    return dims


BLOCK = 256  # rows evaluated together, each quantity a vector over them (fits the core's caches)


@njit(cache=True, inline="always")
def _select_reuse(reuse, prefix, candidates, count, m):
    """Per row, the iterations of the loops down to the innermost candidate loop that runs more than once (loops
    of one iteration never change the tile, so they do not end the reuse); `candidates[:count]` are the loop
    positions, outermost first, that index the tensor (`prefix[k + 1]` = iterations down to loop k: the array
    level's loops, or the DRAM level's for a fetch)."""
    for i in range(m):
        reuse[i] = 1.0
    for c in range(count):
        k = candidates[c]
        for i in range(m):
            if prefix[k + 1, i] != prefix[k, i]:
                reuse[i] = prefix[k + 1, i]


@njit(cache=True, inline="always")
def _spread_words(words, ext, dims, spatial_size, array, m):
    """Per row, the words of a tensor one array step touches: the spatial extents it spreads over (`dims`: the
    part spread over each array dimension, -1 for none)."""
    for i in range(m):
        words[i] = 1.0
    for d in range(2):
        p = dims[d]
        if p >= 0:
            size = spatial_size[array, d]
            for i in range(m):
                words[i] *= min(ext[p, i], size)


@njit(cache=True)
def _reuse_candidates(innermost, parts, counts, tensor_parts, e, order, t, out):
    """Loop positions down to `innermost` (outermost first) whose part indexes tensor t; returns how many."""
    n = 0
    for k in range(innermost + 1):
        if k < counts[e, order] and tensor_parts[t, parts[e, order, k]]:
            out[n] = k
            n += 1
    return n


@njit(cache=True)
def _same_sequence(parts, fold, counts, e, order, e2, order2):
    """Whether two (Einsum, order) loop sequences are the same loops with the same folds."""
    if counts[e, order] != counts[e2, order2]:
        return False
    for k in range(counts[e, order]):
        if parts[e, order, k] != parts[e2, order2, k] or fold[e, order, k] != fold[e2, order2, k]:
            return False
    return True


@njit(cache=True)
def _sequence_ids(parts, fold, counts, orders):
    """Each (Einsum, order)'s distinct loop sequence (-1 for an order not walked), and the (Einsum, order) first
    having each: Einsums over the same parts on the same array walk the same loops, whose iteration counts are
    then worked out once per block (`_loop_iterations`)."""
    n_einsums = parts.shape[0]
    sequence_of = -np.ones((n_einsums, 2), dtype=np.int64)
    first = np.empty((2 * n_einsums, 2), dtype=np.int64)
    n = 0
    for e in range(n_einsums):
        for order in range(orders[e]):
            found = -1
            for s in range(n):
                if _same_sequence(parts, fold, counts, e, order, first[s, 0], first[s, 1]):
                    found = s
                    break
            if found < 0:
                first[n, 0], first[n, 1] = e, order
                found = n
                n += 1
            sequence_of[e, order] = found
    return sequence_of, first[:n]


@njit(cache=True)
def _touch_id(touches, n, sequence, array, dims, candidates, count):
    """The index of a touch (a tensor's words times reuse under one loop sequence: sequence, array, spread parts,
    loops that may end its reuse) among the first `n` of `touches`, added if new; returns (index, touches now)."""
    key, cand = touches
    for k in range(n):
        same = (key[k, 0] == sequence and key[k, 1] == array and key[k, 2] == dims[0] and key[k, 3] == dims[1]
                and key[k, 4] == count)
        for c in range(count):
            same = same and cand[k, c] == candidates[c]
        if same:
            return k, n
    key[n, 0], key[n, 1], key[n, 2], key[n, 3], key[n, 4] = sequence, array, dims[0], dims[1], count
    for c in range(count):
        cand[n, c] = candidates[c]
    return n, n + 1


@njit(cache=True)
def _loop_iterations(m, ext, trips, prefix, parts, fold, counts, einsum_fold, einsum_array, first):
    """Per distinct loop sequence s, `prefix[s, k]`: the iterations down to its loop k - 1 of each row."""
    for s in range(first.shape[0]):
        e, order = first[s, 0], first[s, 1]
        steps = prefix[s]
        for i in range(m):
            steps[0, i] = 1.0
        for k in range(counts[e, order]):
            p = parts[e, order, k]
            spread = fold[e, order, k]
            if spread == 0:
                for i in range(m):
                    steps[k + 1, i] = steps[k, i] * ext[p, i]
            elif spread == einsum_fold[e, p]:
                for i in range(m):
                    steps[k + 1, i] = steps[k, i] * trips[einsum_array[e], p, i]
            else:
                for i in range(m):
                    steps[k + 1, i] = steps[k, i] * np.ceil(ext[p, i] / spread)


@njit(cache=True)
def _array_accesses(b0, m, e, dens, touched, total, best, best_order, live, operand_touch, output_touch, orders,
                    first_operand, operand_tensor, home, output, size, buffer_read, buffer_write, staging,
                    reduced_innermost):
    """Buffer and staging accesses of Einsum e for rows b0 .. b0 + m - 1 (block columns 0 .. m - 1) under the
    better of the output- and input-stationary orders (`reduced_innermost` 1 when output-stationary, the reduced
    parts innermost, was chosen); rows not `live` (they overflow) get none. `touched[k]` is touch k's words times
    reuse (`operand_touch[o, order]`, `output_touch[e, order]`: each operand's and each output's under each
    order), worked out once per block for every Einsum walking the same loops."""
    first, last = first_operand[e], first_operand[e + 1]
    for i in range(m):
        best[i] = np.inf
        best_order[i] = 0
    for order in range(orders[e] if orders[e] > 1 else 0):  # (one order walked: it is the better)
        for i in range(m):
            total[i] = 0.0
        for o in range(first, last):
            if home[operand_tensor[o]] != HOME_REG:
                words = touched[operand_touch[o, order]]
                for i in range(m):
                    total[i] += words[i]
        if output >= 0 and home[output] != HOME_REG:
            words = touched[output_touch[e, order]]
            for i in range(m):
                total[i] += 2.0 * words[i]
        for i in range(m):
            if total[i] < best[i]:
                best[i] = total[i]
                best_order[i] = order
    for o in range(first, last):
        t = operand_tensor[o]
        if home[t] == HOME_REG:
            continue
        for i in range(m):
            if live[i]:
                reads = touched[operand_touch[o, best_order[i]], i]
                if home[t] == HOME_STAGING:
                    staging[b0 + i, t] += reads * dens[e, i]
                else:
                    buffer_read[b0 + i, t] += reads * dens[e, i]
    for i in range(m):
        if not live[i]:
            continue
        reduced_innermost[b0 + i, e] = 1 - best_order[i]
        if output >= 0:
            updates = touched[output_touch[e, best_order[i]], i]
            partial = max(0.0, updates - size[output, i]) * dens[e, i]  # partial sums written back and read again
            if home[output] == HOME_BUFFER:
                buffer_read[b0 + i, output] += partial
                buffer_write[b0 + i, output] += partial
            elif home[output] == HOME_STAGING:
                staging[b0 + i, output] += 2.0 * partial


@njit(cache=True)
def group_traffic(extents, loops, spatial, einsum_info, operands, tensor_info, limits):
    """Evaluate a batch of tilings (rows of `extents`) of one group.

    loops = (dram_position[P], buffer_loop[P], buffer_position[P]);
    spatial = (spatial_part[2,2], spatial_size[2,2]);
    einsum_info = (einsum_parts[E,P], einsum_reduced[E,P], einsum_array[E], cycles_per_point[E], density[B or 1,E]:
    each row's mask densities, or one row for all);
    operands = (operand_einsum[O], operand_tensor[O]);
    tensor_info = (tensor_parts[T,P], home[T], from_dram[T], to_dram[T], copies[T], owns_storage[T], producer[T],
    spillable[T]).
    Returns cycles[B,E], points[B,E], dram_read[B,T], dram_write[B,T], buffer_read[B,T], buffer_write[B,T],
    staging_access[B,T], occupancy[B,5] (buffer words, spillable buffer words, staging words, register words
    per 2D PE, register words per 1D lane), tiles[B], reduced_innermost[B,E] (the order chosen for each Einsum:
    1 output-, 0 input-stationary).
    limits = (buffer words, staging words, register words per 2D PE, per 1D lane, skip): with skip > 0, a row whose
    occupancy exceeds a limit (the buffer's not counting spillable tensors, as `batch.fits`) is left with its
    occupancy, points, cycles and DRAM fetches only: it cannot run, and its array accesses are most of the work.
    """
    dram_position, buffer_loop, buffer_position = loops
    spatial_part, spatial_size = spatial
    einsum_parts, einsum_reduced, einsum_array, cycles_per_point, density = einsum_info
    operand_einsum, operand_tensor = operands
    tensor_parts, home, from_dram, to_dram, copies, owns_storage, producer, spillable = tensor_info
    batch, n_parts = extents.shape
    n_einsums = einsum_parts.shape[0]
    n_tensors = tensor_parts.shape[0]
    cycles = np.zeros((batch, n_einsums))
    points = np.zeros((batch, n_einsums))
    dram_read = np.zeros((batch, n_tensors))
    dram_write = np.zeros((batch, n_tensors))
    buffer_read = np.zeros((batch, n_tensors))
    buffer_write = np.zeros((batch, n_tensors))
    staging = np.zeros((batch, n_tensors))
    occupancy = np.zeros((batch, 5))
    tiles = np.ones(batch)
    reduced_innermost = np.zeros((batch, n_einsums), dtype=np.int64)
    parts, fold, counts = _loop_sequences(dram_position, buffer_position, spatial_part, spatial_size, einsum_parts,
                                          einsum_reduced, einsum_array)
    output_of = -np.ones(n_einsums, dtype=np.int64)
    for t in range(n_tensors):
        if producer[t] >= 0:
            output_of[producer[t]] = t
    operand_innermost = np.empty((operand_einsum.shape[0], 2), dtype=np.int64)
    output_innermost = -np.ones((n_einsums, 2), dtype=np.int64)
    for order in range(2):
        for o in range(operand_einsum.shape[0]):
            operand_innermost[o, order] = _innermost(parts, counts, tensor_parts, operand_einsum[o], order,
                                                     operand_tensor[o])
        for e in range(n_einsums):
            if output_of[e] >= 0:
                output_innermost[e, order] = _innermost(parts, counts, tensor_parts, e, order, output_of[e])
    first_operand = np.zeros(n_einsums + 1, dtype=np.int64)  # operands are grouped by Einsum
    for o in range(operand_einsum.shape[0]):
        first_operand[operand_einsum[o] + 1] = o + 1
    for e in range(n_einsums):
        first_operand[e + 1] = max(first_operand[e + 1], first_operand[e])
    operand_dims = np.empty((operand_einsum.shape[0], 2), dtype=np.int64)
    for o in range(operand_einsum.shape[0]):
        operand_dims[o] = _spatial_dims(operand_einsum[o], operand_tensor[o], spatial_part, einsum_parts,
                                        einsum_array, tensor_parts)
    output_dims = -np.ones((n_einsums, 2), dtype=np.int64)
    for e in range(n_einsums):
        if output_of[e] >= 0:
            output_dims[e] = _spatial_dims(e, output_of[e], spatial_part, einsum_parts, einsum_array, tensor_parts)
    orders = np.ones(n_einsums, dtype=np.int64)  # both orders only matter when a reduced part is walked in time
    for e in range(n_einsums):
        for k in range(counts[e, 0]):
            p = parts[e, 0, k]
            if einsum_reduced[e, p] and fold[e, 0, k] == 0 and dram_position[p] < 0 and buffer_position[p] < 0:
                orders[e] = 2
    einsum_fold = np.zeros((n_einsums, n_parts))  # array dimension a part is spread over (0: temporal)
    for e in range(n_einsums):
        for d in range(2):
            p = spatial_part[einsum_array[e], d]
            if p >= 0:
                einsum_fold[e, p] = spatial_size[einsum_array[e], d]
    n_operands = operand_einsum.shape[0]
    width = 3 * n_parts
    operand_candidates = np.zeros((n_operands, 2, width), dtype=np.int64)  # loops that may end each reuse
    operand_count = np.zeros((n_operands, 2), dtype=np.int64)
    output_candidates = np.zeros((n_einsums, 2, width), dtype=np.int64)
    output_count = np.zeros((n_einsums, 2), dtype=np.int64)
    for order in range(2):
        for o in range(n_operands):
            operand_count[o, order] = _reuse_candidates(operand_innermost[o, order], parts, counts, tensor_parts,
                                                        operand_einsum[o], order, operand_tensor[o],
                                                        operand_candidates[o, order])
        for e in range(n_einsums):
            if output_of[e] >= 0:
                output_count[e, order] = _reuse_candidates(output_innermost[e, order], parts, counts, tensor_parts, e,
                                                           order, output_of[e], output_candidates[e, order])
    n_dram = 0
    for p in range(n_parts):
        n_dram += dram_position[p] >= 0
    dram_order = np.empty(n_dram, dtype=np.int64)
    for p in range(n_parts):
        if dram_position[p] >= 0:
            dram_order[dram_position[p]] = p
    fetch_candidates = np.zeros((n_tensors, max(n_dram, 1)), dtype=np.int64)  # DRAM loops that may end a reuse
    fetch_count = np.zeros(n_tensors, dtype=np.int64)
    for t in range(n_tensors):
        innermost = -1
        for p in range(n_parts):
            if tensor_parts[t, p]:
                innermost = max(innermost, dram_position[p])
        for k in range(innermost + 1):
            if tensor_parts[t, dram_order[k]]:
                fetch_candidates[t, fetch_count[t]] = k
                fetch_count[t] += 1
    sequence_of, first_walk = _sequence_ids(parts, fold, counts, orders)
    most = n_operands * 2 + n_einsums * 2
    touches = (np.empty((max(most, 1), 5), dtype=np.int64), np.empty((max(most, 1), width), dtype=np.int64))
    n_touches = 0
    operand_touch = -np.ones((n_operands, 2), dtype=np.int64)  # each operand's touch under each order walked
    output_touch = -np.ones((n_einsums, 2), dtype=np.int64)
    for e in range(n_einsums):
        for order in range(orders[e]):
            for o in range(first_operand[e], first_operand[e + 1]):
                if home[operand_tensor[o]] != HOME_REG:
                    operand_touch[o, order], n_touches = _touch_id(
                        touches, n_touches, sequence_of[e, order], einsum_array[e], operand_dims[o],
                        operand_candidates[o, order], operand_count[o, order])
            if output_of[e] >= 0:
                output_touch[e, order], n_touches = _touch_id(
                    touches, n_touches, sequence_of[e, order], einsum_array[e], output_dims[e],
                    output_candidates[e, order], output_count[e, order])
    touch_key, touch_candidates = touches
    per_row = density.shape[0] > 1
    # one block of rows at a time, every quantity a vector over the block's rows ([.., i]); each row's arithmetic is
    # the same sequence of operations as evaluating it alone
    n = max(1, min(BLOCK, batch))  # (an empty batch: no block)
    ext = np.empty((n_parts, n))
    dens = np.empty((n_einsums, n))
    trips = np.empty((2, n_parts, n))  # trip count of each part spread over each array
    prefix = np.empty((first_walk.shape[0], width + 1, n))  # iterations down to each loop of each loop sequence
    dram_prefix = np.empty((n_dram + 1, n))
    touched = np.empty((max(n_touches, 1), n))  # each touch's words times reuse
    size = np.empty((n_tensors, n))
    tensor_below = np.empty((n_tensors, n))  # each tensor's tile in the buffer (the first of its parts' only)
    tensor_inside = np.empty((n_tensors, n))  # its part of one tile (likewise)
    same_parts = np.arange(n_tensors)  # the first tensor over the same parts as each
    for t in range(n_tensors):
        for other in range(t):
            if same_parts[t] == t and np.array_equal(tensor_parts[other], tensor_parts[t]):
                same_parts[t] = other
    scratch = np.empty((6, n))
    count, folds, words, reuse, total, best = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4], scratch[5]
    best_order = np.empty(n, dtype=np.int64)
    live = np.empty(n, dtype=np.bool_)
    for b0 in range(0, batch, n):
        m = min(n, batch - b0)
        for i in range(m):
            for p in range(n_parts):
                ext[p, i] = extents[b0 + i, p]
            for e in range(n_einsums):
                dens[e, i] = density[b0 + i if per_row else 0, e]
        for p in range(n_parts):
            if dram_position[p] >= 0 or buffer_loop[p]:
                for i in range(m):
                    tiles[b0 + i] *= ext[p, i]
        for array in range(2):
            for d in range(2):
                p = spatial_part[array, d]
                if p >= 0:
                    for i in range(m):
                        trips[array, p, i] = np.ceil(ext[p, i] / spatial_size[array, d])
        for e in range(n_einsums):
            for i in range(m):
                count[i] = dens[e, i]
                folds[i] = dens[e, i]
            for p in range(n_parts):
                if not einsum_parts[e, p]:
                    continue
                if einsum_fold[e, p] > 0:
                    spread = trips[einsum_array[e], p]
                    for i in range(m):
                        count[i] *= ext[p, i]
                        folds[i] *= spread[i]
                else:
                    for i in range(m):
                        count[i] *= ext[p, i]
                        folds[i] *= ext[p, i]
            for i in range(m):
                points[b0 + i, e] = count[i]
                cycles[b0 + i, e] = folds[i] * cycles_per_point[e]
        for i in range(m):
            dram_prefix[0, i] = 1.0
        for k in range(n_dram):
            for i in range(m):
                dram_prefix[k + 1, i] = dram_prefix[k, i] * ext[dram_order[k], i]
        for t in range(n_tensors):
            alike = same_parts[t]
            if alike < t:  # a tensor over the same parts: the same products
                below, inside = tensor_below[alike], tensor_inside[alike]
                for i in range(m):
                    size[t, i] = size[alike, i]
            else:
                below, inside = tensor_below[t], tensor_inside[t]
                for i in range(m):
                    size[t, i] = 1.0  # all of the tensor
                    below[i] = 1.0  # its tile in the buffer: parts not looped at the DRAM level
                    inside[i] = 1.0  # its part of one tile: parts not looped at all
                for p in range(n_parts):
                    if tensor_parts[t, p]:
                        for i in range(m):
                            size[t, i] *= ext[p, i]
                        if dram_position[p] < 0:
                            for i in range(m):
                                below[i] *= ext[p, i]
                            if not buffer_loop[p]:
                                for i in range(m):
                                    inside[i] *= ext[p, i]
            streamed = from_dram[t] and producer[t] < 0 and home[t] == HOME_DRAM
            if from_dram[t] and not streamed:  # DRAM loops of one iteration do not end the reuse
                _select_reuse(reuse, dram_prefix, fetch_candidates[t], fetch_count[t], m)
                for i in range(m):
                    fetched = reuse[i] * below[i]
                    dram_read[b0 + i, t] = fetched
                    buffer_write[b0 + i, t] += fetched
            if producer[t] >= 0:
                for i in range(m):
                    written = size[t, i] * dens[producer[t], i]
                    if to_dram[t]:
                        dram_write[b0 + i, t] = written
                    if home[t] == HOME_BUFFER:
                        buffer_write[b0 + i, t] += written
                    elif home[t] == HOME_STAGING:
                        staging[b0 + i, t] += written
            if not owns_storage[t]:
                continue
            if home[t] == HOME_BUFFER or (from_dram[t] and home[t] != HOME_REG and not streamed):
                for i in range(m):
                    occupancy[b0 + i, 0] += below[i] * copies[t]
                    if spillable[t]:
                        occupancy[b0 + i, 1] += below[i] * copies[t]
            elif home[t] == HOME_STAGING:
                for i in range(m):
                    occupancy[b0 + i, 2] += inside[i] * copies[t]
            elif home[t] == HOME_REG and producer[t] >= 0:
                array = einsum_array[producer[t]]
                for i in range(m):
                    occupancy[b0 + i, 3 + array] += inside[i] * copies[t] / (spatial_size[array, 0]
                                                                             * spatial_size[array, 1])
        for i in range(m):
            b = b0 + i
            live[i] = not (limits[4] > 0 and (occupancy[b, 0] - occupancy[b, 1] > limits[0]
                                              or occupancy[b, 2] > limits[1] or occupancy[b, 3] > limits[2]
                                              or occupancy[b, 4] > limits[3]))
        _loop_iterations(m, ext, trips, prefix, parts, fold, counts, einsum_fold, einsum_array, first_walk)
        for k in range(n_touches):
            _spread_words(words, ext, touch_key[k, 2:4], spatial_size, touch_key[k, 1], m)
            _select_reuse(reuse, prefix[touch_key[k, 0]], touch_candidates[k], touch_key[k, 4], m)
            for i in range(m):
                touched[k, i] = words[i] * reuse[i]
        for e in range(n_einsums):  # buffer and staging accesses under the better of the two in-tile orders
            _array_accesses(b0, m, e, dens, touched, total, best, best_order, live, operand_touch, output_touch,
                            orders, first_operand, operand_tensor, home, output_of[e], size, buffer_read,
                            buffer_write, staging, reduced_innermost)
        for t in range(n_tensors):  # streamed from DRAM: every array read is a DRAM read
            if from_dram[t] and producer[t] < 0 and home[t] == HOME_DRAM:
                for i in range(m):
                    if live[i]:
                        dram_read[b0 + i, t] += buffer_read[b0 + i, t]
                        buffer_read[b0 + i, t] = 0.0
    return (cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles,
            reduced_innermost)
