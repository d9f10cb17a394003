"""WMF against the ALS normal equations of Hu et al. (2008) and against implicit's own user step."""

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.fit_options import FitOptions
from aerec.errors import ConfigError, DataError
from aerec.models.wmf import WMF, fold_in_factors

ALPHA, L2 = 2.0, 0.5


def counts(n_users=15, n_items=8, seed=0):
    """Counts in {0, 1, 2, 3}: values above 1 check that α multiplies x_ui."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 4, (n_users, n_items)) * (rng.random((n_users, n_items)) < 0.45)
    return X.astype(np.float64)


def als_step(X: np.ndarray, F: np.ndarray, alpha: float, l2: float) -> np.ndarray:
    """Rows of ``X`` solved against fixed factors ``F``, written out literally:
    ``(Fᵀ C_u F + λI)^-1 Fᵀ C_u p_u`` with ``C_u = diag(1 + α x_u)``, ``p_u = 1[x_u > 0]``."""
    out = np.empty((X.shape[0], F.shape[1]))
    for u, x in enumerate(X):
        C, p = np.diag(1.0 + alpha * x), (x > 0).astype(np.float64)
        out[u] = np.linalg.solve(F.T @ C @ F + l2 * np.eye(F.shape[1]), F.T @ C @ p)
    return out


def fit(X, seed=0, **kw):
    params = dict(factors=3, alpha=ALPHA, regularization=L2, iterations=5, solver="cholesky", num_threads=1)
    return WMF(**{**params, **kw}).fit(sp.csr_matrix(X), options=FitOptions(seed=seed))


def test_item_factors_satisfy_the_normal_equations_with_confidence_one_plus_alpha_x():
    """implicit's last half-step solves the items against the final user factors: the item
    factors must be exactly that solve with c_ui = 1 + α x_ui (not α x_ui, implicit's own reading)."""
    X = counts()
    model = fit(X)
    U, Y = model.user_factors_.astype(np.float64), model.state_dict()["item_factors"]
    np.testing.assert_allclose(Y, als_step(X.T, U, ALPHA, L2), atol=2e-5)
    C = [np.diag(ALPHA * x) for x in X.T]  # the other convention: confidence α x_ui
    off_by_one = np.stack([np.linalg.solve(U.T @ c @ U + L2 * np.eye(3), U.T @ c @ (x > 0)) for c, x in zip(C, X.T)])
    assert np.abs(Y - off_by_one).max() > 1e-2, "the test must tell the two conventions apart"


def test_fold_in_is_implicits_next_user_step():
    """Folding in the training rows against the final item factors is what implicit computes
    for those users in its next iteration: compared with implicit's own Cholesky user solve
    (``recalculate_user``) and with the literal formula."""
    from implicit.cpu.als import AlternatingLeastSquares

    X = counts()
    model = fit(X)
    Y = model.state_dict()["item_factors"]
    mine = model.fold_in(sp.csr_matrix(X)).numpy()
    np.testing.assert_allclose(mine, als_step(X, Y.astype(np.float64), ALPHA, L2), atol=1e-10)

    ref = AlternatingLeastSquares(factors=3, regularization=L2, alpha=1.0, num_threads=1)
    ref.item_factors = Y
    C = sp.csr_matrix(X, dtype=np.float32)
    C.data = 1.0 + ALPHA * C.data
    theirs = ref.recalculate_user(np.arange(X.shape[0]), C)
    np.testing.assert_allclose(mine, theirs, atol=1e-4)


def test_after_convergence_fold_in_reproduces_the_training_user_factors():
    X = counts()
    model = fit(X, iterations=200)
    np.testing.assert_allclose(model.fold_in(sp.csr_matrix(X)).numpy(), model.user_factors_, atol=1e-4)
    s = model.score(sp.csr_matrix(X))
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, model.user_factors_ @ model.state_dict()["item_factors"].T, atol=1e-4)


def test_batched_fold_in_equals_one_row_at_a_time():
    import torch

    X = sp.csr_matrix(counts(40, 8, seed=1))
    Y = torch.from_numpy(np.random.default_rng(2).normal(size=(8, 3)))
    whole = fold_in_factors(X, Y, ALPHA, L2)
    tiny_batches = fold_in_factors(X, Y, ALPHA, L2, max_elements=3)  # one row per batch
    np.testing.assert_allclose(whole.numpy(), tiny_batches.numpy(), atol=1e-12)
    empty = fold_in_factors(sp.csr_matrix((2, 8)), Y, ALPHA, L2)
    assert not empty.any()


def test_cg_solver_trains_and_the_same_seed_repeats():
    X = counts(30, 10)
    a, b = fit(X, solver="cg", iterations=3, seed=7), fit(X, solver="cg", iterations=3, seed=7)
    np.testing.assert_array_equal(a.score(sp.csr_matrix(X)), b.score(sp.csr_matrix(X)))
    c = fit(X, solver="cg", iterations=3, seed=8)
    assert not np.array_equal(a.state_dict()["item_factors"], c.state_dict()["item_factors"])


def test_state_dict_round_trip():
    X = counts()
    model = fit(X)
    loaded = WMF(model.config)
    loaded.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(loaded.score(sp.csr_matrix(X[:4])), model.score(sp.csr_matrix(X[:4])))


def test_bad_input_and_config_are_clear_errors(monkeypatch):
    with pytest.raises(ConfigError, match="solver"):
        WMF(solver="lu").fit(sp.csr_matrix(counts()))
    with pytest.raises(DataError, match="negative"):
        fit(-counts())
    monkeypatch.setitem(sys.modules, "implicit.cpu.als", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match="implicit"):
        fit(counts())
