"""The evaluation protocol: skipping, masking, chunking, summaries and buckets."""

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.data.prepared import Fold
from aerec.errors import ConfigError
from aerec.evaluate import Evaluation, evaluate, validation_ndcg
from aerec.metrics import ndcg, recall, topk_items


def csr(rows_of_items, n_items):
    dense = np.zeros((len(rows_of_items), n_items), dtype=np.float32)
    for u, items in enumerate(rows_of_items):
        dense[u, list(items)] = 1.0
    return sp.csr_matrix(dense)


def random_fold(rng, n_users=40, n_items=30, empty_every=7):
    """Random fold-in/fold-out sets; every ``empty_every``-th user has an empty fold-out."""
    fold_in, fold_out = [], []
    for u in range(n_users):
        items = rng.permutation(n_items)[: rng.integers(2, 15)]
        cut = 0 if u % empty_every == 0 else max(1, len(items) // 3)
        fold_out.append(set(items[:cut].tolist()))
        fold_in.append(set(items[cut:].tolist()))
    return Fold(csr(fold_in, n_items), csr(fold_out, n_items), np.arange(n_users) + 1000), fold_in, fold_out


class LinearScorer:
    """Scores that depend only on a row's fold-in (so chunking cannot change them); records call sizes."""

    def __init__(self, n_items, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_items, n_items))
        self.bias = rng.standard_normal(n_items)
        self.calls = []

    def __call__(self, X_in):
        self.calls.append(X_in.shape[0])
        return X_in @ self.W + self.bias  # (c, n_items) float64


def test_empty_foldout_users_are_skipped():
    rng = np.random.default_rng(0)
    fold, _, fold_out = random_fold(rng)
    scorer = LinearScorer(fold.X_in.shape[1])
    result = evaluate(scorer, fold, ks=(5, 10))

    want_rows = [u for u, out in enumerate(fold_out) if out]
    np.testing.assert_array_equal(result.rows, want_rows)
    assert sum(scorer.calls) == len(want_rows)  # the others were never scored
    assert result.n_scored == len(want_rows) < result.n_users == fold.n_users
    summary = result.summary()
    assert summary["ndcg@10"]["n"] == len(want_rows)
    for values in result.per_user.values():
        assert values.shape == (len(want_rows),)
        assert not np.isnan(values).any()
        assert ((values >= 0) & (values <= 1)).all()
    np.testing.assert_array_equal(result.fold_in_size, np.asarray(fold.X_in.sum(axis=1)).ravel()[want_rows])


def test_matches_the_metrics_on_all_scored_users():
    rng = np.random.default_rng(1)
    fold, _, _ = random_fold(rng)
    scorer = LinearScorer(fold.X_in.shape[1], seed=1)
    result = evaluate(scorer, fold, ks=(20, 5))
    assert result.ks == (5, 20)
    assert set(result.per_user) == {f"{m}@{k}" for m in ("ndcg", "recall", "precision", "hit", "mrr", "map") for k in (5, 20)}

    r = result.rows
    top = topk_items(scorer(fold.X_in[r]), 20, exclude=fold.X_in[r])
    np.testing.assert_allclose(result.per_user["ndcg@20"], ndcg(top, fold.X_out[r], 20))
    np.testing.assert_allclose(result.per_user["recall@5"], recall(top, fold.X_out[r], 5))
    assert result.coverage["coverage@5"] == pytest.approx(len(np.unique(top[:, :5])) / fold.X_in.shape[1])


def test_fold_in_items_are_excluded():
    # Scores favour the fold-in {0, 1}; once they are excluded, item 2 (the fold-out) ranks first.
    fold = Fold(csr([{0, 1}], 6), csr([{2}], 6), np.array([7]))
    result = evaluate(lambda x: np.array([[5.0, 4.0, 3.0, 0.0, 0.0, 0.0]]), fold, ks=(1,))
    assert result.per_user["ndcg@1"][0] == 1.0
    assert result.per_user["hit@1"][0] == 1.0
    assert result.coverage["coverage@1"] == pytest.approx(1 / 6)


