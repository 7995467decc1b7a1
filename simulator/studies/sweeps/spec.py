"""Sweep files: parse, validate (every problem at once, with key path, bad value and what is allowed) and
expand into points.

    version: 1
    name: fusemax-reproduction
    base: {design: fusemax, workload: bert, seq_len: 64K, scope: attention}
    axes:                          # values to sweep; combined as a product unless zipped
      design: [unfused, flat, fusemax]
      seq_len: [1K, 4K]
    zip: [[arch.pe_dim, arch.global_buffer_bytes]]   # axes that move together
    derived:                       # keys computed from a point's other keys (Python arithmetic)
      arch.global_buffer_bytes: "256 * pe_dim * pe_dim"
    grow: {key: arch.global_buffer_bytes, factor: 2, until: not-memory-bound, max: 1073741824}
    mapper: {objective: latency, budget: 10s, seed: 0}   # search the mapping per point (else the design's;
                                   # on a GPU: the tiles of the point's kernel)
    max_points: 200000             # refuse to expand beyond this many points (default MAX_POINTS)

Point keys: design (a named design) or arch + mapping; arch.<override> (pe_dim, lanes, global_buffer_bytes,
dram_bandwidth_bytes_per_s, clock_hz); cascade (with mapper); workload; seq_len; batch; scope
(attention | end-to-end); causal (true: prefill attention, as `--causal`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import operator
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from arch_models import OVERRIDE_KEYS, arch_names, gpu_names
from arch_models.gpu import OVERRIDE_KEYS as GPU_OVERRIDE_KEYS
from arch_models.gpu import gpu_name_index, is_gpu_name
from einsum_cascade.errors import SpecError, did_you_mean
from einsum_cascade.yaml_source import SpecReader, load_yaml, looks_like_path, read_text
from mappers.load import mapping_names
from mappers.search import STRATEGIES, parse_budget
from simulator.spatial.mapper_cost import OBJECTIVES
from simulator.studies.arch_overrides import parse_override_value
from workloads.zoo import model_names, parse_seq_len

SHIPPED = Path(__file__).resolve().parents[3] / "workloads" / "sweeps"  # the sweep files the project ships
TOP_KEYS = ("version", "name", "description", "base", "axes", "zip", "derived", "grow", "mapper", "max_points")
MAX_POINTS = 100_000  # a larger sweep is a typo more often than a plan; `max_points:` in the file raises it
POINT_KEYS = ("design", "arch", "mapping", "cascade", "workload", "seq_len", "batch", "scope", "causal")
SCOPES = ("attention", "end-to-end")
MAPPER_KEYS = ("objective", "budget", "seed", "strategy")
GROW_UNTIL = ("not-memory-bound",)


@dataclass(frozen=True)
class Point:
    values: dict

    @property
    def id(self) -> str:
        """Stable identity of the point: a hash of its resolved values (used to resume)."""
        return hashlib.sha256(json.dumps(self.values, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    source: str
    points: tuple[Point, ...]
    grow: dict | None = None
    mapper: dict | None = None
    resolved: dict = field(default_factory=dict)


def load_sweep(path: str) -> SweepSpec:
    return parse_sweep(read_text(path), str(path))


def parse_sweep(text: str, source: str = "<string>") -> SweepSpec:
    document = load_yaml(text, source)
    return _SweepReader(document).read()


class _SweepReader(SpecReader):
    def read(self) -> SweepSpec:
        data = self.top_mapping("sweep", TOP_KEYS, ("version", "name"))
        base = self._mapping(data.get("base") or {}, "base")
        axes = self._mapping(data.get("axes") or {}, "axes")
        for key, value in base.items():
            base[key] = self._value(key, value, "base", key)
        for key, values in axes.items():
            if not isinstance(values, list) or not values:
                self.fail(f"axis values must be a non-empty list, got {values!r}", "axes", key)
                continue
            axes[key] = [self._value(key, value, "axes", key, n) for n, value in enumerate(values)]
        zipped = self._zip(data.get("zip") or [], axes)
        derived = self._derived(self._mapping(data.get("derived") or {}, "derived"), {**base, **axes})
        mapper = self._mapper(data.get("mapper"))
        grow = self._grow(data.get("grow"))
        self.raise_if_failed()
        self._size_check(axes, zipped, data.get("max_points", MAX_POINTS))
        points = self._expand(base, axes, zipped, derived, mapper)
        for n, point in enumerate(points):
            if "design" not in point.values and not ({"arch", "mapping"} <= set(point.values) or mapper):
                self.errors.append(self.doc.error("every point needs a design, or an arch and a mapping "
                                                  f"(point {n}: {point.values})", "base"))
                break
            if missing := [key for key in ("workload", "seq_len") if key not in point.values]:
                self.errors.append(self.doc.error(f"every point needs a workload and a seq_len (point {n} has no "
                                                  f"{' and no '.join(missing)}: {point.values})", "base"))
                break
        self.raise_if_failed()
        return SweepSpec(str(data["name"]), self.doc.source, tuple(points), grow, mapper, data)

    def _mapping(self, value, *path) -> dict:
        if not isinstance(value, dict):
            self.fail(f"must be a mapping, got {value!r}", *path)
            return {}
        return value

    def _value(self, key: str, value, *path):
        """Check one point value against what its key allows; returns it, an `arch.` size written with a unit
        (`16MB`, `512KiB`, `32K`; binary multiples, as `--set` reads them) as its number."""
        from mappers.gpu_kernels import gpu_mapping_names
        from simulator.studies.designs import design_names

        allowed = {"design": design_names(), "mapping": mapping_names() + gpu_mapping_names(),
                   "workload": model_names(), "scope": SCOPES}
        if key.startswith("arch."):
            override = key.split(".", 1)[1]
            if override not in OVERRIDE_KEYS and override not in GPU_OVERRIDE_KEYS:  # the point's arch checks its own
                self.fail(f"unknown arch override {override!r}; allowed: "
                          f"{', '.join(dict.fromkeys([*OVERRIDE_KEYS, *GPU_OVERRIDE_KEYS]))}", *path)
            elif isinstance(value, str):
                try:
                    return self._value(key, parse_override_value(value, key), *path)
                except SpecError:
                    self.fail(f"{value!r} must be a positive number, or a size with a unit (e.g. 16MB, 512KiB)"
                              if "bytes" in key else f"{value!r} must be a positive number (units go with byte "
                              "sizes only: write e.g. 940e6)", *path)
            elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                self.fail(f"{value!r} must be a positive number", *path)
        elif key not in POINT_KEYS:
            self.fail(f"unknown point key {key!r}; allowed: {', '.join(POINT_KEYS)} or arch.<override>", *path)
        elif key == "workload" and str(value).endswith(".json"):
            if not Path(str(value)).is_file():
                self.fail(f"{value!r}: no such config.json", *path)
        elif key in allowed and value not in allowed[key]:
            self.fail(f"{value!r} is not one of {', '.join(map(str, allowed[key]))}"
                      f"{did_you_mean(value, allowed[key])}", *path)
        elif key == "arch" and value not in arch_names() and not looks_like_path(value) and not is_gpu_name(value):
            self.fail(f"{value!r} is not one of {', '.join(arch_names() + gpu_names())} (or a YAML file)"
                      f"{did_you_mean(value, [*arch_names(), *gpu_names(), *gpu_name_index()])}", *path)
        elif key == "seq_len":
            try:
                parse_seq_len(value)
            except SpecError:
                self.fail(f"{value!r} is not a sequence length (e.g. 4096, 64K, 1M)", *path)
        elif key == "causal" and not isinstance(value, bool):
            self.fail(f"{value!r} must be true or false", *path)
        elif key == "batch" and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            self.fail(f"{value!r} must be a positive integer", *path)
        return value

    def _zip(self, groups, axes: dict) -> list[list[str]]:
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            self.fail("must be a list of lists of axis names", "zip")
            return []
        for n, group in enumerate(groups):
            missing = [k for k in group if k not in axes]
            if missing:
                self.fail(f"zipped axes {', '.join(map(str, missing))} are not under axes", "zip", n)
            elif len({len(axes[k]) for k in group}) > 1:
                self.fail(f"zipped axes must have equal lengths, got {[len(axes[k]) for k in group]}", "zip", n)
        return groups

    def _derived(self, derived: dict, known: dict) -> dict:
        names = {k.split(".")[-1] for k in known} | {"pe_dim", "seq_len", "lanes"}
        for key, expression in derived.items():
            try:
                tree = ast.parse(str(expression), mode="eval")
            except SyntaxError:
                self.fail(f"{expression!r} is not an arithmetic expression", "derived", key)
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id not in names:
                    self.fail(f"{expression!r} uses {node.id!r}; known: {', '.join(sorted(names))}", "derived", key)
                elif not isinstance(node, ast.Expression | ast.BinOp | ast.Name | ast.Constant | ast.Load | ast.operator
                                    | ast.UnaryOp | ast.unaryop):
                    self.fail(f"{expression!r}: only + - * / // ** and numbers are allowed", "derived", key)
        return derived

    def _mapper(self, mapper) -> dict | None:
        if mapper is None:
            return None
        mapper = self._mapping(mapper, "mapper")
        self.known(mapper, MAPPER_KEYS, "mapper")
        for key, value in mapper.items():
            if key == "strategy" and value not in STRATEGIES:
                self.fail(f"{value!r} is not one of {', '.join(STRATEGIES)}", "mapper", key)
            elif key == "objective" and value not in OBJECTIVES:
                self.fail(f"{value!r} is not one of {', '.join(OBJECTIVES)}", "mapper", key)
            elif key == "budget":
                try:
                    parse_budget(value)
                except SpecError as error:
                    self.fail(error.message, "mapper", key)
            elif key == "seed" and (isinstance(value, bool) or not isinstance(value, int)):
                self.fail(f"{value!r} must be an integer", "mapper", key)
        return mapper

    def _grow(self, grow) -> dict | None:
        if grow is None:
            return None
        grow = self._mapping(grow, "grow")
        if grow.get("until") not in GROW_UNTIL:
            self.fail(f"until must be one of {', '.join(GROW_UNTIL)}", "grow", "until")
        if not str(grow.get("key", "")).startswith("arch."):
            self.fail("key must be an arch override such as arch.global_buffer_bytes", "grow", "key")
        if not isinstance(grow.get("factor", 2), int | float) or grow.get("factor", 2) <= 1:
            self.fail("factor must be a number above 1", "grow", "factor")
        return grow

    def _size_check(self, axes: dict, zipped: list[list[str]], limit) -> None:
        """The number of points, counted before any is built: more than `limit` is refused with the count."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise self.doc.error(f"max_points = {limit!r} must be a positive integer", "max_points")
        zipped_keys = {k for group in zipped for k in group}
        count = math.prod([len(axes[k]) for k in axes if k not in zipped_keys] + [len(axes[g[0]]) for g in zipped])
        if count > limit:
            raise self.doc.error(f"the axes expand to {count:,} points, more than max_points = {limit:,}; "
                                 "sweep fewer values, or raise max_points in the file if you mean it", "axes")

    def _expand(self, base: dict, axes: dict, zipped: list[list[str]], derived: dict, mapper) -> list[Point]:
        zipped_keys = {k for group in zipped for k in group}
        dimensions = [[{k: v} for v in axes[k]] for k in axes if k not in zipped_keys]
        dimensions += [[{k: axes[k][n] for k in group} for n in range(len(axes[group[0]]))] for group in zipped]
        points = []
        for combination in product(*dimensions) if dimensions else [()]:
            values = dict(base)
            for part in combination:
                values.update(part)
            if "seq_len" in values:
                values["seq_len"] = parse_seq_len(values["seq_len"])
            names = {k.split(".")[-1]: v for k, v in values.items()}
            for key, expression in derived.items():
                try:
                    values[key] = arithmetic(str(expression), names)
                except SpecError as error:
                    used = sorted({n.id for n in ast.walk(ast.parse(str(expression), mode="eval"))
                                   if isinstance(n, ast.Name)})
                    at = "".join(f", {n} = {names[n]}" for n in used)
                    raise self.doc.error(f"{expression!r}{at}: {error.message}", "derived", key) from None
            if mapper:
                values["mapper"] = dict(mapper)
            points.append(Point(values))
        return points


