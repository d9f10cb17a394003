"""Overlapping item groups (Sw-DAE, §3.1): :func:`learn_groups` and the :class:`ItemGroups` it returns.

The pipeline, for either embedding:

1. **Embedding** (``m' x F``) of the ``m'`` items that have an interaction:
   ``V_F``, the leading eigenvectors of the normalised Laplacian
   (``algorithm="laplacian"``, Algorithm 1, :mod:`aerec.structure.spectral`),
   or ``P = U_F Σ_F`` from the SVD of ``Xᵀ`` (``algorithm="svd"``,
   Algorithm 2, :mod:`aerec.structure.svd`).
2. **Row normalisation** (step 4 of both algorithms), ``normalize``:

   * ``"l2"`` (the default): each row divided by its Euclidean length, as
     Ng, Jordan & Weiss (2001) do, the paper's reference [20] for this step.
     All-zero rows stay zero. Rows of unit length and Euclidean K-means are
     unchanged by any orthogonal change of basis of the columns, so the
     result does not depend on the signs (or, for repeated eigenvalues, the
     rotation) an eigensolver happens to return.
   * ``"sum"``: each row divided by its sum, the paper's literal "normalize
     ``V_F`` row-wise such that each row sums to one". Eigenvector rows have
     entries of both signs and can sum to about zero; a row whose
     ``|sum| <= 1e-6 · ||row||_1`` (``SUM_EPS``) is left as it is and counted
     in ``diagnostics["unnormalized_rows"]``, since dividing by it would throw
     the item arbitrarily far; a row with a negative sum is flipped through
     the origin. The sum depends on each eigenvector's arbitrary sign.
   * ``"none"``: the rows as they are.

   The default is chosen on planted groups (``benchmarks/bench_grouping.py
   --compare-normalize``; 5,000 users x 2,000 items x 200,000 interactions,
   50 groups, generator seeds 0-2): with one group per item and R = 1,
   ``"l2"`` recovers them exactly (``group_recovery`` 1.000 with either
   algorithm) and ``"sum"`` does not (0.23-0.27 with the Laplacian,
   0.15-0.26 with the SVD); with two groups per item and R = 2, ``"l2"``
   0.83-0.89 and ``"sum"`` 0.02.
3. **K-means** (:mod:`aerec.structure.kmeans`: greedy k-means++ seeding,
   optionally refined by ``kmeans_local_search`` LocalSearch++ swaps, then
   Lloyd's iterations; ``kmeans_n_init`` runs, the least inertia kept) of
   the normalised rows into ``K`` clusters. A cluster left empty is re-seeded
   at the points farthest from their centroids.
4. **Assignment**: each item is tied to its ``R`` nearest centroids, nearest
   first (``ItemGroups.item_groups``), so every item is in exactly ``R``
   groups. A group can still be empty: it is then no item's among its ``R``
   nearest. After K-means every cluster has a member, and once Lloyd's loop
   has converged each member's nearest centroid is its own, so this takes a
   run cut off by ``kmeans_iters`` or fewer distinct embedding rows than
   ``K`` (duplicates). Empty groups are not patched (that would break
   "exactly R per item" or "nearest"); they are reported in
   ``overlap()["empty_groups"]`` and by a warning.

Items without interactions have degree 0, so ``D^-1/2`` and their embedding
are undefined; they are left out of steps 1-3 and tied to the ``R`` largest
groups found for the others (ties to the lower group index), so that they
too have exactly ``R`` groups; ``diagnostics["inactive_items"]`` counts
them.

Parameters are checked before any work: ``2 <= K < m`` and ``K`` at most the
items with interactions; ``1 <= R < K``; ``1 <= F`` and ``F`` below both the
items with interactions and the users (the rank of Δ and of ``X`` is at most
the smaller), an error rather than a silent cap. A violation is a
:class:`ConfigError` naming the numbers.

**Overlapping planted groups** (``bench_grouping.py --overlap-study``): when
every item has exactly ``R`` planted groups, the embedding carries them (the
planted groups' own centroids in it, with "R nearest", score 0.999-1.000),
but K-means from k-means++ stops in local optima that merge some groups and
split others (0.78-0.91 over generator x grouping seeds, K* = 20 and 50);
more restarts help little (``kmeans_n_init=10``: 0.84-0.99), LocalSearch++
seeding much (``kmeans_local_search=10*K``: 0.98-1.00 at K* = 20,
0.90-1.00 at K* = 50). It is off by default, as in the paper: it costs about
0.2 ms a step on the CPU (ML-1M, K = 3,000: 30,000 steps add 6 s) and a
device synchronisation per step on CUDA. When items have different numbers
of planted groups (1-2, 1-3), "exactly R per item" itself caps the score
(0.90 and 0.77 with the planted centroids at R = 2).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from aerec.device import resolve_device
from aerec.errors import ConfigError, DataError
from aerec.structure.kmeans import kmeans, nearest_centroids
from aerec.structure.spectral import laplacian_eigenvectors, laplacian_factor
from aerec.structure.svd import svd_embedding

ALGORITHMS = ("laplacian", "svd")
NORMALIZATIONS = ("l2", "sum", "none")
SUM_EPS = 1e-6  # "sum" leaves a row alone when |sum| <= SUM_EPS * ||row||_1
STAGES = ("laplacian", "eigen", "normalize", "kmeans", "assign")


@dataclass(frozen=True)
class GroupingParams:
    """The parameters of one :func:`learn_groups` call.

    Attributes:
        n_groups: ``K``, the number of groups (hidden units of the Sw-DAE layer).
        overlap: ``R``, the groups each item is tied to (``R < K``; the paper
            uses ``R = 0.1 K``).
        n_components: ``F``, the embedding dimension (the paper: 50).
        algorithm: ``"laplacian"`` (Algorithm 1) or ``"svd"`` (Algorithm 2).
        normalize: the row normalisation of step 4: ``"l2"``, ``"sum"`` or ``"none"``.
        seed: seeds the eigensolver's start vector and K-means.
        kmeans_iters: the most Lloyd iterations.
        kmeans_n_init: K-means runs (k-means++ and Lloyd); the one of least
            inertia is kept.
        kmeans_local_search: LocalSearch++ swap steps refining each
            k-means++ seeding before Lloyd (0: plain k-means++, as the paper).
        device: where the eigensolver and K-means ran (``"cpu"``, ``"cuda"``, ...).
    """

    n_groups: int
    overlap: int
    n_components: int = 50
    algorithm: str = "laplacian"
    normalize: str = "l2"
    seed: int = 0
    kmeans_iters: int = 100
    kmeans_n_init: int = 1
    kmeans_local_search: int = 0
    device: str = "cpu"


@dataclass
class ItemGroups:
    """``K`` overlapping item groups, each item in exactly ``R`` of them.

    Attributes:
        item_groups: ``(m, R)`` int64: the groups of each item, nearest
            centroid first.
        params: the parameters used (``K = params.n_groups``, ``R = params.overlap``).
        spectrum: ``(F,)`` the eigenvalues of Δ (Algorithm 1) or the singular
            values of ``Xᵀ`` (Algorithm 2) behind the embedding, descending.
        timings: seconds per stage and in ``total``: ``laplacian`` (the
            input checks and, for Algorithm 1, ``D`` and ``Z = X D^-1/2``),
            ``eigen`` (the eigen- or singular vectors), ``normalize``,
            ``kmeans``, ``assign``.
        diagnostics: ``inactive_items`` (items without interactions),
            ``unnormalized_rows`` (``"sum"`` only), and K-means'
            ``kmeans_iterations``, ``kmeans_converged``, ``kmeans_reseeded``,
            ``kmeans_inertia``.
    """

    item_groups: np.ndarray
    params: GroupingParams
    spectrum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    timings: dict[str, float] = field(default_factory=dict)
    diagnostics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        g = np.asarray(self.item_groups)
        k, r = self.params.n_groups, self.params.overlap
        if g.ndim != 2 or g.shape[1] != r:
            raise ValueError(f"item_groups must be (items, R={r}), got {g.shape}")
        if g.size and (g.min() < 0 or g.max() >= k):
            raise ValueError(f"item_groups must hold group ids in 0..{k - 1}")
        if r > 1 and np.any(np.diff(np.sort(g, axis=1), axis=1) == 0):
            raise ValueError("an item lists one group twice")
        self.item_groups = g.astype(np.int64, copy=False)

    @property
    def n_groups(self) -> int:
        return self.params.n_groups

    @property
    def overlap_r(self) -> int:
        """``R``, the groups of every item."""
        return self.params.overlap

    @property
    def n_items(self) -> int:
        return self.item_groups.shape[0]

    @property
    def membership(self) -> sp.csr_matrix:
        """Items x K binary CSR (float32): 1 where the item is in the group."""
        m, r = self.item_groups.shape
        indices = np.sort(self.item_groups, axis=1).ravel()
        indptr = np.arange(0, m * r + 1, r, dtype=np.int64)
        return sp.csr_matrix((np.ones(m * r, dtype=np.float32), indices, indptr), shape=(m, self.n_groups))

    def sizes(self) -> np.ndarray:
        """``(K,)`` int64: the number of items in each group."""
        return np.bincount(self.item_groups.ravel(), minlength=self.n_groups)

    def overlap(self) -> dict[str, float]:
        """Summary statistics of the overlap (cheap: no K x K matrix is formed).

        ``groups_per_item`` is ``R`` (every item has exactly ``R``);
        ``items_per_group_{min,median,mean,max}``; ``empty_groups``;
        ``mean_shared_items_per_pair``, the mean of ``|A ∩ B|`` over the
        ``K(K-1)/2`` pairs of groups, ``= m R (R-1) / (K (K-1))`` since each
        item is shared by ``R(R-1)/2`` pairs.
        """
        s = self.sizes()
        m, r, k = self.n_items, self.params.overlap, self.n_groups
        return {
            "groups_per_item": float(r),
            "items_per_group_min": float(s.min()),
            "items_per_group_median": float(np.median(s)),
            "items_per_group_mean": float(s.mean()),
            "items_per_group_max": float(s.max()),
            "empty_groups": int((s == 0).sum()),
            "mean_shared_items_per_pair": m * r * (r - 1) / (k * (k - 1)),
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Numeric arrays for safetensors or ``.npz``: ``item_groups`` (int32 ``(m, R)``) and ``spectrum`` (float64 ``(F,)``).

        The parameters, timings and diagnostics are in :meth:`metadata`.
        """
        return {"item_groups": self.item_groups.astype(np.int32), "spectrum": np.asarray(self.spectrum, dtype=np.float64)}

    def metadata(self) -> dict[str, str]:
        """Strings (safetensors' metadata): each parameter by name, plus ``timings`` and ``diagnostics`` as JSON."""
        meta = {f.name: str(getattr(self.params, f.name)) for f in fields(GroupingParams)}
        meta["timings"] = json.dumps(self.timings)
        meta["diagnostics"] = json.dumps(self.diagnostics)
        return meta

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> ItemGroups:
        """The inverse of :meth:`to_arrays` and :meth:`metadata`."""
        kwargs = {}
        for f in fields(GroupingParams):
            if f.name in metadata:
                kwargs[f.name] = int(metadata[f.name]) if f.type in (int, "int") else str(metadata[f.name])
        return cls(
            item_groups=np.asarray(arrays["item_groups"]).astype(np.int64),
            params=GroupingParams(**kwargs),
            spectrum=np.asarray(arrays.get("spectrum", np.zeros(0)), dtype=np.float64),
            timings=json.loads(metadata.get("timings", "{}")),
            diagnostics=json.loads(metadata.get("diagnostics", "{}")),
        )


