"""learn_groups: planted groups are recovered, the output keeps its contract, and bad arguments are clear errors.

Planted-group settings and what they score over seeds (the tests themselves
use seed 0 for the generator and for the grouping; nothing was picked):

* ``DISJOINT`` (one group per item, K* = 20), R = 1, generator seeds 0-4 x
  grouping seeds 0-1: 1.000 with ``normalize="l2"``, 0.03-0.19 with the
  paper's literal ``"sum"``;
* ``OVERLAPPING`` (two groups per item, K* = 20), R = 2, seeds 0-2 x 0-2:
  the planted groups' own centroids in the embedding score 0.999, so the
  embedding and "R nearest centroids" carry them; plain K-means (k-means++,
  Lloyd) stops in local optima (0.78-0.91); seeded by LocalSearch++ (10 K
  steps) it gives 0.98-1.00.

``benchmarks/bench_grouping.py --compare-normalize --overlap-study`` prints
the same comparisons on larger settings.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.data.synthetic import SyntheticConfig, generate, group_recovery
from aerec.errors import ConfigError, DataError
from aerec.structure import GroupingParams, ItemGroups, learn_groups, normalize_rows, spectral_embedding
from aerec.structure.kmeans import nearest_centroids

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

DISJOINT = SyntheticConfig(users=2500, items=1000, interactions=80_000, groups=20, groups_per_item=(1, 1), seed=0)
OVERLAPPING = SyntheticConfig(groups=20, groups_per_item=(2, 2), seed=0)  # 5,000 users x 2,000 items x 200,000


def matrix(cfg: SyntheticConfig) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    s = generate(cfg)
    x = s.interactions
    X = sp.csr_matrix((np.ones(len(x), dtype=np.float32), (x.user, x.item)), shape=(cfg.users, cfg.items))
    return X, sp.csr_matrix(s.item_groups)


@pytest.fixture(scope="module")
def disjoint():
    return matrix(DISJOINT)


@pytest.fixture(scope="module")
def overlapping():
    return matrix(OVERLAPPING)


def random_feedback(n_users=300, n_items=120, density=0.08, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=density, random_state=rng, format="csr")
    X.data[:] = 1.0
    return X


# -- planted groups -----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["laplacian", "svd"])
def test_disjoint_planted_groups_are_recovered(disjoint, algorithm):
    X, truth = disjoint
    groups = learn_groups(X, n_groups=20, overlap=1, n_components=20, algorithm=algorithm)
    assert group_recovery(truth, groups.membership) >= 0.9


def test_l2_rows_recover_what_the_literal_sum_rows_lose(disjoint):
    X, truth = disjoint
    l2 = group_recovery(truth, learn_groups(X, n_groups=20, overlap=1, n_components=20, normalize="l2").membership)
    total = group_recovery(truth, learn_groups(X, n_groups=20, overlap=1, n_components=20, normalize="sum").membership)
    assert l2 >= 0.9
    assert total < l2 - 0.3


def test_overlapping_planted_groups_are_carried_by_the_embedding(overlapping):
    """With K-means replaced by the planted groups' centroids, "R nearest centroids" recovers them."""
    X, truth = overlapping
    P = normalize_rows(spectral_embedding(X, 20)[0], "l2")[0]
    C = (truth.T @ P) / np.asarray(truth.sum(axis=0)).ravel()[:, None]
    near = nearest_centroids(torch.from_numpy(P.astype(np.float32)), torch.from_numpy(C.astype(np.float32)), 2).numpy()
    found = ItemGroups(near, GroupingParams(n_groups=20, overlap=2)).membership
    assert group_recovery(truth, found) >= 0.99


def test_overlapping_planted_groups_are_recovered_with_local_search_seeding(overlapping):
    X, truth = overlapping
    groups = learn_groups(X, n_groups=20, overlap=2, n_components=20, kmeans_local_search=200)
    assert group_recovery(truth, groups.membership) >= 0.9


