"""EASE: aerec against RecPack's EASE on the same prepared split, side by side; and aerec's λ search.

What it measures, on the prepared directory ``--data`` (``aerec prepare`` or
``aerec synth``):

1. aerec's :class:`aerec.models.EASE` at the fixed ``--l2`` (``--dtype``,
   ``--device``): seconds to fit (``--repeat`` times; min and median) and
   peak RSS while fitting.
2. RecPack's ``recpack.algorithms.EASE(l2=--l2)`` on the same training
   matrix, given as RecPack's own ``InteractionMatrix.values`` gives it (an
   int32 CSR, so its Gram matrix, inverse and weights are float64 numpy).
3. Both scored on the test fold-in and evaluated by aerec's
   :func:`aerec.evaluate.evaluate` (the same masking, top-k and metric code):
   NDCG@100, Recall@20, Recall@50 (mean ± standard error), and the seconds
   spent inside scoring (``model.score`` and RecPack's ``predict``; RecPack's
   sparse result is made dense outside the clock).
4. Agreement: the largest absolute difference between the two models' test
   scores (and relative to the largest score), and the share of test users
   whose top-100 (fold-in masked) is the same list in the same order.
5. aerec's λ search (``l2=None``: the grid plus refinement, chosen on
   validation NDCG@100 through one eigendecomposition), timed on its own, with
   the chosen λ and its test metrics. RecPack has no search of its own; the
   table shows what refitting it once per λ tried would cost (an estimate:
   λs tried x its fit time, not run).

Run from the repository root in a virtual environment that has both aerec and
RecPack (see benchmarks/README.md; RecPack needs numpy < 2)::

    python benchmarks/bench_ease.py --data runs/ml-1m --l2 500
    python benchmarks/bench_ease.py --data runs/synth20m --l2 500 --repeat 1 --skip-search
    python benchmarks/bench_ease.py --data runs/synth20m --l2 500 --skip-recpack   # aerec only

RecPack's fit holds several dense float64 items x items matrices at once (and
turns the weights into a sparse matrix with every entry stored); before
fitting it the script compares an estimate of that peak (``RECPACK_BYTES_PER_ITEM2``
x items², measured) with the memory available, and skips the peer
with a message when it would not fit, unless ``--force-recpack``. Tables go to
stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from common import GiB, available_bytes, footer, machine_header, measure, say

from aerec.data.prepared import PreparedDataset
from aerec.device import resolve_device
from aerec.fit_options import FitOptions
from aerec.errors import AerecError
from aerec.evaluate import evaluate
from aerec.metrics import topk_items
from aerec.models import EASE

#: Peak RSS growth of RecPack's EASE fit per items²: measured 52.7 on ml-1m (3,497 items), 54 to 70 on random
#: data with 3,000 and 6,000 items (benchmarks/README.md).
RECPACK_BYTES_PER_ITEM2 = 56
KS = (20, 50, 100)
HEADLINE = (("NDCG@100", "ndcg@100"), ("Recall@20", "recall@20"), ("Recall@50", "recall@50"))


class TimedScore:
    """A score function for :func:`evaluate` that adds up the seconds spent in ``fn``; ``post`` runs outside the clock."""

    def __init__(self, fn, post=None, sync=None) -> None:
        self.fn, self.post, self.sync = fn, post, sync
        self.seconds = 0.0

    def __call__(self, x: sp.csr_matrix):
        t0 = time.perf_counter()
        s = self.fn(x)
        if self.sync is not None:
            self.sync()
        self.seconds += time.perf_counter() - t0
        return self.post(s) if self.post is not None else s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="a prepared directory (aerec prepare / aerec synth)")
    p.add_argument("--l2", type=float, default=500.0, help="the fixed λ of both models (default 500)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="aerec's dtype (default float32)")
    p.add_argument("--device", default="auto", help="aerec's device: auto, cpu or cuda (default auto)")
    p.add_argument("--repeat", type=int, default=3, help="fits of each model at the fixed λ, and λ searches (default 3)")
    p.add_argument("--skip-recpack", action="store_true", help="leave out the peer")
    p.add_argument("--force-recpack", action="store_true", help="fit RecPack even when its memory estimate exceeds what is available")
    p.add_argument("--skip-search", action="store_true", help="leave out aerec's λ search")
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if not (args.data / "manifest.json").is_file():
        p.error(f"--data {args.data}: not a prepared directory (no manifest.json); make one with `aerec prepare` or `aerec synth`")
    try:
        device = resolve_device(args.device)
    except AerecError as e:
        p.error(str(e))
    sync = torch.cuda.synchronize if device.type == "cuda" else None

    print(machine_header(f"bench_ease: aerec EASE vs RecPack EASE on {args.data}"))
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}; aerec {args.dtype} on {device}" + blas_info())
    say(f"loading {args.data}")
    t0 = time.perf_counter()
    data = PreparedDataset.load(args.data)
    X, n_items = data.train, data.n_items
    print(f"data: {X.shape[0]:,} training users x {n_items:,} items, {X.nnz:,} interactions; "
          f"{data.validation.n_users:,} validation and {data.test.n_users:,} test users; loaded in {time.perf_counter() - t0:.1f} s")

    cols: dict[str, dict[str, str]] = {}
    aerec_model = None
    say(f"aerec: fitting EASE at λ={args.l2:g} ({args.dtype}, {device}) x{args.repeat}")
    t_fit, aerec_model = measure("aerec fit", lambda: EASE(l2=args.l2, dtype=args.dtype).fit(X, options=FitOptions(device=args.device)), args.repeat, sync)
    say(f"aerec: fitted in {t_fit.min:.2f} s; scoring and evaluating the test users")
    cols["aerec"] = fit_and_eval_column(t_fit, aerec_model.score, None, sync, data)

    rp_model = None
    rp_skip = None
    if not args.skip_recpack:
        rp_skip = recpack_unavailable(n_items, args.force_recpack)
    if not args.skip_recpack and rp_skip is None:
        from recpack.algorithms import EASE as RecPackEASE

        X_rp = sp.csr_matrix(X, dtype=np.int32)  # what recpack's InteractionMatrix.values gives: int32 counts
        say(f"RecPack: fitting EASE at l2={args.l2:g} (numpy float64; estimate {RECPACK_BYTES_PER_ITEM2 * n_items**2 / GiB:.1f} GiB) x{args.repeat}")
        t_rp, rp_model = measure("RecPack fit", lambda: RecPackEASE(l2=args.l2).fit(X_rp), args.repeat)
        say(f"RecPack: fitted in {t_rp.min:.2f} s; scoring and evaluating the test users")
        cols["RecPack"] = fit_and_eval_column(t_rp, lambda x: rp_model.predict(sp.csr_matrix(x, dtype=np.int32)), lambda s: s.toarray(), None, data)
        say("comparing the two models' test scores")
        cols["aerec"].update(agreement(aerec_model, rp_model, data))
        cols["RecPack"].update({k: "" for k in cols["aerec"] if k not in cols["RecPack"]})

    print(f"\n-- EASE at λ = {args.l2:g}: test fold-in of {data.test.n_users:,} users (metrics by aerec.evaluate for both)")
    print_columns(cols)
    if args.skip_recpack:
        print("(RecPack skipped: --skip-recpack)")
    elif rp_skip is not None:
        print(f"(RecPack skipped: {rp_skip})")
    else:
        print("(aerec: torch, " + args.dtype + f", Cholesky; RecPack: numpy float64, np.linalg.inv, weights stored as a dense-filled CSR)")

    if not args.skip_search:
        del aerec_model
        search(args, data, sync, cols.get("RecPack", {}).get("_fit_median"))
    print(footer())
    return 0


def fit_and_eval_column(t_fit, score, post, sync, data) -> dict[str, str]:
    timed = TimedScore(score, post, sync)
    t0 = time.perf_counter()
    ev = evaluate(timed, data.test, ks=KS)
    t_eval = time.perf_counter() - t0
    s = ev.summary()
    col = {
        "fit s (min)": f"{t_fit.min:.3f}",
        "fit s (median)": f"{t_fit.median:.3f}",
        "fit repeats": str(len(t_fit.seconds)),
        "fit peak RSS GiB": f"{t_fit.peak / GiB:.2f}",
        "fit RSS growth GiB": f"{t_fit.growth / GiB:+.2f}",
        "score test s": f"{timed.seconds:.3f}",
        "evaluate test s (all)": f"{t_eval:.3f}",
    }
    for label, key in HEADLINE:
        col[label] = f"{s[key]['mean']:.4f} ± {s[key]['se']:.4f}"
    col["_fit_median"] = t_fit.median
    return col


def agreement(model, rp_model, data, chunk: int = 2048) -> dict[str, str]:
    """Max |score difference| over every test user and item, and identical top-100 lists."""
    X_in = data.test.X_in
    max_diff = max_abs = 0.0
    same = 0
    overlap = 0.0
    for start in range(0, X_in.shape[0], chunk):
        x = X_in[start : start + chunk]
        a = np.asarray(model.score(x), dtype=np.float64)
        r = rp_model.predict(sp.csr_matrix(x, dtype=np.int32)).toarray().astype(np.float64)
        max_diff = max(max_diff, float(np.abs(a - r).max()))
        max_abs = max(max_abs, float(np.abs(r).max()))
        k = min(100, x.shape[1])
        ta, tr = topk_items(a, k, exclude=x), topk_items(r, k, exclude=x)
        same += int(np.all(ta == tr, axis=1).sum())
        overlap += sum(len(np.intersect1d(u, v)) / k for u, v in zip(ta, tr))
    n = X_in.shape[0]
    return {
        "max |score diff|": f"{max_diff:.3g}",
        "  relative to max |score|": f"{max_diff / max_abs:.3g}" if max_abs else "nan",
        "same top-100 list (users)": f"{same}/{n}",
        "mean top-100 overlap": f"{overlap / n:.4f}",
    }


def recpack_unavailable(n_items: int, force: bool) -> str | None:
    """Why RecPack cannot run here (not installed, or too little memory), or None."""
    try:
        import recpack  # noqa: F401
    except ImportError:
        return ("recpack is not installed in this environment; make the benchmark venv "
                "(benchmarks/README.md) or pass --skip-recpack")  # fmt: skip
    need, have = RECPACK_BYTES_PER_ITEM2 * n_items**2, available_bytes()
    if need > 0.9 * have and not force:
        return (f"its fit would need about {need / GiB:.1f} GiB ({RECPACK_BYTES_PER_ITEM2} bytes x {n_items:,}² items) "
                f"and {have / GiB:.1f} GiB is available; --force-recpack to try anyway")  # fmt: skip
    return None


def search(args, data, sync, rp_fit_median: float | None) -> None:
    say(f"aerec: λ search (l2=None, {args.dtype}) x{args.repeat}")
    t, model = measure("aerec λ search", lambda: EASE(l2=None, dtype=args.dtype).fit(data.train, validation=data.validation, options=FitOptions(device=args.device)), args.repeat, sync)
    tried = model.fit_info_["validation_ndcg@100"]
    say(f"aerec: searched in {t.min:.1f} s; evaluating the chosen λ on the test users")
    ev = evaluate(model.score, data.test, ks=KS).summary()
    print(f"\n-- aerec λ search: {len(tried)} values of λ on {data.validation.n_users:,} validation users")
    print(f"{'search s (min / median)':<34} {t.min:.3f} / {t.median:.3f}  ({len(t.seconds)} runs)")
    print(f"{'search peak RSS GiB (growth)':<34} {t.peak / GiB:.2f} ({t.growth / GiB:+.2f})")
    print(f"{'chosen λ':<34} {model.l2_:.4g}  (validation NDCG@100 {model.fit_info_['best_validation_ndcg@100']:.4f})")
    print(f"{'test with the chosen λ':<34} " + "  ".join(f"{label} {ev[key]['mean']:.4f} ± {ev[key]['se']:.4f}" for label, key in HEADLINE))
    print(f"{'validation NDCG@100 by λ':<34} " + ", ".join(f"{k}: {v:.4f}" for k, v in tried.items()))
    if rp_fit_median is not None:
        print(f"{'RecPack: one refit per λ tried':<34} ≈ {len(tried) * rp_fit_median:.1f} s  (estimate: {len(tried)} x its fit median, fits only; not run)")


def print_columns(cols: dict[str, dict[str, str]]) -> None:
    names = list(cols)
    keys = [k for k in cols[names[0]] if not k.startswith("_")]
    width = max(20, *(len(v) for c in cols.values() for k, v in c.items() if not k.startswith("_")))
    print(f"{'':<30}" + "".join(f"{n:>{width + 2}}" for n in names))
    for k in keys:
        print(f"{k:<30}" + "".join(f"{cols[n].get(k, ''):>{width + 2}}" for n in names))


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    libs = {f"{i.get('internal_api')} {i.get('num_threads')} threads" for i in threadpool_info()}
    return "; BLAS: " + ", ".join(sorted(libs)) if libs else ""


if __name__ == "__main__":
    sys.exit(main())
