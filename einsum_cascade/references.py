"""Direct numpy formulas of the attention variants, written independently of the Einsum language.

`cascade check` runs a cascade and compares its output with the formula its file names under
`reference:`. Layout convention of the library: Q[e,p], K[e,m], V[f,m] -> output [f,p]; masks are
built here with plain numpy, not from the cascade's mask expressions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

Inputs = dict[str, np.ndarray]
Sizes = dict[str, int]


def _softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row softmax that tolerates fully masked rows of -inf (they give zeros)."""
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(scores - top)
    return weights / weights.sum(axis=-1, keepdims=True)


def _attend(weights: np.ndarray, value: np.ndarray) -> np.ndarray:
    """weights [p, m] times V [f, m] -> output [f, p]."""
    return (weights @ value.T).T


def _scores(inputs: Inputs) -> np.ndarray:
    return inputs["Q"].T @ inputs["K"]  # [p, m]


def _masked_softmax(inputs: Inputs, keep: np.ndarray) -> np.ndarray:
    scores = np.where(keep, _scores(inputs), -np.inf)
    return _attend(_softmax_rows(scores), inputs["V"])


def _positions(inputs: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """Query positions as a column, key positions as a row."""
    return np.arange(inputs["Q"].shape[-1])[:, None], np.arange(inputs["K"].shape[-1])[None, :]


def softmax(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    return _attend(_softmax_rows(_scores(inputs)), inputs["V"])


def softmax_causal(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    query, key = _positions(inputs)
    return _masked_softmax(inputs, key <= query)


def softmax_window(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    query, key = _positions(inputs)
    return _masked_softmax(inputs, np.abs(key - query) <= sizes["W"])


def softmax_sinks(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Causal attention to the first S tokens (sinks) and the W keys before each query."""
    query, key = _positions(inputs)
    return _masked_softmax(inputs, (key <= query) & ((key < sizes["S"]) | (query - key <= sizes["W"])))


def softmax_block_sparse(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Local blocks on the diagonal plus the first key block (global tokens), block size BS."""
    block = sizes["BS"]
    query, key = _positions(inputs)
    layout = np.zeros((query.size // block + 1, key.size // block + 1), dtype=bool)
    np.fill_diagonal(layout, True)
    layout[:, 0] = True
    keep = np.repeat(np.repeat(layout, block, axis=0), block, axis=1)[: query.size, : key.size]
    return _masked_softmax(inputs, keep)


def _neighborhood(query: int, length: int, radius: int, dilation: int) -> list[int]:
    """Coordinates along one axis of `length` that a query at `query` attends to (Hassani et al.,
    "Neighborhood Attention Transformer", CVPR 2023, Sec. 3.1; dilated: Hassani and Shi, "DiNAT", 2022, Sec. 3):
    the 2R+1 positions of its dilation group (coordinates equal to it mod D) nearest to it, the window shifted
    inward at the borders so that every query sees as many keys; the whole group when it is shorter."""
    group = list(range(query % dilation, length, dilation))
    here = group.index(query)
    start = max(0, min(here - radius, len(group) - (2 * radius + 1)))
    return group[start: start + 2 * radius + 1]


def _neighborhood_softmax(inputs: Inputs, sizes: Sizes, grid: tuple[int, ...]) -> np.ndarray:
    """Softmax attention over the neighborhood of each token of a row-major grid (the last axis fastest; the
    first axis as long as the M tokens need). Built window by window, query by query."""
    tokens = inputs["K"].shape[-1]
    inner = int(np.prod(grid))
    shape = (-(-tokens // inner), *grid)
    keep = np.zeros((inputs["Q"].shape[-1], tokens), dtype=bool)
    for query in range(inputs["Q"].shape[-1]):
        coordinates = np.unravel_index(query, shape)
        windows = [_neighborhood(int(c), n, sizes["R"], sizes["D"]) for c, n in zip(coordinates, shape, strict=True)]
        for point in itertools.product(*windows):
            key = int(np.ravel_multi_index(point, shape))
            if key < tokens:
                keep[query, key] = True
    return _masked_softmax(inputs, keep)


def neighborhood_2d(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """2D neighborhood attention over an image of GW columns (radius R, dilation D)."""
    return _neighborhood_softmax(inputs, sizes, (sizes["GW"],))


def neighborhood_3d(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """3D neighborhood attention over a video of GH x GW frames (radius R, dilation D)."""
    return _neighborhood_softmax(inputs, sizes, (sizes["GH"], sizes["GW"]))


def moba(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """MoBA (Lu et al. 2025, Sec. 2.2): each query attends to the KB key blocks of M0 whose mean-pooled key scores
    highest with it (ties to the earlier block); a short last block is pooled as if padded with zeros."""
    keys, block, top = inputs["K"], sizes["M0"], sizes["KB"]
    blocks = -(-keys.shape[-1] // block)
    padded = np.zeros((keys.shape[0], blocks * block))
    padded[:, : keys.shape[-1]] = keys
    gate = inputs["Q"].T @ (padded.reshape(keys.shape[0], blocks, block).sum(axis=2) / block)  # [p, blocks]
    chosen = np.zeros(gate.shape, dtype=bool)
    for query, scores in enumerate(gate):
        best = sorted(range(blocks), key=lambda b: (-scores[b], b))[:top]
        chosen[query, best] = True
    return _masked_softmax(inputs, np.repeat(chosen, block, axis=1)[:, : keys.shape[-1]])


def sparge(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """SpargeAttn-style block skip (Zhang et al. 2025, Sec. 3): queries in blocks of P0 and keys in blocks of M0 are
    sum-pooled; a block pair's predicted score is the product of the pools over M0 P0; each query block attends to
    the KB key blocks it predicts highest (ties to the earlier block). Short last blocks pool only what they hold."""
    queries, keys = inputs["Q"], inputs["K"]
    key_block, query_block, top = sizes["M0"], sizes["P0"], sizes["KB"]
    key_blocks, query_blocks = -(-keys.shape[-1] // key_block), -(-queries.shape[-1] // query_block)
    pooled_keys = np.stack([keys[:, b * key_block:(b + 1) * key_block].sum(axis=1) for b in range(key_blocks)], 1)
    pooled_queries = np.stack([queries[:, b * query_block:(b + 1) * query_block].sum(axis=1)
                               for b in range(query_blocks)], 1)
    predicted = pooled_queries.T @ pooled_keys / (key_block * query_block)  # [query blocks, key blocks]
    chosen = np.zeros(predicted.shape, dtype=bool)
    for block, scores in enumerate(predicted):
        chosen[block, sorted(range(key_blocks), key=lambda b: (-scores[b], b))[:top]] = True
    per_key = np.repeat(chosen, key_block, axis=1)[:, : keys.shape[-1]]
    return _masked_softmax(inputs, np.repeat(per_key, query_block, axis=0)[: queries.shape[-1]])


def nsa(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """NSA's three branches (Yuan et al. 2025, Sec. 3.3), non-causal, constant gates: attention to the block means of
    K and V (blocks of M0, a short last block padded with zeros), to the keys of the NB blocks whose mean keys score
    highest (ties to the earlier block), and to the keys within W positions; GC, GSL, GW times each, added."""
    queries, keys, values, block = inputs["Q"], inputs["K"], inputs["V"], sizes["M0"]
    blocks = -(-keys.shape[-1] // block)

    def block_means(tensor):
        padded = np.zeros((tensor.shape[0], blocks * block))
        padded[:, : tensor.shape[-1]] = tensor
        return padded.reshape(tensor.shape[0], blocks, block).sum(axis=2) / block

    compressed_scores = queries.T @ block_means(keys)  # [p, blocks]
    compressed = _attend(_softmax_rows(compressed_scores), block_means(values))
    chosen = np.zeros(compressed_scores.shape, dtype=bool)
    for query, scores in enumerate(compressed_scores):
        chosen[query, sorted(range(blocks), key=lambda b: (-scores[b], b))[: sizes["NB"]]] = True
    selected = _masked_softmax(inputs, np.repeat(chosen, block, axis=1)[:, : keys.shape[-1]])
    query, key = _positions(inputs)
    window = _masked_softmax(inputs, np.abs(key - query) <= sizes["W"])
    return sizes["GC"] * compressed + sizes["GSL"] * selected + sizes["GW"] * window


def softmax_bias(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    return _attend(_softmax_rows(_scores(inputs) + inputs["BIAS"].T), inputs["V"])


def softmax_alibi(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Causal attention with ALiBi's bias: score q.k - SLOPE * (query position - key position), keys m <= p."""
    query, key = _positions(inputs)
    scores = np.where(key <= query, _scores(inputs) - sizes["SLOPE"] * (query - key), -np.inf)
    return _attend(_softmax_rows(scores), inputs["V"])


def sigmoid_bias(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Sigmoid attention with bias b = -log(M) (Ramapuram et al. 2024, "Theory, Analysis, and Best
    Practices for Sigmoid Self-Attention", Sec. 3)."""
    weights = 1.0 / (1.0 + np.exp(-(_scores(inputs) - np.log(sizes["M"]))))
    return _attend(weights, inputs["V"])


def softplus_l1(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    weights = np.log1p(np.exp(_scores(inputs)))
    return _attend(weights / weights.sum(axis=-1, keepdims=True), inputs["V"])


def relu2(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Squared-ReLU weights averaged over the keys: sum_m relu(q.k)^2 v / M."""
    return _attend(np.maximum(_scores(inputs), 0.0) ** 2 / sizes["M"], inputs["V"])


def differential(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """softmax(Q1^T K1) - LAM softmax(Q2^T K2), applied to V."""
    first = _softmax_rows(inputs["Q1"].T @ inputs["K1"])
    second = _softmax_rows(inputs["Q2"].T @ inputs["K2"])
    return _attend(first - sizes["LAM"] * second, inputs["V"])


def linear_elu(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Linear attention with feature map elu(x)+1 (Katharopoulos et al., ICML 2020, Eq. 7)."""

    def feature(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x + 1.0, np.exp(x))

    weights = feature(inputs["Q"]).T @ feature(inputs["K"])
    return _attend(weights / weights.sum(axis=-1, keepdims=True), inputs["V"])


def linear_elu_causal(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Causal linear attention (Katharopoulos et al., ICML 2020, Eq. 8-9): query p sees keys m <= p."""
    query, key = _positions(inputs)
    feature = np.where(inputs["Q"] > 0, inputs["Q"] + 1.0, np.exp(inputs["Q"])).T @ np.where(
        inputs["K"] > 0, inputs["K"] + 1.0, np.exp(inputs["K"]))
    weights = np.where(key <= query, feature, 0.0)
    return _attend(weights / weights.sum(axis=-1, keepdims=True), inputs["V"])


def retention(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """RetNet's parallel retention (Sun et al. 2023, Eq. 5): (Q K^T * D) V, D[p, m] = GAMMA^(p - m) for
    m <= p, else 0; GAMMA = exp(-DECAY)."""
    query, key = _positions(inputs)
    decay = np.where(key <= query, np.exp(-sizes["DECAY"] * (query - key)), 0.0)
    return _attend(_scores(inputs) * decay, inputs["V"])


def softmax_grouped(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Grouped-query attention: Q[e,g,p] for G query heads share one K[e,m], V[f,m]; output [f,g,p]."""
    heads = [softmax({"Q": inputs["Q"][:, g, :], "K": inputs["K"], "V": inputs["V"]}, sizes)
             for g in range(inputs["Q"].shape[1])]
    return np.stack(heads, axis=1)


def mla_decode(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Multi-head latent attention with absorbed projections (DeepSeek-V2, Sec. 2.1): head g's scores are
    QC[:,g,p] . CKV + QR[:,g,p] . KR; its output is W^UV[:,:,g] applied to the softmax-weighted latents."""
    scores = np.einsum("cgp,cm->gpm", inputs["QC"], inputs["CKV"]) + np.einsum("rgp,rm->gpm", inputs["QR"],
                                                                                inputs["KR"])
    weights = _softmax_rows(scores)  # over m, per head and query
    latent = np.einsum("gpm,cm->cgp", weights, inputs["CKV"])
    return np.einsum("cgp,cfg->fgp", latent, inputs["WUV"])


def matmul(inputs: Inputs, sizes: Sizes) -> np.ndarray:
    """Z[m,n] = sum_k A[k,m] B[k,n]."""
    return inputs["A"].T @ inputs["B"]


REFERENCES: dict[str, Callable[[Inputs, Sizes], np.ndarray]] = {
    "softmax": softmax,
    "softmax_causal": softmax_causal,
    "softmax_window": softmax_window,
    "softmax_sinks": softmax_sinks,
    "softmax_block_sparse": softmax_block_sparse,
    "softmax_bias": softmax_bias,
    "moba": moba,
    "sparge": sparge,
    "nsa": nsa,
    "neighborhood_2d": neighborhood_2d,
    "neighborhood_3d": neighborhood_3d,
    "softmax_alibi": softmax_alibi,
    "sigmoid_bias": sigmoid_bias,
    "softplus_l1": softplus_l1,
    "linear_elu": linear_elu,
    "linear_elu_causal": linear_elu_causal,
    "retention": retention,
    "relu2": relu2,
    "differential": differential,
    "softmax_grouped": softmax_grouped,
    "mla_decode": mla_decode,
    "matmul": matmul,
}
