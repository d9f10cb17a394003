"""``Recommender.recommend`` on a known answer: padding when a user has fewer unseen items than asked."""

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.errors import ConfigError
from aerec.models import Popularity


def test_known_answer_with_padding_and_ties():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0]], dtype=np.float32))  # counts 3, 1, 1, 0
    model = Popularity().fit(X)
    items, scores = model.recommend(sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 1, 0]], dtype=np.float32)), n=3)
    np.testing.assert_array_equal(items, [[1, 2, 3], [3, -1, -1]])  # the tie 1/2 goes to the lower index; row 2 has one unseen item
    np.testing.assert_array_equal(scores, np.array([[1, 1, 0], [0, -np.inf, -np.inf]], dtype=np.float32))
    items, _ = model.recommend(sp.csr_matrix((1, 4), dtype=np.float32), n=6)  # more than the catalogue
    np.testing.assert_array_equal(items, [[0, 1, 2, 3, -1, -1]])
    with pytest.raises(ConfigError, match="n=0"):
        model.recommend(X, n=0)
