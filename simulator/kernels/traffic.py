"""Per-Einsum compute cycles and per-tensor accesses of a fused group, for a batch of tilings.

Loop-nest reuse (as in Timeloop): a tensor kept in the global buffer is refetched from DRAM once per
iteration of the DRAM-level loops down to the innermost loop that indexes it, and each fetch brings
its buffer tile (all parts not looped at the DRAM level). An array reads an operand from the buffer
once per point, divided by the spatial broadcast over array dimensions bound to parts the operand
does not have. Outputs are written once per output point.
"""

from __future__ import annotations

import numpy as np
from numba import njit

HOME_REG, HOME_STAGING, HOME_BUFFER, HOME_DRAM = 0, 1, 2, 3


@njit(cache=True)
def _tile_words(extents, parts, dram_position, below_buffer_only):
    """Words of a tensor's tile below the DRAM loops (or below all loops when below_buffer_only)."""
    words = 1.0
    for p in range(extents.shape[0]):
        if parts[p] and dram_position[p] < 0 and not below_buffer_only[p]:
            words *= extents[p]
    return words


@njit(cache=True)
def _fetches(extents, parts, dram_position):
    """Iterations of the DRAM loops down to the innermost one that indexes the tensor."""
    innermost = -1
    for p in range(extents.shape[0]):
        if parts[p] and dram_position[p] > innermost:
            innermost = dram_position[p]
    count = 1.0
    for p in range(extents.shape[0]):
        if 0 <= dram_position[p] <= innermost:
            count *= extents[p]
    return count


@njit(cache=True)
def _loop_sequence(e, ext, dram_position, buffer_position, spatial_part, spatial_size, einsum_parts, einsum_reduced,
                   einsum_array, reduced_innermost):
    """Loops from outermost to innermost as (part, trip count): DRAM loops, buffer loops, then the
    temporal loops inside a tile (spatial folds first, then non-reduced and reduced parts, or the reverse)."""
    n_parts = ext.shape[0]
    parts = np.empty(3 * n_parts, dtype=np.int64)
    trips = np.empty(3 * n_parts)
    count = 0
    for position in range(n_parts):
        for p in range(n_parts):
            if dram_position[p] == position and einsum_parts[e, p]:
                parts[count], trips[count] = p, ext[p]
                count += 1
    for position in range(n_parts):
        for p in range(n_parts):
            if buffer_position[p] == position and einsum_parts[e, p]:
                parts[count], trips[count] = p, ext[p]
                count += 1
    array = einsum_array[e]
    for p in range(n_parts):
        for d in range(2):
            if spatial_part[array, d] == p and einsum_parts[e, p] and ext[p] > spatial_size[array, d]:
                parts[count], trips[count] = p, np.ceil(ext[p] / spatial_size[array, d])
                count += 1
    for phase in range(2):
        want_reduced = (phase == 1) == reduced_innermost
        for p in range(n_parts):
            inside = dram_position[p] < 0 and buffer_position[p] < 0 and einsum_parts[e, p]
            spatial = spatial_part[array, 0] == p or spatial_part[array, 1] == p
            if inside and not spatial and einsum_reduced[e, p] == want_reduced:
                parts[count], trips[count] = p, ext[p]
                count += 1
    return parts[:count], trips[:count]


@njit(cache=True)
def _accesses(relevant, parts, trips, spatial_words):
    """Reads of a tensor with relevance `relevant` over the loop sequence (Timeloop-style reuse)."""
    innermost = -1
    for k in range(parts.shape[0]):
        if relevant[parts[k]]:
            innermost = k
    total = spatial_words
    for k in range(innermost + 1):
        total *= trips[k]
    return total


@njit(cache=True)
def _spatial_words(e, t, ext, spatial_part, spatial_size, einsum_parts, einsum_array, tensor_parts):
    words = 1.0
    array = einsum_array[e]
    for d in range(2):
        p = spatial_part[array, d]
        if p >= 0 and einsum_parts[e, p] and tensor_parts[t, p]:
            words *= min(ext[p], spatial_size[array, d])
    return words