# -- the contract -------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["laplacian", "svd"])
def test_every_item_is_in_exactly_r_of_k_groups(algorithm):
    X = random_feedback()
    g = learn_groups(X, n_groups=12, overlap=3, n_components=8, algorithm=algorithm)
    assert g.item_groups.shape == (120, 3)
    assert g.n_groups == 12 and g.membership.shape == (120, 12)
    M = g.membership
    np.testing.assert_array_equal(np.diff(M.indptr), 3)
    for i in range(120):
        assert set(M[i].indices) == set(g.item_groups[i])
    np.testing.assert_array_equal(g.sizes(), np.asarray(M.sum(axis=0)).ravel())
    assert g.sizes().sum() == 120 * 3
    assert set(g.timings) == {"laplacian", "eigen", "normalize", "kmeans", "assign", "total"}
    assert g.params.algorithm == algorithm and g.params.n_components == 8 and g.params.normalize == "l2"
    assert len(g.spectrum) == 8 and np.all(np.diff(g.spectrum) <= 1e-12)


def test_groups_of_an_item_are_its_nearest_centroids_first():
    X = random_feedback(seed=1)
    g = learn_groups(X, n_groups=10, overlap=4, n_components=6)
    # The first group of each item is its own K-means cluster, so every group is some item's first.
    assert g.overlap()["empty_groups"] == 0
    assert len(np.unique(g.item_groups[:, 0])) == 10


def test_the_same_seed_gives_the_same_groups_and_another_seed_may_not():
    X = random_feedback(seed=2)
    a = learn_groups(X, n_groups=15, overlap=2, n_components=10, seed=0)
    b = learn_groups(X, n_groups=15, overlap=2, n_components=10, seed=0)
    np.testing.assert_array_equal(a.item_groups, b.item_groups)
    c = learn_groups(X, n_groups=15, overlap=2, n_components=10, seed=1)
    assert not np.array_equal(a.item_groups, c.item_groups)


def test_items_without_interactions_get_the_r_largest_groups():
    X = random_feedback(seed=3).tolil()
    X[:, [5, 77]] = 0
    X = sp.csr_matrix(X)
    X.eliminate_zeros()
    g = learn_groups(X, n_groups=10, overlap=3, n_components=6)
    assert g.diagnostics["inactive_items"] == 2
    active = np.setdiff1d(np.arange(120), [5, 77])
    sizes = np.bincount(g.item_groups[active].ravel(), minlength=10)
    largest = np.argsort(-sizes, kind="stable")[:3]
    for i in (5, 77):
        np.testing.assert_array_equal(g.item_groups[i], largest)


def test_overlap_statistics():
    g = ItemGroups(np.array([[0, 1], [1, 2], [0, 2], [0, 1]]), GroupingParams(n_groups=4, overlap=2))
    stats = g.overlap()
    assert stats["empty_groups"] == 1 and stats["items_per_group_max"] == 3 and stats["groups_per_item"] == 2
    M = g.membership.toarray()
    shared = M.T @ M
    pairs = [shared[a, b] for a in range(4) for b in range(a + 1, 4)]
    assert stats["mean_shared_items_per_pair"] == pytest.approx(np.mean(pairs))


def test_round_trip_through_npz_and_safetensors(tmp_path):
    g = learn_groups(random_feedback(seed=4), n_groups=8, overlap=2, n_components=5, algorithm="svd", seed=3)
    arrays, meta = g.to_arrays(), g.metadata()
    assert all(isinstance(v, str) for v in meta.values())
    np.savez(tmp_path / "g.npz", **arrays)
    with np.load(tmp_path / "g.npz", allow_pickle=False) as f:
        back = ItemGroups.from_arrays(dict(f), meta)
    np.testing.assert_array_equal(back.item_groups, g.item_groups)
    assert back.params == g.params and back.timings == g.timings and back.diagnostics == g.diagnostics
    safetensors = pytest.importorskip("safetensors.numpy")
    safetensors.save_file(arrays, tmp_path / "g.safetensors", metadata=meta)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "g.safetensors"), framework="numpy") as f:
        back = ItemGroups.from_arrays({k: f.get_tensor(k) for k in f.keys()}, f.metadata())
    np.testing.assert_array_equal(back.item_groups, g.item_groups)
    assert back.params == g.params


