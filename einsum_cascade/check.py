"""`cascade check`: run a cascade on random float64 inputs of several small shapes and compare its
output with the direct numpy formula named by its `reference:` key; and count the points each mask keeps
at those shapes against the density it declares (the density prices the mask in every cost model)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from einsum_cascade.check_shapes import SHAPE_SETS, check_sizes
from einsum_cascade.errors import SpecError
from einsum_cascade.executor import run_cascade
from einsum_cascade.model import Cascade
from einsum_cascade.reference_source import resolve_reference

RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class CheckResult:
    sizes: dict[str, int]
    max_abs_error: float
    passed: bool
    density_errors: tuple[str, ...] = ()  # masks whose declared density differs from the points they keep (shown,
    # not failed: the shipped densities are closed forms for self-attention shapes, P = M and W < M)


def random_inputs(cascade: Cascade, sizes: dict[str, int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {ref.name: rng.standard_normal([sizes[cascade.shapes[i.rank]] for i in ref.indices])
            for ref in cascade.inputs}


def check_cascade(cascade: Cascade, seed: int = 0, against: str | None = None) -> list[CheckResult]:
    """Compare the cascade with its reference on every shape set: `against` (a formula, a cascade or a Python
    function, `reference_source.py`), else the one its `reference:` names."""
    key = "--against" if against else "reference"
    name = against or cascade.reference
    reference = resolve_reference(cascade, name, key)
    rng = np.random.default_rng(seed)
    results = []
    for shape_set in SHAPE_SETS:
        sizes = check_sizes(cascade, shape_set)
        inputs = random_inputs(cascade, sizes, rng)
        expected = _reference(cascade, name, reference, inputs, sizes, key)
        tensors = run_cascade(cascade, inputs, sizes).tensors
        error, passed = 0.0, True
        for output, want in expected.items():  # every output of the cascade
            got = tensors[output]
            same_shape = got.shape == want.shape
            error = max(error, float(np.max(np.abs(got - want))) if same_shape else float("inf"))
            passed &= same_shape and bool(np.allclose(got, want, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE))
        wrong = density_errors(cascade, sizes)
        results.append(CheckResult(sizes, error, passed, wrong))
    return results


def _reference(cascade: Cascade, name: str, reference, inputs: dict[str, np.ndarray], sizes: dict,
               key: str) -> dict[str, np.ndarray]:
    """Output name -> the reference's value of it, for every output of the cascade (a formula returns one array,
    the first output's, or a dict by output name); an output the reference does not give is an error, not left
    unchecked. A reference that reads an input or size the cascade lacks (softmax_bias on a cascade without
    BIAS), takes inputs of another layout, or fails in any other way (a user's function) is a one-line error
    naming it, not a traceback."""
    try:
        value = reference(inputs, sizes)
    except SpecError:
        raise
    except KeyError as error:
        have = ", ".join(f"{ref.name}[{','.join(i.rank for i in ref.indices)}]" for ref in cascade.inputs)
        raise SpecError(f"reference {name!r} reads {error.args[0]}, which this cascade does not have "
                        f"(inputs: {have}; sizes: {', '.join(sizes)})", source=cascade.source, key=key) from None
    except (IndexError, ValueError) as error:
        shapes = ", ".join(f"{tensor} {list(array.shape)}" for tensor, array in inputs.items())
        raise SpecError(f"reference {name!r} cannot be computed from this cascade's inputs ({shapes}): "
                        f"{str(error).splitlines()[0] if str(error) else type(error).__name__}",
                        source=cascade.source, key=key) from None
    except Exception as error:  # noqa: BLE001 - a user's reference function may fail in any way
        raise SpecError(f"reference {name!r} failed: {type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}", source=cascade.source,
                        key=key) from None
    outputs = [ref.name for ref in cascade.outputs]
    expected = value if isinstance(value, dict) else {outputs[0]: value}
    if unchecked := [output for output in outputs if output not in expected]:
        raise SpecError(f"reference {name!r} gives {', '.join(expected)} only; the output(s) "
                        f"{', '.join(unchecked)} would go unchecked: a reference for several outputs returns a dict "
                        "of every output by name", source=cascade.source, key=key)
    return {output: np.asarray(expected[output], dtype=float) for output in outputs}


def density_errors(cascade: Cascade, sizes: dict[str, int]) -> tuple[str, ...]:
    """'mask: declared d, kept k' for each mask whose declared density is not the fraction of its ranks' points
    it keeps at `sizes` (counted over every point; a density outside (0, 1] is a SpecError)."""
    from einsum_cascade.analysis.symbols import mask_density

    parents = {r for r in cascade.shapes if cascade.partition_of_part(r) is None}
    wrong = []
    for mask in cascade.masks:
        if not mask.density:
            continue
        try:
            declared = mask_density(mask, cascade, sizes)
        except SpecError as error:
            wrong.append(error.message)
            continue
        if mask.select:  # each line along the rank keeps min(KB, its length) of its points
            extent = sizes[cascade.shapes[mask.select.over]]
            kept = min(mask.select.keep_count(sizes), extent) / extent
            if abs(kept - declared) > RELATIVE_TOLERANCE * max(declared, 1e-300):
                wrong.append(f"{mask.name}: declared {declared:.6g}, keeps {kept:.6g}")
            continue
        ranks = sorted(mask.ranks(parents))
        grids = np.meshgrid(*[np.arange(sizes[cascade.shapes[r]]) for r in ranks], indexing="ij")
        kept = np.broadcast_to(mask.evaluate({**sizes, **dict(zip(ranks, grids, strict=True))}), grids[0].shape)
        measured = float(kept.mean())
        if abs(measured - declared) > RELATIVE_TOLERANCE * max(declared, 1e-300):
            wrong.append(f"{mask.name}: declared {declared:.6g}, keeps {measured:.6g}")
    return tuple(wrong)