def test_chunking_does_not_change_results_and_bounds_the_rows():
    rng = np.random.default_rng(2)
    n_items = 10
    fold, _, _ = random_fold(rng, n_users=50, n_items=n_items)

    big = evaluate(LinearScorer(n_items), fold, ks=(3, 5))
    scorer = LinearScorer(n_items)
    small = evaluate(scorer, fold, ks=(3, 5), max_chunk_bytes=3 * n_items * 8 + 5)  # 3 users per chunk
    assert max(scorer.calls) == 3
    assert len(scorer.calls) == math.ceil(small.n_scored / 3)
    one = LinearScorer(n_items)
    single = evaluate(one, fold, ks=(3, 5), max_chunk_bytes=1)  # below one row: still 1 user per chunk
    assert set(one.calls) == {1}

    for other in (small, single):
        np.testing.assert_array_equal(other.rows, big.rows)
        assert other.coverage == big.coverage
        for key in big.per_user:
            np.testing.assert_array_equal(other.per_user[key], big.per_user[key])


def test_torch_scores_are_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    fold, _, _ = random_fold(rng)
    scorer = LinearScorer(fold.X_in.shape[1], seed=3)
    want = evaluate(lambda x: scorer(x).astype(np.float32), fold, ks=(5,))
    got = evaluate(lambda x: torch.from_numpy(scorer(x).astype(np.float32)), fold, ks=(5,))
    for key in want.per_user:
        np.testing.assert_array_equal(got.per_user[key], want.per_user[key])


def test_caller_fold_is_untouched_and_bad_arguments_raise():
    fold = Fold(csr([{0}, {1}], 4), csr([{2}, {3}], 4), np.array([1, 2]))
    X_in = fold.X_in.copy()
    evaluate(lambda x: np.zeros(x.shape), fold, ks=(2,))
    assert (fold.X_in != X_in).nnz == 0
    with pytest.raises(ConfigError):
        evaluate(lambda x: np.zeros(x.shape), fold, ks=())
    with pytest.raises(ConfigError):
        evaluate(lambda x: np.zeros(x.shape), fold, ks=(0, 2))
    with pytest.raises(ValueError):
        evaluate(lambda x: np.zeros((x.shape[0], 3)), fold, ks=(2,))


# -- summaries ---------------------------------------------------------------------------
def make_evaluation(values, fold_in_size):
    values = np.asarray(values, dtype=float)
    per_user = {f"{m}@10": values for m in ("ndcg", "recall", "precision", "hit", "mrr", "map")}
    return Evaluation(
        per_user=per_user,
        rows=np.arange(len(values)),
        fold_in_size=np.asarray(fold_in_size),
        coverage={"coverage@10": 0.5},
        ks=(10,),
        n_users=len(values),
        n_items=100,
    )


def test_standard_error_is_population_std_over_sqrt_n():
    ev = make_evaluation([0.0, 1.0, 1.0, 0.5], [3, 3, 3, 3])
    s = ev.summary()["ndcg@10"]
    # mean 0.625; squared deviations 0.390625 + 0.140625 + 0.140625 + 0.015625 = 0.6875
    assert s["mean"] == pytest.approx(0.625)
    assert s["se"] == pytest.approx(math.sqrt(0.6875 / 4) / math.sqrt(4))  # ddof = 0, as Liang et al.
    assert s["n"] == 4


def test_buckets_by_fold_in_size():
    sizes = [1, 4, 5, 9, 10, 19, 100, 150, 3]
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    buckets = make_evaluation(values, sizes).by_bucket()
    assert [b["label"] for b in buckets] == ["[1, 5)", "[5, 10)", "[10, 20)", "[20, 50)", "[50, 100)", "[100, inf)"]
    assert [b["n"] for b in buckets] == [3, 2, 2, 0, 0, 2]
    assert buckets[0]["metrics"]["ndcg@10"]["mean"] == pytest.approx((0.1 + 0.2 + 0.9) / 3)
    assert buckets[5]["metrics"]["recall@10"]["mean"] == pytest.approx(0.75)
    assert buckets[5]["metrics"]["recall@10"]["se"] == pytest.approx(0.05 / math.sqrt(2))
    assert buckets[3]["metrics"]["ndcg@10"]["n"] == 0
    assert math.isnan(buckets[3]["metrics"]["ndcg@10"]["mean"])
    assert buckets[5]["lo"] == 100 and buckets[5]["hi"] is None

    # users below the first edge get a leading bucket; custom edges
    custom = make_evaluation([0.5, 0.25], [0, 7]).by_bucket(edges=(1, 5))
    assert [(b["label"], b["n"]) for b in custom] == [("[0, 1)", 1), ("[1, 5)", 0), ("[5, inf)", 1)]
    with pytest.raises(ConfigError):
        make_evaluation([0.5], [1]).by_bucket(edges=(5, 1))


