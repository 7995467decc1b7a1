"""Read a cascade file (YAML + Einsum lines), validate it, and build a frozen `Cascade`.

Validation collects every problem it can find and reports them together, each naming the
file, the line and what is wrong; only a fully valid file becomes a Cascade.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
from dataclasses import replace
from pathlib import Path

from einsum_cascade.dependency import dependency_groups, is_recurrence
from einsum_cascade.errors import SpecError, SpecErrors
from einsum_cascade.expr import (
    ExprSyntaxError,
    FinalIndex,
    Position,
    RankIndex,
    Symbol,
    TensorRef,
    parse_expr,
    parse_tensor_ref,
    positions,
    walk,
)
from einsum_cascade.masks import DENSITY_FUNCTIONS, Mask, expression_names, parse_mask, selection_mask
from einsum_cascade.model import Cascade, Einsum, Partition, align_indices
from einsum_cascade.ops import REDUCE_BY_NAME, Op
from einsum_cascade.yaml_source import YamlDocument, header_problems, load_yaml, read_text

TOP_LEVEL_KEYS = {
    "name": "the cascade's name",
    "version": "format version of the file",
    "description": "one line on what the cascade computes",
    "ranks": "rank -> shape symbol, e.g. {m: M, p: P}",
    "params": "numeric symbols such as tile sizes, e.g. {M0: 256}",
    "partitions": "list of 'm -> m1, m0'",
    "inputs": "list of input tensors, e.g. ['Q[e,p]']",
    "outputs": "list of output tensors",
    "initial": "initial values of iterative tensors, e.g. {RM: -inf}",
    "masks": "name -> mask expression (or {where:, density:}, or a selection {top:, of:, over:[, density:]})",
    "einsums": "list of Einsum lines",
    "query_ranks": "ranks that index one query (default [p])",
    "aligned": "query rank -> key rank it reads at its own position, e.g. {p: m} (self-attention, P <= M)",
    "instances": "independent copies, e.g. B*H (default)",
    "reference": "what `cascade check` compares the outputs with: a numpy formula, a cascade or module:function",
}
REQUIRED_KEYS = ("name", "version", "ranks", "inputs", "outputs", "einsums")
_RANK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SYMBOL_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_TENSOR_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[")
_PARTITION = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*->\s*([a-z][a-z0-9_]*)\s*,\s*([a-z][a-z0-9_]*)\s*$")


def load_cascade(path: str | Path) -> Cascade:
    return parse_cascade(read_text(path), source=str(path))


def _is_expression(text: str) -> bool:
    """Whether a density reads as one expression (Python's grammar, which sympy's follows for these)."""
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def parse_cascade(text: str, source: str = "<string>") -> Cascade:
    document = load_yaml(text, source)
    return _CascadeBuilder(document, text).build()


class _CascadeBuilder:
    """Validates one document step by step, collecting errors instead of stopping at the first."""

    def __init__(self, document: YamlDocument, text: str):
        self.doc = document
        self.text = text
        self.errors: list[SpecError] = []
        self.shapes: dict[str, str] = {}
        self.params: dict[str, float] = {}
        self.partitions: list[Partition] = []
        self.tensor_ranks: dict[str, tuple[str, ...]] = {}
        self.recurrence: dict[str, str | None] = {}  # tensors defined by Einsums -> rank they iterate over
        self.deferred: list[tuple[TensorRef, str, object]] = []  # previous-iterate refs checked at the end
        self.broken: set[str] = set()  # tensors whose defining line has an error (already reported)

    def fail(self, message: str, *path, line: int | None = None) -> None:
        error = self.doc.error(message, *path)
        if line is not None:
            error = SpecError(message, error.source, line, error.key)
        self.errors.append(error)

    def build(self) -> Cascade:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.doc.error("a cascade file must be a YAML mapping with keys " + ", ".join(REQUIRED_KEYS))
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.fail(f"unknown key {key!r}; known keys: {', '.join(TOP_LEVEL_KEYS)}", key)
        for key in REQUIRED_KEYS:
            if key not in data:
                self.fail(f"missing required key {key!r} ({TOP_LEVEL_KEYS[key]})")
        for message, key in header_problems(data):
            self.fail(message, key)
        if self.errors:
            raise SpecErrors(self.errors)
        self._ranks(data.get("ranks"))
        self._params(data.get("params") or {})
        self._partitions(data.get("partitions") or [])
        self.aligned = self._aligned(data.get("aligned") or {})
        inputs = self._tensor_list(data.get("inputs"), "inputs")
        for ref in inputs:
            self._declare(ref, "inputs")
        initial = self._initial(data.get("initial") or {})
        masks = self._masks(data.get("masks") or {})
        einsums = self._einsums(data.get("einsums"), initial)
        self._check_mask_references(masks, einsums)
        outputs = self._outputs(data.get("outputs"))
        query_ranks = self._query_ranks(data.get("query_ranks"))
        self._check_aligned_roles(query_ranks)
        if self.errors:
            raise SpecErrors(self.errors)
        return Cascade(
            name=str(data["name"]), version=str(data["version"]), description=str(data.get("description", "")),
            shapes=dict(self.shapes), params=dict(self.params), partitions=tuple(self.partitions),
            inputs=tuple(inputs), outputs=tuple(outputs), initial=initial, masks=tuple(masks),
            einsums=tuple(einsums), tensor_ranks=dict(self.tensor_ranks), query_ranks=query_ranks,
            instances=str(data.get("instances", "B*H")), reference=data.get("reference"),
            source=self.doc.source, text=self.text, aligned=dict(self.aligned),
        )

    # ---- declarations -------------------------------------------------------------------------
    def _ranks(self, ranks) -> None:
        if not isinstance(ranks, dict) or not ranks:
            self.fail("must map each rank to its shape symbol, e.g. {m: M, p: P}", "ranks")
            return
        for rank, symbol in ranks.items():
            if not _RANK_NAME.match(str(rank)):
                self.fail(f"rank name {rank!r} must be lower case (its shape symbol is upper case)", "ranks", rank)
            elif symbol is None or not _SYMBOL_NAME.match(str(symbol)):
                self.fail(f"rank {rank!r} is missing a shape symbol (an upper-case name such as "
                          f"{str(rank).upper()!r})", "ranks", rank)
            else:
                self.shapes[str(rank)] = str(symbol)

    def _params(self, params) -> None:
        if not isinstance(params, dict):
            self.fail("must map symbols to numbers, e.g. {M0: 256}", "params")
            return
        for symbol, value in params.items():
            if not _SYMBOL_NAME.match(str(symbol)):
                self.fail(f"parameter {symbol!r} must be an upper-case symbol", "params", symbol)
            elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                self.fail(f"parameter {symbol} = {value!r} must be a finite number", "params", symbol)
            else:
                self.params[str(symbol)] = value

    def _partitions(self, partitions) -> None:
        if not isinstance(partitions, list):
            self.fail("must be a list of 'm -> m1, m0'", "partitions")
            return
        for position, text in enumerate(partitions):
            match = _PARTITION.match(str(text))
            if not match:
                self.fail(f"{text!r} is not of the form 'm -> m1, m0'", "partitions", position)
                continue
            parent, outer, inner = match.groups()
            tile = inner.upper()
            sharing = [p for p in self.partitions if p.outer == outer]
            if parent not in self.shapes:
                self.fail(f"unknown rank {parent!r} (declared ranks: {', '.join(self.shapes)})", "partitions", position)
            elif any(parent in p.parts for p in self.partitions) or any(p.parent == parent for p in self.partitions):
                self.fail(f"rank {parent!r} is already cut (or is a part): a rank is cut once", "partitions", position)
            elif outer.upper() in self.params:
                self.fail(f"{outer.upper()} is the number of tiles of {outer} ({parent} / {tile}), not a parameter: "
                          "remove it from params", "params", outer.upper())
            elif sharing and (len(sharing) > 1 or tile not in self.params
                              or self.params.get(sharing[0].tile_symbol) != self.params[tile]):
                self.fail(f"rank {outer!r} is shared: at most two partitions share an outer rank, with the same tile "
                          f"({sharing[0].tile_symbol} = {self.params.get(sharing[0].tile_symbol)!r}, {tile} = "
                          f"{self.params.get(tile)!r})", "partitions", position)
            elif tile not in self.params:
                self.fail(f"rank {inner!r} is missing a shape: add the tile size {tile} under params", "partitions",
                          position)
            elif (outer in self.shapes and not sharing) or inner in self.shapes:
                # an outer part may be shared: queries and keys cut into the same chunks (`p -> c, p0`, `m -> c, m0`)
                self.fail(f"partition ranks {outer!r}, {inner!r} clash with declared ranks", "partitions", position)
            else:
                if not (float(self.params[tile]).is_integer() and self.params[tile] > 0):  # its ranks are still
                    # declared, so the Einsums that use them are not reported as well
                    self.fail(f"tile size {tile} = {self.params[tile]!r} must be a positive integer", "params", tile)
                self.partitions.append(Partition(parent, outer, inner, tile))
                self.shapes[outer] = outer.upper()
                self.shapes[inner] = tile

    def _aligned(self, aligned) -> dict[str, str]:
        """`{p: m}`: a tensor stored over key rank m may be read at the index of query rank p (`S[p+1,e,f]`, the
        state of a scan over the keys after key p), as token p of self-attention is key p."""
        if not isinstance(aligned, dict):
            self.fail("must map a query rank to the key rank it reads at its own position, e.g. {p: m}", "aligned")
            return {}
        pairs = {}
        for query, key in aligned.items():
            if not isinstance(key, str):
                self.fail(f"{key!r} is not a rank name: map a query rank to one key rank, e.g. {{p: m}}", "aligned",
                          query)
                continue
            bad = [r for r in (query, key) if r not in self.shapes]
            parted = [r for r in (query, key) if r in self.shapes and (
                any(r in p.parts or r == p.parent for p in self.partitions))]
            if bad:
                self.fail(f"unknown rank {bad[0]!r} (declared ranks: {', '.join(self.shapes)})", "aligned", query)
            elif parted:
                self.fail(f"rank {parted[0]!r} is partitioned: only whole ranks can be aligned", "aligned", query)
            elif query == key:
                self.fail(f"rank {query!r} is aligned with itself", "aligned", query)
            else:
                pairs[str(query)] = str(key)
        return pairs

    def _check_aligned_roles(self, query_ranks: tuple[str, ...]) -> None:
        """An aligned pair reads a key rank at a query's position: the left side a query rank, the right side not."""
        for query, key in self.aligned.items():
            if query not in query_ranks:
                self.fail(f"rank {query!r} is not a query rank (query ranks: {', '.join(query_ranks) or 'none'}): "
                          "aligned maps a query rank to the key rank read at its position", "aligned", query)
            elif key in query_ranks:
                self.fail(f"rank {key!r} is a query rank: aligned maps a query rank to a key rank", "aligned", query)

    def _tensor_list(self, items, key: str) -> list[TensorRef]:
        if not isinstance(items, list) or not items:
            self.fail("must be a non-empty list of tensors such as 'Q[e,p]'", key)
            return []
        refs = []
        for position, text in enumerate(items):
            try:
                ref = parse_tensor_ref(str(text))
            except ExprSyntaxError as exc:
                self.fail(str(exc), key, position)
                ref = None
            if ref is not None and self._check_plain_indices(ref, key, position):
                refs.append(ref)
            elif key == "inputs":
                self._mark_broken(str(text))  # reported here; its uses are not reported as undefined
        return refs

    def _check_plain_indices(self, ref: TensorRef, *path) -> bool:
        ok = True
        for index in ref.indices:
            if not isinstance(index, RankIndex) or index.offset:
                self.fail(f"{ref}: declared tensors are indexed by plain ranks, not {index}", *path)
                ok = False
            elif index.rank not in self.shapes:
                self.fail(f"{ref}: unknown rank {index.rank!r} (declared ranks: {', '.join(self.shapes)})", *path)
                ok = False
        return ok

    def _declare(self, ref: TensorRef, *path) -> None:
        if ref.name in self.tensor_ranks:
            self.fail(f"tensor {ref.name} is defined twice", *path)
        self.tensor_ranks[ref.name] = tuple(i.rank for i in ref.indices)

    def _initial(self, initial) -> dict[str, float]:
        values = {}
        if not isinstance(initial, dict):
            self.fail("must map iterative tensors to their initial value, e.g. {RM: -inf}", "initial")
            return values
        for name, value in initial.items():
            try:
                values[str(name)] = float(value)
            except (TypeError, ValueError):
                self.fail(f"initial value {value!r} of {name} is not a number (-inf and inf are allowed)",
                          "initial", name)
                values[str(name)] = math.nan  # given (badly, reported): its Einsum has an initial value
        return values

    def _masks(self, masks) -> list[Mask]:
        result = []
        if not isinstance(masks, dict):
            self.fail("must map mask names to expressions such as 'm <= p'", "masks")
            return result
        for name, spec in masks.items():
            if isinstance(spec, dict) and "top" in spec:
                result += [self._scoped(m, spec) for m in self._selection(str(name), spec)]
                continue
            if isinstance(spec, dict) and set(spec) - {"where", "density", "einsums"}:
                unknown = ", ".join(map(repr, sorted(set(spec) - {"where", "density", "einsums"})))
                self.fail(f"unknown key {unknown}; a mask has where, density, einsums", "masks", name)
                continue
            where, density = (spec.get("where"), spec.get("density")) if isinstance(spec, dict) else (spec, None)
            try:
                mask = parse_mask(str(name), str(where), None if density is None else str(density))
            except ExprSyntaxError as exc:
                self.fail(str(exc), "masks", name)
                continue
            parents = {r for r in self.shapes if not any(r in p.parts for p in self.partitions)}
            unknown = [n for n in mask.names if n not in parents and n not in self._symbols()]
            density_problem = self._density_problem(mask.density)
            if unknown:
                self.fail(f"mask {where!r}: unknown rank or symbol {', '.join(sorted(unknown))}", "masks", name)
            elif density_problem:
                self.fail(density_problem, "masks", name)
            else:
                result.append(self._scoped(mask, spec))
        return result

    def _scoped(self, mask: Mask, spec) -> Mask:
        """`einsums: [A, B]`: the mask restricts only these Einsums (names checked in `_check_mask_references`)."""
        if not isinstance(spec, dict) or "einsums" not in spec:
            return mask
        names = spec["einsums"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.fail(f"einsums = {names!r} must be a non-empty list of Einsum names", "masks", mask.name)
            return mask
        return replace(mask, only=frozenset(names))

    def _selection(self, name: str, spec: dict) -> list[Mask]:
        """`{top: KB, of: "G[m1,p]", over: m1}`: keep the KB largest G along m1 (checked against the Einsums in
        `_check_mask_references`)."""
        unknown = sorted(set(spec) - {"top", "of", "over", "density", "einsums"})
        match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\[([^\]]*)\]\s*", str(spec.get("of", "")))
        ranks = tuple(r.strip() for r in match.group(2).split(",")) if match else ()
        keep, over = spec.get("top"), spec.get("over")
        problems = [f"unknown key {', '.join(map(repr, unknown))}; a selection has top, of, over, density, einsums"] \
            if unknown else []
        if not match:
            problems.append(f"of = {spec.get('of')!r} must name a tensor with its ranks, e.g. G[m1,p]")
        elif any(r not in self.shapes for r in ranks):
            problems.append(f"of = {spec['of']!r}: unknown rank {', '.join(r for r in ranks if r not in self.shapes)}")
        elif over not in ranks:
            problems.append(f"over = {over!r} must be one of the ranks of {spec['of']}")
        value = self.params.get(keep, keep) if isinstance(keep, str) else keep
        if isinstance(keep, bool) or not (isinstance(keep, int) and keep > 0 or keep in self.params):
            problems.append(f"top = {keep!r} must be a positive integer or a param")
        elif not float(value).is_integer() or value <= 0:
            problems.append(f"top = {keep} = {value!r} must be a positive integer")
        if spec.get("density") is not None and not isinstance(spec["density"], str | int | float):
            problems.append(f"density = {spec['density']!r} must be an expression")
        elif spec.get("density") is not None and self._density_problem(str(spec["density"])):
            problems.append(self._density_problem(str(spec["density"])))
        for problem in problems:
            self.fail(problem, "masks", name)
        if problems:
            return []
        density = None if spec.get("density") is None else str(spec["density"])
        return [selection_mask(name, match.group(1), ranks, str(over), str(keep), self.shapes[over], density)]

    def _check_mask_references(self, masks: list[Mask], einsums) -> None:
        """A selection's scores are the elementwise result of an Einsum, with exactly those ranks: its compares
        are charged per point of that Einsum (`Cascade.selection_compares`), and the Einsums the scores are
        computed from run before the choice, so the mask does not restrict them (`Cascade.restricts`)."""
        producers = {e.name: e for e in einsums}
        for mask in (m for m in masks if m.only):
            unknown = sorted(mask.only - set(producers))
            if unknown:
                self.fail(f"einsums: no Einsum of the cascade is named {', '.join(unknown)}", "masks", mask.name)
        for mask in (m for m in masks if m.select):
            scores = mask.select.scores
            if scores not in producers:
                self.fail(f"of = {scores}: no Einsum of the cascade computes {scores} (a selection's scores are an "
                          "Einsum's result)", "masks", mask.name)
            elif self.tensor_ranks[scores] != mask.select.ranks:
                self.fail(f"of = {scores}[{','.join(mask.select.ranks)}], but {scores} is "
                          f"{scores}[{','.join(self.tensor_ranks[scores])}]", "masks", mask.name)
            elif producers[scores].recurrence_rank:
                self.fail(f"of = {scores}: {scores} is a recurrence over {producers[scores].recurrence_rank}; a "
                          "selection's scores must be an elementwise result", "masks", mask.name)
            elif producers[scores].reduced_ranks:
                self.fail(f"of = {scores}: {scores} reduces {', '.join(producers[scores].reduced_ranks)}; a "
                          "selection's scores must be an elementwise result (reduce in an Einsum of its own first)",
                          "masks", mask.name)

    def _density_problem(self, density: str | None) -> str | None:
        """What is wrong with a declared density (an unknown name, not an expression), or None."""
        if not density:
            return None
        unknown = sorted(expression_names(density) - self._symbols()
                         - set(DENSITY_FUNCTIONS))
        if unknown:
            return (f"density {density!r}: unknown symbol {', '.join(unknown)} (a density is written in the shape "
                    f"symbols and params, with {' and '.join(DENSITY_FUNCTIONS)}: "
                    f"{', '.join(sorted(self._symbols()))})")
        if not _is_expression(density):
            return f"density {density!r} is not an arithmetic expression (brackets?)"
        return None

    def _symbols(self) -> set[str]:
        return set(self.shapes.values()) | set(self.params)

    def _outputs(self, items) -> list[TensorRef]:
        refs = []
        for position, ref in enumerate(self._tensor_list(items, "outputs")):
            if ref.name in self.broken:
                continue  # its Einsum line has an error, reported there
            if ref.name not in self.recurrence:
                self.fail(f"output {ref.name} is never defined by an Einsum", "outputs", position)
            elif self.tensor_ranks[ref.name] != tuple(i.rank for i in ref.indices):
                defined = f"{ref.name}[{','.join(self.tensor_ranks[ref.name])}]"
                self.fail(f"output {ref} does not match its definition {defined}", "outputs", position)
            else:
                refs.append(ref)
        return refs

    def _query_ranks(self, ranks) -> tuple[str, ...]:
        ranks = ranks if ranks is not None else (["p"] if "p" in self.shapes else [])
        if not isinstance(ranks, list):
            self.fail("must be a list of ranks, e.g. [p]", "query_ranks")
            return ()
        unknown = [r for r in ranks if r not in self.shapes]
        if unknown:
            self.fail(f"unknown rank(s) {', '.join(map(str, unknown))}", "query_ranks")
        return tuple(map(str, ranks))

    # ---- Einsum lines -------------------------------------------------------------------------
    def _einsum_lines(self, einsums) -> list[tuple[str, int | None]]:
        if isinstance(einsums, str) and ("einsums",) in self.doc.folded_paths:
            self.fail("written as a folded block (`einsums: >`), which joins the Einsums into one line; use the "
                      "literal block `einsums: |` (one Einsum per line)", "einsums")
            return []
        if isinstance(einsums, str):
            start = self.doc.line("einsums") or 0
            offset = 1 if ("einsums",) in self.doc.block_scalar_paths else 0
            lines = [(text, start + offset + n) for n, text in enumerate(einsums.splitlines())
                     if text.strip() and not text.strip().startswith("#")]
            if lines:
                return lines
        elif isinstance(einsums, list) and einsums:
            return [self._einsum_item(item, n) for n, item in enumerate(einsums)]
        self.fail("must be a non-empty list of Einsum lines such as 'QK[m,p] = Q[e,p] * K[e,m]'", "einsums")
        return []

    def _einsum_item(self, item, position: int) -> tuple[str, int | None]:
        """One list-form Einsum line; YAML reads an unquoted `- A[p] = B[m,p] :: max` as a mapping."""
        line = self.doc.line("einsums", position)
        if isinstance(item, dict) and len(item) == 1:
            ((key, value),) = item.items()
            text = f"{key}:" if value is None else f"{key}: {value}"
            self.fail(f"YAML read this list item as a mapping because of the ': ' in {text!r}; quote the line "
                      f"(- \"{text}\") or use the block form `einsums: |`", "einsums", line=line)
            return text, line  # still validated, so later lines do not report its tensor as undefined
        if not isinstance(item, str):
            self.fail(f"list item {item!r} is not an Einsum line such as 'QK[m,p] = Q[e,p] * K[e,m]'; quote it "
                      "or use the block form `einsums: |`", "einsums", line=line)
            return "", line
        return item, line

    def _einsums(self, einsums, initial: dict[str, float]) -> list[Einsum]:
        lines = self._einsum_lines(einsums)
        defined_later = {}
        for text, line in lines:
            head = text.split("=", 1)[0]
            with contextlib.suppress(ExprSyntaxError):
                defined_later.setdefault(parse_tensor_ref(head).name, line)
        result = []
        for text, line in lines:
            if not text.strip():
                continue  # an item that is not a string (reported in _einsum_item)
            before = len(self.errors)
            einsum = self._einsum(text, line, initial, defined_later)
            if einsum is not None and len(self.errors) == before:
                result.append(einsum)
            elif len(self.errors) > before:
                self._mark_broken(text)
        for ref, defining, fail in self.deferred:
            if ref.name in self.broken:
                continue
            if self.recurrence.get(ref.name) is None:
                fail(f"{ref} reads a previous iterate but {ref.name} is not an iterative Einsum (no rank+1 index)")
            else:
                self._check_ref_shape(ref, defining, fail)
        unused = sorted(set(initial) - {name for name, rank in self.recurrence.items() if rank} - self.broken)
        for name in unused:
            self.fail(f"initial value given for {name}, which is not an iterative Einsum", "initial", name)
        self._check_recurrences(result)
        return result

    def _mark_broken(self, text: str) -> None:
        """Remember a tensor whose defining line failed, so its uses do not report it as undefined."""
        match = _TENSOR_NAME.match(text)
        if match and match.group(1) not in self.tensor_ranks:
            self.broken.add(match.group(1))

    def _check_recurrences(self, einsums: list[Einsum]) -> None:
        """Tensors that depend on each other form a recurrence, stepped over one rank: every Einsum in it
        must advance or keep that rank (one value per step), not reduce it away or step another rank."""
        inputs = {e.name: e.input_names for e in einsums}
        by_name = {e.name: e for e in einsums}
        for component in dependency_groups(list(by_name), inputs):
            if not is_recurrence(component, inputs):
                continue
            members = sorted((by_name[n] for n in component), key=lambda e: (e.line or 0, e.name))
            names = ", ".join(e.name for e in members)
            ranks = sorted({e.recurrence_rank for e in members if e.recurrence_rank})
            if len(ranks) != 1:
                self.fail(f"tensors {names} depend on each other but step over {' and '.join(ranks) or 'no rank'}: "
                          "a recurrence advances exactly one rank", "einsums", line=members[0].line)
                continue
            for einsum in members:
                if ranks[0] not in einsum.output_ranks:
                    self.fail(f"{einsum.name} is part of the recurrence over {ranks[0]} ({names}) but its output "
                              f"{einsum.output} has no {ranks[0]}: a recurrence step cannot reduce the rank it "
                              "advances", "einsums", line=einsum.line)

    def _einsum(self, text: str, line: int | None, initial, defined_later) -> Einsum | None:
        fail = lambda message: self.fail(message, "einsums", line=line)  # noqa: E731
        body, _, reduce_text = text.partition("::")
        if "=" not in body:
            fail(f"{text.strip()!r} is not an Einsum of the form OUT[i,j] = expression [:: max]")
            return None
        head, expr_text = body.split("=", 1)
        reduce_name = reduce_text.strip() or "+"
        if reduce_name not in REDUCE_BY_NAME:
            fail(f"reduce operator {reduce_name!r} is not in the vocabulary (+, max, min)")
            return None
        try:
            output = parse_tensor_ref(head)
            expr = positions(parse_expr(expr_text), set(self.shapes) - self._symbols())
        except ExprSyntaxError as exc:
            fail(str(exc))
            return None
        return self._validated_einsum(output, expr, REDUCE_BY_NAME[reduce_name], text.strip(), line, initial,
                                      defined_later, fail)

    def _validated_einsum(self, output, expr, reduce_op: Op, text, line, initial, defined_later, fail):
        name = output.name
        recurrence = [i for i in output.indices if isinstance(i, RankIndex) and i.offset]
        for index in output.indices:
            if isinstance(index, FinalIndex) or (isinstance(index, RankIndex) and index.offset not in (0, 1)):
                fail(f"output {output}: index {index} must be a rank or rank+1")
                return None
            if index.rank not in self.shapes:
                fail(f"unknown rank {index.rank!r} in {output} (declared ranks: {', '.join(self.shapes)})")
                return None
        if len(recurrence) > 1:
            fail(f"output {output} advances more than one rank")
            return None
        recurrence_rank = recurrence[0].rank if recurrence else None
        if recurrence_rank and name not in initial:
            fail(f"iterative Einsum {name} has no initial value: add `{name}: <value>` under `initial:`")
            return None
        if name in self.tensor_ranks:
            fail(f"tensor {name} is defined twice")
            return None
        out_ranks = tuple(i.rank for i in output.indices)
        if len(set(out_ranks)) != len(out_ranks):
            fail(f"output {output} repeats a rank")
            return None
        self.tensor_ranks[name] = out_ranks
        self.recurrence[name] = recurrence_rank
        ranks_used: list[str] = list(out_ranks)
        placed: list[str] = []  # ranks whose position is used as a number (`p - m`)
        for node in walk(expr):
            if isinstance(node, Symbol) and node.name not in self._symbols():
                fail(f"unknown symbol {node.name!r} (ranks: {', '.join(self.shapes)}; shape symbols and params: "
                     f"{', '.join(sorted(self._symbols()))})")
            elif isinstance(node, Position):
                placed.append(node.rank)
            elif isinstance(node, TensorRef):
                if not self._check_ref(node, name, recurrence_rank, initial, defined_later, fail):
                    continue
                ranks_used += [i.rank for i in node.indices if isinstance(i, RankIndex)]
        for rank in placed:  # a position walks its rank, unless its parts are walked (then it is m1 * M0 + m0)
            partition = next((p for p in self.partitions if p.parent == rank), None)
            if partition is None or not set(partition.parts) & set(ranks_used):
                ranks_used.append(rank)
        iteration = tuple(dict.fromkeys(ranks_used))
        mixed = [p.parent for p in self.partitions if p.parent in iteration and set(p.parts) & set(iteration)]
        if mixed:
            fail(f"rank {mixed[0]} and its parts are mixed in one Einsum: use either the parent or its parts")
        reduced = tuple(r for r in iteration if r not in out_ranks)
        if reduce_op is not Op.ADD and not reduced:
            fail(f"reduce operator {reduce_op.value} given but no rank is reduced")
        return Einsum(output, expr, reduce_op, iteration, reduced, recurrence_rank, text, line)

    def _check_ref(self, ref: TensorRef, defining: str, recurrence_rank, initial, defined_later, fail) -> bool:
        for index in ref.indices:
            if isinstance(index, RankIndex) and index.rank not in self.shapes:
                fail(f"unknown rank {index.rank!r} in {ref} (declared ranks: {', '.join(self.shapes)})")
                return False
            if isinstance(index, FinalIndex) and index.symbol not in self.shapes.values():
                fail(f"final index {index.symbol} in {ref} is not the shape symbol of any rank")
                return False
        ranks = [i.rank for i in ref.indices if isinstance(i, RankIndex)]
        if len(set(ranks)) != len(ranks):
            fail(f"{ref} repeats a rank")
            return False
        is_previous_iterate = ref.name in initial and ref.name in defined_later and all(
            isinstance(i, RankIndex) and i.offset == 0 for i in ref.indices)
        if ref.name == defining and recurrence_rank is None:
            fail(f"tensor {ref.name} is used in its own definition, which only an iterative Einsum may do "
                 f"({ref.name}[m+1,...] = ... {ref.name}[m,...])")
            return False
        if ref.name not in self.tensor_ranks and ref.name in self.broken:
            return False  # its defining line has an error, reported there
        if ref.name not in self.tensor_ranks:
            if ref.name in defined_later and is_previous_iterate:
                self.deferred.append((ref, defining, fail))  # previous iterate of a recurrence
                return True
            where = "defined later" if ref.name in defined_later else "never defined"
            fail(f"tensor {ref.name} is used before it is defined ({where})")
            return False
        return self._check_ref_shape(ref, defining, fail)

    def _check_ref_shape(self, ref: TensorRef, defining: str, fail) -> bool:
        stored = self.tensor_ranks[ref.name]
        declared = f"{ref.name}[{','.join(stored)}]"
        try:
            groups = align_indices(ref, stored, tuple(self.partitions))
        except ValueError as exc:
            fail(f"shape mismatch: {exc}")
            return False
        for group in groups:
            used = [self.shapes[i.rank] if isinstance(i, RankIndex) else None for i in group.indices]
            if group.kind == "same":
                index = group.indices[0]
                if isinstance(index, FinalIndex):
                    if self.shapes[group.stored[0]] != index.symbol:
                        fail(f"final index {index.symbol} of {ref} does not belong to rank {group.stored[0]}")
                        return False
                    if self.recurrence.get(ref.name) != group.stored[0]:
                        fail(f"final index {index.symbol} in {ref}: {ref.name} is not an iterative tensor over "
                             f"{group.stored[0]}, so it has no final iterate (write {group.stored[0]} instead)")
                        return False
                    if ref.name == defining:
                        fail(f"{ref}: an iterative Einsum cannot read its own final iterate")
                        return False
                    continue
                at_position = self.aligned.get(index.rank) == group.stored[0]  # S[p+1,e,f] for S[m,e,f]
                if at_position and ref.name == defining:
                    fail(f"{ref}: an iterative Einsum reads only its previous iterate, not its state at the position "
                         f"of {index.rank}")
                    return False
                if used[0] != self.shapes[group.stored[0]] and not at_position:
                    fail(f"shape mismatch: {ref} uses {index.rank} ({used[0]}) where {declared} has "
                         f"{group.stored[0]} ({self.shapes[group.stored[0]]})" + (
                             f"; to read it at the position of {index.rank}, declare aligned: "
                             f"{{{index.rank}: {group.stored[0]}}}" if self.shapes[group.stored[0]] == "M" else ""))
                    return False
                if index.offset and ref.name == defining:
                    fail(f"{ref}: an iterative Einsum reads the previous iterate, index {index.rank} not {index}")
                    return False
                if index.offset and (index.offset != 1 or self.recurrence.get(ref.name) != group.stored[0]):
                    fail(f"{ref}: a shifted index {index} is only allowed as rank+1 on the rank an iterative "
                         "tensor advances")
                    return False
            elif any(not isinstance(i, RankIndex) or i.offset for i in group.indices):
                fail(f"{ref}: partition parts must be plain ranks")
                return False
        return True
