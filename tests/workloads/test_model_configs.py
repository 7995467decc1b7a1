"""LLM workloads from Hugging Face-style config.json files (workloads/configs/): the shapes they give, checked
against the zoo's own entries where both exist and against arithmetic on the config's numbers."""

from __future__ import annotations

import json

import pytest

from einsum_cascade.errors import SpecError
from simulator.cli.main import main
from workloads.zoo import attention_shapes, config_names, layer_gemms, load_model, model_names


def test_the_shipped_llama_configs_are_the_zoos_llamas():
    for config, zoo in (("hf-llama-3-8b", "llama3-8b"), ("hf-llama-3-70b", "llama3-70b")):
        a, b = load_model(config), load_model(zoo)
        for field in ("heads", "kv_heads", "head_dim_qk", "head_dim_v", "d_model", "ffn", "ffn_matrices"):
            assert getattr(a, field) == getattr(b, field), (config, field)


def test_qwen2_grouped_query_shapes():
    model = load_model("hf-qwen2-7b")  # 28 query heads over 4 K/V heads, hidden 3584
    assert (model.heads, model.kv_heads, model.head_dim_qk, model.group_size) == (28, 4, 3584 // 28, 7)
    shapes = attention_shapes(model, "8K")
    assert shapes["HKV"] == 4 and shapes["G"] == 7 and shapes["M"] == 8192 and shapes["B"] == 1
    gemms = {g.name: g for g in layer_gemms(model, "8K")}
    assert gemms["k_proj"].cols == 4 * 128 and gemms["q_proj"].cols == 3584 and "ffn_gate" in gemms


def test_configs_are_named_by_file_and_a_window_is_not_silent(capsys):
    shipped = {"hf-llama-3-8b", "hf-llama-3-70b", "hf-mistral-7b-v0.1", "hf-qwen2-7b"}
    assert shipped <= set(config_names()) <= set(model_names())
    assert any("sliding_window = 4096" in n for n in load_model("hf-mistral-7b-v0.1").notes)
    assert main(["simulate", "--design", "fusemax", "--workload", "hf-mistral-7b-v0.1", "--seq", "8K", "--json"]) == 0
    assert "sliding_window = 4096" in json.loads(capsys.readouterr().out)["note"]


@pytest.mark.parametrize("config, words", [
    ({"hidden_size": 4096, "num_attention_heads": 32}, "missing intermediate_size"),
    ({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 1, "num_key_value_heads": 5},
     "must be a multiple of num_key_value_heads = 5"),
    ({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 1, "kv_lora_rank": 512},
     "multi-head latent attention"),
    ({"hidden_size": 4096.5, "num_attention_heads": 32, "intermediate_size": 1}, "must be a positive integer"),
    ({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 1, "head_dim": -64},
     "head_dim = -64 must be a positive integer"),
    ({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 1, "head_dim": "128"},
     "head_dim = '128' must be a positive integer"),
    ({"hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 1, "num_key_value_heads": 0},
     "num_key_value_heads = 0 must be a positive integer"),
])
def test_a_bad_config_is_one_error_naming_the_key(tmp_path, config, words, capsys):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    with pytest.raises(SpecError, match=words):
        load_model(str(path))
    assert main(["simulate", "--design", "fusemax", "--workload", str(path), "--seq", "1K"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err


def test_a_gated_mlp_is_told_by_the_model_family_or_silu(tmp_path):
    base = {"hidden_size": 2048, "num_attention_heads": 8, "intermediate_size": 16384}
    for extra, matrices in (({"model_type": "gemma", "hidden_act": "gelu_pytorch_tanh"}, 3),
                            ({"hidden_act": "silu"}, 3), ({"model_type": "gpt2", "hidden_act": "gelu_new"}, 2)):
        path = tmp_path / "m.json"
        path.write_text(json.dumps({**base, **extra}))
        assert load_model(str(path)).ffn_matrices == matrices, extra


def test_no_config_name_is_also_a_zoo_name():
    zoo = {n.lower() for key in model_names() if key not in config_names()
           for n in (key, load_model(key).name, *load_model(key).aliases)}
    assert not zoo & {c.lower() for c in config_names()}
