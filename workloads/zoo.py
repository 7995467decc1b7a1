"""The model zoo: attention and linear-layer shapes of published models, from `workloads/models.yaml`.

`load_model("bert")` gives an `AttentionModel`; `attention_shapes` turns it into the rank sizes a
cascade needs (B, H, HKV, M, P, E, F, G) and `layer_gemms` into the linear layers of one transformer
layer (QKV and output projections, FFN), which end-to-end comparisons add to attention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from einsum_cascade.errors import SpecError, SpecErrors, unknown_name
from einsum_cascade.yaml_source import YamlDocument, load_yaml, read_text

MODELS_FILE = Path(__file__).parent / "models.yaml"
CONFIGS_DIR = Path(__file__).parent / "configs"  # shipped Hugging Face-style config.json files, named by stem
_SEQ_LEN = re.compile(r"^\s*(\d+)\s*([KkMm]?)\s*$")
_SUFFIX = {"": 1, "k": 1024, "m": 1024**2}

MODEL_KEYS = {
    "name": "display name, e.g. BERT-Base",
    "aliases": "other names accepted by load_model",
    "heads": "query heads H",
    "kv_heads": "key/value heads (H for multi-head, fewer for grouped-query attention)",
    "head_dim_qk": "E, head dimension of Q and K",
    "head_dim_v": "F, head dimension of V",
    "d_model": "model (hidden) width",
    "ffn": "FFN inner width",
    "ffn_matrices": "2 for a plain MLP, 3 for SwiGLU (gate, up, down)",
    "batch": "default batch",
    "seq_lens": "default sequence lengths, e.g. [1K, 4K]",
    "source": "where the numbers come from",
}
_OPTIONAL = ("aliases",)
_POSITIVE_INTS = ("heads", "kv_heads", "head_dim_qk", "head_dim_v", "d_model", "ffn", "batch")


@dataclass(frozen=True, slots=True)
class AttentionModel:
    key: str  # the short name in models.yaml, e.g. "bert"
    name: str  # display name, e.g. "BERT-Base"
    heads: int
    kv_heads: int
    head_dim_qk: int
    head_dim_v: int
    d_model: int
    ffn: int
    ffn_matrices: int
    batch: int
    seq_lens: tuple[int, ...]
    source: str
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the shapes leave out (a config's sliding window), shown with each result

    @property
    def group_size(self) -> int:
        """Query heads sharing one K/V head (1 without grouped-query attention)."""
        return self.heads // self.kv_heads


@dataclass(frozen=True, slots=True)
class Gemm:
    """`rows x reduction` times `reduction x cols`."""

    name: str
    rows: int
    reduction: int
    cols: int

    @property
    def macs(self) -> int:
        return self.rows * self.reduction * self.cols


def parse_seq_len(value: int | str) -> int:
    """`65536`, `"64K"` (K = 1024) or `"1M"` (M = 1024^2) -> number of tokens."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SEQ_LEN.match(value) if isinstance(value, str) else None
    if not match or int(match.group(1)) == 0:
        raise SpecError(f"sequence length {value!r} must be a positive integer, optionally with K (1024) "
                        f"or M (1024^2), e.g. 64K")
    return int(match.group(1)) * _SUFFIX[match.group(2).lower()]


def model_names() -> list[str]:
    """The zoo's models, then the shipped configs (workloads/configs/*.json) by file name."""
    return [*_zoo(), *config_names()]


def config_names() -> list[str]:
    return sorted(p.stem for p in CONFIGS_DIR.glob("*.json"))


def load_model(name: str) -> AttentionModel:
    """A model by key (`bert`), display name (`BERT-Base`) or alias, case-insensitively; a shipped config by its
    file name (`hf-mistral-7b-v0.1`); or a Hugging Face-style config.json by its path."""
    if str(name).endswith(".json"):
        return model_from_config(name)
    if str(name) in config_names():  # hf-NAME: named apart from the zoo's names (a test keeps them apart)
        return model_from_config(CONFIGS_DIR / f"{name}.json")
    wanted = str(name).strip().lower()
    for model in _zoo().values():
        if wanted in {model.key.lower(), model.name.lower(), *(alias.lower() for alias in model.aliases)}:
            return model
    raise SpecError(unknown_name("model", name, model_names(), "known models",
                                 aliases=[n for m in _zoo().values() for n in (m.name, *m.aliases)]))


# A Hugging Face config's MLP has three matrices (gate, up, down) for the gated model families (Llama, Mistral,
# Mixtral, Qwen2, Gemma: their modeling code's MLP class) or a SiLU activation, else two (GPT-2, OPT, BERT style).
GATED_MODEL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "gemma", "gemma2", "gemma3_text",
                     "phi3", "olmo", "olmo2", "granite")
