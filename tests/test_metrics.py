"""Ranking metrics: hand-computed cases, properties, and a literal per-user oracle."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.metrics import average_precision, coverage, hit_rate, mrr, ndcg, precision, recall, topk_items

PER_USER = {"ndcg": ndcg, "recall": recall, "precision": precision, "hit": hit_rate, "mrr": mrr, "map": average_precision}


def csr(rows_of_items, n_items):
    """A binary users x items CSR from one list of item indices per user."""
    dense = np.zeros((len(rows_of_items), n_items), dtype=np.float32)
    for u, items in enumerate(rows_of_items):
        dense[u, list(items)] = 1.0
    return sp.csr_matrix(dense)


# -- a literal reference: one user at a time, the obvious formulas ----------------
def ref_topk(scores_row, k, excluded=()):
    s = [(-math.inf if j in excluded else float(v)) for j, v in enumerate(scores_row)]
    return sorted(range(len(s)), key=lambda j: (-s[j], j))[:k]


def ref_metrics(ranked, relevant, k):
    relevant = set(relevant)
    if not relevant:
        return dict.fromkeys(PER_USER, math.nan)
    top = list(ranked)[:k]
    hits = [1 if item in relevant else 0 for item in top]
    dcg = sum(h / math.log2(r + 1) for r, h in enumerate(hits, start=1))
    idcg = sum(1 / math.log2(r + 1) for r in range(1, min(k, len(relevant)) + 1))
    return {
        "ndcg": dcg / idcg,
        "recall": sum(hits) / min(k, len(relevant)),
        "precision": sum(hits) / k,
        "hit": 1.0 if any(hits) else 0.0,
        "mrr": next((1 / r for r, h in enumerate(hits, start=1) if h), 0.0),
        "map": sum(sum(hits[:r]) / r for r, h in enumerate(hits, start=1) if h) / min(k, len(relevant)),
    }


# -- hand-computed cases ---------------------------------------------------------------
def test_hand_computed_user():
    topk = np.array([[3, 1, 7, 0, 2]])  # hits at ranks 2 and 3
    out = csr([{1, 7, 9}], 10)

    dcg5 = 1 / math.log2(3) + 1 / math.log2(4)
    idcg5 = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(topk, out, 5)[0] == pytest.approx(dcg5 / idcg5)
    assert recall(topk, out, 5)[0] == pytest.approx(2 / 3)
    assert precision(topk, out, 5)[0] == pytest.approx(2 / 5)
    assert hit_rate(topk, out, 5)[0] == 1.0
    assert mrr(topk, out, 5)[0] == pytest.approx(1 / 2)  # first hit at rank 2
    assert average_precision(topk, out, 5)[0] == pytest.approx((1 / 2 + 2 / 3) / 3)  # P@2, P@3 over min(5, 3)

    # k = 2: one hit (rank 2); the ideal puts min(2, 3) = 2 relevant items on top
    assert ndcg(topk, out, 2)[0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert recall(topk, out, 2)[0] == pytest.approx(1 / 2)
    assert precision(topk, out, 2)[0] == pytest.approx(1 / 2)

    # k = 1: item 3 is not relevant
    for fn in PER_USER.values():
        assert fn(topk, out, 1)[0] == 0.0


def test_recall_denominator_is_min_k_and_foldout_size():
    topk = np.array([[5, 6, 8, 4, 0]])
    out = csr([{4}], 10)  # one relevant item, at rank 4
    assert recall(topk, out, 5)[0] == 1.0  # 1 / min(5, 1), not 1 / 5
    assert precision(topk, out, 5)[0] == pytest.approx(0.2)
    assert ndcg(topk, out, 5)[0] == pytest.approx((1 / math.log2(5)) / 1.0)
    assert recall(topk, out, 3)[0] == 0.0


def test_several_users_at_once():
    topk = np.array([[0, 1, 2], [2, 1, 0], [4, 3, 0]])
    out = csr([{0}, {0, 1}, {3, 4}], 5)
    np.testing.assert_allclose(recall(topk, out, 3), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(precision(topk, out, 3), [1 / 3, 2 / 3, 2 / 3])
    dcg_user1 = 1 / math.log2(3) + 1 / math.log2(4)
    np.testing.assert_allclose(ndcg(topk, out, 3), [1.0, dcg_user1 / (1 + 1 / math.log2(3)), 1.0])


def test_empty_foldout_gives_nan():
    topk = np.array([[0, 1], [1, 0]])
    out = csr([set(), {1}], 3)
    for fn in PER_USER.values():
        values = fn(topk, out, 2)
        assert math.isnan(values[0])
        assert not math.isnan(values[1])
        assert values.dtype == np.float64


def test_explicit_zeros_are_not_relevant():
    out = sp.csr_matrix((np.array([0.0, 1.0]), np.array([0, 2]), np.array([0, 2])), shape=(1, 4))
    topk = np.array([[0, 2]])
    assert recall(topk, out, 2)[0] == 1.0  # one relevant item (2), found
    assert precision(topk, out, 2)[0] == 0.5


def test_k_beyond_a_complete_ranking():
    topk = np.array([[2, 0, 1]])  # the whole 3-item catalogue
    out = csr([{0, 1}], 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(topk, out, 10)[0] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert recall(topk, out, 10)[0] == 1.0
    assert precision(topk, out, 10)[0] == pytest.approx(2 / 10)
    assert coverage(topk, 3, 10) == 1.0


def test_coverage():
    topk = np.array([[0, 1, 5], [1, 2, 5]])
    assert coverage(topk, 10, 1) == pytest.approx(2 / 10)  # items 0, 1
    assert coverage(topk, 10, 2) == pytest.approx(3 / 10)  # items 0, 1, 2
    assert coverage(topk, 10, 3) == pytest.approx(4 / 10)


def test_argument_checks():
    topk = np.array([[0, 1]])
    out = csr([{0}], 3)
    with pytest.raises(ValueError):
        ndcg(topk, out, 3)  # k larger than a ranking that is not the whole catalogue
    with pytest.raises(ValueError):
        ndcg(topk, out, 0)
    with pytest.raises(ValueError):
        recall(np.array([[0, 7]]), out, 2)  # item outside the catalogue
    with pytest.raises(ValueError):
        precision(np.array([[0, 1], [1, 0]]), out, 2)  # row counts differ


# -- properties -----------------------------------------------------------------
def test_perfect_ranking_scores_one():
    rng = np.random.default_rng(0)
    n, m, k = 40, 60, 10
    relevant = [set(rng.choice(m, size=rng.integers(1, 25), replace=False).tolist()) for _ in range(n)]
    out = csr(relevant, m)
    scores = out.toarray() + 0.01 * rng.random((n, m))  # relevant items first
    top = topk_items(scores, k)
    np.testing.assert_allclose(ndcg(top, out, k), 1.0)
    np.testing.assert_allclose(recall(top, out, k), 1.0)
    np.testing.assert_allclose(hit_rate(top, out, k), 1.0)
    np.testing.assert_allclose(mrr(top, out, k), 1.0)
    np.testing.assert_allclose(average_precision(top, out, k), 1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_against_literal_reference(seed):
    rng = np.random.default_rng(seed)
    n, m = 60, 40
    scores = rng.integers(0, 6, size=(n, m)).astype(np.float32)  # many ties
    fold_in = [set(rng.choice(m, size=rng.integers(0, 10), replace=False).tolist()) for _ in range(n)]
    fold_out = [set(rng.choice(m, size=rng.integers(0, 12), replace=False).tolist()) - fold_in[u] for u in range(n)]
    X_in, X_out = csr(fold_in, m), csr(fold_out, m)

    K = 30
    top = topk_items(scores, K, exclude=X_in)
    assert top.shape == (n, K) and top.dtype == np.int64
    for u in range(n):
        assert top[u].tolist() == ref_topk(scores[u], K, fold_in[u])

    for k in (1, 5, 10, 30):
        got = {name: fn(top, X_out, k) for name, fn in PER_USER.items()}
        for u in range(n):
            want = ref_metrics(top[u], fold_out[u], k)
            for name in PER_USER:
                if math.isnan(want[name]):
                    assert math.isnan(got[name][u])
                else:
                    assert got[name][u] == pytest.approx(want[name], abs=1e-12)
                    assert 0.0 <= got[name][u] <= 1.0
        assert coverage(top, m, k) == pytest.approx(len(set(top[:, :k].ravel().tolist())) / m)


# -- topk_items ------------------------------------------------------------------
def test_topk_ties_lower_index_first():
    scores = np.array(
        [
            [0.1, 0.5, 0.5, 0.9, 0.5],  # tie at the boundary: 1 and 2 enter, 4 does not
            [1.0, 1.0, 1.0, 1.0, 1.0],  # all tied
            [0.0, 2.0, 1.0, 2.0, 3.0],  # tie inside the top k
        ]
    )
    np.testing.assert_array_equal(topk_items(scores, 3), [[3, 1, 2], [0, 1, 2], [4, 1, 3]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_topk_matches_stable_full_sort(dtype):
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 4, size=(50, 200)).astype(dtype)  # ties everywhere
    scores[:25] += rng.random((25, 200)).astype(dtype)  # and rows with none
    for k in (1, 7, 100, 200):
        want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(topk_items(scores, k), want)


def test_topk_excludes_and_leaves_input_untouched():
    rng = np.random.default_rng(3)
    n, m, k = 30, 50, 10
    scores = rng.random((n, m))
    fold_in = [set(rng.choice(m, size=rng.integers(0, m - k), replace=False).tolist()) for _ in range(n)]
    X_in = csr(fold_in, m)
    scores[X_in.toarray() > 0] += 10.0  # fold-in items would otherwise win
    before = scores.copy()
    top = topk_items(scores, k, exclude=X_in)
    np.testing.assert_array_equal(scores, before)
    for u in range(n):
        assert not set(top[u].tolist()) & fold_in[u]


def test_topk_excluded_items_rank_last_when_needed():
    scores = np.array([[3.0, 2.0, 1.0]])
    top = topk_items(scores, 3, exclude=csr([{0}], 3))
    np.testing.assert_array_equal(top, [[1, 2, 0]])


def test_topk_accepts_torch_and_read_only_views():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    scores = rng.random((8, 20)).astype(np.float32)
    X_in = csr([{0, 1}] * 8, 20)
    want = topk_items(scores, 5, exclude=X_in)
    t = torch.from_numpy(scores.copy())
    np.testing.assert_array_equal(topk_items(t, 5, exclude=X_in), want)
    np.testing.assert_array_equal(topk_items(t.to(torch.bfloat16), 1).shape, (8, 1))
    view = np.broadcast_to(scores[:1], (8, 20))  # read-only
    assert topk_items(view, 5, exclude=X_in).shape == (8, 5)


def test_topk_integer_scores_and_errors():
    np.testing.assert_array_equal(topk_items(np.array([[1, 3, 2]]), 2), [[1, 2]])
    with pytest.raises(ValueError):
        topk_items(np.zeros((2, 3)), 4)
    with pytest.raises(ValueError):
        topk_items(np.zeros((2, 3)), 0)
    with pytest.raises(ValueError, match="NaN"):
        topk_items(np.array([[0.0, np.nan, 1.0]]), 1)
    with pytest.raises(ValueError):
        topk_items(np.zeros((2, 3)), 1, exclude=sp.csr_matrix((3, 3)))


# -- rating prediction ---------------------------------------------------------
def test_rmse_and_mae_on_hand_computed_cases():
    from aerec.metrics import mae, rmse

    predicted, actual = np.array([3.0, 4.0, 2.5, 5.0]), np.array([4.0, 4.0, 1.5, 3.0])
    # errors -1, 0, 1, 2: squares 1, 0, 1, 4 -> mean 1.5; absolute 1, 0, 1, 2 -> mean 1.0
    assert rmse(predicted, actual) == pytest.approx(np.sqrt(1.5))
    assert mae(predicted, actual) == pytest.approx(1.0)
    assert rmse([2.0], [2.0]) == 0.0 and mae([1.0], [3.5]) == 2.5
    assert np.isnan(rmse([], [])) and np.isnan(mae([], []))
    with pytest.raises(ValueError, match="NaN"):
        rmse([np.nan], [1.0])
    with pytest.raises(ValueError, match="predictions"):
        mae([1.0, 2.0], [1.0])
