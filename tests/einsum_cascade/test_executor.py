"""Semantics of the reference executor on tiny cascades, with expected values worked out by hand
(or with plain numpy on the same small arrays), never taken from the executor itself."""

from __future__ import annotations

import numpy as np
import pytest
from cascade_texts import small_cascade as cascade

from einsum_cascade.executor import run_cascade


def run(c, inputs: dict[str, list], sizes: dict[str, int]):
    return run_cascade(c, {k: np.array(v, dtype=float) for k, v in inputs.items()}, sizes)


# ---- plain Einsums ----------------------------------------------------------------------------------
def test_single_matmul():
    c = cascade("m: M, p: P, e: E", '"Q[e,p]", "K[e,m]"', '"QK[m,p]"', ["QK[m,p] = Q[e,p] * K[e,m]"])
    q = [[1, 2],  # Q[e=0, p]
         [3, 4]]  # Q[e=1, p]
    k = [[1, 0, 2],  # K[e=0, m]
         [0, 1, 1]]  # K[e=1, m]
    trace = run(c, {"Q": q, "K": k}, {"M": 3, "P": 2, "E": 2})
    # QK[m,p] = sum_e Q[e,p] K[e,m]:  m=0 -> Q[0,:];  m=1 -> Q[1,:];  m=2 -> 2*Q[0,:] + Q[1,:]
    expected = [[1, 2], [3, 4], [5, 8]]
    np.testing.assert_array_equal(trace.tensors["QK"], expected)
    np.testing.assert_array_equal(expected, np.einsum("ep,em->mp", q, k))


def test_output_rank_order_is_the_declared_order():
    c = cascade("m: M, p: P", '"X[m,p]"', '"Y[p,m]"', ["Y[p,m] = X[m,p] * 10"])
    trace = run(c, {"X": [[1, 2], [3, 4], [5, 6]]}, {"M": 3, "P": 2})
    np.testing.assert_array_equal(trace.tensors["Y"], [[10, 30, 50], [20, 40, 60]])


def test_max_and_min_reductions():
    c = cascade("m: M, p: P", '"X[m,p]"', '"GM[p]", "LM[p]", "S[p]"',
                ["GM[p] = X[m,p] :: max", "LM[p] = X[m,p] :: min", "S[p] = X[m,p]"])
    x = [[3, -1],
         [7, -5],
         [-2, -4]]
    trace = run(c, {"X": x}, {"M": 3, "P": 2})
    np.testing.assert_array_equal(trace.tensors["GM"], [7, -1])
    np.testing.assert_array_equal(trace.tensors["LM"], [-2, -5])
    np.testing.assert_array_equal(trace.tensors["S"], [8, -10])


def test_map_operators_and_symbols():
    c = cascade("m: M", '"X[m]"', '"Y[m]", "Z[m]"',
                ["Y[m] = max(X[m], 0.5) * 2 - relu(-X[m]) / M", "Z[m] = sqrt(exp(log(X[m] * X[m])))"])
    trace = run(c, {"X": [1.0, -2.0, 0.25, 4.0]}, {"M": 4})
    # max(x, .5)*2 - relu(-x)/4:  1 -> 2;  -2 -> 1 - 0.5 = 0.5;  0.25 -> 1;  4 -> 8
    np.testing.assert_allclose(trace.tensors["Y"], [2.0, 0.5, 1.0, 8.0])
    np.testing.assert_allclose(trace.tensors["Z"], [1.0, 2.0, 0.25, 4.0])


def test_softmax_3pass_matches_the_textbook_formula():
    from einsum_cascade.library import library_cascade

    c = library_cascade("softmax-3pass")
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    trace = run_cascade(c, {"Q": q, "K": k, "V": v}, {"M": 4, "P": 3, "E": 2, "F": 2})
    scores = q.T @ k  # [p, m]
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(trace.tensors["AV"], (weights @ v.T).T)


# ---- masks ------------------------------------------------------------------------------------------
CAUSAL = "masks: {causal: 'm <= p'}\n"
X33 = [[1, 2, 3],      # X[m=0, p]
       [10, 20, 30],   # X[m=1, p]
       [-5, -6, -7]]   # X[m=2, p]


def test_causal_mask_removes_points_from_a_sum_and_a_max():
    c = cascade("m: M, p: P", '"X[m,p]"', '"S[p]", "GM[p]"',
                ["S[p] = X[m,p]", "GM[p] = X[m,p] :: max"], extra=CAUSAL)
    trace = run(c, {"X": X33}, {"M": 3, "P": 3})
    # p=0 keeps m=0; p=1 keeps m=0,1; p=2 keeps m=0,1,2
    np.testing.assert_array_equal(trace.tensors["S"], [1, 2 + 20, 3 + 30 - 7])
    np.testing.assert_array_equal(trace.tensors["GM"], [1, 20, 30])


def test_masked_points_of_an_unreduced_output_are_nan():
    c = cascade("m: M, p: P", '"X[m,p]"', '"Y[m,p]"', ["Y[m,p] = X[m,p] * 2"], extra=CAUSAL)
    y = run(c, {"X": X33}, {"M": 3, "P": 3}).tensors["Y"]
    kept = np.array([[True, True, True], [False, True, True], [False, False, True]])  # m <= p
    np.testing.assert_array_equal(y[kept], 2 * np.array(X33, dtype=float)[kept])
    assert np.isnan(y[~kept]).all()


