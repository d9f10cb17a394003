"""K-means in torch (k-means++ seeding, optional LocalSearch++, Lloyd in chunked matmuls) and the R-nearest-centroid step.

The same code runs on the CPU and on CUDA; every random draw comes from a
``torch.Generator`` seeded by the caller, so one seed gives one clustering on
one device (the CPU and CUDA streams differ, so the two devices need not
agree with each other).

Seeding is greedy k-means++ (Arthur & Vassilvitskii, 2007, with the
``2 + ⌊ln K⌋`` candidates per step that scikit-learn uses): the first
centroid is a uniformly drawn point; each further step draws that many
candidates with probability proportional to ``D(x)²``, the squared distance
of a point to its nearest centroid so far, and keeps the candidate that
lowers ``Σ_x D(x)²`` most. :func:`local_search_plusplus` (Lattanzi & Sohler,
2019) can refine the seeds with swaps before Lloyd's iterations.

Lloyd's iterations alternate ``label(x) = argmin_k ||x - c_k||²`` and
``c_k = mean{x : label(x) = k}`` until no label changes (or ``max_iter``).
Distances are ``||x||² - 2 x·c + ||c||²``, computed for ``2^24 / K`` rows at
a time so that memory stays at 64 MiB of float32 whatever ``m x K`` is. A
cluster left empty is re-seeded (as scikit-learn does) at the points
farthest from their own centroids, which then move to it; no cluster gives
away its last point, so every cluster has a member when Lloyd's loop ends
unless there are fewer distinct points than clusters.

On ML-1M's Algorithm 1 embedding (3,497 x 50) this K-means took 1.0 / 1.9 /
4.2 s for K = 1,000 / 2,000 / 3,000 against 0.7 / 1.2 / 25 s for
scikit-learn's ``KMeans`` (Lloyd, k-means++, ``n_init=1``), at equal inertia
within 1 % (``benchmarks/bench_grouping.py --sklearn``, a loaded 2-core
machine), so it is used on the CPU too and scikit-learn is not needed.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import torch

_CHUNK_ELEMENTS = 1 << 24  # distance-matrix entries held at once (64 MiB of float32)


@dataclass
class KMeansResult:
    """The outcome of :func:`kmeans`.

    Attributes:
        centroids: ``(K, F)`` cluster means.
        labels: ``(m,)`` int64, the cluster of each point after the last
            assignment step.
        inertia: ``Σ_x ||x - c_label(x)||²`` at the last assignment.
        n_iter: Lloyd iterations run.
        converged: whether an assignment step changed no label.
        reseeded: empty clusters re-seeded over all iterations.
    """

    centroids: torch.Tensor
    labels: torch.Tensor
    inertia: float
    n_iter: int
    converged: bool
    reseeded: int


def kmeans(
    points: torch.Tensor,
    k: int,
    *,
    generator: torch.Generator,
    max_iter: int = 100,
    n_init: int = 1,
    local_search: int = 0,
    seeding: str = "auto",
) -> KMeansResult:
    """Cluster the rows of ``points`` ``(m, F)`` into ``k`` clusters: k-means++ seeding, then Lloyd's iterations.

    ``local_search`` steps of :func:`local_search_plusplus` refine the seeds
    before Lloyd's iterations. With ``n_init > 1`` the whole procedure runs
    that many times (one generator, drawn from in turn) and the run of least
    inertia is kept. ``seeding`` is :func:`kmeans_plusplus`'s.
    """
    m = points.shape[0]
    if not 1 <= k <= m:
        raise ValueError(f"kmeans: k={k} must be in 1..{m} (the number of points)")
    if n_init < 1 or local_search < 0:
        raise ValueError(f"kmeans: n_init={n_init} must be at least 1 and local_search={local_search} at least 0")
    sq = (points * points).sum(dim=1)  # (m,)
    best = _kmeans_once(points, sq, k, generator, max_iter, local_search, seeding)
    for _ in range(n_init - 1):
        run = _kmeans_once(points, sq, k, generator, max_iter, local_search, seeding)
        if run.inertia < best.inertia:
            best = run
    return best


def _kmeans_once(
    points: torch.Tensor, sq: torch.Tensor, k: int, generator: torch.Generator, max_iter: int, local_search: int, seeding: str
) -> KMeansResult:
    m = points.shape[0]
    with _one_cpu_thread(points.device):
        centroids = kmeans_plusplus(points, k, generator=generator, sq_norms=sq, seeding=seeding)
        if local_search and k > 1:
            centroids = local_search_plusplus(points, centroids, local_search, generator=generator, sq_norms=sq)
    labels = torch.full((m,), -1, dtype=torch.long, device=points.device)
    converged, reseeded, n_iter = False, 0, 0
    for n_iter in range(1, max_iter + 1):
        new_labels, dist = _nearest(points, sq, centroids)
        changed = bool((new_labels != labels).any())
        labels = new_labels
        centroids, n_empty = _update(points, labels, dist, k)
        reseeded += n_empty
        if not changed and n_empty == 0:
            converged = True
            break
    labels, dist = _nearest(points, sq, centroids)
    return KMeansResult(centroids, labels, float(dist.sum()), n_iter, converged, reseeded)


SEEDINGS = ("auto", "interleaved", "upfront", "graph")


def kmeans_plusplus(
    points: torch.Tensor, k: int, *, generator: torch.Generator, sq_norms: torch.Tensor | None = None, seeding: str = "auto"
) -> torch.Tensor:
    """Greedy k-means++ seeding: ``(k, F)`` initial centroids, each one a row of ``points``.

    The same greedy k-means++ three ways, which differ only in how the
    random numbers are drawn and how the ``k - 1`` steps are launched:

    * ``interleaved`` (``auto`` off CUDA): each step draws its candidates'
      uniforms, then its fallback indices, from ``generator`` as it goes;
    * ``upfront``: every step's draws are made first, ``(k, trials)`` of
      each, and the steps index them with a step counter held on the device,
      so no step depends on the host;
    * ``graph`` (``auto`` on CUDA): ``upfront``'s steps captured in a CUDA
      graph of up to 64 steps and replayed. The greedy seeding is ``k``
      dependent steps of about 15 tiny kernels each; launched one by one
      they took 5.8 s at K = 15,000 on an H200 (docs/RESULTS.md), bound by
      the launches, not the GPU. It gives exactly ``upfront``'s centroids
      (the same kernels on the same data); where capturing fails it warns
      and finishes the steps eagerly.
    """
    if seeding not in SEEDINGS:
        raise ValueError(f"seeding={seeding!r}: choose {', '.join(SEEDINGS)}")
    if seeding == "auto":
        seeding = "graph" if points.device.type == "cuda" else "interleaved"
    m, device = points.shape[0], points.device
    sq = (points * points).sum(dim=1) if sq_norms is None else sq_norms  # (m,)
    trials = 2 + int(math.log(k))
    first = torch.randint(m, (1,), generator=generator, device=device)
    chosen = torch.empty(k, dtype=torch.long, device=device)
    chosen[0] = first[0]
    closest = _sq_dist(points, sq, points[first]).squeeze(1)  # (m,) D(x)²
    if seeding != "interleaved":
        return _plusplus_upfront(points, sq, k, trials, chosen, closest, generator, graph=seeding == "graph")
    for j in range(1, k):
        # Draw candidates with probability D(x)² / Σ D²; uniform if every point is already a centroid.
        cum = torch.cumsum(closest.double(), dim=0)  # (m,)
        total = cum[-1]
        u = torch.rand(trials, generator=generator, device=device, dtype=torch.float64)
        candidates = torch.searchsorted(cum, u * total, right=True).clamp_(max=m - 1)  # (trials,)
        uniform = torch.randint(m, (trials,), generator=generator, device=device)
        candidates = torch.where(total > 0, candidates, uniform)
        d = torch.minimum(closest[:, None], _sq_dist(points, sq, points[candidates]))  # (m, trials)
        best = torch.argmin(d.sum(dim=0))
        chosen[j] = candidates[best]
        closest = d[:, best]
    return points[chosen].clone()


_GRAPH_STEPS = 64  # k-means++ steps per captured CUDA graph


def _plusplus_upfront(points, sq, k, trials, chosen, closest, generator, *, graph: bool) -> torch.Tensor:
    """Steps 1..k-1 of greedy k-means++ with every random number drawn first; optionally replayed from a CUDA graph."""
    m, device = points.shape[0], points.device
    u = torch.rand((k, trials), generator=generator, device=device, dtype=torch.float64)
    uniform = torch.randint(m, (k, trials), generator=generator, device=device)
    closest = closest.clone()
    j = torch.ones(1, dtype=torch.long, device=device)  # the step, on the device

    def step() -> None:
        cum = torch.cumsum(closest.double(), dim=0)  # (m,)
        total = cum[-1]
        candidates = torch.searchsorted(cum, u.index_select(0, j).squeeze(0) * total, right=True).clamp_(max=m - 1)
        candidates = torch.where(total > 0, candidates, uniform.index_select(0, j).squeeze(0))  # (trials,)
        d = torch.minimum(closest[:, None], _sq_dist(points, sq, points.index_select(0, candidates)))  # (m, trials)
        best = torch.argmin(d.sum(dim=0), keepdim=True)  # (1,)
        chosen.index_copy_(0, j, candidates.index_select(0, best))
        closest.copy_(d.index_select(1, best).squeeze(1))
        j.add_(1)

    done = 1
    if graph and k - 1 > 3 + _GRAPH_STEPS:
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up before capture (cuBLAS handles, the allocator); real steps
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        done += 3
        try:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for _ in range(_GRAPH_STEPS):
                    step()  # recorded, not run
            while done + _GRAPH_STEPS <= k:
                g.replay()
                done += _GRAPH_STEPS
        except Exception as e:  # noqa: BLE001  (any capture failure: finish eagerly)
            warnings.warn(f"k-means++: CUDA graph capture failed ({e}); seeding eagerly", stacklevel=3)
    for _ in range(done, k):
        step()
    return points[chosen].clone()


def local_search_plusplus(
    points: torch.Tensor, centroids: torch.Tensor, steps: int, *, generator: torch.Generator, sq_norms: torch.Tensor | None = None
) -> torch.Tensor:
    """LocalSearch++ (Lattanzi & Sohler, ICML 2019): ``steps`` swaps that lower the seeding cost, ``(K, F)``.

    Each step draws a point ``p`` with probability ``D(x)² / Σ D²`` and finds
    the centroid whose replacement by ``p`` lowers ``Σ_x D(x)²`` most,
    where ``D(x)`` is the distance to the nearest centroid:

        cost(j) = Σ_x min(d(x, p), d₁(x))  +  Σ_{x: c₁(x) = j} [min(d(x, p), d₂(x)) - min(d(x, p), d₁(x))]

    with ``d₁, d₂`` the distances to the nearest and second-nearest
    centroids and ``c₁`` the nearest. The swap is made if ``cost(j)`` is below
    the current ``Σ d₁``. Nearest and second-nearest are then updated: only
    the points whose ``c₁`` or ``c₂`` was the replaced centroid are recomputed
    against every centroid, so a step costs ``O(m F)`` plus ``O(2 m / K · K F)``
    on average. Lattanzi and Sohler show ``O(K log log K)`` steps give a
    constant-factor approximation in expectation; k-means++ alone gives
    ``O(log K)``.
    """
    m, k = points.shape[0], centroids.shape[0]
    sq = (points * points).sum(dim=1) if sq_norms is None else sq_norms  # (m,)
    C = centroids.clone()  # (K, F)
    d12, c12 = _two_nearest(points, sq, C)  # (m, 2) each
    for _ in range(steps):
        d1, d2, c1 = d12[:, 0], d12[:, 1], c12[:, 0]
        cum = torch.cumsum(d1.double(), dim=0)
        u = torch.rand(1, generator=generator, device=points.device, dtype=torch.float64) * cum[-1]
        p = torch.searchsorted(cum, u, right=True).clamp_(max=m - 1)  # (1,)
        dp = _sq_dist(points, sq, points[p]).squeeze(1)  # (m,)
        keep = torch.minimum(dp, d1)
        delta = torch.zeros(k, dtype=keep.dtype, device=keep.device).index_add_(0, c1, torch.minimum(dp, d2) - keep)
        j = torch.argmin(delta)
        if not bool(keep.sum() + delta[j] < d1.sum()):  # cost(j) below the current cost
            continue
        C[j] = points[p[0]]
        hit = (c12 == j).any(dim=1)  # points whose nearest or second nearest was replaced
        # Everyone else: the new centroid only competes with the two they have.
        closer1 = (dp < d1) & ~hit
        closer2 = (dp < d2) & ~closer1 & ~hit
        d12[closer2, 1], c12[closer2, 1] = dp[closer2], j
        d12[closer1, 1], c12[closer1, 1] = d1[closer1], c1[closer1]
        d12[closer1, 0], c12[closer1, 0] = dp[closer1], j
        if bool(hit.any()):
            idx = torch.nonzero(hit).squeeze(1)
            d12[idx], c12[idx] = _two_nearest(points[idx], sq[idx], C)
    return C


def nearest_centroids(points: torch.Tensor, centroids: torch.Tensor, r: int) -> torch.Tensor:
    """``(m, r)`` int64: for each point, its ``r`` nearest centroids, nearest first (chunked top-r)."""
    m, k = points.shape[0], centroids.shape[0]
    if not 1 <= r <= k:
        raise ValueError(f"nearest_centroids: r={r} must be in 1..{k}")
    sq = (points * points).sum(dim=1)
    csq = (centroids * centroids).sum(dim=1)
    out = torch.empty((m, r), dtype=torch.long, device=points.device)
    step = max(1, _CHUNK_ELEMENTS // k)
    for s in range(0, m, step):
        d = _sq_dist(points[s : s + step], sq[s : s + step], centroids, csq)  # (chunk, K)
        out[s : s + step] = torch.topk(d, r, dim=1, largest=False, sorted=True).indices
    return out


# -- helpers ------------------------------------------------------------------


@contextmanager
def _one_cpu_thread(device: torch.device):
    """Run the block with one torch CPU thread (no effect on CUDA), restoring the count after.

    k-means++ is ``K`` sequential steps of small operations (``m x (2 + ln K)``
    distances); threads only add synchronisation to them, and on a machine
    whose cores are shared they stall: on a loaded 2-core machine, seeding
    K=1000 centroids among 3,497 points took 0.55 s with one thread and 12 s
    with two.
    """
    if device.type != "cpu":
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _sq_dist(x: torch.Tensor, x_sq: torch.Tensor, c: torch.Tensor, c_sq: torch.Tensor | None = None) -> torch.Tensor:
    """``(len(x), len(c))`` squared Euclidean distances ``||x||² - 2 x·c + ||c||²``, clamped at 0."""
    if c_sq is None:
        c_sq = (c * c).sum(dim=1)
    d = torch.addmm(x_sq[:, None] + c_sq[None, :], x, c.T, alpha=-2.0)
    return d.clamp_(min=0.0)


def _two_nearest(points: torch.Tensor, sq: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(m, 2)`` squared distances to the nearest and second-nearest centroid, and their indices, chunked."""
    m, k = points.shape[0], centroids.shape[0]
    csq = (centroids * centroids).sum(dim=1)
    dist = torch.empty((m, 2), dtype=points.dtype, device=points.device)
    idx = torch.empty((m, 2), dtype=torch.long, device=points.device)
    step = max(1, _CHUNK_ELEMENTS // k)
    for s in range(0, m, step):
        d = _sq_dist(points[s : s + step], sq[s : s + step], centroids, csq)  # (chunk, K)
        dist[s : s + step], idx[s : s + step] = torch.topk(d, 2, dim=1, largest=False, sorted=True)
    return dist, idx


def _nearest(points: torch.Tensor, sq: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The nearest centroid of each point and the squared distance to it, ``chunk`` rows at a time."""
    m, k = points.shape[0], centroids.shape[0]
    csq = (centroids * centroids).sum(dim=1)
    labels = torch.empty(m, dtype=torch.long, device=points.device)
    dist = torch.empty(m, dtype=points.dtype, device=points.device)
    step = max(1, _CHUNK_ELEMENTS // k)
    for s in range(0, m, step):
        d = _sq_dist(points[s : s + step], sq[s : s + step], centroids, csq)  # (chunk, K)
        dist[s : s + step], labels[s : s + step] = d.min(dim=1)
    return labels, dist


def _update(points: torch.Tensor, labels: torch.Tensor, dist: torch.Tensor, k: int) -> tuple[torch.Tensor, int]:
    """Cluster means; empty clusters re-seeded at the farthest points, which move to them. Returns (centroids, #empty)."""
    counts = torch.bincount(labels, minlength=k)  # (K,)
    empty = torch.nonzero(counts == 0).squeeze(1)
    n_empty = int(empty.numel())
    if n_empty:
        # Only points whose cluster keeps another member may move, so no cluster empties in turn.
        # Farthest first; a cluster gives at most count - 1 points, so none empties in turn.
        movable = torch.nonzero(counts[labels] > 1).squeeze(1)
        order = movable[torch.argsort(dist[movable], descending=True, stable=True)]
        spare = (counts - 1).tolist()
        take: list[int] = []
        for d, lab in zip(order.tolist(), labels[order].tolist()):
            if len(take) == n_empty:
                break
            if spare[lab] > 0:
                spare[lab] -= 1
                take.append(d)
        labels = labels.clone()
        labels[torch.tensor(take, dtype=torch.long, device=points.device)] = empty[: len(take)]
        counts = torch.bincount(labels, minlength=k)
    sums = torch.zeros((k, points.shape[1]), dtype=points.dtype, device=points.device)
    sums.index_add_(0, labels, points)
    centroids = sums / counts.clamp(min=1).to(points.dtype)[:, None]
    return centroids, n_empty
