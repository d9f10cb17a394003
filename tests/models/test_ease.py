"""EASE against its closed form (Steck 2019, Eq. 8) and its λ search."""

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.errors import ConfigError
from aerec.models import EASE
from aerec.models.popularity import Popularity


def reference_B(X: np.ndarray, l2: float) -> np.ndarray:
    """B = I - P diagMat(1/diag(P)), P = (XᵀX + λI)^-1, written out literally."""
    P = np.linalg.inv(X.T @ X + l2 * np.eye(X.shape[1]))
    return np.eye(X.shape[1]) - P @ np.diag(1.0 / np.diag(P))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-4)])
def test_weights_match_the_closed_form(dtype, tol):
    rng = np.random.default_rng(0)
    X = (rng.random((60, 15)) < 0.3).astype(np.float64)
    model = EASE(l2=5.0, dtype=dtype).fit(sp.csr_matrix(X))
    B = model.state_dict()["B"]
    np.testing.assert_allclose(B, reference_B(X, 5.0), atol=tol)
    assert np.all(np.diag(B) == 0)
    np.testing.assert_allclose(model.score(sp.csr_matrix(X[:5])), X[:5] @ reference_B(X, 5.0), atol=tol * 10)


def test_l2_is_chosen_on_validation_as_the_best_tried(blocks):
    train, fold, _, _ = blocks
    model = EASE(l2_grid=(0.1, 10.0, 1000.0), refine=2).fit(train, validation=fold)
    tried = model.fit_info_["validation_ndcg@100"]
    assert len(tried) == 5  # 3 grid values + 2 refinements
    best = max(tried, key=tried.get)
    assert float(best) == pytest.approx(model.l2_)
    assert model.fit_info_["best_validation_ndcg@100"] == max(tried.values())


def test_unknown_parameter_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown parameter"):
        EASE(lambda_=3)


def test_popularity_scores_are_training_counts():
    X = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0]], dtype=np.float32))
    s = Popularity().fit(X).score(sp.csr_matrix((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(s, [[3, 1, 1], [3, 1, 1]])


@pytest.mark.parametrize("n_users,n_items", [(80, 30), (25, 60)])  # eigen of XᵀX, and of XXᵀ (Woodbury)
def test_spectral_scores_equal_the_closed_form_off_the_fold_in(n_users, n_items):
    import torch

    from aerec.models.ease import SpectralScores, ease_weights, gram

    rng = np.random.default_rng(1)
    X = sp.csr_matrix((rng.random((n_users, n_items)) < 0.3).astype(np.float32))
    X_in = sp.csr_matrix((rng.random((7, n_items)) < 0.3).astype(np.float32))
    G = gram(X, torch.device("cpu"), torch.float64)
    spectral = SpectralScores(G, X)
    off = X_in.toarray() == 0
    for l2 in (0.5, 5.0, 50.0):
        exact = X_in.toarray() @ ease_weights(G, l2).numpy()
        got = spectral.scores(X_in, l2).numpy()
        np.testing.assert_allclose(got[off], exact[off], rtol=1e-8, atol=1e-10)


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="CUDA is not available on this machine")
def test_cuda_matches_cpu(blocks):
    train, fold, _, _ = blocks
    cpu = EASE(l2=10.0, dtype="float64").fit(train)
    gpu = EASE(l2=10.0, dtype="float64", device="cuda").fit(train)
    np.testing.assert_allclose(gpu.score(fold.X_in), cpu.score(fold.X_in), atol=1e-5)
    searched_cpu = EASE(l2_grid=(1.0, 10.0, 100.0), dtype="float64").fit(train, validation=fold)
    searched_gpu = EASE(l2_grid=(1.0, 10.0, 100.0), device="cuda", dtype="float64").fit(train, validation=fold)
    assert searched_gpu.l2_ == pytest.approx(searched_cpu.l2_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_gram_equals_the_sparse_one_exactly_on_counts_and_closely_on_values(dtype, monkeypatch):
    """The GPU's Gram method (dense GEMMs over row chunks) selected on the CPU, in chunks smaller than X."""
    import torch

    from aerec.models import ease as ease_module

    rng = np.random.default_rng(3)
    X = sp.csr_matrix((rng.random((307, 41)) < 0.2).astype(np.float32))
    monkeypatch.setattr(ease_module, "GRAM_CHUNK_ENTRIES", 41 * 100)  # chunks of 100 rows: 4 GEMMs
    tdtype = getattr(torch, dtype)
    dense = ease_module.gram(X, torch.device("cpu"), tdtype, method="dense")
    sparse = ease_module.gram(X, torch.device("cpu"), tdtype, method="sparse")
    assert torch.equal(dense, sparse)  # counts: exact
    W = X.multiply(rng.random(X.shape)).tocsr().astype(np.float32)  # values with a full mantissa
    # the sparse method sums in float32 even for float64 output: agreement to float32 rounding
    torch.testing.assert_close(ease_module.gram(W, torch.device("cpu"), tdtype, method="dense"), ease_module.gram(W, torch.device("cpu"), tdtype, method="sparse"), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="gram method"):
        ease_module.gram(X, torch.device("cpu"), tdtype, method="nope")


def test_without_validation_and_l2_it_warns_and_uses_the_documented_default():
    from aerec.models.ease import DEFAULT_L2

    rng = np.random.default_rng(0)
    X = (rng.random((60, 15)) < 0.3).astype(np.float64)
    with pytest.warns(UserWarning, match="using l2 = 500"):
        model = EASE(dtype="float64").fit(sp.csr_matrix(X))
    assert model.l2_ == DEFAULT_L2 == 500.0
    np.testing.assert_allclose(model.state_dict()["B"], reference_B(X, DEFAULT_L2), atol=1e-10)
