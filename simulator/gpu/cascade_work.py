"""A fused GPU kernel's work per tile, derived from the cascade's Einsums (what `attention.fused_tile_work` times).

A block of a fused attention kernel owns Br query rows and walks the keys in tiles of Bc. The cascade's ranks
are bound to that tile:

| rank                                   | size at the tile |
|----------------------------------------|------------------|
| key rank's inner part (m0; m unsplit)  | Bc               |
| key rank's outer part (m1)             | 1 (one step per tile) |
| query ranks (p; g and p for GQA)       | Br, together (the block's rows) |
| E, F                                   | head dim D, value head dim Dv |
| any other rank                         | the cascade's param of its shape symbol |

An Einsum's count at the tile is the product of its ranks' sizes: Br.Bc for the scores, Br for a per-row
running value, E.Bc for a key-side feature map. An Einsum that walks the key rank runs every tile; the others
run once per block (before the key loop or after it: `epilogue_*`). Each Einsum's pipes come from
`simulator.gpu.cascade_ops` (tensor-core contractions, SFU, FP32, ALU); a computed FP32 operand of a
contraction is converted to 16 bits once per element, and so is each output element (SFU pipe, as the model
counts conversions). Passes come from the cascade's pass analysis (`einsum_cascade.analysis.passes`): a
P-pass cascade sweeps K/V P times, and pass n recomputes the key-indexed values it reads from earlier passes
(a fused kernel keeps only per-row state, never a row of M scores). The work of all passes at one key
position is charged as one tile iteration, so a sweep's pipes overlap those of the other sweeps: optimistic
for cascades whose passes stress different pipes. Bytes streamed per tile are the key-indexed inputs each
pass reads (K and V, or K alone for a max pass), 2 bytes per element.

The running state a block keeps across key tiles (recurrence iterates over the key rank, full reductions over
it) must fit the registers next to the score tile; `state` gives it per block for `mappers.gpu_space`.
Counts are per element: values replicated across the threads of a fragment (a row's max on the 4 threads of
an mma quad) are not charged per thread. docs/gpu-cascade-work.md has the tables, sources and decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from einsum_cascade.analysis.passes import analyze_passes
from einsum_cascade.errors import SpecError
from einsum_cascade.expr import RankIndex, TensorRef
from einsum_cascade.library import resolve_cascade
from einsum_cascade.model import Cascade, Einsum
from simulator.gpu.cascade_ops import folds_into_reduction, is_tensor_contraction, point_ops

ELEMENT = 2  # bytes of a 16-bit value (inputs and outputs are stored in 16 bits)
PIPES = ("tensor", "sfu", "fp32", "alu", "conversion")

Terms = dict[tuple[int, int], float]  # (power of Br, power of Bc) -> coefficient


def _add(terms: Terms, power: tuple[int, int], value: float) -> None:
    if value:
        terms[power] = terms.get(power, 0.0) + value


def evaluate(terms: Terms, br, bc):
    """The terms at tile sizes br, bc (scalars or arrays)."""
    br, bc = np.asarray(br, dtype=np.float64), np.asarray(bc, dtype=np.float64)
    return sum((c * br**a * bc**b for (a, b), c in terms.items()), np.zeros(np.broadcast(br, bc).shape))


def describe(terms: Terms) -> str:
    """`2*Br*Bc + 64*Br` (for reports)."""
    parts = []
    for (a, b), c in sorted(terms.items(), reverse=True):
        factors = ([f"{c:g}"] if c != 1 or not (a or b) else []) + ["Br"] * a + ["Bc"] * b
        parts.append("*".join(factors))
    return " + ".join(parts) or "0"


@dataclass(frozen=True)
class Binding:
    """The cascade's ranks at one tile: which is the key rank, which are the rows, the size of the others."""

    cascade: Cascade
    family: frozenset[str]  # the key rank with its parts
    outer: str | None  # m1: one step per tile
    query: frozenset[str]
    sizes: dict[str, int]
    single: frozenset[str] = frozenset()  # query ranks the cascade fixes to size 1 (decode's P = 1): no rows

    def extent(self, ranks, what: str) -> tuple[tuple[int, int], float]:
        """(power of Br, power of Bc), constant of the ranks' size at the tile; `what` names them in errors."""
        ranks = set(ranks)
        spanning = self.query - self.single or self.query  # the ranks a block's rows run over
        rows = ranks & spanning
        if rows and rows != spanning:
            raise SpecError(f"{what} has query ranks {', '.join(sorted(rows))} but not "
                            f"{', '.join(sorted(spanning - rows))}: a block's Br rows cover all query ranks together",
                            source=self.cascade.source)
        keys = ranks & self.family
        constant = 1.0
        for rank in ranks - self.query - self.family:
            constant *= self.sizes[rank]
        return (int(bool(rows)), int(bool(keys - {self.outer}))), constant