def test_a_query_with_no_present_key_gets_the_reduce_identity():
    c = cascade("m: M, p: P", '"X[m,p]"', '"S[p]", "GM[p]"',
                ["S[p] = X[m,p]", "GM[p] = X[m,p] :: max"], extra="masks: {late: 'm >= 2 and p < 2'}\n")
    trace = run(c, {"X": [[1, 2], [3, 4]]}, {"M": 2, "P": 2})  # no m >= 2: nothing is present
    np.testing.assert_array_equal(trace.tensors["S"], [0, 0])
    np.testing.assert_array_equal(trace.tensors["GM"], [-np.inf, -np.inf])


def test_mask_with_a_symbol_sliding_window():
    c = cascade("m: M, p: P", '"X[m,p]"', '"S[p]"', ["S[p] = X[m,p]"],
                extra="params: {W: 1}\nmasks: {window: '|m - p| <= W'}\n")
    trace = run(c, {"X": X33}, {"M": 3, "P": 3})
    # p=0: m in {0,1}; p=1: m in {0,1,2}; p=2: m in {1,2}
    np.testing.assert_array_equal(trace.tensors["S"], [1 + 10, 2 + 20 - 6, 30 - 7])


# ---- partitions ---------------------------------------------------------------------------------------
PARTITION = "params: {M0: 2}\npartitions: ['m -> m1, m0']\n"
X52 = [[-3, 1],    # X[m=0, p]   M = 5 keys in tiles of 2: tiles {0,1}, {2,3}, {4} + one padded slot
       [-1, 2],
       [-4, 3],
       [-2, 4],
       [-6, 5]]


def test_partition_with_padding_does_not_change_a_sum_or_a_max():
    c = cascade("m: M, p: P", '"X[m,p]"', '"S[p]", "GM[p]", "T[m1,p]", "TM[m1,p]"',
                ["S[p] = X[m1,m0,p]", "GM[p] = X[m1,m0,p] :: max",
                 "T[m1,p] = X[m1,m0,p]", "TM[m1,p] = X[m1,m0,p] :: max"], extra=PARTITION)
    trace = run(c, {"X": X52}, {"M": 5, "P": 2})
    # column p=0 is all negative: a padded 0 would wrongly win the max
    np.testing.assert_array_equal(trace.tensors["S"], [-16, 15])
    np.testing.assert_array_equal(trace.tensors["GM"], [-1, 5])
    np.testing.assert_array_equal(trace.tensors["T"], [[-4, 3], [-6, 7], [-6, 5]])
    np.testing.assert_array_equal(trace.tensors["TM"], [[-1, 2], [-2, 4], [-6, 5]])


def test_split_then_merge_round_trips_the_parent_rank():
    c = cascade("m: M, p: P", '"X[m,p]"', '"Y[m,p]"',
                ["T[m1,m0,p] = X[m1,m0,p] + 1", "Y[m,p] = T[m,p]"], extra=PARTITION)
    trace = run(c, {"X": X52}, {"M": 5, "P": 2})
    np.testing.assert_array_equal(trace.tensors["Y"], np.array(X52) + 1)
    assert trace.tensors["T"].shape == (3, 2, 2)


def test_tiles_with_no_present_key_are_skipped_by_a_tile_level_einsum():
    c = cascade("m: M, p: P", '"X[m,p]"', '"C[m1,p]"', ["C[m1,p] = X[m1,m0,p] :: max"],
                extra=PARTITION + "masks: {causal: 'm <= p'}\n")
    trace = run(c, {"X": X52}, {"M": 5, "P": 2})
    # p=0 sees m=0 only (tile 0); p=1 sees m=0,1 (tile 0): tiles 1 and 2 have no present key -> -inf
    np.testing.assert_array_equal(trace.tensors["C"], [[-3, 2], [-np.inf, -np.inf], [-np.inf, -np.inf]])
    assert trace.present_points["C"] == 3  # (m, p) points kept: (0,0), (0,1), (1,1)


# ---- iterative Einsums --------------------------------------------------------------------------------
def test_running_sum_ends_at_cumsum_last_value():
    c = cascade("m: M, p: P", '"X[m,p]"', '"F[p]"',
                ["R[m+1,p] = R[m,p] + X[m,p]", "F[p] = R[M,p]"], extra="initial: {R: 0}\n")
    x = np.array([[1.0, -2.0], [4.0, 8.0], [0.5, 3.0], [-1.5, 1.0]])
    trace = run_cascade(c, {"X": x}, {"M": 4, "P": 2})
    np.testing.assert_array_equal(trace.tensors["F"], np.cumsum(x, axis=0)[-1])
    np.testing.assert_array_equal(trace.tensors["F"], [4.0, 10.0])  # by hand: 1+4+.5-1.5, -2+8+3+1
    # every iterate is kept: R[0] is the initial value, R[k] the sum of the first k keys
    np.testing.assert_array_equal(trace.tensors["R"], np.vstack([np.zeros((1, 2)), np.cumsum(x, axis=0)]))


