"""Validation and test NDCG@100 of Sw-DAE, EASE and Mult-VAE on a prepared directory, fixed seeds, short budgets.

A refactoring that must not change behaviour prints the same lines before and after (issue 13:
"the same validation and test NDCG@100 as before to 1e-6, with the same seeds"):

    OMP_NUM_THREADS=2 python benchmarks/contract_fingerprint.py --data runs/ml-1m > before.txt
    ... change the code ...
    OMP_NUM_THREADS=2 python benchmarks/contract_fingerprint.py --data runs/ml-1m | diff before.txt -
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aerec.data.prepared import PreparedDataset
from aerec.evaluate import evaluate
from aerec.fit_options import FitOptions
from aerec.models import EASE, MultVAE, SwDAE

CONFIGS = {
    "swdae": (lambda: SwDAE(n_groups=1000, overlap=100, loss="logistic", lr=1e-2, max_epochs=4, patience=0), FitOptions(device="cpu", seed=3)),
    "ease": (lambda: EASE(l2_grid=(100.0, 300.0, 1000.0), refine=2), FitOptions(device="cpu")),
    "mult-vae": (lambda: MultVAE(max_epochs=4, patience=0), FitOptions(device="cpu", seed=5)),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--models", default=",".join(CONFIGS))
    args = p.parse_args()
    data = PreparedDataset.load(args.data)
    for name in args.models.split(","):
        make, options = CONFIGS[name]
        model = make().fit(data.train, validation=data.validation, options=options)
        val = evaluate(model.score, data.validation).summary()["ndcg@100"]["mean"]
        test = evaluate(model.score, data.test).summary()["ndcg@100"]["mean"]
        print(f"{name:<9} validation NDCG@100 {val:.9f}  test NDCG@100 {test:.9f}")


if __name__ == "__main__":
    main()