@njit(cache=True)
def _array_accesses(b, e, ext, dram_position, buffer_position, spatial_part, spatial_size, einsum_parts,
                    einsum_reduced, einsum_array, density, operand_einsum, operand_tensor, tensor_parts, home,
                    producer, buffer_read, buffer_write, staging):
    """Buffer and staging accesses of one Einsum under the better of output- and input-stationary orders."""
    best = np.inf
    best_order = 1
    best_reads = np.zeros(operand_einsum.shape[0])
    best_updates = 0.0
    output = -1
    for t in range(producer.shape[0]):
        if producer[t] == e:
            output = t
    for order in range(2):
        parts, trips = _loop_sequence(e, ext, dram_position, buffer_position, spatial_part, spatial_size,
                                      einsum_parts, einsum_reduced, einsum_array, order == 0)
        reads = np.zeros(operand_einsum.shape[0])
        total = 0.0
        for o in range(operand_einsum.shape[0]):
            if operand_einsum[o] != e or home[operand_tensor[o]] == HOME_REG:
                continue
            t = operand_tensor[o]
            words = _spatial_words(e, t, ext, spatial_part, spatial_size, einsum_parts, einsum_array, tensor_parts)
            reads[o] = _accesses(tensor_parts[t], parts, trips, words) * density[e]
            total += reads[o]
        updates = 0.0
        if output >= 0 and home[output] != HOME_REG:
            words = _spatial_words(e, output, ext, spatial_part, spatial_size, einsum_parts, einsum_array,
                                   tensor_parts)
            updates = _accesses(tensor_parts[output], parts, trips, words) * density[e]
            total += 2.0 * updates
        if total < best:
            best, best_reads, best_updates, best_order = total, reads, updates, 1 - order
    for o in range(operand_einsum.shape[0]):
        if operand_einsum[o] == e:
            t = operand_tensor[o]
            if home[t] == HOME_STAGING:
                staging[b, t] += best_reads[o]
            elif home[t] != HOME_REG:
                buffer_read[b, t] += best_reads[o]
    if output >= 0:
        size = density[e]
        for p in range(ext.shape[0]):
            if tensor_parts[output, p]:
                size *= ext[p]
        partial = max(0.0, best_updates - size)  # partial sums written back and read again
        if home[output] == HOME_BUFFER:
            buffer_read[b, output] += partial
            buffer_write[b, output] += partial
        elif home[output] == HOME_STAGING:
            staging[b, output] += 2.0 * partial
    return best_order


@njit(cache=True)
def group_traffic(extents, loops, spatial, einsum_info, operands, tensor_info):
    """Evaluate a batch of tilings (rows of `extents`) of one group.

    loops = (dram_position[P], buffer_loop[P], buffer_position[P]);
    spatial = (spatial_part[2,2], spatial_size[2,2]);
    einsum_info = (einsum_parts[E,P], einsum_reduced[E,P], einsum_array[E], cycles_per_point[E], density[E]);
    operands = (operand_einsum[O], operand_tensor[O]);
    tensor_info = (tensor_parts[T,P], home[T], from_dram[T], to_dram[T], copies[T], owns_storage[T], producer[T],
    spillable[T]).
    Returns cycles[B,E], points[B,E], dram_read[B,T], dram_write[B,T], buffer_read[B,T], buffer_write[B,T],
    staging_access[B,T], occupancy[B,4] (buffer words, spillable buffer words, staging words, register words
    per PE), tiles[B], reduced_innermost[B,E] (the order chosen for each Einsum: 1 output-, 0 input-stationary).
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
    occupancy = np.zeros((batch, 4))
    tiles = np.ones(batch)
    reduced_innermost = np.zeros((batch, n_einsums), dtype=np.int64)
    no_parts = np.zeros(n_parts, dtype=np.bool_)
    for b in range(batch):
        ext = extents[b]
        for p in range(n_parts):
            if dram_position[p] >= 0 or buffer_loop[p]:
                tiles[b] *= ext[p]
        for e in range(n_einsums):
            array = einsum_array[e]
            count = density[e]
            folds = density[e]
            for p in range(n_parts):
                if not einsum_parts[e, p]:
                    continue
                count *= ext[p]
                spatial_dim = -1
                for d in range(2):
                    if spatial_part[array, d] == p:
                        spatial_dim = d
                folds *= np.ceil(ext[p] / spatial_size[array, spatial_dim]) if spatial_dim >= 0 else ext[p]
            points[b, e] = count
            cycles[b, e] = folds * cycles_per_point[e]
        for t in range(n_tensors):
            size = 1.0
            for p in range(n_parts):
                if tensor_parts[t, p]:
                    size *= ext[p]
            if from_dram[t]:
                fetched = _fetches(ext, tensor_parts[t], dram_position) * _tile_words(
                    ext, tensor_parts[t], dram_position, no_parts)
                dram_read[b, t] = fetched
                buffer_write[b, t] += fetched
            if producer[t] >= 0:
                written = size * density[producer[t]]
                if to_dram[t]:
                    dram_write[b, t] = written
                if home[t] == HOME_BUFFER:
                    buffer_write[b, t] += written
                elif home[t] == HOME_STAGING:
                    staging[b, t] += written
            if owns_storage[t] and (home[t] == HOME_BUFFER or (from_dram[t] and home[t] != HOME_REG)):
                words = _tile_words(ext, tensor_parts[t], dram_position, no_parts) * copies[t]
                occupancy[b, 0] += words
                if spillable[t]:
                    occupancy[b, 1] += words
            if owns_storage[t] and home[t] == HOME_STAGING:
                occupancy[b, 2] += _tile_words(ext, tensor_parts[t], dram_position, buffer_loop) * copies[t]
            if owns_storage[t] and home[t] == HOME_REG and producer[t] >= 0:
                array = einsum_array[producer[t]]
                pes = spatial_size[array, 0] * spatial_size[array, 1]
                occupancy[b, 3] += _tile_words(ext, tensor_parts[t], dram_position, buffer_loop) / pes
        for e in range(n_einsums):
            reduced_innermost[b, e] = _array_accesses(
                b, e, ext, dram_position, buffer_position, spatial_part, spatial_size, einsum_parts,
                einsum_reduced, einsum_array, density, operand_einsum, operand_tensor, tensor_parts,
                home, producer, buffer_read, buffer_write, staging)
    return (cycles, points, dram_read, dram_write, buffer_read, buffer_write, staging, occupancy, tiles,
            reduced_innermost)
