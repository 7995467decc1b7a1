"""The model zoo: shapes from REFERENCE.md §1 "Workloads" and the Llama 3 config.json files,
the GEMMs of one layer (hand-derived), sequence-length parsing and bad input."""

from __future__ import annotations

import pytest
from spec_errors import line_of, rejected

from einsum_cascade.errors import SpecError
from workloads import attention_shapes, layer_gemms, load_model, model_names, parse_models, parse_seq_len
from workloads.zoo import MODELS_FILE, config_names

PAPER_LENGTHS = (1024, 4096, 16384, 65536, 262144, 1048576)


def test_model_names_and_aliases():
    assert model_names() == ["bert", "trxl", "t5", "xlm", "llama3-8b", "llama3-70b", *config_names()]
    assert load_model("bert") is load_model("BERT-Base") is load_model("bert-base") is load_model(" Bert ")
    assert load_model("Llama-3-70B").key == "llama3-70b"
    with pytest.raises(SpecError, match="no model named 'gpt5'; known models: bert, trxl, t5, xlm, llama3-8b"):
        load_model("gpt5")


@pytest.mark.parametrize("key, heads, head_dim, d_model, ffn", [
    ("bert", 12, 64, 768, 3072), ("trxl", 16, 64, 1024, 4096), ("t5", 8, 64, 512, 2048), ("xlm", 16, 128, 2048, 8192),
])
def test_fusemax_paper_workloads(key, heads, head_dim, d_model, ffn):
    """REFERENCE.md §1 "Workloads": batch 64, M = P in {1K .. 1M}, no GQA, plain MLP."""
    model = load_model(key)
    assert (model.heads, model.kv_heads, model.head_dim_qk, model.head_dim_v) == (heads, heads, head_dim, head_dim)
    assert (model.d_model, model.ffn, model.ffn_matrices, model.batch) == (d_model, ffn, 2, 64)
    assert model.seq_lens == PAPER_LENGTHS
    assert "REFERENCE.md" in model.source


def test_bert_gemms_at_1k():
    gemms = {gemm.name: gemm for gemm in layer_gemms(load_model("bert"), "1K")}
    assert list(gemms) == ["q_proj", "k_proj", "v_proj", "out_proj", "ffn_up", "ffn_down"]
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):  # 64 * 1024 rows, 768 -> 12*64
        assert (gemms[name].rows, gemms[name].reduction, gemms[name].cols) == (65536, 768, 768)
    assert (gemms["ffn_up"].reduction, gemms["ffn_up"].cols) == (768, 3072)
    assert (gemms["ffn_down"].reduction, gemms["ffn_down"].cols) == (3072, 768)
    assert gemms["q_proj"].macs == 65536 * 768 * 768
    assert layer_gemms(load_model("bert"), 1024, batch=2)[0].rows == 2048


def test_llama3_gqa_and_swiglu():
    model = load_model("llama3-8b")
    assert (model.heads, model.kv_heads, model.head_dim_qk, model.d_model, model.ffn) == (32, 8, 128, 4096, 14336)
    assert model.ffn_matrices == 3 and model.group_size == 4
    gemms = {gemm.name: (gemm.rows, gemm.reduction, gemm.cols) for gemm in layer_gemms(model, "8K")}
    assert gemms == {
        "q_proj": (8192, 4096, 4096), "k_proj": (8192, 4096, 1024), "v_proj": (8192, 4096, 1024),
        "out_proj": (8192, 4096, 4096), "ffn_gate": (8192, 4096, 14336), "ffn_up": (8192, 4096, 14336),
        "ffn_down": (8192, 14336, 4096),
    }


@pytest.mark.parametrize("key, layers, billions", [("llama3-8b", 32, 8.03), ("llama3-70b", 80, 70.55)])
def test_llama3_layer_weights_add_up_to_the_parameter_count(key, layers, billions):
    """Per-token MACs of one layer = its weights; layers x weights + input/output embeddings (vocab 128256,
    config.json num_hidden_layers / vocab_size) gives the published 8B / 70B parameter counts."""
    model = load_model(key)
    per_layer = sum(gemm.macs for gemm in layer_gemms(model, 1, batch=1))
    total = layers * per_layer + 2 * 128256 * model.d_model
    assert total / 1e9 == pytest.approx(billions, rel=0.01)


