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


@njit(cache=True, inline="always")
def _reuse(prefix, order, innermost, parts, e, tensor_parts, t):
    """Iterations of the loops down to the innermost one that indexes tensor t and runs more than once
    (from the structural `innermost` back): a loop of one iteration never changes the tensor's tile, so
    it does not end the reuse."""
    k = innermost
    while k >= 0 and (prefix[order, k + 1] == prefix[order, k] or not tensor_parts[t, parts[e, order, k]]):
        k -= 1
    return prefix[order, k + 1]


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


@njit(cache=True, inline="always")
def _words(ext, dims, row, spatial_size, array):
    """Words of a tensor one array step touches: the spatial extents it spreads over (row `row` of `dims`)."""
    words = 1.0
    for d in range(2):
        p = dims[row, d]
        if p >= 0:
            words *= min(ext[p], spatial_size[array, d])
    return words


@njit(cache=True, inline="always")
def _array_accesses(b, e, ext, trips, structure, spatial_size, einsum_array, density, operand_tensor, tensor_parts,
                    home, output, prefix, touched, buffer_read, buffer_write, staging):
    """Buffer and staging accesses of one Einsum under the better of output- and input-stationary orders;
    returns 1 when the output-stationary order (reduced parts innermost) was chosen. `touched[order, k]` keeps
    each operand's (then the output's) words times reuse under each order, so the chosen one is not recomputed;
    `trips[p]` is the trip count of part p's fold on this Einsum's array (worked out with its points)."""
    parts, fold, counts, operand_innermost, output_innermost, first_operand, operand_dims, output_dims, orders, \
        einsum_folds = structure
    einsum_fold = einsum_folds[e]
    array = einsum_array[e]
    first, last = first_operand[e], first_operand[e + 1]
    best = np.inf
    best_order = 0
    for order in range(orders[e]):
        prefix[order, 0] = 1.0
        for k in range(counts[e, order]):
            p = parts[e, order, k]
            size = fold[e, order, k]
            trip = ext[p] if size == 0 else trips[p] if size == einsum_fold[p] else np.ceil(ext[p] / size)
            prefix[order, k + 1] = prefix[order, k] * trip
        total = 0.0
        for o in range(first, last):
            if home[operand_tensor[o]] != HOME_REG:
                words = _words(ext, operand_dims, o, spatial_size, array)
                touched[order, o - first] = words * _reuse(prefix, order, operand_innermost[o, order], parts, e,
                                                           tensor_parts, operand_tensor[o])
                total += touched[order, o - first]
        if output >= 0:
            words = _words(ext, output_dims, e, spatial_size, array)
            touched[order, last - first] = words * _reuse(prefix, order, output_innermost[e, order], parts, e,
                                                          tensor_parts, output)
            if home[output] != HOME_REG:
                total += 2.0 * touched[order, last - first]
        if total < best:
            best, best_order = total, order
    for o in range(first, last):
        t = operand_tensor[o]
        if home[t] == HOME_REG:
            continue
        reads = touched[best_order, o - first]
        if home[t] == HOME_STAGING:
            staging[b, t] += reads * density[e]
        else:
            buffer_read[b, t] += reads * density[e]
    if output >= 0:
        updates = touched[best_order, last - first]
        size = 1.0
        for p in range(ext.shape[0]):
            if tensor_parts[output, p]:
                size *= ext[p]
        partial = max(0.0, updates - size) * density[e]  # partial sums written back and read again
        if home[output] == HOME_BUFFER:
            buffer_read[b, output] += partial
            buffer_write[b, output] += partial
        elif home[output] == HOME_STAGING:
            staging[b, output] += 2.0 * partial
    return 1 - best_order


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
    structure = (parts, fold, counts, operand_innermost, output_innermost, first_operand, operand_dims,
                 output_dims, orders, einsum_fold)
    trips = np.empty((n_einsums, n_parts))  # a row's trip count of each part on each Einsum's array
    prefix = np.empty((2, 3 * n_parts + 1))
    touched = np.empty((2, operand_einsum.shape[0] + 1))
    n_dram = 0
    for p in range(n_parts):
        n_dram += dram_position[p] >= 0
    dram_order = np.empty(n_dram, dtype=np.int64)
    for p in range(n_parts):
        if dram_position[p] >= 0:
            dram_order[dram_position[p]] = p
    tensor_innermost_dram = -np.ones(n_tensors, dtype=np.int64)
    for t in range(n_tensors):
        for p in range(n_parts):
            if tensor_parts[t, p]:
                tensor_innermost_dram[t] = max(tensor_innermost_dram[t], dram_position[p])
    dram_prefix = np.empty(n_dram + 1)
    for b in range(batch):
        ext = extents[b]
        row_density = density[b if density.shape[0] > 1 else 0]  # one row for all, or one per row
        for p in range(n_parts):
            if dram_position[p] >= 0 or buffer_loop[p]:
                tiles[b] *= ext[p]
        for e in range(n_einsums):
            count = row_density[e]
            folds = row_density[e]
            for p in range(n_parts):
                if einsum_parts[e, p]:
                    trips[e, p] = np.ceil(ext[p] / einsum_fold[e, p]) if einsum_fold[e, p] > 0 else ext[p]
                    count *= ext[p]
                    folds *= trips[e, p]
            points[b, e] = count
            cycles[b, e] = folds * cycles_per_point[e]
        dram_prefix[0] = 1.0
        for k in range(n_dram):
            dram_prefix[k + 1] = dram_prefix[k] * ext[dram_order[k]]
        for t in range(n_tensors):
            size = 1.0  # all of the tensor
            below_dram = 1.0  # its tile in the buffer: parts not looped at the DRAM level
            inside_tile = 1.0  # its part of one tile: parts not looped at all
            for p in range(n_parts):
                if tensor_parts[t, p]:
                    size *= ext[p]
                    if dram_position[p] < 0:
                        below_dram *= ext[p]
                        if not buffer_loop[p]:
                            inside_tile *= ext[p]
            streamed = from_dram[t] and producer[t] < 0 and home[t] == HOME_DRAM
            if from_dram[t] and not streamed:
                k = tensor_innermost_dram[t]  # DRAM loops of one iteration do not end the reuse
                while k >= 0 and (ext[dram_order[k]] == 1 or not tensor_parts[t, dram_order[k]]):
                    k -= 1
                fetched = dram_prefix[k + 1] * below_dram
                dram_read[b, t] = fetched
                buffer_write[b, t] += fetched
            if producer[t] >= 0:
                written = size * row_density[producer[t]]
                if to_dram[t]:
                    dram_write[b, t] = written
                if home[t] == HOME_BUFFER:
                    buffer_write[b, t] += written
                elif home[t] == HOME_STAGING:
                    staging[b, t] += written
            if not owns_storage[t]:
                continue
            if home[t] == HOME_BUFFER or (from_dram[t] and home[t] != HOME_REG and not streamed):
                occupancy[b, 0] += below_dram * copies[t]
                if spillable[t]:
                    occupancy[b, 1] += below_dram * copies[t]
            elif home[t] == HOME_STAGING:
                occupancy[b, 2] += inside_tile * copies[t]
            elif home[t] == HOME_REG and producer[t] >= 0:
                array = einsum_array[producer[t]]
                occupancy[b, 3 + array] += inside_tile * copies[t] / (spatial_size[array, 0] * spatial_size[array, 1])
        if limits[4] > 0 and (occupancy[b, 0] - occupancy[b, 1] > limits[0] or occupancy[b, 2] > limits[1]
                              or occupancy[b, 3] > limits[2] or occupancy[b, 4] > limits[3]):
            continue
        for e in range(n_einsums):
            reduced_innermost[b, e] = _array_accesses(
                b, e, ext, trips[e], structure, spatial_size, einsum_array, row_density, operand_tensor, tensor_parts,
                home,
                output_of[e], prefix, touched, buffer_read, buffer_write, staging)
        for t in range(n_tensors):  # streamed from DRAM: every array read is a DRAM read
            if from_dram[t] and producer[t] < 0 and home[t] == HOME_DRAM:
                dram_read[b, t] += buffer_read[b, t]
                buffer_read[b, t] = 0.0
    return (cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles,
            reduced_innermost)
