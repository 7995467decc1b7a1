"""The mapping space of a cascade on a spatial array, enumerated lazily and encoded as integer genomes.

A genome is [structure, size choices...]. A structure fixes everything but tile sizes: how Einsums are
grouped (one fused group, or split where the work changes arrays, the groups streaming into each
other), which array each Einsum runs on (placement policy, only where the operators are supported),
the binding (pipeline stages), the spatial binding of the key and query tiles to the 2D rows/columns
and the 1D lanes, whether key tiles stream through a DRAM loop, and the DRAM loop order. Sizes (`tile_sizes`)
are the powers of two and the divisors of the rank: the query tile on the array (p0), query tiles kept in the
buffer (p1) and the key tile (m0). A size that does not divide its rank leaves a short last tile, padded and
costed whole (as the hardware runs it: a fixed schedule over a full tile), so a rank of any length (197, 1500
or a prime) has tiles as large as the array. Illegal combinations that are cheap to see are pruned here
(operator support, a buffer loop longer than the query tiles there are); capacity is checked by the cost
function, which gets whole batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from arch_models import SpatialArch
from arch_models.operators import fused_operators, is_multiply_accumulate, supports
from einsum_cascade.errors import SpecError
from einsum_cascade.model import Cascade, Einsum
from mappers.genome import GenomeSpace
from mappers.mapping import Group, Mapping

PLACEMENTS = ("work", "matmul-2d", "prefer-2d")
BINDINGS = ("none", "return", "every", "every-deep")
GROUPINGS = ("fused", "split")
SIZED_PARTS = ("p0", "p1", "m0")
LONG_BUFFER_LOOP = "the buffer loop holds more query tiles than there are (p1 > queries / p0)"  # `legal_sizes`


@dataclass(frozen=True)
class Structure:
    grouping: str
    placement: str
    binding: str
    key_on_rows: bool  # 2D rows take key tiles (else query tiles)
    key_on_lanes: bool  # 1D lanes take key tiles (else query tiles)
    stream_keys: bool  # key tiles walk through a DRAM loop
    keys_outer: bool  # DRAM order: key loop outside the query-tile loop


class SpatialMappingSpace(GenomeSpace):
    """Legal-looking mappings of `cascade` on `arch` for concrete `shapes`."""

    def __init__(self, cascade: Cascade, arch: SpatialArch, shapes: dict[str, int], name: str = "searched"):
        self.cascade, self.arch, self.shapes, self.name = cascade, arch, shapes, name
        self.query = cascade.query_ranks[-1]
        self.key = _key_rank(cascade, self.query)
        partition = cascade.partition_of_parent(self.key)
        self.key_parts = partition.parts if partition else (f"{self.key}1", f"{self.key}0")
        query_partition = cascade.partition_of_parent(self.query)
        # (outer loop, buffer loop, tile on the arrays); a cascade that cuts its queries into blocks (SpargeAttn)
        # gives the outer and the tile, and its query blocks are not regrouped in the buffer (no buffer loop)
        self.query_parts = (query_partition.outer, None, query_partition.inner) if query_partition else tuple(
            f"{self.query}{n}" for n in (2, 1, 0))
        self.instances = [s.lower() for s in cascade.instances.split("*") if s.strip() and not s.strip().isdigit()]
        queries, keys = shapes[cascade.shapes[self.query]], shapes[cascade.shapes[self.key]]
        side = max(arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.cols)
        p0 = tile_sizes(queries, min(queries, side))
        self.choices = {
            "p0": p0,
            "p1": _buffer_loop_sizes(queries, p0) if query_partition is None else [1],
            "m0": tile_sizes(keys, min(keys, side)),
        }
        # queries and keys cut into the same chunks (a shared outer rank): one chunk loop, the query tile tied to
        # the key tile
        self.chunked = bool(query_partition and partition and query_partition.outer == partition.outer)
        if cascade.shared_outers and not self.chunked:
            raise SpecError(f"cascade {cascade.name} shares rank {', '.join(sorted(cascade.shared_outers))} between "
                            "partitions other than its queries' and its keys': the mapper gives one loop only to "
                            "queries and keys in the same chunks", source=cascade.source, key="partitions")
        if self.chunked:  # chunks may be padded: every power of two up to the array or the first that holds them
            # all, and every divisor of the longer rank up to the array
            longest = min(max(queries, keys), side)
            holds_all = 1 << (longest - 1).bit_length()  # the first power of two that holds them all
            self.choices["m0"] = sorted(set(tile_sizes(max(queries, keys), longest)) | {holds_all})
            self.choices["p0"] = [0]  # a placeholder: `sizes` gives p0 the key tile m0
        for sized, cut in (("m0", partition), ("p0", query_partition)):  # an algorithm's blocks, not a tiling
            if cut and cut.tile_symbol in cascade.fixed_tiles():
                self.choices[sized] = [cascade.algorithm_block(cut, shapes)]
        self._choice_arrays: dict[str, np.ndarray] | None = None
        self._legal_sizes: np.ndarray | None = None  # `_legal_size_combinations`
        self._placements: dict[str, dict[str, str] | None] = {}
        self.structures = [s for s in self._structures() if self._placement(s) is not None]

    def keep_structures(self, indices: list[int]) -> None:
        """Keep only these structures, in this order (the cost model found the others to be the same loop nest
        as one kept: `SpatialCost.canonicalize`)."""
        self.structures = [self.structures[n] for n in indices]

    # ---- sizes of the space --------------------------------------------------------------------------
    @property
    def dimensions(self) -> list[int]:
        return [len(self.structures)] + [len(self.choices[p]) for p in SIZED_PARTS]

    @property
    def candidates(self) -> int:
        """Genomes whose sizes pass `legal_sizes`: the size genes' legal combinations (they do not depend on the
        structure) times the structures."""
        return int(self._legal_size_combinations().sum()) * self.dimensions[0]

    def _legal_size_combinations(self) -> np.ndarray:
        """Whether each combination of the size genes passes `legal_sizes`, in enumeration order (a genome's index
        modulo a structure's combinations), worked out once: the sizes do not change with the structures kept."""
        if self._legal_sizes is None:
            combinations = np.stack(np.meshgrid(*(np.arange(n) for n in self.dimensions[1:]), indexing="ij"), axis=-1)
            sizes = combinations.reshape(-1, len(SIZED_PARTS))
            genomes = np.concatenate([np.zeros((len(sizes), 1), dtype=sizes.dtype), sizes], axis=1)
            self._legal_sizes = self.legal_sizes(genomes)
        return self._legal_sizes

    pruned_reason = LONG_BUFFER_LOOP

    def enumerate_batches(self, batch: int):
        """`enumerate`'s batches (the same ranges of the space, so that a search picks the same best among near
        ties) without the genomes `legal_sizes` rules out, each with how many it left out: ruling them out needs
        only their sizes, looked up once per combination of sizes."""
        legal, combinations = self._legal_size_combinations(), int(self.strides[0])
        for start in range(0, self.size, batch):
            index = np.arange(start, min(start + batch, self.size), dtype=np.int64)
            kept = index[legal[index % combinations]]
            yield self.at(kept), len(index) - len(kept)

    def mutate(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Change one gene of every genome: a neighbouring size, or another structure."""
        children = genomes.copy()
        dimensions = np.array(self.dimensions)
        gene = rng.integers(0, len(dimensions), len(children))
        restructure = np.flatnonzero(gene == 0)
        children[restructure, 0] = rng.integers(0, dimensions[0], len(restructure))
        resize = np.flatnonzero(gene != 0)
        step = rng.choice((-1, 1), len(resize))
        children[resize, gene[resize]] = np.clip(children[resize, gene[resize]] + step, 0,
                                                 dimensions[gene[resize]] - 1)
        return children

    def sizes(self, genomes: np.ndarray) -> dict[str, np.ndarray]:
        if self._choice_arrays is None:  # the choices as arrays, once (they are fixed once the space is built)
            self._choice_arrays = {part: np.array(self.choices[part]) for part in SIZED_PARTS}
        sizes = {part: self._choice_arrays[part][genomes[:, n + 1]] for n, part in enumerate(SIZED_PARTS)}
        if self.chunked:
            sizes["p0"] = sizes["m0"]
        return sizes

    def legal_sizes(self, genomes: np.ndarray) -> np.ndarray:
        """The buffer loop holds no more query tiles than there are (p1 <= ceil(queries / p0)): beyond, its
        first block alone would hold padded tiles. Any size may leave a short last tile or block, padded
        (`part_extents`) and costed whole, so a size that pads much is legal but costs more."""
        sizes = self.sizes(genomes)
        queries = self.shapes[self.cascade.shapes[self.query]]
        return sizes["p1"] <= -(-queries // sizes["p0"])

    def extents(self, parts: list[str], base: np.ndarray, genomes: np.ndarray) -> np.ndarray:
        """Rows of loop extents over `parts` for each genome (other parts keep their `base` extent)."""
        return fill_extents(parts, base, self.part_values(genomes))

    def part_values(self, genomes: np.ndarray) -> dict[str, np.ndarray]:
        """Each sized or derived part's extent per genome (the query and key tiles, the buffer loop, the tile
        counts), worked out once for every group of a structure (`fill_extents`)."""
        sizes = self.sizes(genomes)
        queries = self.shapes[self.cascade.shapes[self.query]]
        keys = self.shapes[self.cascade.shapes[self.key]]
        p2, p1, p0 = self.query_parts
        m1, m0 = self.key_parts
        # ceilings: a last tile may be short (padded)
        query_tiles, key_tiles = -(-queries // (sizes["p0"] * sizes["p1"])), -(-keys // sizes["m0"])
        values = {p0: sizes["p0"], p1: sizes["p1"], p2: query_tiles, m0: sizes["m0"], m1: key_tiles}
        if self.chunked:  # one chunk loop for queries and keys: as many chunks as the longer has
            values[m1] = np.maximum(query_tiles, key_tiles)
        return values

    # ---- structures -----------------------------------------------------------------------------
    def _structures(self):
        for grouping, placement, binding, rows, lanes, stream, outer in product(
                GROUPINGS, PLACEMENTS, BINDINGS, (True, False), (True, False), (True, False), (True, False)):
            if not stream and outer:
                continue  # one DRAM order when keys do not stream
            yield Structure(grouping, placement, binding, rows, lanes, stream, outer)

    def _placement(self, structure: Structure) -> dict[str, str] | None:
        """Array of every Einsum under the placement policy, or None if an operator is unsupported (a copy: it
        depends on the policy alone, worked out once per policy)."""
        if structure.placement not in self._placements:
            self._placements[structure.placement] = self._place(structure.placement)
        arrays = self._placements[structure.placement]
        return None if arrays is None else dict(arrays)

    def _place(self, placement: str) -> dict[str, str] | None:
        arrays = {}
        for einsum in self.cascade.einsums:
            wanted = _preferred_array(einsum, placement, self.key_parts[1], self.key)
            options = [wanted, "1d" if wanted == "2d" else "2d"]
            supported = [a for a in options if self._supports(einsum, a)]
            if not supported:
                return None
            arrays[einsum.name] = supported[0]
        return arrays

    def unsupported(self) -> list[str]:
        """Each Einsum that neither array can compute, with the operators each array lacks for it."""
        found = []
        for einsum in self.cascade.einsums:
            if any(self._supports(einsum, a) for a in ("2d", "1d")):
                continue
            lacks = []
            for array, unit in (("2D", self.arch.array_2d), ("1D", self.arch.array_1d)):
                have = set(unit.operators)
                missing = sorted(set(fused_operators(einsum, have)) - have)
                lacks.append(f"the {array} array lacks {', '.join(missing)} (it has {', '.join(sorted(have))})")
            found.append(f"Einsum {einsum.name} needs operators neither array has: {'; '.join(lacks)}")
        return found

    def _supports(self, einsum: Einsum, array: str) -> bool:
        unit = self.arch.array_2d if array == "2d" else self.arch.array_1d
        return supports(einsum, set(unit.operators))

    # ---- decoding ---------------------------------------------------------------------------------
    def decode(self, genome) -> Mapping:
        structure = self.structures[int(genome[0])]
        sizes = {part: int(size[0]) for part, size in self.sizes(np.asarray(genome)[None, :]).items()}
        arrays = self._placement(structure)
        groups = self._groups(structure, arrays, sizes)
        return Mapping(self.name, self.cascade.name, _describe(structure, sizes), tuple(groups))

    def _groups(self, structure: Structure, arrays: dict[str, str], sizes: dict[str, int]) -> list[Group]:
        names = [e.name for e in self.cascade.einsums]
        if structure.grouping == "fused":
            runs = [names]
        else:
            runs = []  # maximal runs of consecutive Einsums on one array
            for name in names:
                if runs and arrays[name] == arrays[runs[-1][-1]]:
                    runs[-1].append(name)
                else:
                    runs.append([name])
        outputs = {ref.name for ref in self.cascade.outputs}
        groups = []
        for position, run in enumerate(runs):
            crossing = {n for r in runs if r is not run for e in r for n in self.cascade.einsum(e).input_names}
            groups.append(self._group(structure, arrays, sizes, run, position, crossing, outputs))
        return groups

    def _group(self, structure, arrays, sizes, run, position, crossing, outputs) -> Group:
        p2, p1, p0 = self.query_parts
        m1, m0 = self.key_parts
        einsums = [self.cascade.einsum(n) for n in run]
        on_1d_only = all(arrays[n] == "1d" for n in run)
        reduces_keys = any(set(e.reduced_ranks) & self.cascade.family(self.key) for e in einsums)
        rows_streaming = structure.grouping == "split" and on_1d_only and reduces_keys
        splits = {} if p1 is None else {self.query: self.query_parts}
        if self.cascade.partition_of_parent(self.key) is None:
            splits[self.key] = self.key_parts
        group_sizes = {p0: sizes["p0"], **({} if p1 is None else {p1: sizes["p1"]}), m0: sizes["m0"]}
        if rows_streaming:  # one query row per tile, keys across the lanes (a row of scores fits the buffer)
            dram_loops = [*self.instances, *(part for part in (p2, p1, p0) if part)]
            buffer_loops: list[str] = []
            spatial = {"1d": {"lanes": m0}}
        else:
            query_loop, key_loop = [p2], ([m1] if structure.stream_keys and m1 != p2 else [])
            dram_loops = [*self.instances, *(key_loop + query_loop if structure.keys_outer else query_loop + key_loop)]
            buffer_loops = [p1] if p1 else []
            rows, cols = (m0, p0) if structure.key_on_rows else (p0, m0)
            spatial = {"2d": {"rows": rows, "cols": cols}, "1d": {"lanes": m0 if structure.key_on_lanes else p0}}
        stages = _stages(self.cascade, run, arrays, structure.binding)
        homes = self._homes(run, arrays, spatial, crossing, outputs)
        earlier = {e.name for e in self.cascade.einsums[:self.cascade.einsums.index(einsums[0])]}
        for name in dict.fromkeys(n for e in einsums for n in e.input_names if n in earlier):  # in cascade order,
            homes[name] = "buffer"  # not a set's: an earlier group's result, fetched into the buffer per tile
        spill = tuple(t for t in homes if homes[t] == "buffer" and set(self.cascade.tensor_ranks[t])
                      & self.cascade.family(self.key) and not self.cascade.iterative_tensors.get(t))
        return Group(
            name=f"group{position}", einsums=tuple(run), splits=splits, sizes=group_sizes,
            dram_loops=tuple(dram_loops), buffer_loops=tuple(buffer_loops), spatial=spatial,
            arrays={n: arrays[n] for n in run}, stages=stages, homes=homes, spill=spill,
            tiles_in_flight=1 if structure.binding == "none" else None, overlap_previous=position > 0)

    def _homes(self, run, arrays, spatial, crossing, outputs) -> dict[str, str]:
        """Registers for values that stay in one PE, the staging buffer for small per-tile values passed
        between arrays, the global buffer for the rest; DRAM for outputs and values other groups read."""
        homes = {}
        staging_words = self.arch.staging_buffer.capacity_bytes // self.arch.word_bytes if \
            self.arch.staging_buffer else 0
        for name in run:
            if name in outputs or name in crossing:
                homes[name] = "dram"
                continue
            consumers = [e for e in self.cascade.einsums if name in e.input_names]
            array = arrays[name]
            bound = set(spatial.get(array, {}).values())
            inside = self._parts_inside_tile(name)
            same_array = all(arrays.get(c.name) == array for c in consumers)
            if same_array and inside <= bound and not self.cascade.iterative_tensors.get(name):
                homes[name] = "reg"
            elif staging_words and not self.cascade.iterative_tensors.get(name) and not (
                    set(self.cascade.tensor_ranks[name]) - {self.key_parts[0], self.query, self.query_parts[0],
                                                             *self.instances}):
                homes[name] = "staging"
            else:
                homes[name] = "buffer"
        return homes

    def _parts_inside_tile(self, tensor: str) -> set[str]:
        parts = set()
        for rank in self.cascade.tensor_ranks[tensor]:
            if rank == self.query:
                parts.add(self.query_parts[2])
            elif rank == self.key:
                parts.add(self.key_parts[1])
            elif rank not in (self.key_parts[0], self.query_parts[0]):  # outer parts are loops, not in a tile
                parts.add(rank)
        return parts


def fill_extents(parts: list[str], base: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
    """Rows of loop extents over `parts`: `values` where it has the part (`part_values`), else `base`."""
    rows = np.repeat(base[None, :], len(next(iter(values.values()))), axis=0)
    for column, part in enumerate(parts):
        if part in values:
            rows[:, column] = values[part]
    return rows


def _key_rank(cascade: Cascade, query: str) -> str:
    """The second tiled rank: the key sequence (shape M) of attention, else an output rank other than the
    query rank (the N of a GEMM)."""
    whole = [r for r in cascade.shapes if cascade.partition_of_part(r) is None]
    keys = [r for r in whole if cascade.shapes[r] == "M" and r not in cascade.query_ranks]
    output = cascade.tensor_ranks[cascade.outputs[0].name]
    return (keys or [r for r in output if r not in cascade.query_ranks] or [r for r in whole if r != query])[0]


def tile_sizes(rank: int, limit: int) -> list[int]:
    """The sizes of a tile of a rank of `rank` points, up to `limit`: every power of two (a short last tile is
    padded) and every divisor (exact tiles for a rank that is not a power of two: 250 of 1500)."""
    return sorted({1 << k for k in range(int(limit).bit_length())} | {d for d in divisors(rank) if d <= limit})


def loop_sizes(count: int) -> list[int]:
    """The sizes of a loop over `count` tiles that an outer loop repeats: every divisor of `count` (exact), and
    ceil(count / 2^j), whose outer loop runs 2^j times, the last block short of real tiles and padded (17 tiles:
    9, 5, 3, 2; 9 x 2 runs 18, one of them padding). Where `count` is a power of two, both are its powers of
    two."""
    return sorted(set(divisors(count)) | {-(-count // (1 << j)) for j in range(int(count).bit_length())})


def _buffer_loop_sizes(queries: int, tiles: list[int]) -> list[int]:
    """The mapper's sizes of the buffer loop over query tiles (p1): the powers of two up to the queries, and the
    `loop_sizes` of the tiles each query tile size in `tiles` leaves (tiles of 1 give every divisor)."""
    sizes = {1 << k for k in range(int(queries).bit_length())}
    for tile in tiles:
        sizes.update(loop_sizes(-(-queries // tile)))
    return sorted(sizes)


def divisors(number: int) -> list[int]:
    """Every divisor of `number`, ascending."""
    small = [d for d in range(1, math.isqrt(number) + 1) if number % d == 0]
    return sorted(set(small + [number // d for d in small]))


def _preferred_array(einsum: Einsum, placement: str, inner_key: str, key: str) -> str:
    if placement == "prefer-2d":
        return "2d"
    if placement == "matmul-2d":
        return "2d" if is_multiply_accumulate(einsum) else "1d"
    # "work": Einsums that touch every key (the full key fiber) do M0x more work: the 2D array
    return "2d" if inner_key in einsum.iteration_ranks or key in einsum.iteration_ranks else "1d"


def _stages(cascade: Cascade, run: list[str], arrays: dict[str, str], binding: str) -> dict[str, int]:
    """Pipeline stage of each Einsum: a consumer runs one tile behind a producer on the other array
    (`every`), or only when the 2D array consumes a 1D result (`return`); `every-deep` puts a 2D consumer of
    a 1D result two tiles behind, so that a value that went across the 2D array to the 1D array and back
    (a spatial reduction's hop latency, then the 1D work) has a second tile of 2D work to hide behind;
    `none` keeps all at stage 0."""
    stages: dict[str, int] = {}
    for name in run:
        einsum = cascade.einsum(name)
        stage = 0
        for source in einsum.input_names + cascade.selection_inputs(einsum):  # a selection's scores: read first
            if source in stages and source != name:
                crossing = arrays[source] != arrays[name]
                back = crossing and arrays[name] == "2d"
                step = {"every": int(crossing), "return": int(back), "every-deep": int(crossing) + int(back)}.get(
                    binding, 0)
                stage = max(stage, stages[source] + step)
        stages[name] = stage
    return stages


def _describe(structure: Structure, sizes: dict[str, int]) -> str:
    return (f"searched: {structure.grouping} groups, placement {structure.placement}, binding {structure.binding}, "
            f"keys on {'rows' if structure.key_on_rows else 'cols'}/{'lanes' if structure.key_on_lanes else 'time'}"
            f", keys {'streamed' if structure.stream_keys else 'whole'}, sizes {sizes}")
