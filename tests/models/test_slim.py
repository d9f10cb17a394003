"""SLIM against a direct solve of Ning & Karypis's (2011) per-item problem, and its time budget."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize

from aerec.errors import AerecError, BudgetExceeded, ConfigError
from aerec.models.slim import SLIM

L1, L2 = 0.3, 1.5  # unequal, so that swapping λ and β in the mapping would show


def binary(n_users=30, n_items=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n_users, n_items)) < 0.4).astype(np.float64)


def direct_column(X: np.ndarray, j: int, l1: float, l2: float) -> np.ndarray:
    """argmin ½||x_j - X w||² + (β/2)||w||² + λ||w||₁ over w >= 0, w_j = 0, by L-BFGS-B.

    On w >= 0 the L1 term is λ Σ w, smooth, so a bounded quasi-Newton solve is exact."""
    others = [i for i in range(X.shape[1]) if i != j]
    A, y = X[:, others], X[:, j]

    def f(w):
        r = y - A @ w
        return 0.5 * r @ r + 0.5 * l2 * w @ w + l1 * w.sum(), -A.T @ r + l2 * w + l1

    res = minimize(f, np.zeros(len(others)), jac=True, method="L-BFGS-B", bounds=[(0, None)] * len(others), options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    w = np.zeros(X.shape[1])
    w[others] = res.x
    return w


def fit(X, **kw):
    return SLIM(**{"l1": L1, "l2": L2, "max_iter": 10_000, "tol": 1e-12, **kw}).fit(sp.csr_matrix(X))


def test_columns_match_a_direct_solve_of_the_slim_objective():
    X = binary()
    W = fit(X).W_.toarray()
    for j in (0, 3, 7):
        np.testing.assert_allclose(W[:, j], direct_column(X, j, L1, L2), atol=1e-5)
    swapped = direct_column(X, 3, L2, L1)
    assert np.abs(W[:, 3] - swapped).max() > 1e-2, "the test must tell λ from β"


def test_weights_are_nonnegative_with_an_exactly_zero_diagonal_and_scores_are_x_w():
    X = binary(40, 12, seed=1)
    model = fit(X, l1=0.1, l2=0.1, max_iter=100, tol=1e-4)
    W = model.W_.toarray()
    assert (W >= 0).all() and (np.diag(W) == 0).all() and (W > 0).any()
    s = model.score(sp.csr_matrix(X[:5]))
    assert s.dtype == np.float32
    np.testing.assert_allclose(s, X[:5] @ W, rtol=1e-6)
    assert model.fit_info_["finished"] and model.fit_info_["items_done"] == 12


def test_deterministic_and_independent_of_the_number_of_workers():
    X = binary(40, 12, seed=2)
    one, again, two = fit(X, tol=1e-4, max_iter=100), fit(X, tol=1e-4, max_iter=100), fit(X, tol=1e-4, max_iter=100, n_jobs=2)
    np.testing.assert_array_equal(one.W_.toarray(), again.W_.toarray())
    np.testing.assert_array_equal(one.W_.toarray(), two.W_.toarray())


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_time_budget_stops_the_fit_with_a_did_not_finish_error(n_jobs):
    X = binary(50, 40, seed=3)
    model = SLIM(time_budget=1e-9, n_jobs=n_jobs)
    with pytest.raises(BudgetExceeded, match=r"slim: time budget 1e-09 s spent after \d+ of 40 items") as e:
        model.fit(sp.csr_matrix(X))
    assert isinstance(e.value, AerecError) and e.value.status == "did not finish"
    assert model.fit_info_["finished"] is False and model.fit_info_["items_done"] < 40


def test_state_dict_round_trip():
    X = binary()
    model = fit(X, tol=1e-4, max_iter=100)
    state = model.state_dict()
    loaded = SLIM(model.config)
    loaded.load_state_dict(state)
    assert loaded.n_items == 8
    np.testing.assert_array_equal(loaded.score(sp.csr_matrix(X)), model.score(sp.csr_matrix(X)))


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="l1 and l2"):
        SLIM(l1=0.0, l2=0.0).fit(sp.csr_matrix(binary()))
