"""Property: a randomly generated cascade either parses and runs (outputs of the declared shape) or is
rejected with a SpecError whose message is clean — never any other exception.

The generator builds cascades from a small pool of ranks and the operator vocabulary, and mixes in
mistakes: unknown ranks and operators, undefined tensors, bad shapes, missing initial values, bad
reduce operators, bad masks, unquoted list items that YAML reads as mappings.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from spec_errors import each

from einsum_cascade.errors import SpecError
from einsum_cascade.executor import run_cascade
from einsum_cascade.ops import UNARY_BY_NAME
from einsum_cascade.parse import parse_cascade

SOURCE = "random.yaml"
RANK_SYMBOLS = {"m": "M", "n": "N", "p": "P", "e": "E"}
SIZES = {"M": 3, "N": 2, "P": 2, "E": 1}  # M = 3 with tiles of 2 pads the last tile
UNARY = sorted(UNARY_BY_NAME)
BAD_FUNCTIONS = ["gelu", "pow", "erf"]  # not in the vocabulary
BINARY_FUNCTIONS = ["max", "min"]
INFIX = ["+", "-", "*", "/"]
REDUCE = ["", "", "", " :: max", " :: min", " :: +", " :: sum"]
BAD_REDUCE = [" :: mean", " :: avg", " : max"]
CONSTANTS = ["2", "0.5", "1", "inf"]
VALID_MASKS = ["m <= p", "|m - p| <= 1", "m < 2", "m // 2 == p // 2 or m == 0", "n != e", "not m > N"]
BAD_MASKS = ["abs(m) < Z", "abs <= 2", "abs(m, p) < 1", "m ** 2 < p", "m <"]
INITIAL_VALUES = ["0", "-inf", "1.5", "oops"]


def rare(draw, one_in: int) -> bool:
    """True about once in `one_in` draws. Hypothesis favours small and extreme integers, so the drawn
    integer is scattered by a multiplicative hash first (0, 1, 2, ... all land below the threshold)."""
    return draw(st.integers(0, 2**16)) * 2654435761 % 2**32 >= 2**32 - 2**32 // one_in


def as_view(indices: list[str], view: str) -> list[str]:
    """Indices of a tensor as one Einsum reads them: the parent rank m as its parts m1,m0, or back."""
    if view == "parts":
        return [part for i in indices for part in (["m1", "m0"] if i == "m" else [i])]
    text = ",".join(indices).replace("m1,m0", "m")
    return text.split(",") if text else []


@st.composite
def cascades(draw) -> str:
    """The text of a random cascade file."""
    ranks = draw(st.lists(st.sampled_from(sorted(RANK_SYMBOLS)), min_size=1, max_size=4, unique=True))
    rank_map = {r: RANK_SYMBOLS[r] for r in ranks}
    if rare(draw, 40):
        rank_map[draw(st.sampled_from(ranks))] = None  # a rank missing its shape symbol
    params, partitions = {}, []
    if "m" in ranks and draw(st.booleans()):
        partitions.append("m -> m1, m0")
        if not rare(draw, 15):
            params["M0"] = 2  # otherwise: the tile size is missing
    views = ["parent", "parts"] if partitions else ["parent"]

    def rank_list(view: str, max_size: int) -> list[str]:
        pool = as_view(sorted(ranks), view) + (["m1"] if partitions and view == "parent" and rare(draw, 8) else [])
        indices = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=max_size, unique=True))
        if rare(draw, 40):
            indices.append("z")  # an unknown rank
        return indices

    tensors: dict[str, list[str]] = {}
    advances: dict[str, str] = {}  # iterative tensor -> the rank it advances
    inputs = []
    for name in ["A", "B", "C"][: draw(st.integers(1, 3))]:
        tensors[name] = rank_list(draw(st.sampled_from(views)), 2)
        inputs.append(f"{name}[{','.join(tensors[name])}]")

    def ref(name: str, indices: list[str], view: str, used: list[str]) -> str:
        indices = as_view(indices, view)
        if advances.get(name) in indices and draw(st.booleans()):
            at = indices.index(advances[name])
            indices[at] = indices[at].upper()  # the final iterate, e.g. R[M,p]
        mistake = 0 if not rare(draw, 16) else draw(st.integers(1, 5))
        if mistake == 1 and len(indices) > 1:
            indices.pop()  # too few indices
        elif mistake == 2:
            indices.append(draw(st.sampled_from(sorted(ranks))))  # too many indices
        elif mistake == 3:
            indices[0] = draw(st.sampled_from(sorted(ranks)))  # another rank: a shape mismatch unless same shape
        elif mistake == 4:
            indices[0] += "+1"  # a shifted index
        elif mistake == 5:
            indices[-1] = indices[-1].upper()  # a final index (a mistake unless the tensor advances that rank)
        used += [i for i in indices if i.islower()]
        return f"{name}[{','.join(indices)}]"

    def expression(depth: int, view: str, used: list[str], self_ref: str | None) -> str:
        kind = draw(st.integers(0, 5 if depth < 2 else 1))
        if kind == 0:
            if self_ref and draw(st.booleans()):
                used += self_ref[self_ref.index("[") + 1 : -1].split(",")
                return self_ref
            if rare(draw, 30):
                return ref(draw(st.sampled_from(["U", "T9"])), rank_list(view, 2), view, used)  # never defined
            name = draw(st.sampled_from(sorted(tensors)))
            return ref(name, tensors[name], view, used)
        if kind == 1:
            if rare(draw, 30):
                return draw(st.sampled_from(["X", "N", "M0"]))  # a symbol that is not (always) declared
            return draw(st.sampled_from(CONSTANTS + [rank_map[r] or "P" for r in ranks]))
        if kind == 2:
            function = draw(st.sampled_from(BAD_FUNCTIONS)) if rare(draw, 30) else draw(st.sampled_from(UNARY))
            return f"{function}({expression(depth + 1, view, used, self_ref)})"
        if kind == 3:
            op = draw(st.sampled_from(INFIX))
            return f"{expression(depth + 1, view, used, self_ref)} {op} {expression(depth + 1, view, used, self_ref)}"
        if kind == 4:
            function = draw(st.sampled_from(BINARY_FUNCTIONS))
            left, right = expression(depth + 1, view, used, self_ref), expression(depth + 1, view, used, self_ref)
            return f"{function}({left}, {right})"
        return f"-{expression(depth + 1, view, used, self_ref)}"

    lines, initial, outputs = [], {}, []
    plan = []  # (name, view, output ranks, iterative) of every line, so a line can read a later tensor
    for number in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(tensors))) if rare(draw, 30) else f"T{number}"  # else defined twice
        view = draw(st.sampled_from(views))
        plan.append((name, view, rank_list(view, 3), rare(draw, 4)))
    reads_back: dict[int, list[str]] = {}  # line -> earlier tensors it reads, closing a recurrence cycle
    for number, (name, view, out, iterative) in enumerate(plan):
        head, self_ref = list(out), None
        if iterative:
            head[0] += "+1"
            self_ref = f"{name}[{','.join(out)}]"
            if not rare(draw, 8):
                initial[name] = draw(st.sampled_from(INITIAL_VALUES[:3]))  # else: no initial value
        used: list[str] = []
        body = expression(0, view, used, self_ref)
        later = plan[number + 1 :]
        if later and rare(draw, 4):
            # a tensor defined further down: the previous iterate of a recurrence if it is iterative
            # (valid if it has an initial value), else a tensor used before it is defined
            other = draw(st.sampled_from(later if rare(draw, 4) else [o for o in later if o[3]] or later))
            body += " + " + ref(other[0], other[2], view, used)
            if draw(st.booleans()):  # and that tensor reads this one: a mutual recurrence like RD <-> SPD
                reads_back.setdefault(plan.index(other), []).append(name)
        for earlier in reads_back.get(number, []):
            body += " * " + ref(earlier, tensors[earlier], view, used)
        reduced = set(used) - set(out)
        if rare(draw, 30):
            reduce = draw(st.sampled_from(BAD_REDUCE))
        elif reduced or rare(draw, 30):  # a reduce operator with nothing to reduce is a mistake
            reduce = draw(st.sampled_from(REDUCE))
        else:
            reduce = ""
        lines.append(f"{name}[{','.join(head)}] = {body}{reduce}")
        tensors[name] = out
        if self_ref:
            advances[name] = out[0]
        outputs = [f"{name}[{','.join(out)}]"]
    if rare(draw, 30):
        outputs = ["Z[p]"]  # never defined
    if rare(draw, 30):
        initial[draw(st.sampled_from(sorted(tensors)))] = draw(st.sampled_from(INITIAL_VALUES))
    masks = {}
    if rare(draw, 3):
        fitting = [mask for mask in VALID_MASKS if set(mask) & set(RANK_SYMBOLS) <= set(ranks)]
        masks["mk"] = draw(st.sampled_from(fitting if fitting and not rare(draw, 5) else VALID_MASKS + BAD_MASKS))

    text = "name: random\nversion: 1\n"
    text += f"ranks: {json.dumps(rank_map)}\n"
    if params:
        text += f"params: {json.dumps(params)}\n"
    if partitions:
        text += f"partitions: {json.dumps(partitions)}\n"
    text += f"inputs: {json.dumps(inputs)}\noutputs: {json.dumps(outputs)}\n"
    if initial:
        text += f"initial: {json.dumps(initial)}\n"
    if masks:
        text += f"masks: {json.dumps(masks)}\n"
    if rare(draw, 50):
        text += "einsum_count: 3\n"  # unknown top-level key
    form = draw(st.sampled_from(["block"] * 4 + ["list"] * 3 + ["unquoted-list"]))
    if form == "block":
        text += "einsums: |\n" + "".join(f"  {line}\n" for line in lines)
    elif form == "list":
        text += "einsums:\n" + "".join(f"  - {json.dumps(line)}\n" for line in lines)
    else:  # plain scalars: a line with ' :: ' reads as a mapping, which must be reported clearly
        text += "einsums:\n" + "".join(f"  - {line}\n" for line in lines)
    return text


def assert_clean(error: SpecError) -> None:
    errors = each(error)
    lines = str(error).splitlines()
    assert len(lines) == len(errors) >= 1
    for one, line in zip(errors, lines, strict=True):
        assert one.source == SOURCE
        assert isinstance(one.message, str) and one.message.strip()
        assert "\n" not in one.message
        assert line.startswith(SOURCE) and line.endswith(one.message)
        assert "Traceback" not in line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=cascades(), seed=st.integers(0, 2**16))
def test_random_cascade_runs_or_is_rejected_cleanly(text, seed):
    note(text)
    try:
        cascade = parse_cascade(text, source=SOURCE)
    except SpecError as error:
        event("rejected")
        assert_clean(error)
        return
    event("parsed and ran")
    top_symbols = {cascade.shapes[r] for r in cascade.shapes if cascade.partition_of_part(r) is None}
    sizes = cascade.sizes({symbol: SIZES[symbol] for symbol in top_symbols})
    rng = np.random.default_rng(seed)
    inputs = {ref.name: rng.standard_normal([sizes[cascade.shapes[i.rank]] for i in ref.indices])
              for ref in cascade.inputs}
    trace = run_cascade(cascade, inputs, sizes)
    iterative = cascade.iterative_tensors
    for ref in cascade.outputs:
        expected = tuple(sizes[cascade.shapes[i.rank]] + (i.rank == iterative.get(ref.name))
                         for i in ref.indices)
        assert trace.tensors[ref.name].shape == expected
    for einsum in cascade.einsums:
        assert einsum.name in trace.present_points
