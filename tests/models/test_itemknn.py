"""ItemKNN against its definition written out densely."""

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.errors import ConfigError
from aerec.models import ItemKNN


def reference_scores(X: np.ndarray, X_in: np.ndarray, k: int, shrink: float) -> np.ndarray:
    norms = np.sqrt((X * X).sum(0))
    S = (X.T @ X) / (np.outer(norms, norms) + shrink + 1e-12)
    np.fill_diagonal(S, 0.0)
    kept = np.zeros_like(S)
    for j in range(S.shape[1]):  # each target item keeps its k most similar items (ties: lower index)
        top = np.argsort(-S[:, j], kind="stable")[:k]
        kept[top, j] = np.maximum(S[top, j], 0)
    return X_in @ kept


@pytest.mark.parametrize("k,shrink,block", [(3, 0.0, 2048), (5, 2.0, 4), (40, 0.0, 7)])
def test_scores_equal_the_dense_definition_in_any_blocking(k, shrink, block):
    rng = np.random.default_rng(0)
    X = (rng.random((50, 23)) < 0.3).astype(np.float32)
    X_in = (rng.random((6, 23)) < 0.3).astype(np.float32)
    model = ItemKNN(neighbours=k, shrink=shrink, block=block).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(model.score(sp.csr_matrix(X_in)), reference_scores(X.astype(np.float64), X_in, min(k, 22), shrink), rtol=1e-5, atol=1e-6)
    assert model.fit_info_["stored_similarities"] <= 23 * min(k, 22)


@pytest.mark.parametrize("field,value", [("neighbours", 0), ("shrink", -1.0), ("block", 0)])
def test_bad_hyperparameters_name_their_field(field, value):
    with pytest.raises(ConfigError, match=f"itemknn: {field}={value}"):
        ItemKNN(**{field: value})