MAX_POWER_BITS = 1024  # a derived value beyond 2**1024 is no size of anything (and 9 ** 9 ** 9 never returns)


def arithmetic(expression: str, names: dict):
    """Evaluate a sweep's derived expression (+ - * / // ** on numbers and axis values) without `eval`: a
    division by zero, a power too large to be a size, or a result that is not finite is a SpecError."""
    value = _evaluate(ast.parse(expression, mode="eval").body, names)
    if not math.isfinite(value):
        raise SpecError(f"the value {value} is not finite")
    return int(value) if float(value).is_integer() else value


def _evaluate(node: ast.AST, names: dict):
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        value = names[node.id]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{node.id} = {value!r} is not a number")
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise SpecError("division by zero")
        if isinstance(node.op, ast.Pow) and abs(left) > 1 and right * math.log2(abs(left)) > MAX_POWER_BITS:
            raise SpecError(f"{left} ** {right} is larger than 2 ** {MAX_POWER_BITS}")
        operations = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
                      ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
        if type(node.op) in operations:
            try:
                result = operations[type(node.op)](left, right)
            except OverflowError:
                raise SpecError("the value overflows a float") from None
            if isinstance(result, complex):
                raise SpecError(f"{left} ** {right} is not a real number")
            return result
    raise SpecError(f"{ast.unparse(node)!r}: only + - * / // % ** and numbers are allowed")
