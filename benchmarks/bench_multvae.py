"""Mult-VAE: aerec against RecPack's MultVAE at the same settings on the same prepared split, side by side.

What it measures, on the prepared directory ``--data``:

1. aerec's :class:`aerec.models.MultVAE` trained for ``--epochs`` epochs
   (I-600-200-600-I, tanh, dropout 0.5 on the L2-normalised input, Adam,
   ``--lr``, batch 500, KL annealed to 0.2 over ``--anneal-steps`` updates),
   validating every epoch on validation NDCG@100 and keeping the best epoch
   (no early stop: ``patience = 0``).
2. RecPack's ``recpack.algorithms.MultVAE`` with the same hyperparameters
   (``learning_rate``, ``max_beta``, ``anneal_steps``, ``dropout``, widths,
   batch, epochs), its stopping criterion set to NDCG@100 on the same
   validation users, keeping its best epoch.
3. Seconds per training epoch: the time inside the epoch's optimisation
   steps only (validation excluded for both: aerec's ``train_seconds`` of the
   loop's history; RecPack's ``_train_epoch`` timed by a wrapper). Median and
   minimum over the epochs; also the whole fit's wall time.
4. Both scored on the test fold-in and evaluated by aerec's
   :func:`aerec.evaluate.evaluate` (the same masking, top-k and metric code):
   NDCG@100, Recall@20, Recall@50 (mean ± standard error), and the best
   validation epoch.

Where the time goes differs by design: RecPack densifies each batch on the CPU
(``naive_sparse2tensor``) and multiplies the dense batch by the first layer;
aerec keeps the training matrix as CSR tensors, gathers each batch as COO on
the device and multiplies only its non-zeros.

Run from the repository root in the benchmark virtual environment (RecPack
needs numpy < 2; benchmarks/README.md)::

    python benchmarks/bench_multvae.py --data runs/ml-1m --epochs 100
    python benchmarks/bench_multvae.py --data runs/ml-1m --epochs 5 --skip-recpack   # aerec only
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from common import footer, machine_header, say

from aerec.data.prepared import PreparedDataset
from aerec.evaluate import evaluate
from aerec.fit_options import FitOptions
from aerec.models import MultVAE

KS = (20, 50, 100)
HEADLINE = (("NDCG@100", "ndcg@100"), ("Recall@20", "recall@20"), ("Recall@50", "recall@50"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="a prepared directory (aerec prepare)")
    p.add_argument("--epochs", type=int, default=100, help="training epochs of both (default 100)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate of both (default 1e-3, the paper's)")
    p.add_argument("--anneal-steps", type=int, default=200_000, help="updates over which β grows to 0.2 (default 200000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads for both (default 0: torch's own choice)")
    p.add_argument("--skip-recpack", action="store_true", help="leave out the peer")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not (args.data / "manifest.json").is_file():
        p.error(f"--data {args.data}: not a prepared directory (no manifest.json); make one with `aerec prepare`")
    if args.epochs < 1:
        p.error("--epochs must be at least 1")

    print(machine_header(f"bench_multvae: aerec Mult-VAE vs RecPack MultVAE on {args.data}"))
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}; both on the CPU")
    data = PreparedDataset.load(args.data)
    X = data.train
    print(f"data: {X.shape[0]:,} training users x {data.n_items:,} items, {X.nnz:,} interactions; "
          f"{data.validation.n_users:,} validation and {data.test.n_users:,} test users")
    print(f"settings of both: I-600-200-600-I, dropout 0.5, Adam lr {args.lr:g}, batch 500, β cap 0.2 over {args.anneal_steps:,} updates, "
          f"{args.epochs} epochs, best epoch by validation NDCG@100")

    cols = {"aerec": run_aerec(args, data)}
    if not args.skip_recpack:
        cols["RecPack"] = run_recpack(args, data)
    print(f"\n-- Mult-VAE, {args.epochs} epochs: test fold-in of {data.test.n_users:,} users (metrics by aerec.evaluate for both)")
    print_columns(cols)
    if "RecPack" in cols:
        a, r = cols["aerec"]["_epoch_median"], cols["RecPack"]["_epoch_median"]
        print(f"epoch speed-up (RecPack median / aerec median): {r / a:.2f}x")
    print(footer())
    return 0


def run_aerec(args, data) -> dict:
    say(f"aerec: training Mult-VAE for {args.epochs} epochs")
    model = MultVAE(lr=args.lr, total_anneal_steps=args.anneal_steps, max_epochs=args.epochs, patience=0)
    t0 = time.perf_counter()
    model.fit(data.train, validation=data.validation, options=FitOptions(seed=args.seed, device="cpu"))
    wall = time.perf_counter() - t0
    history = model.fit_info_["training"]["history"]
    epochs = [h["train_seconds"] for h in history]
    best = model.fit_info_["training"]["best_epoch"]
    return column(epochs, wall, best, model.score, data)


def run_recpack(args, data) -> dict:
    from recpack.algorithms import MultVAE as RecPackMultVAE
    from recpack.algorithms.stopping_criterion import StoppingCriterion

    say(f"RecPack: training MultVAE for {args.epochs} epochs")
    n_train, n_val = data.train.shape[0], data.validation.n_users
    # RecPack validates on rows of the training matrix's shape: stack [train; validation users] with the
    # validation users' rows empty in X, and the training users' rows empty in val_in / val_out.
    empty_val = sp.csr_matrix((n_val, data.n_items), dtype=np.float32)
    empty_train = sp.csr_matrix((n_train, data.n_items), dtype=np.float32)
    X = sp.vstack([data.train, empty_val]).tocsr()
    val_in = sp.vstack([empty_train, data.validation.X_in]).tocsr()
    val_out = sp.vstack([empty_train, data.validation.X_out]).tocsr()
    algo = RecPackMultVAE(batch_size=500, max_epochs=args.epochs, learning_rate=args.lr, seed=args.seed, dim_bottleneck_layer=200,
                          dim_hidden_layer=600, max_beta=0.2, anneal_steps=args.anneal_steps, dropout=0.5)  # fmt: skip
    algo.stopping_criterion = StoppingCriterion.create("ndcg", k=100)
    epochs: list[float] = []
    inner = algo._train_epoch

    def timed_epoch(train):
        t = time.perf_counter()
        out = inner(train)
        epochs.append(time.perf_counter() - t)
        return out

    algo._train_epoch = timed_epoch

    def load_best():  # RecPack 0.3.6 predates torch 2.6's weights_only default; the file is its own, from this process
        algo.best_model.seek(0)
        algo.model_ = torch.load(algo.best_model, weights_only=False)

    algo._load_best = load_best
    t0 = time.perf_counter()
    algo.fit(X, (val_in, val_out))
    wall = time.perf_counter() - t0
    best_value = algo.stopping_criterion.best_value

    def score(x):
        algo.model_.eval()
        with torch.no_grad():
            return algo.model_(torch.from_numpy(sp.csr_matrix(x).toarray().astype(np.float32)))[0].numpy()

    col = column(epochs, wall, None, score, data)
    col["best validation NDCG@100 (its own)"] = f"{best_value:.4f}"
    return col


def column(epochs: list[float], wall: float, best_epoch, score, data) -> dict:
    ev = evaluate(score, data.test, ks=KS).summary()
    col = {
        "epochs": str(len(epochs)),
        "s / epoch (median)": f"{statistics.median(epochs):.3f}",
        "s / epoch (min)": f"{min(epochs):.3f}",
        "fit wall s (with validation)": f"{wall:.1f}",
        "best epoch": str(best_epoch) if best_epoch is not None else "(not reported)",
    }
    for label, key in HEADLINE:
        col[label] = f"{ev[key]['mean']:.4f} ± {ev[key]['se']:.4f}"
    col["_epoch_median"] = statistics.median(epochs)
    say(f"  done: {col['s / epoch (median)']} s/epoch, test NDCG@100 {col['NDCG@100']}")
    return col


def print_columns(cols: dict[str, dict[str, str]]) -> None:
    names = list(cols)
    keys = list(dict.fromkeys(k for c in cols.values() for k in c if not k.startswith("_")))
    width = max(20, *(len(str(v)) for c in cols.values() for k, v in c.items() if not k.startswith("_")))
    print(f"{'':<36}" + "".join(f"{n:>{width + 2}}" for n in names))
    for k in keys:
        print(f"{k:<36}" + "".join(f"{cols[n].get(k, ''):>{width + 2}}" for n in names))


if __name__ == "__main__":
    sys.exit(main())
