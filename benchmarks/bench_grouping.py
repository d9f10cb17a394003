"""Time item grouping (Sw-DAE §3.1, Algorithms 1 and 2) stage by stage, and score it on planted groups.

What it runs (tables on stdout, progress on stderr):

* **ml-1m** (a prepared directory, default ``runs/ml-1m``): both algorithms
  at ``F = 50`` and each ``K`` of ``--ks`` (default 1000, 2000, 3000) with
  ``R = K / 10``, the paper's setting (§4.3); seconds per stage
  (``laplacian``, ``eigen``, ``normalize``, ``kmeans``, ``assign``) and in
  total, as :attr:`ItemGroups.timings` reports them. ``--sklearn`` adds
  scikit-learn's ``KMeans`` (Lloyd, k-means++, ``n_init=1``) on the same
  embedding, for comparison with the torch K-means.
* **synthetic** (:func:`aerec.data.synthetic.generate`; default 5,000 users x
  2,000 items x 200,000 interactions, 50 planted groups, each item in 1-3 of
  them): the same table at ``K`` = the planted groups and ``R = --overlap``,
  plus ``group_recovery`` against the planted groups. The matrix is every
  generated user (no split), so columns are the generator's item ids.
  ``--ml20m`` makes it ML-20M's shape (136,677 users x 20,108 items x 10M
  interactions) and times ``K = 15,000``, ``R = 1,500`` as well (slow on a
  CPU: K-means++ is 15,000 sequential steps over 20k points).
* ``--compare-normalize``: the row normalisation of step 4 (``l2``, the
  paper's literal ``sum``, ``none``) x both algorithms on planted groups,
  non-overlapping (each item in one group, ``R = 1``) and overlapping (each
  item in two, ``R = 2``), over three generator seeds.
* ``--overlap-study``: where overlapping planted groups are lost: the
  recovery with K-means replaced by the planted groups' own centroids in the
  embedding (what the embedding plus "R nearest centroids" can do), then the
  paper's K-means (k-means++ and Lloyd), K-means with ``n_init = 10``, and
  K-means seeded with LocalSearch++ (``10 K`` steps), over three generator
  seeds x three grouping seeds; and the ceiling that "exactly R groups per
  item" puts on planted groups whose items have 1-2 or 1-3 groups.

Run from the repository root, in the project's virtual environment::

    python benchmarks/bench_grouping.py                         # ml-1m (K = 1000, 2000, 3000) and the small synthetic set
    python benchmarks/bench_grouping.py --skip-synth --sklearn  # ml-1m, with scikit-learn's K-means beside
    python benchmarks/bench_grouping.py --skip-ml1m --ml20m     # ML-20M-shaped synthetic data
    python benchmarks/bench_grouping.py --skip-ml1m --skip-synth --compare-normalize --overlap-study
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from common import footer, machine_header, say

from aerec.data.prepared import PreparedDataset
from aerec.data.synthetic import SyntheticConfig, generate, group_recovery
from aerec.structure import ItemGroups, learn_groups, normalize_rows, spectral_embedding
from aerec.structure.groups import STAGES
from aerec.structure.kmeans import nearest_centroids

HEAD = f"{'data':<22} {'algorithm':<10} {'K':>6} {'R':>5} " + " ".join(f"{s:>9}" for s in STAGES) + f" {'total s':>8} {'iters':>5} {'recovery':>8}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ml1m", type=Path, default=Path("runs/ml-1m"), help="a prepared ml-1m directory (default runs/ml-1m)")
    p.add_argument("--ks", type=str, default="1000,2000,3000", help="K values for ml-1m, comma-separated (R = K/10)")
    p.add_argument("--components", type=int, default=50, help="F (default 50)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    p.add_argument("--repeat", type=int, default=1, help="runs of every configuration; the fastest total is shown (default 1)")
    p.add_argument("--sklearn", action="store_true", help="also time scikit-learn's KMeans on the ml-1m embeddings")
    p.add_argument("--skip-ml1m", action="store_true")
    p.add_argument("--skip-synth", action="store_true")
    p.add_argument("--users", type=int, default=5000, help="synthetic users (default 5000)")
    p.add_argument("--items", type=int, default=2000, help="synthetic items (default 2000)")
    p.add_argument("--interactions", type=int, default=200_000, help="synthetic interactions (default 200,000)")
    p.add_argument("--groups", type=int, default=50, help="planted groups K* (default 50)")
    p.add_argument("--groups-per-item", type=str, default="1,3", help="lo,hi planted groups per item (default 1,3)")
    p.add_argument("--overlap", type=int, default=2, help="R for the synthetic run at K = K* (default 2)")
    p.add_argument("--ml20m", action="store_true", help="synthetic data of ML-20M's shape; also times K=15000, R=1500")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator and of the grouping (default 0)")
    p.add_argument("--compare-normalize", action="store_true", help="l2 / sum / none on planted groups")
    p.add_argument("--overlap-study", action="store_true", help="where overlapping planted groups are lost")
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    print(machine_header("bench_grouping: item grouping (Algorithms 1 and 2), stage by stage"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; device {args.device}")
    if not args.skip_ml1m:
        bench_ml1m(args)
    if not args.skip_synth:
        bench_synth(args)
    if args.compare_normalize:
        compare_normalize(args)
    if args.overlap_study:
        overlap_study(args)
    print(footer())
    return 0


# -- timing tables ------------------------------------------------------------


def run(X: sp.csr_matrix, label: str, args, k: int, r: int, algorithm: str, truth: sp.spmatrix | None = None) -> ItemGroups:
    best = None
    for _ in range(args.repeat):
        g = learn_groups(X, n_groups=k, overlap=r, n_components=args.components, algorithm=algorithm, seed=args.seed, device=args.device)
        if best is None or g.timings["total"] < best.timings["total"]:
            best = g
    rec = f"{group_recovery(truth, best.membership):>8.3f}" if truth is not None else f"{'':>8}"
    cells = " ".join(f"{best.timings[s]:>9.2f}" for s in STAGES)
    print(f"{label:<22} {algorithm:<10} {k:>6} {r:>5} {cells} {best.timings['total']:>8.2f} {best.diagnostics['kmeans_iterations']:>5} {rec}", flush=True)
    return best


def bench_ml1m(args) -> None:
    if not args.ml1m.is_dir():
        say(f"{args.ml1m}: not a prepared directory; skipping ml-1m")
        return
    X = PreparedDataset.load(args.ml1m).train
    print(f"\n-- ml-1m ({args.ml1m}): {X.shape[0]:,} training users x {X.shape[1]:,} items, {X.nnz:,} interactions; F = {args.components}")
    print(HEAD)
    ks = [int(k) for k in args.ks.split(",")]
    for k in ks:
        for algorithm in ("laplacian", "svd"):
            say(f"ml-1m: {algorithm} K={k}")
            run(X, "ml-1m", args, k, max(1, k // 10), algorithm)
    if args.sklearn:
        sklearn_kmeans(X, ks, args)


def sklearn_kmeans(X: sp.csr_matrix, ks: list[int], args) -> None:
    """scikit-learn's KMeans (lloyd, k-means++, n_init=1) on the Algorithm 1 embedding, against the torch K-means."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        say("--sklearn: scikit-learn is not installed; skipping")
        return
    V, _ = spectral_embedding(X, args.components, seed=args.seed)
    P = normalize_rows(V, "l2")[0].astype(np.float32)
    from aerec.structure.kmeans import kmeans

    print(f"\n-- K-means alone on the ml-1m Algorithm 1 embedding ({P.shape[0]:,} x {P.shape[1]}, l2 rows)")
    print(f"{'K':>6} {'torch s':>8} {'iters':>5} {'inertia':>10} {'sklearn s':>10} {'iters':>5} {'inertia':>10}")
    for k in ks:
        t0 = time.perf_counter()
        ours = kmeans(torch.from_numpy(P), k, generator=torch.Generator().manual_seed(args.seed), max_iter=100)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        km = KMeans(k, init="k-means++", n_init=1, max_iter=100, algorithm="lloyd", random_state=args.seed).fit(P)
        t_sk = time.perf_counter() - t0
        print(f"{k:>6} {t_ours:>8.2f} {ours.n_iter:>5} {ours.inertia:>10.1f} {t_sk:>10.2f} {km.n_iter_:>5} {km.inertia_:>10.1f}", flush=True)


