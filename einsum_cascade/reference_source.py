"""What a cascade is checked against: `reference:` (or `cascade check --against`) names one of

- a direct numpy formula of `references.py` (`softmax_causal`);
- another cascade, by library name (`softmax-3pass-causal`) or file (`naive.yaml`, relative to the cascade's
  own folder): both run on the same inputs, e.g. an optimized 1-pass form against its naive definition;
- a Python function `module:function` or `path/to/file.py:function`, called as `function(inputs, sizes)`
  with numpy inputs by tensor name and the sizes by symbol, returning the output (or a dict of outputs).

Each becomes a callable `(inputs, sizes) -> array or {output: array}`, so `check.py` compares them alike.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from einsum_cascade.check_shapes import check_sizes
from einsum_cascade.errors import SpecError
from einsum_cascade.model import Cascade
from einsum_cascade.references import REFERENCES

Reference = Callable[[dict[str, np.ndarray], dict], object]
HOW = ("a formula of einsum_cascade/references.py ({formulas}), a cascade (a library name or a .yaml file that "
       "computes the same outputs from the same inputs), or a Python function module:function")


def resolve_reference(cascade: Cascade, text: str | None, key: str = "reference") -> Reference:
    """The callable that `text` names for checking `cascade`; a one-line error naming what it may be."""
    how = HOW.format(formulas=", ".join(REFERENCES))
    if not text:
        raise SpecError(f"cascade {cascade.name} has no reference to be checked against: set `reference:` to {how}; "
                        "or pass `cascade check CASCADE --against REFERENCE`", source=cascade.source, key=key)
    if text in REFERENCES:
        return REFERENCES[text]
    if ":" in text:
        return _python_function(cascade, text, key)
    from einsum_cascade.library import library_cascade, library_names, resolve_cascade
    from einsum_cascade.yaml_source import looks_like_path

    if looks_like_path(text):
        path = Path(text)
        if not path.is_absolute() and cascade.source and Path(cascade.source).is_file():
            beside = Path(cascade.source).parent / path
            path = beside if beside.exists() else path
        return _cascade_reference(cascade, resolve_cascade(str(path)), key)
    if text in library_names():
        return _cascade_reference(cascade, library_cascade(text), key)
    raise SpecError(f"reference {text!r} is not {how}", source=cascade.source, key=key)


def _cascade_reference(cascade: Cascade, other: Cascade, key: str) -> Reference:
    """Run `other` on the checked cascade's inputs (those it reads) and sizes; its outputs by name."""
    missing = [ref for ref in other.inputs if ref.name not in {r.name for r in cascade.inputs}]
    if missing:
        raise SpecError(f"reference cascade {other.name} reads {', '.join(map(str, missing))}, which cascade "
                        f"{cascade.name} does not have (inputs: {', '.join(map(str, cascade.inputs))})",
                        source=cascade.source, key=key)
    ours = {ref.name: [i.rank for i in ref.indices] for ref in cascade.inputs}
    for ref in other.inputs:
        theirs = [i.rank for i in ref.indices]
        if [cascade.shapes[r] for r in ours[ref.name]] != [other.shapes[r] for r in theirs]:
            raise SpecError(f"reference cascade {other.name} reads {ref}, but {cascade.name} has "
                            f"{ref.name}[{','.join(ours[ref.name])}]: the shapes differ", source=cascade.source,
                            key=key)

    def run(inputs: dict[str, np.ndarray], sizes: dict) -> dict[str, np.ndarray]:
        from einsum_cascade.executor import run_cascade

        own = check_sizes(other, {"tile": _tile(cascade, sizes)})  # its own params (a tile, a window)
        named = set(other.shapes.values()) | set(other.params)  # sizes and params both name: the checked one's
        shared = {s: v for s, v in sizes.items() if s in named and not _derived(other, s)}
        own = {s: v for s, v in own.items() if not _derived(other, s)}  # its M1 follows the real M, not a default
        tensors = run_cascade(other, {r.name: inputs[r.name] for r in other.inputs}, {**own, **shared}).tensors
        return {ref.name: tensors[ref.name] for ref in other.outputs}

    return run


def _tile(cascade: Cascade, sizes: dict) -> int:
    """The tile size the checked cascade runs at (its first partition's), for a reference that tiles too."""
    return int(sizes[cascade.partitions[0].tile_symbol]) if cascade.partitions else 2


def _derived(cascade: Cascade, symbol: str) -> bool:
    """A partition's outer count (M1), which the cascade derives from its parent and tile."""
    return any(cascade.shapes.get(p.outer) == symbol for p in cascade.partitions)


def _python_function(cascade: Cascade, text: str, key: str) -> Reference:
    module_name, _, function_name = text.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_absolute() and cascade.source and Path(cascade.source).is_file():
                path = Path(cascade.source).parent / path
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or not path.is_file():
                raise FileNotFoundError(path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - any failure to load the user's module is one line
        raise SpecError(f"reference {text!r}: cannot load {module_name}: {type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else ''}", source=cascade.source,
                        key=key) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise SpecError(f"reference {text!r}: {module_name} has no function {function_name!r}",
                        source=cascade.source, key=key)
    return function
