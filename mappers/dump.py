"""Write a Mapping back as a mapping file that `load_mapping` (and `cascade simulate --mapping`) reads."""

from __future__ import annotations

import yaml

from mappers.mapping import Group, Mapping


def group_to_dict(group: Group) -> dict:
    data = {
        "name": group.name,
        "einsums": list(group.einsums),
        "splits": {rank: list(parts) for rank, parts in group.splits.items()},
        "sizes": dict(group.sizes),
        "dram_loops": list(group.dram_loops),
        "buffer_loops": list(group.buffer_loops),
        "spatial": {array: dict(dims) for array, dims in group.spatial.items()},
        "arrays": dict(group.arrays),
        "stages": {k: v for k, v in group.stages.items() if v},
        "homes": dict(group.homes),
        "spill": list(group.spill),
    }
    if group.tiles_in_flight is not None:
        data["tiles_in_flight"] = group.tiles_in_flight
    if group.overlap_previous:
        data["overlap_previous"] = True
    return data


def mapping_to_yaml(mapping: Mapping, header: str = "") -> str:
    data = {"version": 1, "name": mapping.name, "cascade": mapping.cascade, "description": mapping.description,
            "groups": [group_to_dict(g) for g in mapping.groups]}
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
