"""`--set mapping.KEY=VALUE`: a GPU mapping with some of its scalar keys replaced before it is checked.

Any key whose value is a scalar can be replaced: a top-level key (`softmax_overlap`, `producer_warpgroup`,
`intra_warpgroup_overlap`, `persistent`, `masking`, ...) or a key of a section (`split_kv.max_splits`,
`unfused.softmax_passes`). Lists (`tiles`, `grid`, `measured_as`, `tile_space`) are not scalars and are
refused. The mapping with its replaced values is then checked exactly as a file is, so a combination the
file format refuses (`softmax_overlap: pingpong` without a producer warpgroup) is refused here too, and the
message names the overrides.

One key changes another, by its meaning: a tile's `warps` counts all of the block's warps, the producer
warpgroup's included, so switching `producer_warpgroup` adds or removes the producer's 4 warps in every
forward tile and in `tile_space.warps`. The consumer warpgroups, which own the tile's query rows, stay as the
file gives them: FlashAttention-3 without warp specialization is the same tile without the producer.
"""

from __future__ import annotations

from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import YamlDocument

PRODUCER_WARPS = 4  # one warpgroup
OPTION = "--set mapping."


def apply_overrides(doc: YamlDocument, overrides: dict, keys: dict, sections: tuple[str, ...]) -> list[SpecError]:
    """Replace the overridden values in `doc.data` (in place); returns what is wrong with the overrides
    themselves (an unknown key, a list or a section given a scalar). `keys`: the mapping file's keys;
    `sections`: those whose value is a mapping of scalar keys."""
    errors = []
    data = doc.data
    for name, value in overrides.items():
        path = str(name).split(".")
        problem = _path_problem(data, path, keys, sections)
        if problem:
            errors.append(SpecError(problem, key=f"{OPTION}{name}"))
            continue
        if path == ["producer_warpgroup"] and isinstance(value, bool) \
                and value != bool(data.get("producer_warpgroup", False)):
            _shift_warps(data, PRODUCER_WARPS if value else -PRODUCER_WARPS)
        parent = data
        for part in path[:-1]:
            parent = parent.setdefault(part, {})
        parent[path[-1]] = value
    return errors


def noted(error: SpecError, overrides: dict) -> SpecError:
    """A problem of the overridden mapping, saying it arose with the overrides."""
    return SpecError(f"{error.message} (with {shown(overrides, OPTION)})", error.source, error.line, error.key)


def shown(overrides: dict, prefix: str = "", separator: str = ", ") -> str:
    """`key=value, ...` as written on the command line (booleans as `true`/`false`)."""
    return separator.join(f"{prefix}{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in overrides.items())


def _path_problem(data: dict, path: list[str], keys: dict, sections: tuple[str, ...]) -> str | None:
    top = path[0]
    if top not in keys:
        return f"unknown mapping key {top!r}; keys: {', '.join(keys)}"
    if len(path) == 1 and top in sections:
        return f"{top} is a section: replace one of its keys ({top}.KEY)"
    if len(path) > 2 or (len(path) == 2 and top not in sections):
        return (f"{'.'.join(path)} is not a key of the mapping: only the sections {', '.join(sections)} have keys "
                f"of their own (e.g. {sections[0]}.KEY)")
    if len(path) == 2 and not isinstance(data.get(top, {}), dict):
        return f"{top} is not a section in this mapping file"
    current = data.get(top) if len(path) == 1 else data.get(top, {}).get(path[1])
    if isinstance(current, list | dict):
        return f"{'.'.join(path)} is a list, not a scalar: --set replaces scalar keys only"
    return None


def _shift_warps(data: dict, delta: int) -> None:
    """Add `delta` warps to every forward tile and to `tile_space.warps` (entries the file format would
    refuse are left as they are, for its check to report)."""
    for tile in data.get("tiles") or []:
        if isinstance(tile, dict) and _is_int(tile.get("warps")):
            tile["warps"] += delta
    space = data.get("tile_space")
    if isinstance(space, dict) and isinstance(space.get("warps"), list):
        space["warps"] = [w + delta if _is_int(w) else w for w in space["warps"]]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