@dataclass(frozen=True)
class CascadeTileWork:
    """Per tile and per block counts of a cascade on a fused kernel, as terms in Br and Bc."""

    cascade: Cascade
    key_rank: str  # the rank the kernel walks in tiles (m)
    passes: int
    per_tile: dict[str, Terms]  # pipe -> terms (pipes: PIPES)
    per_block: dict[str, Terms]
    tile_bytes: Terms  # key-indexed input bytes one tile iteration streams, all passes together
    first_tile_bytes: Terms  # those of the first pass's tile
    query_bytes: Terms  # query-side input bytes a block loads once (Q)
    key_bytes_per_key: float  # key-indexed input bytes per key (each input once)
    streamed_key_bytes_per_key: float  # the same summed over the passes that read them
    pair_bytes: float  # bytes per query-key pair of inputs indexed by both (a bias), summed over passes
    state: Terms  # fp32 values a block keeps across key tiles
    state_tensors: tuple[str, ...]
    einsums: dict[str, dict]  # name -> scope, passes, counts (for reports)

    @property
    def masks(self):
        return self.cascade.masks

    def counts(self, br, bc) -> dict:
        """Per tile and per block op counts at tile sizes br, bc, under `Phase`'s names; conversions run on the
        special-function pipe."""
        tile = {pipe: evaluate(self.per_tile.get(pipe, {}), br, bc) for pipe in PIPES}
        block = {pipe: evaluate(self.per_block.get(pipe, {}), br, bc) for pipe in PIPES}
        return {"tensor_fma": tile["tensor"], "sfu_ops": tile["sfu"] + tile["conversion"], "fp32_ops": tile["fp32"],
                "alu_ops": tile["alu"], "epilogue_tensor_fma": block["tensor"],
                "epilogue_sfu_ops": block["sfu"] + block["conversion"], "epilogue_fp32_ops": block["fp32"],
                "epilogue_alu_ops": block["alu"]}

    def report(self) -> dict:
        return {"cascade": self.cascade.name, "passes": self.passes,
                "per_tile": {pipe: describe(t) for pipe, t in self.per_tile.items()},
                "per_block": {pipe: describe(t) for pipe, t in self.per_block.items()},
                "tile_bytes": describe(self.tile_bytes), "state": describe(self.state),
                "state_tensors": list(self.state_tensors), "einsums": self.einsums}


def kernel_cascade(mapping) -> Cascade:
    """The cascade a GPU mapping's key loop computes: a split-KV kernel's chunks run `chunk_cascade`."""
    return resolve_cascade(mapping.chunk_cascade if mapping.kind == "split-kv" else mapping.cascade)


def mapping_tile_work(mapping, problem) -> CascadeTileWork:
    return cascade_tile_work(kernel_cascade(mapping), problem.head_dim, problem.head_dim_v)


