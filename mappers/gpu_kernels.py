"""GPU mappings of attention cascades: how a kernel (or a chain of kernels) tiles attention on a GPU.

A mapping is data (`mappers/gpu_presets/*.yaml`): the names the kernel goes by (`measured_as`: what
papers, blog posts, issue threads and measurement files call it, matched exactly, ignoring case; the
mapping's own name matches too; never a prefix), the kind of kernel (one fused kernel, split-KV
decoding with a combine step, or unfused kernels with the M x P scores through HBM), the tensor
instruction family (`mma` = Ampere-style mma.sync, `wgmma` = Hopper warpgroup MMA, `tcgen05` =
Blackwell's, `best` = the fastest the GPU has, as a vendor library picks), the threadblock tile
Br x Bc, warps, pipeline stages (per head dim and optionally per GPU preset, by name or alias, and
causal), how the grid is formed and ordered, whether softmax overlaps the matrix products (`pingpong`:
FA3's coordinated consumer warpgroups; `none`: only independent resident blocks overlap), whether a
producer warpgroup issues the loads (warp specialization), whether each consumer warpgroup keeps two key
tiles in flight (`intra_warpgroup_overlap`, FA3's 2-stage GEMM-softmax pipelining), and the masking
granularity (`tile-skip`: fully masked tiles are skipped and partial tiles masked element-wise; `dense`:
every tile computed and masked). Legality of a tile on a GPU (registers, shared memory, occupancy) is
decided by `mappers.gpu_space`. `load_gpu_mapping(name, overrides)` replaces scalar keys first
(`--set mapping.KEY=VALUE`, `mappers.gpu_overrides`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from arch_models.gpu import INSTRUCTION_FAMILIES, GpuArch, capability_text
from einsum_cascade.errors import SpecError
from einsum_cascade.yaml_source import (
    YamlDocument,
    header_problems,
    looks_like_path,
    parse_checked,
    preset_names,
    preset_path,
    read_text,
)
from mappers.gpu_overrides import apply_overrides, noted

GPU_PRESET_DIR = Path(__file__).parent / "gpu_presets"
KINDS = ("fused", "split-kv", "unfused")
INSTRUCTIONS = (*INSTRUCTION_FAMILIES, "best")
OVERLAPS = ("none", "pingpong")
BLOCK_ORDERS = ("launch", "longest-first")
MASKINGS = ("tile-skip", "dense")
GRID_DIMS = ("query_blocks", "batch", "heads", "kv_splits")
CAUSAL_MASKS = ("none", "materialized-add")
GQA_MODES = ("shared", "expand")

MAPPING_KEYS = {
    "version": "format version (1)", "name": "mapping name", "description": "one line",
    "cascade": "library cascade the kernel computes", "kind": f"one of {', '.join(KINDS)}",
    "chunk_cascade": "split-kv only: the cascade each key chunk's loop computes (the combine kernel merges the chunks)",
    "measured_as": "other names of this kernel (papers, blog posts, measurement files), matched exactly ignoring case",
    "instruction": f"tensor instruction family: {', '.join(INSTRUCTIONS)}",
    "softmax_overlap": f"{', '.join(OVERLAPS)} (pingpong needs a producer warpgroup)",
    "producer_warpgroup": "true if a producer warpgroup (4 warps, counted in each tile's warps) issues the loads",
    "intra_warpgroup_overlap": "true if each consumer warpgroup overlaps one key tile's softmax with the products "
                               "of the next (two key tiles in flight per warpgroup)",
    "persistent": "true if one block per SM loops over work tiles", "block_order": f"{', '.join(BLOCK_ORDERS)}",
    "grid": f"launch order of the grid dimensions, fastest first ({', '.join(GRID_DIMS)})",
    "masking": f"{', '.join(MASKINGS)}", "q_in_registers": "Q fragments kept in registers across key tiles",
    "p_through_shared": "probabilities P written to shared memory before the second product",
    "pack_gqa": "query heads of one K/V group share a tile's rows (decode)",
    "masked_loop": "partial (masked) tiles run in a second software-pipelined loop that refills the pipeline",
    "tiles": "list of tile choices {head_dim_max, br, bc, warps, stages[, causal][, splits]} and the device conditions "
             "under which the kernel picks one (compute_capability, shared_memory_bytes_per_block_at_least, "
             "shared_memory_bytes_per_sm_below); the first that matches is used",
    "backward_tiles": "tile choices of the backward kernel (Br queries x Bc keys per block), as `tiles`",
    "tile_space": "{br, bc, warps, stages: lists}: the tilings the kernel's code can instantiate (what the mapper "
                  "searches; default: every legal tiling)",
    "split_kv": "{max_splits, min_efficiency}: how many key chunks (split-kv only)",
    "unfused": "{causal_mask, gqa, softmax_passes, score_bytes, layout_copies, transposed_copies, scaled_grads}: "
               "the unfused kernel chain",
    "source": "where the structure comes from",
}
REQUIRED = ("version", "name", "cascade", "kind", "instruction", "tiles")
SECTIONS = ("split_kv", "unfused")  # keys whose value is a mapping of scalar keys
# What a kernel's launch code reads of the device to pick a tile (flash-attn's launch templates test
# `major == 8 && minor > 0` and cudaDevAttrMaxSharedMemoryPerBlockOptin / ...PerMultiprocessor).
SHARED_MEMORY_CONDITIONS = ("shared_memory_bytes_per_block_at_least", "shared_memory_bytes_per_sm_below")
TILE_KEYS = ("head_dim_max", "br", "bc", "warps", "stages", "causal", "splits", "compute_capability",
             *SHARED_MEMORY_CONDITIONS)
TILE_SPACE_KEYS = ("br", "bc", "warps", "stages")
UNFUSED_KEYS = {"causal_mask": CAUSAL_MASKS, "gqa": GQA_MODES, "softmax_passes": None, "score_bytes": None,
                "layout_copies": None, "transposed_copies": None, "scaled_grads": None}
TENSOR_LISTS = ("layout_copies", "transposed_copies", "scaled_grads")


@dataclass(frozen=True, slots=True)
class TileChoice:
    head_dim_max: int
    br: int
    bc: int
    warps: int
    stages: int
    causal: bool | None = None
    splits: int | None = None  # split-KV: a fixed number of key chunks instead of the heuristic
    compute_capability: tuple[str, ...] | None = None  # the device's "major.minor" is one of these
    shared_memory_bytes_per_block_at_least: int | None = None  # the device's largest block allocation >= this
    shared_memory_bytes_per_sm_below: int | None = None  # the device's shared memory per SM < this

    def matches(self, head_dim: int, gpu: GpuArch, causal: bool) -> bool:
        return (head_dim <= self.head_dim_max and (self.causal is None or self.causal == causal)
                and (self.compute_capability is None or gpu.compute_capability in self.compute_capability)
                and (self.shared_memory_bytes_per_block_at_least is None
                     or gpu.shared_memory_bytes_per_block >= self.shared_memory_bytes_per_block_at_least)
                and (self.shared_memory_bytes_per_sm_below is None
                     or gpu.shared_memory_bytes_per_sm < self.shared_memory_bytes_per_sm_below))


@dataclass(frozen=True, slots=True)
class UnfusedChain:
    causal_mask: str = "materialized-add"  # build an N x N additive mask and add it to the scores
    gqa: str = "shared"  # `expand`: K/V copied to every query head before the products
    softmax_passes: int = 1  # reads of the score matrix by the softmax kernel
    score_bytes: int = 2  # bytes per score element in HBM
    layout_copies: tuple[str, ...] = ()  # inputs copied to a (batch x heads)-major layout before the products
    transposed_copies: tuple[str, ...] = ()  # those of the copies that also swap the sequence and head dims
    scaled_grads: tuple[str, ...] = ()  # gradients multiplied by the softmax scale in a kernel of their own


@dataclass(frozen=True, slots=True)
class GpuMapping:
    name: str
    description: str
    cascade: str
    kind: str
    measured_as: tuple[str, ...]
    instruction: str
    softmax_overlap: str
    producer_warpgroup: bool
    intra_warpgroup_overlap: bool
    persistent: bool
    block_order: str
    grid: tuple[str, ...]
    masking: str
    q_in_registers: bool
    p_through_shared: bool
    pack_gqa: bool
    masked_loop: bool
    tiles: tuple[TileChoice, ...]
    backward_tiles: tuple[TileChoice, ...]
    max_splits: int
    split_min_efficiency: float
    tile_space: dict[str, tuple[int, ...]]  # gene -> choices the kernel supports (missing gene: the default)
    unfused: UnfusedChain
    source: str
    chunk_cascade: str | None = None  # split-kv: what each chunk's key loop computes

    def tile_for(self, head_dim: int, gpu: GpuArch, causal: bool, backward: bool = False) -> TileChoice:
        """The first tile entry whose head dim, causality and device conditions match, as the kernel's launch
        code picks one."""
        tiles, key = (self.backward_tiles, "backward_tiles") if backward else (self.tiles, "tiles")
        if not tiles:
            raise SpecError(f"mapping {self.name!r} does not describe a backward kernel (no backward_tiles)",
                            source=self.source, key=key)
        for tile in tiles:
            if tile.matches(head_dim, gpu, causal):
                return tile
        largest = max(t.head_dim_max for t in tiles)
        raise SpecError(f"mapping {self.name!r} has no {key} entry for head dim {head_dim}"
                        f"{' (causal)' if causal else ''} on {gpu.name} (compute capability {gpu.compute_capability}, "
                        f"{gpu.shared_memory_bytes_per_block} B shared memory per block, "
                        f"{gpu.shared_memory_bytes_per_sm} per SM); its entries cover head dims up to {largest}, "
                        "some only under device conditions", source=self.source, key=key)

    def with_cascade(self, cascade: str | None) -> GpuMapping:
        """This kernel computing another cascade (a library name or a file; `--cascade`): its tile loop runs
        that cascade's Einsums. Only fused kernels: a split-KV kernel's chunks are merged by its combine
        kernel, and the unfused chain is a fixed sequence of kernels."""
        if cascade is None or cascade == self.cascade:
            return self
        if self.kind != "fused":
            raise SpecError(f"GPU mapping {self.name!r} is {self.kind}: only fused mappings run another cascade "
                            f"(it computes {self.cascade})", key="--cascade")
        return replace(self, cascade=str(cascade))

    def family(self, available: tuple[str, ...], best: str) -> str:
        if self.instruction == "best":
            return best
        if self.instruction not in available:
            raise SpecError(f"mapping {self.name!r} uses {self.instruction} instructions, which this GPU lacks "
                            f"(it has: {', '.join(available)})", source=self.source, key="instruction")
        return self.instruction


def gpu_mapping_names() -> list[str]:
    return preset_names(GPU_PRESET_DIR)


@cache
def _preset(name: str) -> GpuMapping:
    path = preset_path(GPU_PRESET_DIR, name, "GPU mapping", "GPU mappings", key="--mapping")
    return parse_gpu_mapping(read_text(path), str(path))


def load_gpu_mapping(name_or_path: str, overrides: dict | None = None) -> GpuMapping:
    """A shipped GPU mapping (`fa2`, `fa3`, `flash-decoding`, `pytorch-unfused`, ...) or a YAML path, with
    `overrides` ({key or section.key: value}, `--set mapping.KEY=VALUE`) replacing scalar keys before the check."""
    if looks_like_path(name_or_path):
        return parse_gpu_mapping(read_text(name_or_path), str(name_or_path), overrides)
    if overrides:
        path = preset_path(GPU_PRESET_DIR, str(name_or_path), "GPU mapping", "GPU mappings", key="--mapping")
        return parse_gpu_mapping(read_text(path), str(path), overrides)
    return _preset(str(name_or_path))


def _folded(name: str) -> str:
    return str(name).strip().casefold()


@cache
def kernel_name_index() -> dict[str, str]:
    """Every name a shipped mapping answers to (its name and `measured_as`, case-folded) -> the mapping's name.
    Two mappings claiming one name is an error in the shipped files, reported with both."""
    index: dict[str, str] = {}
    for name in gpu_mapping_names():
        mapping = _preset(name)
        for alias in (mapping.name, *mapping.measured_as):
            claimed = index.setdefault(_folded(alias), mapping.name)
            if claimed != mapping.name:
                raise SpecError(f"kernel name {alias!r} is claimed by GPU mappings {claimed!r} and {mapping.name!r}",
                                source=mapping.source, key="measured_as")
    return index


def mapping_for_kernel(kernel: str) -> GpuMapping | None:
    """The shipped mapping named `kernel` or listing it in `measured_as` (exactly, ignoring case), or None."""
    name = kernel_name_index().get(_folded(kernel))
    return None if name is None else _preset(name)


def parse_gpu_mapping(text: str, source: str = "<string>", overrides: dict | None = None) -> GpuMapping:
    if not overrides:
        return parse_checked(text, source, "GPU mapping", MAPPING_KEYS, _problems, _build)

    def problems(doc: YamlDocument) -> list[SpecError]:
        wrong = apply_overrides(doc, overrides, MAPPING_KEYS, SECTIONS)
        return wrong or [noted(error, overrides) for error in _problems(doc)]

    return parse_checked(text, source, "GPU mapping", MAPPING_KEYS, problems, _build)


def _problems(doc: YamlDocument) -> list[SpecError]:
    data = doc.data
    errors = [doc.error(f"unknown key {key!r}; allowed keys: {', '.join(MAPPING_KEYS)}", key)
              for key in data if key not in MAPPING_KEYS]
    errors += [SpecError(f"missing required key {key!r} ({MAPPING_KEYS[key]})", doc.source, doc.lines.get(()), key)
               for key in REQUIRED if key not in data]
    errors += [doc.error(message, key) for message, key in header_problems(data)]
    choices = {"kind": KINDS, "instruction": INSTRUCTIONS, "softmax_overlap": OVERLAPS, "block_order": BLOCK_ORDERS,
               "masking": MASKINGS}
    for key, allowed in choices.items():
        if key in data and data[key] not in allowed:
            errors.append(doc.error(f"{key} = {data[key]!r} is not one of: {', '.join(allowed)}", key))
    for key in ("producer_warpgroup", "intra_warpgroup_overlap", "persistent", "q_in_registers",
                "p_through_shared", "pack_gqa", "masked_loop"):
        if key in data and not isinstance(data[key], bool):
            errors.append(doc.error(f"{key} = {data[key]!r} must be true or false", key))
    if data.get("softmax_overlap") == "pingpong" and data.get("producer_warpgroup") is not True:
        errors.append(doc.error("pingpong needs producer_warpgroup: true (the consumer warpgroups take turns under "
                                "warp specialization, FlashAttention-3 §3.1); without it write none",
                                "softmax_overlap"))
    grid = data.get("grid", [])
    if not isinstance(grid, list) or any(d not in GRID_DIMS for d in grid) or len(set(grid)) != len(grid):
        errors.append(doc.error(f"grid must list distinct dimensions from: {', '.join(GRID_DIMS)}", "grid"))
    names = data.get("measured_as", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        errors.append(doc.error("measured_as must be a list of kernel names", "measured_as"))
    errors += _tile_problems(doc, data.get("tiles"))
    if data.get("kind") != "split-kv" and isinstance(data.get("tiles"), list):
        errors += [doc.error("splits (key chunks) applies to split-kv mappings only", "tiles", n, "splits")
                   for n, tile in enumerate(data["tiles"]) if isinstance(tile, dict) and "splits" in tile]
    if "backward_tiles" in data:
        errors += _tile_problems(doc, data["backward_tiles"], "backward_tiles")
    errors += _section_problems(doc, data)
    if (data.get("kind") == "split-kv") != ("chunk_cascade" in data):
        errors.append(doc.error("chunk_cascade (the cascade each key chunk's loop computes) is required for, and "
                                "only for, split-kv mappings", "chunk_cascade" if "chunk_cascade" in data else "kind"))
    errors += _tile_space_problems(doc, data.get("tile_space", {}))
    return errors


def _tile_space_problems(doc: YamlDocument, space) -> list[SpecError]:
    if not isinstance(space, dict):
        return [doc.error(f"tile_space must be a mapping with keys {', '.join(TILE_SPACE_KEYS)}", "tile_space")]
    errors = [doc.error(f"unknown key {k!r}; allowed: {', '.join(TILE_SPACE_KEYS)}", "tile_space", k)
              for k in space if k not in TILE_SPACE_KEYS]
    for key, values in space.items():
        if key in TILE_SPACE_KEYS and (not isinstance(values, list) or not values or any(
                isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in values)):
            errors.append(doc.error(f"{key} = {values!r} must be a non-empty list of positive integers",
                                    "tile_space", key))
    return errors


def _tile_problems(doc: YamlDocument, tiles, key: str = "tiles") -> list[SpecError]:
    if not isinstance(tiles, list) or not tiles:
        return [doc.error(f"{key} must be a non-empty list of {{head_dim_max, br, bc, warps, stages}}", key)]
    errors = []
    for position, tile in enumerate(tiles):
        where = (key, position)
        if not isinstance(tile, dict):
            errors.append(doc.error("must be a mapping {head_dim_max, br, bc, warps, stages[, causal][, ...]}", *where))
            continue
        errors += [doc.error(f"unknown key {k!r}; allowed: {', '.join(TILE_KEYS)}", *where, k)
                   for k in tile if k not in TILE_KEYS]
        for name in TILE_KEYS[:5]:  # (not `key`: that names the list, and `where` is built from it)
            value = tile.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                errors.append(doc.error(f"{name} = {value!r} must be a positive integer", *where, name))
        if "splits" in tile and (isinstance(tile["splits"], bool) or not isinstance(tile["splits"], int)
                                 or tile["splits"] <= 0):
            errors.append(doc.error(f"splits = {tile['splits']!r} must be a positive integer", *where, "splits"))
        if "causal" in tile and not isinstance(tile["causal"], bool):
            errors.append(doc.error(f"causal = {tile['causal']!r} must be true or false", *where, "causal"))
        capabilities = tile.get("compute_capability")
        if "compute_capability" in tile and (not isinstance(capabilities, list) or not capabilities or any(
                capability_text(c) is None for c in capabilities)):
            errors.append(doc.error(f"compute_capability = {capabilities!r} must be a non-empty list of "
                                    "major.minor values, e.g. [8.6, 8.9]", *where, "compute_capability"))
        for name in SHARED_MEMORY_CONDITIONS:
            if name in tile and (isinstance(tile[name], bool) or not isinstance(tile[name], int) or tile[name] <= 0):
                errors.append(doc.error(f"{name} = {tile[name]!r} must be a positive integer (bytes)", *where, name))
    return errors


def _section_problems(doc: YamlDocument, data: dict) -> list[SpecError]:
    errors = []
    split = data.get("split_kv", {})
    if not isinstance(split, dict) or set(split) - {"max_splits", "min_efficiency"}:
        errors.append(doc.error("split_kv must be {max_splits: int, min_efficiency: 0..1}", "split_kv"))
    elif not (0 < split.get("min_efficiency", 0.85) <= 1) or not isinstance(split.get("max_splits", 128), int):
        errors.append(doc.error("split_kv: max_splits must be an integer, min_efficiency in (0, 1]", "split_kv"))
    chain = data.get("unfused", {})
    if not isinstance(chain, dict):
        return errors + [doc.error(f"unfused must be a mapping with keys {', '.join(UNFUSED_KEYS)}", "unfused")]
    for key, value in chain.items():
        if key not in UNFUSED_KEYS:
            errors.append(doc.error(f"unknown key {key!r}; allowed: {', '.join(UNFUSED_KEYS)}", "unfused", key))
        elif UNFUSED_KEYS[key] and value not in UNFUSED_KEYS[key]:
            errors.append(doc.error(f"{key} = {value!r} is not one of: {', '.join(UNFUSED_KEYS[key])}", "unfused", key))
        elif key in TENSOR_LISTS:
            if not isinstance(value, list) or any(v not in ("q", "k", "v", "o") for v in value):
                errors.append(doc.error(f"{key} must list tensors among q, k, v, o", "unfused", key))
        elif not UNFUSED_KEYS[key] and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            errors.append(doc.error(f"{key} = {value!r} must be a positive integer", "unfused", key))
    lists = [chain.get(k, []) for k in ("transposed_copies", "layout_copies")]
    valid = all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in lists)
    extra = set(lists[0]) - set(lists[1]) if valid else set()
    if extra:
        errors.append(doc.error(f"transposed_copies {', '.join(sorted(map(str, extra)))} not in layout_copies",
                                "unfused", "transposed_copies"))
    return errors


def _chain(data: dict) -> UnfusedChain:
    return UnfusedChain(**{k: (tuple(v) if k in TENSOR_LISTS else v) for k, v in data.items()})


def _tile(tile: dict) -> TileChoice:
    """A tile choice; its compute capabilities stored as "major.minor" texts."""
    if "compute_capability" not in tile:
        return TileChoice(**tile)
    return TileChoice(**{**tile, "compute_capability": tuple(capability_text(c) for c in tile["compute_capability"])})


def _build(data: dict, source: str) -> GpuMapping:
    tiles = tuple(_tile(tile) for tile in data["tiles"])
    backward = tuple(_tile(tile) for tile in data.get("backward_tiles", []))
    split = data.get("split_kv", {})
    return GpuMapping(
        name=str(data["name"]), description=str(data.get("description", "")), cascade=str(data["cascade"]),
        kind=data["kind"], measured_as=tuple(data.get("measured_as", [])), instruction=data["instruction"],
        softmax_overlap=data.get("softmax_overlap", "none"), producer_warpgroup=data.get("producer_warpgroup", False),
        intra_warpgroup_overlap=data.get("intra_warpgroup_overlap", False),
        persistent=data.get("persistent", False), block_order=data.get("block_order", "launch"),
        grid=tuple(data.get("grid", ["query_blocks", "batch", "heads"])), masking=data.get("masking", "tile-skip"),
        q_in_registers=data.get("q_in_registers", False), p_through_shared=data.get("p_through_shared", False),
        pack_gqa=data.get("pack_gqa", False), masked_loop=data.get("masked_loop", False), tiles=tiles,
        backward_tiles=backward, max_splits=int(split.get("max_splits", 128)),
        split_min_efficiency=float(split.get("min_efficiency", 0.85)), unfused=_chain(data.get("unfused", {})),
        tile_space={k: tuple(sorted(set(v))) for k, v in data.get("tile_space", {}).items()},
        source=source, chunk_cascade=data.get("chunk_cascade"))