def synthetic_matrix(cfg: SyntheticConfig) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(users x items CSR of every generated interaction, planted items x groups)."""
    s = generate(cfg)
    x = s.interactions
    X = sp.csr_matrix((np.ones(len(x), dtype=np.float32), (x.user, x.item)), shape=(cfg.users, cfg.items))
    return X, sp.csr_matrix(s.item_groups)


def bench_synth(args) -> None:
    lo, hi = (int(v) for v in args.groups_per_item.split(","))
    cfg = SyntheticConfig(users=args.users, items=args.items, interactions=args.interactions, groups=args.groups, groups_per_item=(lo, hi), seed=args.seed)
    if args.ml20m:
        cfg = dataclasses.replace(cfg, users=136_677, items=20_108, interactions=10_000_000)
    say(f"synthetic: generating {cfg.users:,} users x {cfg.items:,} items, {cfg.interactions:,} interactions")
    t0 = time.perf_counter()
    X, truth = synthetic_matrix(cfg)
    print(f"\n-- synthetic: {cfg.users:,} users x {cfg.items:,} items, {X.nnz:,} interactions, {cfg.groups} planted groups, "
          f"{lo}-{hi} per item (generated in {time.perf_counter() - t0:.1f} s); F = {args.components}; recovery = group_recovery against the planted groups")
    print(HEAD)
    label = "synthetic ML-20M" if args.ml20m else "synthetic"
    for algorithm in ("laplacian", "svd"):
        say(f"synthetic: {algorithm} K={cfg.groups}")
        run(X, label, args, cfg.groups, args.overlap, algorithm, truth)
    if args.ml20m:
        for algorithm in ("laplacian", "svd"):
            say(f"synthetic: {algorithm} K=15000 R=1500")
            run(X, label, args, 15_000, 1_500, algorithm)


# -- studies on planted groups ------------------------------------------------


def compare_normalize(args) -> None:
    base = SyntheticConfig(seed=0)
    print(f"\n-- row normalisation on planted groups: {base.users:,} users x {base.items:,} items x {base.interactions:,}, "
          f"{base.groups} groups, K = {base.groups}, F = {args.components}; recovery over generator seeds 0, 1, 2 (grouping seed {args.seed})")
    print(f"{'planted':<28} {'algorithm':<10} {'normalize':<9} {'mean':>6} {'min':>6} {'max':>6}")
    for gpi, r in (((1, 1), 1), ((2, 2), 2)):
        data = [synthetic_matrix(dataclasses.replace(base, groups_per_item=gpi, seed=s)) for s in (0, 1, 2)]
        for algorithm in ("laplacian", "svd"):
            for norm in ("l2", "sum", "none"):
                scores = []
                for X, truth in data:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        g = learn_groups(X, n_groups=base.groups, overlap=r, n_components=args.components, algorithm=algorithm, normalize=norm, seed=args.seed)
                    scores.append(group_recovery(truth, g.membership))
                what = f"{gpi[0]} group(s) per item, R={r}"
                print(f"{what:<28} {algorithm:<10} {norm:<9} {np.mean(scores):>6.3f} {np.min(scores):>6.3f} {np.max(scores):>6.3f}", flush=True)


def centroid_ceiling(X: sp.csr_matrix, truth: sp.csr_matrix, r: int, f: int) -> float:
    """Recovery when K-means is replaced by the planted groups' own centroids in the (l2-normalised, Algorithm 1) embedding."""
    V, _ = spectral_embedding(X, f)
    P = normalize_rows(V, "l2")[0]
    C = (truth.T @ P) / np.asarray(truth.sum(axis=0)).ravel()[:, None]  # (K*, F) planted-group means
    near = nearest_centroids(torch.from_numpy(P.astype(np.float32)), torch.from_numpy(C.astype(np.float32)), r).numpy()
    m, k = near.shape[0], truth.shape[1]
    found = sp.csr_matrix((np.ones(m * r), near.ravel(), np.arange(0, m * r + 1, r)), shape=(m, k))
    return group_recovery(truth, found)