GATED_ACTIVATIONS = ("silu", "swish")
CONFIG_BATCH, CONFIG_SEQ_LENS = 1, (1024, 2048, 4096, 8192)  # an LLM served one sequence at a time


def model_from_config(path: str | Path) -> AttentionModel:
    """The attention and MLP shapes of a Hugging Face-style config.json: num_attention_heads,
    num_key_value_heads (default: as many as the heads), head_dim (default hidden_size / heads), hidden_size,
    intermediate_size, hidden_act. Multi-head latent attention (kv_lora_rank) is not read: an error says so."""
    import json

    source = str(path)
    try:
        config = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise SpecError(f"not JSON: {error.msg} at line {error.lineno}", source=source, line=error.lineno) from None
    if not isinstance(config, dict):
        raise SpecError("a config.json must be a JSON object", source=source)
    if "kv_lora_rank" in config:
        raise SpecError("multi-head latent attention (kv_lora_rank) is not read from configs; describe it in "
                        "workloads/models.yaml", source=source, key="kv_lora_rank")
    missing = [k for k in ("hidden_size", "num_attention_heads", "intermediate_size") if k not in config]
    if missing:
        raise SpecError(f"missing {', '.join(missing)} (a decoder's attention and MLP sizes)", source=source,
                        key=missing[0])
    values = {k: config.get(k) for k in ("hidden_size", "num_attention_heads", "intermediate_size")}
    for key, default in (("num_key_value_heads", values["num_attention_heads"]), ("head_dim", None)):
        values[key] = default if config.get(key) is None else config[key]  # absent or null: the default
    if values["head_dim"] is None and isinstance(values["hidden_size"], int) \
            and isinstance(values["num_attention_heads"], int) and values["num_attention_heads"] > 0:
        if values["hidden_size"] % values["num_attention_heads"]:
            raise SpecError(f"hidden_size = {values['hidden_size']} is not a multiple of num_attention_heads = "
                            f"{values['num_attention_heads']}; give head_dim", source=source, key="head_dim")
        values["head_dim"] = values["hidden_size"] // values["num_attention_heads"]
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SpecError(f"{key} = {value!r} must be a positive integer", source=source, key=key)
    heads, kv_heads, hidden = values["num_attention_heads"], values["num_key_value_heads"], values["hidden_size"]
    if heads % kv_heads:
        raise SpecError(f"num_attention_heads = {heads} must be a multiple of num_key_value_heads = {kv_heads}",
                        source=source, key="num_key_value_heads")
    head_dim = values["head_dim"]
    activation = str(config.get("hidden_act", config.get("hidden_activation", ""))).lower()
    gated = activation in GATED_ACTIVATIONS or str(config.get("model_type", "")).lower() in GATED_MODEL_TYPES
    name = str(config.get("_name_or_path") or Path(path).stem)
    notes = () if not config.get("sliding_window") else (
        f"{Path(path).stem}'s config has sliding_window = {config['sliding_window']}: these shapes are the whole "
        "sequence; cascades fusemax-window and softmax-3pass-window model the window",)
    return AttentionModel(key=Path(path).stem, name=name, heads=heads, kv_heads=kv_heads, head_dim_qk=head_dim,
                          head_dim_v=head_dim, d_model=hidden, ffn=values["intermediate_size"],
                          ffn_matrices=3 if gated else 2, batch=CONFIG_BATCH,
                          seq_lens=CONFIG_SEQ_LENS, source=str(config.get("_source", source)), notes=notes)


def attention_shapes(model: AttentionModel, seq_len: int | str, batch: int | None = None) -> dict[str, int]:
    """Rank sizes for a self-attention cascade: M = P = seq_len, G = query heads per K/V head."""
    tokens = parse_seq_len(seq_len)
    return {"B": _batch(model, batch), "H": model.heads, "HKV": model.kv_heads, "M": tokens, "P": tokens,
            "E": model.head_dim_qk, "F": model.head_dim_v, "G": model.group_size}


def layer_gemms(model: AttentionModel, seq_len: int | str, batch: int | None = None) -> list[Gemm]:
    """The linear layers of one transformer layer, each with batch*seq_len rows.

    QKV projections (K and V project to kv_heads heads under grouped-query attention), the output
    projection, and the FFN: up (FFN1) and down (FFN2), plus gate for SwiGLU.
    """
    rows = _batch(model, batch) * parse_seq_len(seq_len)
    gemms = [
        Gemm("q_proj", rows, model.d_model, model.heads * model.head_dim_qk),
        Gemm("k_proj", rows, model.d_model, model.kv_heads * model.head_dim_qk),
        Gemm("v_proj", rows, model.d_model, model.kv_heads * model.head_dim_v),
        Gemm("out_proj", rows, model.heads * model.head_dim_v, model.d_model),
    ]
    if model.ffn_matrices == 3:
        gemms.append(Gemm("ffn_gate", rows, model.d_model, model.ffn))
    gemms += [Gemm("ffn_up", rows, model.d_model, model.ffn), Gemm("ffn_down", rows, model.ffn, model.d_model)]
    return gemms