def test_running_max_with_initial_minus_infinity():
    c = cascade("m: M", '"X[m]"', '"F[m]"', ["F[m+1] = max(F[m], X[m])"], extra="initial: {F: -inf}\n")
    trace = run(c, {"X": [-3, -5, -1, -4]}, {"M": 4})
    np.testing.assert_array_equal(trace.tensors["F"], [-np.inf, -3, -3, -1, -1])


def test_running_sum_over_tiles_with_padding():
    c = cascade("m: M, p: P", '"X[m,p]"', '"F[p]"',
                ["T[m1,p] = X[m1,m0,p]", "R[m1+1,p] = R[m1,p] + T[m1,p]", "F[p] = R[M1,p]"],
                extra=PARTITION + "initial: {R: 0}\n")
    trace = run(c, {"X": X52}, {"M": 5, "P": 2})
    np.testing.assert_array_equal(trace.tensors["R"], [[0, 0], [-4, 3], [-10, 10], [-16, 15]])
    np.testing.assert_array_equal(trace.tensors["F"], [-16, 15])


def test_masked_step_of_a_recurrence_carries_the_previous_value():
    c = cascade("m: M, p: P", '"X[m,p]"', '"F[p]"', ["R[m+1,p] = R[m,p] + X[m,p]", "F[p] = R[M,p]"],
                extra="initial: {R: 0}\n" + CAUSAL)
    trace = run(c, {"X": X33}, {"M": 3, "P": 3})
    np.testing.assert_array_equal(trace.tensors["F"], [1, 22, 26])  # sum over m <= p, as in the causal test
    # p=0 takes only step m=0, then carries 1 through the absent steps
    np.testing.assert_array_equal(trace.tensors["R"][:, 0], [0, 1, 1, 1])


def test_mutual_recurrence_steps_together():
    # D[m+1] = 2*S[m] + X[m] with S[m] = D[m] (the previous iterate, read before D is defined)
    c = cascade("m: M", '"X[m]"', '"D[m]"', ["S[m] = D[m]", "D[m+1] = 2 * S[m] + X[m]"],
                extra="initial: {D: 1}\n")
    trace = run(c, {"X": [1, 0, -3]}, {"M": 3})
    # D0 = 1; D1 = 2*1 + 1 = 3; D2 = 2*3 + 0 = 6; D3 = 2*6 - 3 = 9
    np.testing.assert_array_equal(trace.tensors["D"], [1, 3, 6, 9])
    np.testing.assert_array_equal(trace.tensors["S"], [1, 3, 6])


# ---- present points -----------------------------------------------------------------------------------
@pytest.mark.parametrize("m, p", [(4, 3), (3, 3), (2, 5)])
def test_present_points_of_a_masked_einsum_equal_the_kept_points(m, p):
    c = cascade("m: M, p: P, e: E", '"Q[e,p]", "K[e,m]"', '"S[p]"',
                ["QK[m,p] = Q[e,p] * K[e,m]", "S[p] = QK[m,p]", "N[p] = Q[e,p]"], extra=CAUSAL)
    e = 2
    trace = run_cascade(c, {"Q": np.ones((e, p)), "K": np.ones((e, m))}, {"M": m, "P": p, "E": e})
    kept = 0
    for key in range(m):  # count the (m, p) points with m <= p by hand
        for query in range(p):
            kept += key <= query
    assert trace.present_points["QK"] == kept * e  # QK iterates over (m, p, e)
    assert trace.present_points["S"] == kept
    assert trace.present_points["N"] == e * p  # the mask does not touch N's space
    np.testing.assert_array_equal(trace.tensors["S"], [e * min(query + 1, m) for query in range(p)])


def test_present_points_for_causal_4_by_3_by_hand():
    c = cascade("m: M, p: P", '"X[m,p]"', '"S[p]"', ["S[p] = X[m,p]"], extra=CAUSAL)
    trace = run_cascade(c, {"X": np.ones((4, 3))}, {"M": 4, "P": 3})
    assert trace.present_points["S"] == 1 + 2 + 3  # p=0: m=0; p=1: m=0,1; p=2: m=0,1,2


def test_present_points_exclude_partition_padding():
    c = cascade("m: M, p: P", '"X[m,p]"', '"S[p]"', ["S[p] = X[m1,m0,p]"], extra=PARTITION)
    trace = run(c, {"X": X52}, {"M": 5, "P": 2})
    assert trace.present_points["S"] == 5 * 2  # 3 tiles of 2 slots, one of them padding, for 2 queries


def test_present_points_of_a_recurrence_sum_over_its_steps():
    c = cascade("m: M, p: P", '"X[m,p]"', '"F[p]"', ["R[m+1,p] = R[m,p] + X[m,p]", "F[p] = R[M,p]"],
                extra="initial: {R: 0}\n" + CAUSAL)
    trace = run(c, {"X": X33}, {"M": 3, "P": 3})
    assert trace.present_points["R"] == 1 + 2 + 3
    assert trace.present_points["F"] == 3