# -- row normalisation --------------------------------------------------------


def test_row_normalisations():
    V = np.array([[3.0, 4.0], [2.0, 2.0], [1.0, -1.0], [-1.0, -3.0], [0.0, 0.0]])
    l2, n_zero = normalize_rows(V, "l2")
    np.testing.assert_allclose(np.linalg.norm(l2[:4], axis=1), 1.0)
    assert n_zero == 1 and np.all(l2[4] == 0)
    total, left = normalize_rows(V, "sum")
    np.testing.assert_allclose(total[[0, 1, 3]].sum(axis=1), 1.0)
    np.testing.assert_allclose(total[3], [0.25, 0.75])  # a negative sum flips the row
    np.testing.assert_array_equal(total[2], V[2])  # sum 0: left as it is
    assert left == 2  # the zero-sum row and the zero row
    assert np.array_equal(normalize_rows(V, "none")[0], V)


def test_near_zero_sums_are_reported_not_blown_up():
    X = random_feedback(seed=5)
    g = learn_groups(X, n_groups=10, overlap=2, n_components=8, normalize="sum")
    assert "unnormalized_rows" in g.diagnostics
    V = np.array([[1.0, -1.0 + 1e-9, 0.5, -0.5]])
    out, left = normalize_rows(V, "sum")
    assert left == 1 and np.array_equal(out, V)


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_groups": 120, "overlap": 2}, "K=120 must be smaller than the 120 items"),
        ({"n_groups": 5000, "overlap": 2}, "K=5000 must be smaller than the 120 items"),
        ({"n_groups": 10, "overlap": 10}, "R=10 must be at least 1 and smaller than K=10"),
        ({"n_groups": 10, "overlap": 0}, "R=0"),
        ({"n_groups": 1, "overlap": 1}, "at least 2 groups"),
        ({"n_groups": 10, "overlap": 2, "n_components": 120}, "F=120"),
        ({"n_groups": 10, "overlap": 2, "n_components": 0}, "F=0"),
        ({"n_groups": 10, "overlap": 2, "algorithm": "pca"}, "algorithm='pca'"),
        ({"n_groups": 10, "overlap": 2, "normalize": "max"}, "normalize='max'"),
        ({"n_groups": 10, "overlap": 2, "kmeans_iters": 0}, "kmeans_iters=0"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        learn_groups(random_feedback(), **kwargs)


def test_k_above_the_items_with_interactions_is_an_error():
    X = sp.lil_matrix((50, 30))
    X[:, :8] = 1.0
    with pytest.raises(ConfigError, match="at most the 8 items with interactions"):
        learn_groups(sp.csr_matrix(X), n_groups=10, overlap=2, n_components=2)


def test_f_at_least_the_users_is_an_error():
    with pytest.raises(ConfigError, match="F=20"):
        learn_groups(random_feedback(n_users=20, n_items=60, density=0.3), n_groups=5, overlap=2, n_components=20)


def test_bad_matrices_are_data_errors():
    with pytest.raises(DataError, match="scipy.sparse"):
        learn_groups(np.ones((5, 5)), n_groups=2, overlap=1)
    X = random_feedback()
    X.data[0] = -1.0
    with pytest.raises(DataError, match="negative"):
        learn_groups(X, n_groups=5, overlap=1, n_components=3)


@cuda
def test_cuda_recovers_disjoint_planted_groups(disjoint):
    X, truth = disjoint
    groups = learn_groups(X, n_groups=20, overlap=1, n_components=20, device="cuda")
    assert groups.params.device.startswith("cuda")
    assert group_recovery(truth, groups.membership) >= 0.9
