"""Sizes as users write them on the command line: `64K`, `1M`, `M=65536,P=65536,E=64` (no heavy imports, so
every command can parse its options before loading a model)."""

from __future__ import annotations

from einsum_cascade.errors import SpecError


def parse_shape_option(text: str | None) -> dict[str, int]:
    """`M=65536,P=65536,E=64` -> {"M": 65536, ...}; sizes may use K/M suffixes (64K = 65536)."""
    if not text:
        return {}
    values = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"{item!r} is not NAME=VALUE", key="--shape")
        values[name.strip()] = parse_size(value, "--shape")
    return values


def parse_size(text: str, key: str) -> int:
    """`65536`, `64K` or `1M` (powers of two, as sequence lengths are quoted)."""
    text = str(text).strip()
    scale = {"K": 1024, "M": 1024**2}.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        value = int(digits) * scale
    except ValueError:
        raise SpecError(f"{text!r} is not a size (use e.g. 4096, 64K or 1M)", key=key) from None
    if value <= 0:
        raise SpecError(f"{text!r} must be positive", key=key)
    return value