@cache
def cascade_tile_work(cascade: Cascade, head_dim: int, head_dim_v: int) -> CascadeTileWork:
    refused = cascade.scan_refused("GPU model")
    if refused:
        raise SpecError(refused, source=cascade.source)
    passes = analyze_passes(cascade)
    binding = _binding(cascade, passes.rank, head_dim, head_dim_v)
    readers: dict[str, set[str]] = {}
    for einsum in cascade.einsums:
        for name in einsum.input_names:
            readers.setdefault(name, set()).add(einsum.name)
        _check_einsum(cascade, binding, einsum)
    walks = {e.name for e in cascade.einsums if set(e.iteration_ranks) & binding.family}
    _check_masks(cascade, walks, binding.family)
    per_tile: dict[str, Terms] = {}
    per_block: dict[str, Terms] = {}
    report: dict[str, dict] = {}
    once: set[tuple[str, str]] = set()  # (conversion or reciprocal, tensor) done once per block
    sweeps = _pass_members(cascade, binding, passes, walks)
    for number, group in sweeps.items():
        per_sweep: set[tuple[str, str]] = set()
        for einsum in group:
            _count(cascade, binding, einsum, readers, walks, per_tile, per_block, per_sweep, once, report)
            report[einsum.name].setdefault("passes", []).append(number)
    for einsum in cascade.einsums:
        if einsum.name not in walks:
            _count(cascade, binding, einsum, readers, walks, per_block, per_block, once, once, report)
    for ref in cascade.outputs:
        if set(cascade.tensor_ranks[ref.name]) & binding.family:
            raise SpecError(f"output {ref} is indexed by the key rank: a fused kernel writes only per-query outputs",
                            source=cascade.source)
        _add(per_block.setdefault("conversion", {}), *_tensor(binding, cascade, ref.name))
    return CascadeTileWork(cascade, passes.rank, passes.passes, per_tile, per_block, einsums=report,
                           **_streams(cascade, binding, sweeps), **_state(cascade, binding, walks))


def _binding(cascade: Cascade, rank: str, head_dim: int, head_dim_v: int) -> Binding:
    family = frozenset(cascade.family(rank))
    partition = cascade.partition_of_parent(rank)
    query = frozenset(cascade.query_ranks)
    cut = next((p for p in cascade.partitions if p.parent in query), None)
    if cut:
        raise SpecError(f"cascade {cascade.name} cuts its query rank into blocks ({cut.parent} -> {cut.outer}, "
                        f"{cut.inner}): a fused GPU kernel's blocks of Br rows are not tied to the cascade's query "
                        "blocks in the GPU model yet", source=cascade.source, key="partitions")
    if query & family:
        raise SpecError(f"cascade {cascade.name}: rank {rank} is both the key rank and a query rank; a fused "
                        "attention kernel walks keys (M) for rows of queries", source=cascade.source)
    named = {"E": head_dim, "F": head_dim_v}
    sizes = {}
    for other, symbol in cascade.shapes.items():
        if other in family or other in query:
            continue
        value = named.get(symbol, cascade.params.get(symbol))
        if value is None:
            raise SpecError(f"cascade {cascade.name}: rank {other} ({symbol}) has no size on a GPU attention "
                            "problem (E is the head dim, F the value head dim, others need a param)",
                            source=cascade.source)
        sizes[other] = int(value)
    single = frozenset(r for r in query if cascade.params.get(cascade.shapes[r]) == 1)
    return Binding(cascade, family, partition.outer if partition else None, query, sizes, single)


def _check_einsum(cascade: Cascade, binding: Binding, einsum: Einsum) -> None:
    binding.extent(einsum.iteration_ranks, f"Einsum {einsum.name}")
    reduced = set(einsum.reduced_ranks) & binding.query
    if reduced:
        raise SpecError(f"Einsum {einsum.name} reduces the query rank {', '.join(sorted(reduced))} with operator "
                        f"{einsum.reduce_op.value!r}: a fused kernel's block holds only its Br query rows",
                        source=cascade.source, line=einsum.line)


