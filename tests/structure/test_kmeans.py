"""The torch K-means on data whose clusters are known, and its pieces against brute force."""

import warnings

import numpy as np
import pytest
import torch

from aerec.structure.kmeans import _update, kmeans, kmeans_plusplus, local_search_plusplus, nearest_centroids


def blobs(k=6, per=40, dim=5, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 3
    labels = np.repeat(np.arange(k), per)
    points = centres[labels] + spread * rng.normal(size=(k * per, dim))
    return torch.from_numpy(points.astype(np.float32)), labels


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True if the two labelings define the same clusters, up to renaming."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def seeding_cost(points: torch.Tensor, centroids: torch.Tensor) -> float:
    return float(torch.cdist(points.double(), centroids.double()).min(dim=1).values.pow(2).sum())


@pytest.mark.parametrize("local_search", [0, 30])
def test_separated_blobs_are_found_exactly(local_search):
    x, truth = blobs()
    result = kmeans(x, 6, generator=torch.Generator().manual_seed(0), local_search=local_search)
    assert same_partition(result.labels.numpy(), truth)
    assert result.converged and result.reseeded == 0
    means = torch.stack([x[result.labels == c].mean(dim=0) for c in range(6)])
    torch.testing.assert_close(result.centroids, means)
    assert result.inertia == pytest.approx(float(((x - means[result.labels]) ** 2).sum()), rel=1e-4)


def test_the_same_seed_gives_the_same_clustering():
    x = torch.randn(500, 8, generator=torch.Generator().manual_seed(1))
    a = kmeans(x, 20, generator=torch.Generator().manual_seed(3))
    b = kmeans(x, 20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.labels, b.labels) and torch.equal(a.centroids, b.centroids)
    c = kmeans(x, 20, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a.centroids, c.centroids)


def test_n_init_keeps_the_run_of_least_inertia():
    x = torch.randn(400, 6, generator=torch.Generator().manual_seed(2))
    single = kmeans(x, 15, generator=torch.Generator().manual_seed(5))
    best = kmeans(x, 15, generator=torch.Generator().manual_seed(5), n_init=4)  # its first run is `single`
    assert best.inertia <= single.inertia


def test_seeds_are_distinct_points_of_the_data():
    x, _ = blobs()
    c = kmeans_plusplus(x, 6, generator=torch.Generator().manual_seed(0))
    rows = {tuple(r) for r in x.numpy().tolist()}
    assert all(tuple(r) in rows for r in c.numpy().tolist())
    assert len({tuple(r) for r in c.numpy().tolist()}) == 6


def test_local_search_never_raises_the_seeding_cost():
    x = torch.randn(600, 4, generator=torch.Generator().manual_seed(6))
    gen = torch.Generator().manual_seed(7)
    c0 = kmeans_plusplus(x, 25, generator=gen)
    c1 = local_search_plusplus(x, c0, 200, generator=gen)
    assert seeding_cost(x, c1) <= seeding_cost(x, c0) + 1e-6
    assert seeding_cost(x, c1) < seeding_cost(x, c0)  # 200 swaps on 25 random seeds do find something


def test_nearest_centroids_are_sorted_brute_force_neighbours():
    g = torch.Generator().manual_seed(8)
    x, c = torch.randn(300, 7, generator=g), torch.randn(40, 7, generator=g)
    got = nearest_centroids(x, c, 5).numpy()
    d = torch.cdist(x.double(), c.double()).numpy()
    np.testing.assert_array_equal(got, np.argsort(d, axis=1, kind="stable")[:, :5])


def test_an_empty_cluster_is_reseeded_at_the_farthest_point():
    x = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1]])
    labels = torch.tensor([0, 0, 0, 0, 1])  # cluster 2 empty; point 3 is far from cluster 0's mean
    dist = torch.tensor([0.0, 0.0, 0.0, 100.0, 0.0])
    centroids, n_empty = _update(x, labels, dist, 3)
    assert n_empty == 1
    torch.testing.assert_close(centroids[2], x[3])
    torch.testing.assert_close(centroids[0], x[:3].mean(dim=0))


def test_more_clusters_than_distinct_points_does_not_fail():
    x = torch.tensor([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    result = kmeans(x, 4, generator=torch.Generator().manual_seed(0), max_iter=5)
    assert result.labels.shape == (10,)
    assert result.inertia == pytest.approx(0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_finds_the_blobs_and_repeats_itself():
    x, truth = blobs()
    x = x.cuda()
    a = kmeans(x, 6, generator=torch.Generator(device="cuda").manual_seed(0), local_search=20)
    b = kmeans(x, 6, generator=torch.Generator(device="cuda").manual_seed(0), local_search=20)
    assert same_partition(a.labels.cpu().numpy(), truth)
    assert torch.equal(a.labels, b.labels)
    assert nearest_centroids(x, a.centroids, 3).device.type == "cuda"


def reference_plusplus_upfront(points: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Greedy k-means++ written out in float64 numpy, fed the random numbers ``seeding="upfront"`` draws, in its order."""
    m = points.shape[0]
    trials = 2 + int(np.log(k))
    gen = torch.Generator().manual_seed(seed)
    first = int(torch.randint(m, (1,), generator=gen))
    u = torch.rand((k, trials), generator=gen, dtype=torch.float64).numpy()
    x = points.double().numpy()
    chosen = [first]
    closest = ((x - x[first]) ** 2).sum(1)
    for j in range(1, k):
        cum = np.cumsum(closest)
        cands = np.minimum(np.searchsorted(cum, u[j] * cum[-1], side="right"), m - 1)
        d = np.minimum(closest[:, None], ((x[:, None, :] - x[cands][None]) ** 2).sum(2))
        best = int(np.argmin(d.sum(0)))
        chosen.append(int(cands[best]))
        closest = d[:, best]
    return torch.from_numpy(x[chosen])


def test_upfront_seeding_is_greedy_kmeanspp_on_its_draws():
    """The seeding the CUDA graph replays, selected on the CPU, against a literal float64 reference."""
    x, _ = blobs(k=8, per=25, dim=4, spread=0.5, seed=3)
    got = kmeans_plusplus(x, 12, generator=torch.Generator().manual_seed(7), seeding="upfront")
    ref = reference_plusplus_upfront(x, 12, 7)
    torch.testing.assert_close(got.double(), ref)
    assert len({tuple(r) for r in got.tolist()}) == 12
    with pytest.raises(ValueError, match="seeding"):
        kmeans_plusplus(x, 3, generator=torch.Generator().manual_seed(0), seeding="nope")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_seeding_equals_the_eager_upfront_seeding():
    x, _ = blobs(k=30, per=60, dim=8, spread=0.5, seed=4)
    x = x.cuda()
    k = 3 + 1 + 2 * 64 + 17  # warm-up steps, two graph replays and an eager remainder
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed capture warns and falls back: that must not pass unseen
        graph = kmeans_plusplus(x, k, generator=torch.Generator(device="cuda").manual_seed(1), seeding="graph")
    eager = kmeans_plusplus(x, k, generator=torch.Generator(device="cuda").manual_seed(1), seeding="upfront")
    assert torch.equal(graph, eager)
    assert len({tuple(r) for r in graph.cpu().tolist()}) == k
