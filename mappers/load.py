"""Read mapping files (YAML) into `Mapping` objects; structural problems are reported together.

Checks that need the cascade or the hardware (unknown Einsum, unsupported operator, buffer overflow)
happen when the simulator lowers the mapping, and reject it with the reason.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from einsum_cascade.yaml_source import SpecReader, load_yaml, looks_like_path, preset_names, preset_path, read_text
from mappers.mapping import AUTO_SIZES, HOMES, SPATIAL_DIMS, Group, Mapping

PRESET_DIR = Path(__file__).parent / "presets"
MAPPING_KEYS = ("version", "name", "cascade", "description", "groups", "variants", "defaults")
GROUP_KEYS = ("name", "einsums", "splits", "sizes", "dram_loops", "buffer_loops", "spatial", "arrays", "stages",
              "homes", "spill", "tiles_in_flight", "overlap_previous")
VARIANT_KEYS = ("name", "groups", "description")


def mapping_names() -> list[str]:
    return preset_names(PRESET_DIR)


@cache
def _preset(name: str) -> Mapping:
    return load_mapping_file(preset_path(PRESET_DIR, name, "mapping", "shipped mappings", key="--mapping"))


def load_mapping(name_or_path: str) -> Mapping:
    """A shipped mapping name (`fusemax`) or a path to a mapping file."""
    if looks_like_path(name_or_path):
        return load_mapping_file(name_or_path)
    return _preset(name_or_path)


def load_mapping_file(path: str | Path) -> Mapping:
    return parse_mapping(read_text(path), str(path))


def parse_mapping(text: str, source: str = "<string>") -> Mapping:
    document = load_yaml(text, source)
    return _MappingReader(document).read()


class _MappingReader(SpecReader):
    def read(self) -> Mapping:
        data = self.top_mapping("mapping", MAPPING_KEYS, ("version", "name", "cascade"))
        if "groups" not in data and "variants" not in data:
            self.fail("needs `groups:` (or `variants:` for a family of mappings)")
        groups = self._groups(data.get("groups") or [], ("groups",)) if "groups" in data else ()
        variants = tuple(self._variant(v, data, n) for n, v in enumerate(data.get("variants") or []))
        self.raise_if_failed()
        return Mapping(str(data["name"]), str(data["cascade"]), str(data.get("description", "")), groups,
                       self.doc.source, variants)

    def _variant(self, variant, data: dict, position: int) -> Mapping:
        path = ("variants", position)
        if not isinstance(variant, dict) or "name" not in variant or "groups" not in variant:
            self.fail("each variant needs `name:` and `groups:`", *path)
            return Mapping("?", str(data.get("cascade")), "", ())
        self.known(variant, VARIANT_KEYS, *path)
        groups = self._groups(variant["groups"], path + ("groups",))
        return Mapping(str(variant["name"]), str(data.get("cascade")), str(variant.get("description", "")), groups,
                       self.doc.source)

    def _groups(self, groups, path) -> tuple[Group, ...]:
        if not isinstance(groups, list) or not groups:
            self.fail("must be a non-empty list of groups", *path)
            return ()
        return tuple(g for n, spec in enumerate(groups) if (g := self._group(spec, path + (n,))) is not None)

    def _group(self, spec, path) -> Group | None:
        if not isinstance(spec, dict):
            self.fail("a group must be a mapping", *path)
            return None
        self.known(spec, GROUP_KEYS, *path)
        splits = {str(r): tuple(map(str, parts)) for r, parts in self._dict(spec, "splits", path).items()}
        sizes = self._dict(spec, "sizes", path)
        for part, size in sizes.items():
            if not (size in AUTO_SIZES or (isinstance(size, int) and not isinstance(size, bool) and size > 0)):
                self.fail(f"size {size!r} must be a positive integer or one of {', '.join(AUTO_SIZES)}",
                          *path, "sizes", part)
        spatial = self._dict(spec, "spatial", path)
        for array, dims in spatial.items():
            if array not in SPATIAL_DIMS:
                self.fail(f"unknown array {array!r}; arrays: {', '.join(SPATIAL_DIMS)}", *path, "spatial", array)
            elif not isinstance(dims, dict) or any(d not in SPATIAL_DIMS[array] for d in dims):
                self.fail(f"dimensions of {array} are {', '.join(SPATIAL_DIMS[array])}", *path, "spatial", array)
        homes = {str(k): str(v) for k, v in self._dict(spec, "homes", path).items()}
        for tensor, home in homes.items():
            if home not in HOMES:
                self.fail(f"home {home!r} of {tensor} is not one of {', '.join(HOMES)}", *path, "homes", tensor)
        arrays = {str(k): str(v) for k, v in self._dict(spec, "arrays", path).items()}
        for einsum, array in arrays.items():
            if array not in SPATIAL_DIMS:
                self.fail(f"array {array!r} of {einsum} is not one of {', '.join(SPATIAL_DIMS)}", *path, "arrays")
        stages = self._dict(spec, "stages", path)
        for einsum, stage in stages.items():
            if not isinstance(stage, int) or isinstance(stage, bool) or stage < 0:
                self.fail(f"stage {stage!r} of {einsum} must be a non-negative integer", *path, "stages", einsum)
        einsums = spec.get("einsums", "all")
        return Group(
            name=str(spec.get("name", f"group{path[-1]}")),
            einsums=("all",) if einsums == "all" else self._names(spec, "einsums", path),
            splits=splits, sizes=dict(sizes),
            dram_loops=self._names(spec, "dram_loops", path),
            buffer_loops=self._names(spec, "buffer_loops", path),
            spatial={a: {d: str(r) for d, r in dims.items()} for a, dims in spatial.items() if isinstance(dims, dict)},
            arrays=arrays, stages={str(k): int(v) for k, v in stages.items() if isinstance(v, int)},
            homes=homes, spill=self._names(spec, "spill", path),
            tiles_in_flight=self._positive(spec, "tiles_in_flight", path),
            overlap_previous=bool(spec.get("overlap_previous", False)),
        )

    def _positive(self, spec: dict, key: str, path) -> int | None:
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            self.fail(f"{value!r} must be a positive integer", *path, key)
            return None
        return value

    def _names(self, spec: dict, key: str, path) -> tuple[str, ...]:
        """A list of names (Einsums, loops or tensors); anything else is an error."""
        value = spec.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                                  for v in value):
            self.fail(f"{value!r} must be a list of names", *path, key)
            return ()
        return tuple(map(str, value))

    def _dict(self, spec: dict, key: str, path) -> dict:
        value = spec.get(key) or {}
        if not isinstance(value, dict):
            self.fail("must be a mapping", *path, key)
            return {}
        return value