def _check_masks(cascade: Cascade, walks: set[str], keys: set[str]) -> None:
    """A fused kernel skips a fully masked tile whole: every Einsum of the tile must be one the mask restricts,
    or one that keeps the key rank (a value per key, not a sum over keys) and whose values only such Einsums
    read (a feature map of the keys, say: a skipped tile's values would have fed only skipped work)."""
    outputs = {ref.name for ref in cascade.outputs}
    for mask in cascade.masks:
        if mask.only is not None:
            raise SpecError(f"mask {mask.name} restricts only some Einsums ({', '.join(sorted(mask.only))}): the GPU "
                            "model skips a tile for every Einsum of the tile loop at once", source=cascade.source,
                            key=f"masks.{mask.name}")
        if mask.select:
            raise SpecError(f"mask {mask.name} ({mask.text}) chooses key tiles by data: the GPU model skips tiles "
                            "only by masks over positions (a block-sparse kernel's data-dependent tile list is not "
                            "modelled yet)", source=cascade.source, key=f"masks.{mask.name}")
        unrestricted = [e for e in cascade.einsums if e.name in walks
                        and not cascade.restricts(mask, e.name, set(e.iteration_ranks))]
        skippable = walks - {e.name for e in unrestricted}
        # candidates: values per key (not sums over keys), not outputs, with readers
        readers = {e.name: [r.name for r in cascade.einsums if e.name in r.input_names] for e in unrestricted}
        candidates = [e.name for e in unrestricted
                      if set(e.output_ranks) & keys and e.name not in outputs and readers[e.name]]
        changed = True
        while changed:  # an unrestricted Einsum read only by skippable ones is skippable too
            changed = False
            for name in candidates:
                if name not in skippable and all(r in skippable for r in readers[name]):
                    skippable.add(name)
                    changed = True
        for einsum in unrestricted:
            if einsum.name not in skippable:
                raise SpecError(f"mask {mask.name} ({mask.text}) does not restrict Einsum {einsum.name}, which walks "
                                "the keys and is read outside the mask: a fused kernel skipping a masked tile would "
                                "skip work it needs", source=cascade.source, line=einsum.line)


def _pass_members(cascade: Cascade, binding: Binding, passes, walks: set[str]) -> dict[int, list[Einsum]]:
    """The Einsums each sweep runs: its own, plus the key-indexed values it reads from earlier passes,
    recomputed (in cascade order)."""
    sweeps = {}
    for number in range(1, passes.passes + 1):
        chosen = {name for name in walks if passes.pass_of[name] == number}
        stack = list(chosen)
        while stack:
            for ref in cascade.einsum(stack.pop()).input_refs:
                if ref.name in walks and ref.name not in chosen and _per_key(ref, binding.family):
                    chosen.add(ref.name)
                    stack.append(ref.name)
        sweeps[number] = [e for e in cascade.einsums if e.name in chosen]
    return sweeps


def _per_key(ref: TensorRef, family) -> bool:
    return any(isinstance(i, RankIndex) and i.rank in family for i in ref.indices)


def _count(cascade, binding, einsum, readers, walks, scope, block, per_sweep, once, report) -> None:
    """Add one Einsum's work to `scope` (per tile or per block). A conversion or reciprocal is done once per
    sweep for a value that changes from tile to tile, else once per block (in `block`)."""
    power, points = binding.extent(einsum.iteration_ranks, f"Einsum {einsum.name}")
    counts: dict[str, float] = {}
    extra: list[tuple[str, TensorRef, bool]] = []  # (pipe, operand, changes per tile)
    if is_tensor_contraction(einsum):
        counts["tensor"] = 1.0
        computed = [r for r in (einsum.expr.left, einsum.expr.right) if r.name not in cascade.input_names]
        extra += [("conversion", ref, ref.name in walks) for ref in computed]
    else:
        ops, divisors = point_ops(cascade, einsum, folds_into_reduction(cascade, einsum, readers))
        counts.update(ops)
        extra += [("sfu", ref, _per_key(ref, binding.family)) for ref in divisors]  # reciprocals
    for pipe, ref, per_tile in extra:
        seen, where = (per_sweep, scope) if per_tile else (once, block)
        if (pipe, ref.name) not in seen:
            seen.add((pipe, ref.name))
            ranks = [i.rank for i in ref.indices if isinstance(i, RankIndex)]  # a final iterate has no key rank
            _add(where.setdefault(pipe, {}), *binding.extent(ranks, f"tensor {ref}"))
    for pipe, per_point in counts.items():
        _add(scope.setdefault(pipe, {}), power, per_point * points)
    entry = report.setdefault(einsum.name, {"scope": "tile" if einsum.name in walks else "block"})
    entry["counts"] = {pipe: describe({power: per_point * points}) for pipe, per_point in counts.items()}


def _tensor(binding: Binding, cascade: Cascade, name: str) -> tuple[tuple[int, int], float]:
    return binding.extent(cascade.tensor_ranks[name], f"tensor {name}")