def _batch(model: AttentionModel, batch: int | None) -> int:
    if batch is None:
        return model.batch
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise SpecError(f"batch {batch!r} must be a positive integer")
    return batch


# ---- models.yaml --------------------------------------------------------------------------------
@cache
def _zoo() -> dict[str, AttentionModel]:
    return parse_models(read_text(MODELS_FILE), str(MODELS_FILE))


def parse_models(text: str, source: str = "<string>") -> dict[str, AttentionModel]:
    """Validate a models file (collecting every problem) and build the models, keyed by short name."""
    document = load_yaml(text, source)
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise document.error("a models file must be a mapping with `version: 1` and `models: {key: {...}}`")
    errors = [document.error(f"unknown key {key!r}; allowed keys: version, models", key)
              for key in data if key not in ("version", "models")]
    if data.get("version") != 1:
        errors.append(document.error(f"version = {data.get('version')!r} is not supported (supported: 1)", "version"))
    models, taken = {}, {}
    for key, entry in data["models"].items():
        model = _model(document, str(key), entry, errors)
        if model is None:
            continue
        for label in {model.key.lower(), model.name.lower(), *(alias.lower() for alias in model.aliases)}:
            if label in taken:
                message = f"name {label!r} is already used by model {taken[label]!r}"
                errors.append(document.error(message, "models", key))
            taken[label] = model.key
        models[model.key] = model
    if errors:
        raise SpecErrors(errors)
    return models


def _model(doc: YamlDocument, key: str, entry, errors: list[SpecError]) -> AttentionModel | None:
    path = ("models", key)
    if not isinstance(entry, dict):
        errors.append(doc.error(f"must be a mapping with keys {', '.join(MODEL_KEYS)}", *path))
        return None
    before = len(errors)
    errors += [doc.error(f"unknown key {name!r}; allowed keys: {', '.join(MODEL_KEYS)}", *path, name)
               for name in entry if name not in MODEL_KEYS]
    errors += [SpecError(f"missing required key {name!r} ({meaning})", doc.source, doc.line(*path),
                         ".".join(path + (name,)))
               for name, meaning in MODEL_KEYS.items() if name not in entry and name not in _OPTIONAL]
    for name in _POSITIVE_INTS:
        value = entry.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(doc.error(f"{name} = {value!r} must be a positive integer", *path, name))
    if entry.get("ffn_matrices", 2) not in (2, 3):
        errors.append(doc.error(f"ffn_matrices = {entry['ffn_matrices']!r} must be 2 (MLP) or 3 (SwiGLU)",
                                *path, "ffn_matrices"))
    heads, kv_heads = entry.get("heads"), entry.get("kv_heads")
    if len(errors) == before and heads % kv_heads:
        errors.append(doc.error(f"heads = {heads} must be a multiple of kv_heads = {kv_heads}", *path, "kv_heads"))
    seq_lens = _seq_lens(doc, entry["seq_lens"], path + ("seq_lens",), errors) if "seq_lens" in entry else ()
    aliases = entry.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        errors.append(doc.error("must be a list of names", *path, "aliases"))
    for name in ("name", "source"):
        if name in entry and not (isinstance(entry[name], str) and entry[name].strip()):
            errors.append(doc.error(f"{name} must be non-empty text", *path, name))
    if len(errors) > before:
        return None
    return AttentionModel(key=key, name=entry["name"], heads=heads, kv_heads=kv_heads,
                          head_dim_qk=entry["head_dim_qk"], head_dim_v=entry["head_dim_v"],
                          d_model=entry["d_model"], ffn=entry["ffn"], ffn_matrices=entry["ffn_matrices"],
                          batch=entry["batch"], seq_lens=seq_lens, source=entry["source"], aliases=tuple(aliases))


def _seq_lens(doc: YamlDocument, values, path: tuple, errors: list[SpecError]) -> tuple[int, ...]:
    if not isinstance(values, list) or not values:
        errors.append(doc.error("must be a non-empty list of sequence lengths, e.g. [1K, 4K]", *path))
        return ()
    lengths = []
    for position, value in enumerate(values):
        try:
            lengths.append(parse_seq_len(value))
        except SpecError as exc:
            errors.append(doc.error(exc.message, *path, position))
    return tuple(lengths)