def save_groups(groups: ItemGroups, path: str | Path) -> Path:
    """Write ``groups`` to ``path`` (safetensors: the arrays and the parameters as metadata), atomically."""
    from safetensors.numpy import save

    from aerec.atomic import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, save(groups.to_arrays(), metadata=groups.metadata()))
    return path


def load_groups(path: str | Path) -> ItemGroups:
    """The item groups saved by :func:`save_groups` (``aerec groups --out``), checked before any use.

    A file that is not such a file, or whose arrays are out of range (a group
    index outside ``[0, K)``, an item listed twice in one group, a row count
    that is not the item count) is a :class:`DataError` naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (item groups from `aerec groups --out`)")
    try:
        from safetensors import safe_open

        arrays = load_file(str(path))
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"{path}: not a safetensors file of item groups ({e})") from None
    G = arrays.get("item_groups")
    if G is None or G.ndim != 2 or G.dtype.kind not in "iu" or G.shape[1] < 1:
        raise DataError(f"{path}: no item_groups array of shape (items, R) with integer entries")
    try:
        k, r = int(metadata["n_groups"]), int(metadata["overlap"])
    except (KeyError, ValueError) as e:
        raise DataError(f"{path}: its metadata does not give K and R as aerec writes them ({e})") from None
    if G.min() < 0 or G.max() >= k or r != G.shape[1]:
        raise DataError(f"{path}: group indices must lie in [0, {k}) with {r} per item")
    S = np.sort(G, axis=1)
    if (S[:, 1:] == S[:, :-1]).any():
        raise DataError(f"{path}: an item lists the same group twice")
    try:
        groups = ItemGroups.from_arrays(arrays, metadata)
    except (ValueError, TypeError, KeyError) as e:
        raise DataError(f"{path}: its metadata is not aerec's ({e})") from None
    return groups


def learn_groups(
    X: sp.spmatrix,
    *,
    n_groups: int,
    overlap: int,
    n_components: int = 50,
    algorithm: str = "laplacian",
    normalize: str = "l2",
    seed: int = 0,
    device: str = "cpu",
    kmeans_iters: int = 100,
    kmeans_n_init: int = 1,
    kmeans_local_search: int = 0,
    progress: bool = False,
) -> ItemGroups:
    """Group the items (columns) of the users x items matrix ``X`` into ``n_groups`` (K) overlapping groups.

    Algorithm 1 (``algorithm="laplacian"``) or 2 (``"svd"``) of Sw-DAE §3.1,
    each item tied to its ``overlap`` (R) nearest centroids; the module
    docstring lists the steps and how the cases the paper leaves open are
    handled. ``device`` is ``"cpu"``, ``"cuda"`` or ``"auto"``; the same seed
    gives the same groups on the same device.
    """
    start = time.perf_counter()
    X = _check_matrix(X)
    n, m = X.shape
    active = np.flatnonzero(np.bincount(X.indices, minlength=m) > 0)  # items with an interaction (zeros were dropped)
    dev = resolve_device(device)
    params = GroupingParams(n_groups, overlap, n_components, algorithm, normalize, seed, kmeans_iters, kmeans_n_init, kmeans_local_search, str(dev))
    _check_params(params, n_users=n, n_items=m, n_active=len(active))
    k, r, f = n_groups, overlap, n_components

    timings: dict[str, float] = {}
    diagnostics: dict[str, float] = {"inactive_items": int(m - len(active))}
    bar = tqdm(total=len(STAGES), desc="item groups", disable=not progress)
    clock = start

    def stage(name: str) -> None:
        nonlocal clock
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now
        bar.set_postfix_str(f"{name} {timings[name]:.2f} s")
        bar.update(1)

    Xa = X[:, active] if len(active) < m else X
    if algorithm == "laplacian":
        Z, _ = laplacian_factor(Xa)
        stage("laplacian")
        embedding, spectrum = laplacian_eigenvectors(Z, f, seed=seed, device=dev)
        del Z
    else:
        stage("laplacian")  # Algorithm 2 has no Laplacian
        embedding, spectrum = svd_embedding(Xa, f, seed=seed, device=dev)
    stage("eigen")

    points, n_unnormalized = normalize_rows(embedding, normalize)
    if normalize == "sum":
        diagnostics["unnormalized_rows"] = int(n_unnormalized)
    x = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)).to(dev)  # (m', F)
    stage("normalize")

    gen = torch.Generator(device=dev).manual_seed(seed)
    km = kmeans(x, k, generator=gen, max_iter=kmeans_iters, n_init=kmeans_n_init, local_search=kmeans_local_search)
    diagnostics.update(
        kmeans_iterations=km.n_iter, kmeans_converged=bool(km.converged), kmeans_reseeded=km.reseeded, kmeans_inertia=km.inertia
    )
    stage("kmeans")

    nearest = nearest_centroids(x, km.centroids, r).cpu().numpy()  # (m', R)
    item_groups = np.empty((m, r), dtype=np.int64)
    item_groups[active] = nearest
    if len(active) < m:
        sizes = np.bincount(nearest.ravel(), minlength=k)
        item_groups[np.setdiff1d(np.arange(m), active)] = np.argsort(-sizes, kind="stable")[:r]
    stage("assign")
    bar.close()
    timings["total"] = time.perf_counter() - start  # the stages and the input checks

    groups = ItemGroups(item_groups, params, np.asarray(spectrum, dtype=np.float64), timings, diagnostics)
    empty = groups.overlap()["empty_groups"]
    if empty:
        warnings.warn(
            f"item groups: {empty} of {k} groups are empty (K-means converged: {km.converged}; "
            f"fewer distinct item embeddings than K?)",
            stacklevel=2,
        )
    return groups


def normalize_rows(V: np.ndarray, mode: str) -> tuple[np.ndarray, int]:
    """Step 4: ``(rows normalised, rows left alone)`` for ``mode`` ``"l2"``, ``"sum"`` or ``"none"`` (module docstring)."""
    V = np.asarray(V, dtype=np.float64)
    if mode == "none":
        return V.copy(), 0
    if mode == "l2":
        norm = np.linalg.norm(V, axis=1)
        scale = np.divide(1.0, norm, out=np.ones_like(norm), where=norm > 0)
        return V * scale[:, None], int((norm == 0).sum())
    if mode == "sum":
        total = V.sum(axis=1)
        ok = np.abs(total) > SUM_EPS * np.abs(V).sum(axis=1)
        scale = np.divide(1.0, total, out=np.ones_like(total), where=ok)
        return V * scale[:, None], int((~ok).sum())
    raise ConfigError(f"normalize={mode!r}: choose one of {', '.join(NORMALIZATIONS)}")


# -- checks -------------------------------------------------------------------


def _check_matrix(X: sp.spmatrix) -> sp.csr_matrix:
    if not sp.issparse(X) or X.ndim != 2:
        raise DataError("learn_groups: X must be a users x items scipy.sparse matrix")
    X = sp.csr_matrix(X, dtype=np.float64)
    X.eliminate_zeros()
    if X.nnz and X.data.min() < 0:
        raise DataError("learn_groups: X has negative entries; item grouping needs non-negative feedback")
    if not np.isfinite(X.data).all():
        raise DataError("learn_groups: X has non-finite entries")
    return X


def _check_params(p: GroupingParams, *, n_users: int, n_items: int, n_active: int) -> None:
    if p.algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm={p.algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if p.normalize not in NORMALIZATIONS:
        raise ConfigError(f"normalize={p.normalize!r}: choose one of {', '.join(NORMALIZATIONS)}")
    if not 0 <= p.seed <= 2**63 - 2**16:  # torch's generators take signed 64-bit seeds
        raise ConfigError(f"seed={p.seed}: must lie in [0, 2^63 - 2^16]")
    k, r, f = p.n_groups, p.overlap, p.n_components
    if k < 2:
        raise ConfigError(f"K={k}: at least 2 groups are needed (R must be at least 1 and smaller than K)")
    if k >= n_items:
        raise ConfigError(f"K={k} must be smaller than the {n_items:,} items")
    if k > n_active:
        raise ConfigError(f"K={k} must be at most the {n_active:,} items with interactions ({n_items - n_active:,} have none)")
    if not 1 <= r < k:
        raise ConfigError(f"R={r} must be at least 1 and smaller than K={k}")
    limit = min(n_active, n_users)
    if not 1 <= f < limit:
        raise ConfigError(
            f"F={f} (n_components) must be at least 1 and smaller than min({n_active:,} items with interactions, {n_users:,} users)"
        )
    if p.kmeans_iters < 1 or p.kmeans_n_init < 1 or p.kmeans_local_search < 0:
        raise ConfigError(
            f"kmeans_iters={p.kmeans_iters} and kmeans_n_init={p.kmeans_n_init} must be at least 1, "
            f"kmeans_local_search={p.kmeans_local_search} at least 0"
        )