def _streams(cascade: Cascade, binding: Binding, sweeps: dict[int, list[Einsum]]) -> dict:
    """Input bytes: per tile (each sweep's key-indexed inputs), per key, per pair, and the query side."""
    tile_bytes: Terms = {}
    first: Terms = {}
    query: Terms = {}
    once = streamed = pairs = 0.0
    kinds = {}
    for ref in cascade.inputs:
        ranks = set(cascade.tensor_ranks[ref.name])
        kinds[ref.name] = ("key" if ranks & binding.family else "") + ("query" if ranks & binding.query else "")
        power, size = _tensor(binding, cascade, ref.name)
        if kinds[ref.name] == "key":
            once += size * ELEMENT
        if kinds[ref.name] == "query":
            _add(query, power, size * ELEMENT)
    for number, group in sweeps.items():
        for name in dict.fromkeys(n for e in group for n in e.input_names if kinds.get(n, "").startswith("key")):
            power, size = _tensor(binding, cascade, name)
            _add(tile_bytes, power, size * ELEMENT)
            if number == 1:
                _add(first, power, size * ELEMENT)
            if kinds[name] == "key":
                streamed += size * ELEMENT
            else:
                pairs += size * ELEMENT
    return {"tile_bytes": tile_bytes, "first_tile_bytes": first, "query_bytes": query, "key_bytes_per_key": once,
            "streamed_key_bytes_per_key": streamed, "pair_bytes": pairs}


def _state(cascade: Cascade, binding: Binding, walks: set[str]) -> dict:
    """Values a block keeps across key tiles: iterates of recurrences over the key rank and full reductions
    over it (outputs without a key rank), at their size without the key rank."""
    state: Terms = {}
    names = []
    for einsum in cascade.einsums:
        recurrent = einsum.recurrence_rank in binding.family
        complete = einsum.name in walks and not set(einsum.output_ranks) & binding.family
        if recurrent or complete:
            ranks = [r for r in cascade.tensor_ranks[einsum.name] if r not in binding.family]
            _add(state, *binding.extent(ranks, f"tensor {einsum.name}"))
            names.append(einsum.name)
    return {"state": state, "state_tensors": tuple(names)}


def pair_density(cascade: Cascade, seqlen_q: int, seqlen_kv: int) -> float:
    """Fraction of query-key pairs the cascade's masks keep, from their declared densities or, for a mask that
    declares none, an exact count (1 without masks)."""
    density = 1.0
    for mask in cascade.masks:
        from einsum_cascade.analysis.symbols import mask_density  # sympy: loaded only for a mask

        density *= mask_density(mask, cascade, {"M": seqlen_kv, "P": seqlen_q})
    return density


def mask_tile_bounds(work: CascadeTileWork, problem, packed: bool = False):
    """The cascade's masks over a kernel's tiles, for `attention.tile_grid`: a function of the tiles' query rows
    (first, last) and keys (first, last) giving (mask holds on the whole tile, on some of it); None without
    masks. Names: the key rank, one query rank, M and P (the problem's key and query lengths), E, F and params."""
    cascade = work.cascade
    if not cascade.masks:
        return None
    rows = next((r for r in cascade.query_ranks if cascade.shapes[r] == "P"), None)
    symbols = {**cascade.params, "M": problem.seqlen_kv, "P": problem.seqlen_q, "E": problem.head_dim,
               "F": problem.head_dim_v}
    for mask in cascade.masks:
        for name in mask.names:
            if name in cascade.shapes and (name not in (work.key_rank, rows) or packed) or \
                    name not in cascade.shapes and name not in symbols:
                raise SpecError(f"mask {mask.name} ({mask.text}): {name!r} is not the key rank, the query rank P of "
                                "a block's rows (heads not packed), M, P, E, F or a param", source=cascade.source)

    def bounds(q_first, q_last, k_first, k_last):
        lows = {**symbols, work.key_rank: k_first, rows: q_first}
        highs = {**symbols, work.key_rank: k_last, rows: q_last}
        always, sometimes = True, True
        for mask in cascade.masks:
            whole, some = mask.box_bounds(lows, highs)
            always, sometimes = always & whole, sometimes & some
        return always, sometimes

    return bounds
