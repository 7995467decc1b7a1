"""Model zoo (attention shapes of published models) and sweep specs; depends only on einsum_cascade."""

from workloads.zoo import (
    AttentionModel,
    Gemm,
    attention_shapes,
    layer_gemms,
    load_model,
    model_names,
    parse_models,
    parse_seq_len,
)

__all__ = ["AttentionModel", "Gemm", "attention_shapes", "layer_gemms", "load_model", "model_names",
           "parse_models", "parse_seq_len"]
