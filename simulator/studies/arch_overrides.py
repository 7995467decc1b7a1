"""`--set KEY=VALUE`: architecture overrides on the command line (simulate, compare, map), and with
`cascade simulate` on a GPU, `--set mapping.KEY=VALUE` overrides of the GPU mapping.

The architecture keys are the ones sweeps already apply (`arch.pe_dim` in a sweep file): `arch_models.spatial`
OVERRIDE_KEYS for spatial arrays (`SpatialArch.with_overrides`) and `arch_models.gpu` OVERRIDE_KEYS for
GPUs (`GpuArch.with_overrides`). Their values are numbers with an optional binary size suffix, as sequence
lengths are written (64K = 65536): `32`, `1e9`, `940e6`, `32K`, `16MB`, `1.5G`. A mapping key is any scalar
key of a GPU mapping file, or `SECTION.KEY` of its sections (`mappers.gpu_overrides`), e.g.
`mapping.softmax_overlap=none`, `mapping.producer_warpgroup=false`; its value is `true`, `false`, an integer, a
number or text, and the mapping is checked with it as a file would be. A bad key or value is a SpecError
naming `--set`, which the CLI prints as one line and exits 2.
"""

from __future__ import annotations

import re

from arch_models import arch_names, load_arch
from arch_models.gpu import OVERRIDE_KEYS as GPU_OVERRIDE_KEYS
from arch_models.gpu import gpu_name_index, gpu_names, is_gpu_name, load_gpu
from arch_models.spatial import OVERRIDE_KEYS as SPATIAL_OVERRIDE_KEYS
from einsum_cascade.errors import SpecError, unknown_name
from einsum_cascade.yaml_source import looks_like_path

OPTION = "--set"
MAPPING_PREFIX = "mapping."
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)$")
_NUMBER = re.compile(r"^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)([kKmMgGtT]?)(i?B)?$")  # B: bytes (b, bits, is refused)
_SCALE = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def add_set_argument(parser) -> None:
    keys = ", ".join(SPATIAL_OVERRIDE_KEYS)
    gpu_keys = ", ".join(GPU_OVERRIDE_KEYS)
    parser.add_argument(OPTION, action="append", metavar="KEY=VALUE",
                        help=f"architecture override, repeatable or comma-separated (e.g. pe_dim=32,"
                             f"global_buffer_bytes=16MB); spatial arrays: {keys}; GPUs: {gpu_keys}. "
                             f"With simulate on a GPU also {MAPPING_PREFIX}KEY=VALUE: a scalar key of the GPU "
                             f"mapping (e.g. {MAPPING_PREFIX}softmax_overlap=none, "
                             f"{MAPPING_PREFIX}producer_warpgroup=false)")


def parse_set_options(values: list[str] | None) -> dict[str, int | float | bool | str]:
    """The `--set` options (each `KEY=VALUE[,KEY=VALUE...]`) as {key: number}, `mapping.` keys as {key: scalar};
    keys are checked on loading."""
    overrides: dict[str, int | float | bool | str] = {}
    for item in (part for value in values or () for part in value.split(",")):
        key, sep, text = (piece.strip() for piece in item.partition("="))
        if not sep or not key:
            raise SpecError(f"{item.strip()!r} is not KEY=VALUE (e.g. pe_dim=32)", key=OPTION)
        if key in overrides:
            raise SpecError(f"{key} is given twice", key=OPTION)
        is_mapping = key.startswith(MAPPING_PREFIX)
        overrides[key] = parse_mapping_value(text, key) if is_mapping else parse_override_value(text, key)
    return overrides


def parse_mapping_value(text: str, key: str) -> int | float | bool | str:
    """A mapping value as YAML would read it: `true`/`false`, an integer, a number, else the text itself."""
    if not text:
        raise SpecError(f"{key} needs a value (e.g. {MAPPING_PREFIX}softmax_overlap=none)", key=OPTION)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INTEGER.match(text):
        return int(text)
    return float(text) if _FLOAT.match(text) else text


def split_overrides(overrides: dict) -> tuple[dict, dict]:
    """(architecture overrides, mapping overrides with the `mapping.` prefix taken off)."""
    arch = {k: v for k, v in overrides.items() if not k.startswith(MAPPING_PREFIX)}
    mapping = {k[len(MAPPING_PREFIX):]: v for k, v in overrides.items() if k.startswith(MAPPING_PREFIX)}
    return arch, mapping


def parse_override_value(text: str, key: str, units: bool | None = None) -> int | float:
    """`32` -> 32, `1e9` -> 1000000000, `16MB` -> 16777216, `32K` -> 32768 (binary suffixes K, M, G, T). Units
    go with byte sizes only (a key naming bytes, or `units`): `clock_hz = 940M` would be read as 940 x 2^20, so
    it is refused and the error says to write 940e6."""
    match = _NUMBER.match(text.strip())
    if not match:
        raise SpecError(f"{key} = {text!r} is not a number (e.g. 32, 1e9, 32K, 16MB)", key=OPTION)
    if (match.group(2) or match.group(3)) and not (units if units is not None else "bytes" in key):
        raise SpecError(f"{key} = {text!r}: only byte sizes take units (K, M, G, T are 2^10, 2^20, ...); write "
                        f"{key} as a number, e.g. 940e6", key=OPTION)
    value = float(match.group(1)) * _SCALE[match.group(2).lower()]
    return int(value) if value.is_integer() else value


def load_arch_with_overrides(name_or_path: str, overrides: dict, mapping_overrides: bool = False):
    """The spatial array or GPU `name_or_path` names, with `overrides` applied (unknown keys rejected).
    `mapping.` keys are refused unless the command takes them (`mapping_overrides`) and the arch is a GPU;
    the caller applies them when it loads the mapping."""
    gpu = is_gpu_name(name_or_path)
    if not gpu and not looks_like_path(name_or_path) and name_or_path not in arch_names():
        raise SpecError(unknown_name("architecture", name_or_path, [*arch_names(), *gpu_names()],
                                     "presets (spatial arrays, then GPUs, which also answer to their aliases)",
                                     aliases=gpu_name_index()), key="--arch")
    overrides, mapping = split_overrides(overrides)
    if mapping and not (mapping_overrides and gpu):
        where = "GPU mappings" if mapping_overrides else "GPU mappings with `cascade simulate`"
        raise SpecError(f"{MAPPING_PREFIX}{next(iter(mapping))}: mapping overrides apply to {where} only",
                        key=OPTION)
    allowed = GPU_OVERRIDE_KEYS if gpu else SPATIAL_OVERRIDE_KEYS
    check_keys(overrides, allowed, "a GPU" if gpu else "a spatial array")
    try:
        if gpu:
            return load_gpu(name_or_path).with_overrides(**overrides)
        return load_arch(name_or_path, overrides or None)
    except SpecError as error:
        if error.key in overrides:  # a bad value: name the option as well as the key
            raise SpecError(error.message, key=f"{OPTION} {error.key}") from None
        raise


def check_keys(overrides: dict, allowed: dict, kind: str) -> None:
    """Reject a key `allowed` (an OVERRIDE_KEYS table) does not have, naming the keys it does."""
    for key in overrides:
        if key not in allowed:
            raise SpecError(f"unknown key {key!r} for {kind}; allowed: {', '.join(allowed)}", key=OPTION)