def test_to_json_and_table():
    ev = make_evaluation([0.25, 0.75], [2, 60])
    data = ev.to_json()
    text = json.dumps(data, allow_nan=False)  # strictly valid JSON: NaN became null
    assert "per_user" not in text
    assert data["summary"]["ndcg@10"]["mean"] == pytest.approx(0.5)
    assert data["coverage"] == {"coverage@10": 0.5}
    assert data["buckets"][1]["metrics"]["ndcg@10"]["mean"] is None  # [5, 10) is empty
    table = ev.format_table()
    assert "NDCG@10" in table and "0.5000 ± 0.1768" in table and "Coverage@10" in table


def test_validation_ndcg_and_progress():
    rng = np.random.default_rng(4)
    fold, _, _ = random_fold(rng)
    scorer = LinearScorer(fold.X_in.shape[1], seed=4)
    full = evaluate(scorer, fold, ks=(10,), progress=True)
    assert validation_ndcg(scorer, fold, k=10) == pytest.approx(full.per_user["ndcg@10"].mean())


def test_all_foldouts_empty():
    fold = Fold(csr([{0}, {1}], 4), csr([set(), set()], 4), np.array([1, 2]))
    calls = []
    result = evaluate(lambda x: calls.append(x) or np.zeros(x.shape), fold, ks=(2,))
    assert calls == [] and result.n_scored == 0
    assert result.summary()["ndcg@2"]["n"] == 0
    assert math.isnan(validation_ndcg(lambda x: np.zeros(x.shape), fold, k=2))


def test_cutoff_beyond_a_toy_catalogue_ranks_every_item():
    # 4 items, k = 100: user 0's fold-out {2} is ranked 1st of the unseen {1, 2, 3}, user 1's {3} 3rd of {0, 2, 3}
    fold = Fold(csr([{0}, {1}], 4), csr([{2}, {3}], 4), np.array([1, 2]))
    scores = np.array([[9.0, 1.0, 5.0, 0.0], [3.0, 9.0, 2.0, 1.0]])
    result = evaluate(lambda x: scores, fold, ks=(2, 100))
    np.testing.assert_allclose(result.per_user["ndcg@100"], [1.0, 1 / math.log2(4)])
    np.testing.assert_allclose(result.per_user["recall@100"], [1.0, 1.0])
    np.testing.assert_allclose(result.per_user["precision@100"], [0.01, 0.01])
    np.testing.assert_allclose(result.per_user["recall@2"], [1.0, 0.0])
    assert result.coverage["coverage@100"] == 1.0
    assert validation_ndcg(lambda x: scores, fold, k=100) == pytest.approx((1 + 1 / math.log2(4)) / 2)


def test_evaluate_ratings_predicts_every_stored_rating_in_chunks():
    from aerec.evaluate import evaluate_ratings

    R = sp.csr_matrix(np.array([[4.0, 0, 2.0], [0, 5.0, 0], [1.0, 0, 3.0]]))
    calls = []

    def predict(users, items):
        calls.append(len(users))
        return np.full(len(users), 3.0)  # errors 1, -1, 2, -2, 0

    ev = evaluate_ratings(predict, R, chunk=2)
    assert ev.n == 5 and calls == [2, 2, 1]
    assert ev.rmse == pytest.approx(np.sqrt(10 / 5)) and ev.mae == pytest.approx(6 / 5)
    assert ev.to_json() == {"rmse": ev.rmse, "mae": ev.mae, "n": 5}


def test_aerec_evaluate_is_callable_as_the_module_and_as_the_public_function():
    import aerec
    import aerec.evaluate as module
    from aerec.evaluate import evaluate as function

    X = sp.csr_matrix(np.eye(4, dtype=np.float32))
    from aerec.data.prepared import Fold

    fold = Fold(X_in=X, X_out=sp.csr_matrix(np.roll(np.eye(4, dtype=np.float32), 1, axis=1)), users=np.arange(4))
    score = lambda x: np.tile(np.arange(4, dtype=np.float32), (x.shape[0], 1))  # noqa: E731
    a = module(score, fold, ks=(2,)).summary()
    b = function(score, fold, ks=(2,)).summary()
    c = aerec.evaluate(score, fold, ks=(2,)).summary()
    assert a == b == c