def overlap_study(args) -> None:
    base = SyntheticConfig(seed=0)
    print(f"\n-- overlapping planted groups: {base.users:,} users x {base.items:,} items x {base.interactions:,}, "
          f"Algorithm 1, l2 rows, K = K*, F = K*; generator seeds 0-2 x grouping seeds 0-2")
    print(f"{'planted':<26} {'R':>2} {'method':<44} {'mean':>6} {'min':>6} {'max':>6} {'s/run':>6}")
    settings = [
        ("centroids of the planted groups", {}),
        ("K-means (k-means++, Lloyd): the paper", {}),
        ("K-means, best inertia of n_init=10", {"kmeans_n_init": 10}),
        ("K-means seeded by LocalSearch++, 10K steps", {"kmeans_local_search": None}),
    ]
    for k_star, gpi, r in ((20, (2, 2), 2), (50, (2, 2), 2), (50, (1, 2), 2), (50, (1, 3), 2)):
        data = [synthetic_matrix(dataclasses.replace(base, groups=k_star, groups_per_item=gpi, seed=s)) for s in (0, 1, 2)]
        what = f"K*={k_star}, {gpi[0]}-{gpi[1]} per item"
        for name, extra in settings:
            if gpi[0] != gpi[1] and name != settings[0][0] and name != settings[1][0]:
                continue  # variable overlap: the ceiling and the paper's K-means are enough
            scores, t0 = [], time.perf_counter()
            for X, truth in data:
                if name == settings[0][0]:
                    scores.append(centroid_ceiling(X, truth, r, k_star))
                    continue
                for seed in (0, 1, 2):
                    kw = {k: (10 * k_star if v is None else v) for k, v in extra.items()}
                    g = learn_groups(X, n_groups=k_star, overlap=r, n_components=k_star, seed=seed, **kw)
                    scores.append(group_recovery(truth, g.membership))
            per = (time.perf_counter() - t0) / len(scores)
            print(f"{what:<26} {r:>2} {name:<44} {np.mean(scores):>6.3f} {np.min(scores):>6.3f} {np.max(scores):>6.3f} {per:>6.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