def test_attention_shapes():
    assert attention_shapes(load_model("xlm"), "64K") == {"B": 64, "H": 16, "HKV": 16, "M": 65536, "P": 65536,
                                                        "E": 128, "F": 128, "G": 1}
    shapes = attention_shapes(load_model("llama3-70b"), 8192, batch=4)
    assert (shapes["B"], shapes["H"], shapes["HKV"], shapes["G"], shapes["M"]) == (4, 64, 8, 8, 8192)
    with pytest.raises(SpecError, match="batch 0 must be a positive integer"):
        attention_shapes(load_model("bert"), "1K", batch=0)


def test_parse_seq_len():
    assert parse_seq_len("64K") == 65536
    assert parse_seq_len("1M") == 1024**2
    assert parse_seq_len(" 8k ") == 8192
    assert parse_seq_len("4096") == parse_seq_len(4096) == 4096
    for bad in ("0", "1G", "-1K", "", "1.5K", 0, -3, 1.5, True, None):
        with pytest.raises(SpecError, match="must be a positive integer, optionally with K"):
            parse_seq_len(bad)


# ---- bad models files ----------------------------------------------------------------------------
GOOD_ENTRY = """\
  tiny:
    name: Tiny
    heads: 4
    kv_heads: 2
    head_dim_qk: 16
    head_dim_v: 16
    d_model: 64
    ffn: 256
    ffn_matrices: 2
    batch: 1
    seq_lens: [1K, 2K]
    source: a test
"""


def models_errors(text: str) -> list[str]:
    return rejected(lambda: parse_models(text, "models.yaml"))


def test_shipped_file_and_a_small_good_file_parse():
    assert parse_models(MODELS_FILE.read_text()).keys() == set(model_names()) - set(config_names())
    model = parse_models("version: 1\nmodels:\n" + GOOD_ENTRY)["tiny"]
    assert (model.group_size, model.seq_lens, model.aliases) == (2, (1024, 2048), ())


@pytest.mark.parametrize("old, new, fragment, key, words", [
    ("    batch: 1\n", "    batch: 1\n    layers: 2\n", "layers:", "models.tiny.layers", "unknown key 'layers'"),
    ("    ffn: 256\n", "", "name: Tiny", "models.tiny.ffn", "missing required key 'ffn'"),
    ("kv_heads: 2", "kv_heads: 3", "kv_heads: 3", "models.tiny.kv_heads", "heads = 4 must be a multiple of kv_heads"),
    ("ffn_matrices: 2", "ffn_matrices: 4", "ffn_matrices: 4", "models.tiny.ffn_matrices", "must be 2 (MLP) or 3"),
    ("heads: 4", "heads: -4", "heads: -4", "models.tiny.heads", "heads = -4 must be a positive integer"),
    ("seq_lens: [1K, 2K]", "seq_lens: [1K, 2G]", "seq_lens:", "models.tiny.seq_lens.1", "sequence length '2G'"),
    ("name: Tiny", "name: Tiny\n    aliases: [bert]", "name: Tiny", "models.tiny",
     "name 'bert' is already used by model 'bert'"),
])
def test_bad_model_entries_name_file_line_and_key(old, new, fragment, key, words):
    """A bad `tiny` entry appended to the shipped file; entry-level problems point at its first line."""
    text = MODELS_FILE.read_text() + GOOD_ENTRY.replace(old, new, 1)
    errors = models_errors(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"models.yaml:{line_of(text, fragment, after='  tiny:')}: {key}: "), errors[0]
    assert words in errors[0], errors[0]


def test_bad_models_file_version_and_shape():
    errors = models_errors("version: 2\nmodels:\n" + GOOD_ENTRY)
    assert errors == ["models.yaml:1: version: version = 2 is not supported (supported: 1)"]
    assert "a models file must be a mapping" in models_errors("- bert\n")[0]
