"""Parameter and FLOP counts against the modules themselves and by hand."""

import numpy as np
import scipy.sparse as sp

from aerec.models import FCDAE, SwDAE
from aerec.cost import fcdae_cost, multvae_cost, swdae_cost, swdae_p_groups
from aerec.structure import GroupingParams, ItemGroups


def test_swdae_parameter_count_is_the_structure_plus_biases():
    rng = np.random.default_rng(0)
    m, K, R = 40, 10, 3
    groups = ItemGroups(np.stack([rng.choice(K, R, replace=False) for _ in range(m)]), GroupingParams(K, R, 4, "laplacian", "l2", 0, 10, "cpu"))
    X = sp.csr_matrix((rng.random((30, m)) < 0.2).astype(np.float32))
    model = SwDAE(n_groups=K, overlap=R, max_epochs=1).fit(X, groups=groups)
    assert model.n_parameters() == 2 * m * R + K + m == swdae_cost(m, K, R)["parameters"]


def test_fcdae_parameter_count():
    X = sp.csr_matrix(np.eye(20, dtype=np.float32))
    model = FCDAE(n_hidden=7, max_epochs=1).fit(X)
    assert model.n_parameters() == fcdae_cost(20, 7)["parameters"] == 2 * 20 * 7 + 7 + 20


def test_multvae_cost_by_hand():
    m = 1000
    expected = (m * 600 + 600) + (600 * 400 + 400) + (200 * 600 + 600) + (600 * m + m)
    assert multvae_cost(m)["parameters"] == expected
    assert multvae_cost(m)["flops_per_user"] == 2 * (m * 600 + 600 * 400 + 200 * 600 + 600 * m)


def test_swdae_p_matches_a_budget_from_below():
    m = 20108
    budget = multvae_cost(m)["parameters"]
    k = swdae_p_groups(budget, m)
    assert swdae_cost(m, k, round(0.1 * k))["parameters"] <= budget < swdae_cost(m, k + 1, round(0.1 * (k + 1)))["parameters"]


def test_swdae_p_trains_with_the_matched_width():
    rng = np.random.default_rng(0)
    m, budget = 60, 600
    X = sp.csr_matrix((rng.random((80, m)) < 0.2).astype(np.float32))
    model = SwDAE(match_parameters=budget, n_components=4, max_epochs=1).fit(X)
    assert model.config.n_groups == swdae_p_groups(budget, m) == 45  # R = 4: 2*60*4 + 45 + 60 = 585 <= 600; K = 46 has R = 5: 706
    assert model.n_parameters() <= budget
