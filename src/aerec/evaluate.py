"""The evaluation protocol: score fold-in rows, mask, rank, measure.

Strong generalization (PROTOCOL.md §3; Liang et al., WWW 2018): a model
receives the fold-in rows of users it never saw, scores every item, the
fold-in items are excluded from the ranking (score ``-inf``), and the top of
the ranking is compared with the fold-out. Users whose fold-out is empty are
not scored at all. Results are the mean over scored users with the standard
error, and the same per cold-start bucket of fold-in size (Table 7 of the
paper).

Explicit ratings (:mod:`aerec.data.ratings`; AutoRec, DeepRec): a model
predicts each held-out rating of a user and item it was trained with, and
:func:`evaluate_ratings` reports RMSE and MAE over those ratings.

Memory is bounded: users are processed in chunks of
``max(1, max_chunk_bytes // (n_items * 8))`` rows
(:func:`aerec.protocol.ranked_chunks`, shared with the validation criterion
models use while they fit), so the dense score matrix of all users never exists. Peak memory is a small multiple (about three) of
``max_chunk_bytes``: the chunk's scores, their masked copy and the int64
partition indices (see :func:`aerec.metrics.topk_items`).
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from aerec import metrics
from aerec.data.prepared import Fold
from aerec.errors import ConfigError
from aerec.protocol import PredictFn, ScoreFn, canonical, ranked_chunks, rating_predictions, row_nnz, rows_per_chunk, scored_rows, validation_ndcg

__all__ = ["Evaluation", "RatingEvaluation", "evaluate", "evaluate_ratings", "rows_per_chunk", "validation_ndcg", "METRICS", "DEFAULT_KS", "DEFAULT_BUCKET_EDGES"]

#: Per-user metrics computed for every cutoff, in report order.
METRICS: dict[str, Callable[[np.ndarray, sp.csr_matrix, int], np.ndarray]] = {
    "ndcg": metrics.ndcg,
    "recall": metrics.recall,
    "precision": metrics.precision,
    "hit": metrics.hit_rate,
    "mrr": metrics.mrr,
    "map": metrics.average_precision,
}
_DISPLAY = {"ndcg": "NDCG", "recall": "Recall", "precision": "Precision", "hit": "HitRate", "mrr": "MRR", "map": "MAP"}

DEFAULT_KS = (20, 50, 100)
DEFAULT_BUCKET_EDGES = (1, 5, 10, 20, 50, 100)

@dataclass
class Evaluation:
    """Per-user results of one evaluation, and their summaries.

    Attributes
    ----------
    per_user
        ``"<metric>@<k>" -> float64 (n_scored,)`` for metric in ``ndcg``,
        ``recall``, ``precision``, ``hit``, ``mrr``, ``map`` and every k;
        entry i belongs to fold row ``rows[i]``.
    rows
        ``int64 (n_scored,)``: the fold rows that were scored (those with a
        nonempty fold-out), ascending.
    fold_in_size
        ``int64 (n_scored,)``: fold-in size of each scored user.
    coverage
        ``"coverage@<k>" -> float``: fraction of the catalogue in the top k
        of at least one scored user.
    ks
        The cutoffs, ascending.
    n_users, n_items
        Size of the fold: all its rows (scored or not) and the catalogue.
    metric_names
        The per-user metrics, in report order (the keys of :data:`METRICS`).

    Standard errors follow Liang et al.'s reference notebook,
    ``np.std(x) / np.sqrt(len(x))``: the population standard deviation
    (``ddof=0``) over the ``n`` scored users, divided by ``sqrt(n)``. Empty
    sets of users give ``n = 0`` and NaN mean and se.
    """

    per_user: dict[str, np.ndarray]
    rows: np.ndarray
    fold_in_size: np.ndarray
    coverage: dict[str, float]
    ks: tuple[int, ...] = DEFAULT_KS
    n_users: int = 0  # all fold rows, scored or not
    n_items: int = 0
    metric_names: tuple[str, ...] = field(default_factory=lambda: tuple(METRICS))

    @property
    def n_scored(self) -> int:
        return len(self.rows)

    def keys(self) -> list[str]:
        """Metric keys in report order: by metric, then by cutoff."""
        return [f"{name}@{k}" for name in self.metric_names for k in self.ks]

    def summary(self) -> dict[str, dict[str, float | int]]:
        """``key -> {"mean", "se", "n"}`` over all scored users (se with ``ddof=0``)."""
        return {key: _mean_se(self.per_user[key]) for key in self.keys()}

    def by_bucket(self, edges: Sequence[int] = DEFAULT_BUCKET_EDGES) -> list[dict[str, Any]]:
        """Cold-start buckets of scored users by fold-in size.

        With edges ``(1, 5, 10, 20, 50, 100)`` the buckets are ``[1, 5)``,
        ``[5, 10)``, ..., ``[50, 100)``, ``[100, inf)``, each a dict
        ``{"label", "lo", "hi" (None for inf), "n", "metrics": {key: {"mean",
        "se", "n"}}}``. Every bucket is reported, an empty one with ``n = 0``
        and NaN mean and se. Users below the first edge (fold-in smaller than
        ``edges[0]``) get a leading ``[0, edges[0])`` bucket, present only
        when there are such users.
        """
        edges = [int(e) for e in edges]
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0:
            raise ConfigError(f"bucket edges must be nonnegative and strictly increasing, got {edges}")
        bounds = [(lo, hi) for lo, hi in zip(edges, edges[1:])] + [(edges[-1], None)]
        if edges[0] > 0 and np.any(self.fold_in_size < edges[0]):
            bounds.insert(0, (0, edges[0]))
        out = []
        for lo, hi in bounds:
            inside = self.fold_in_size >= lo
            if hi is not None:
                inside &= self.fold_in_size < hi
            out.append(
                {
                    "label": f"[{lo}, {'inf' if hi is None else hi})",
                    "lo": lo,
                    "hi": hi,
                    "n": int(np.count_nonzero(inside)),
                    "metrics": {key: _mean_se(self.per_user[key][inside]) for key in self.keys()},
                }
            )
        return out

    def to_json(self, edges: Sequence[int] = DEFAULT_BUCKET_EDGES) -> dict[str, Any]:
        """A JSON-serialisable dict: counts, summary, coverage and buckets
        (no per-user arrays). Non-finite numbers become ``None``."""
        return _finite_or_none(
            {
                "n_users": int(self.n_users),
                "n_scored": int(self.n_scored),
                "n_items": int(self.n_items),
                "ks": list(self.ks),
                "se": "std(ddof=0) / sqrt(n)",
                "summary": self.summary(),
                "coverage": dict(self.coverage),
                "buckets": self.by_bucket(edges),
            }
        )

    def format_table(self) -> str:
        """A short human-readable summary, one metric per line, e.g.
        ``NDCG@100       0.4123 ± 0.0101``."""
        lines = [f"{self.n_scored} users scored ({self.n_users - self.n_scored} with an empty fold-out skipped)"]
        summ = self.summary()
        for name in self.metric_names:
            for k in self.ks:
                s = summ[f"{name}@{k}"]
                lines.append(f"{_DISPLAY.get(name, name) + '@' + str(k):<14} {s['mean']:.4f} ± {s['se']:.4f}")
        for k in self.ks:
            lines.append(f"{'Coverage@' + str(k):<14} {self.coverage[f'coverage@{k}']:.4f}")
        return "\n".join(lines)


def evaluate(
    score_fn: ScoreFn,
    fold: Fold,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    max_chunk_bytes: int = 256 * 2**20,
    progress: bool = False,
) -> Evaluation:
    """Evaluate ``score_fn`` on a validation or test fold (PROTOCOL.md §3).

    Parameters
    ----------
    score_fn
        ``score_fn(X_in_chunk) -> scores``: receives a CSR ``(c, n_items)``
        of fold-in rows and returns dense scores ``(c, n_items)`` as a numpy
        array or a torch tensor (a model's ``.score``). It is never called
        with more than ``max(1, max_chunk_bytes // (n_items * 8))`` rows.
    fold
        The users' fold-in ``X_in`` and fold-out ``X_out`` (users x items CSR).
    ks
        Cutoffs; every per-user metric is computed at each.
    max_chunk_bytes
        Budget that sets the number of users scored at once.
    progress
        Show a tqdm progress bar (over users).

    Per chunk: score, set the fold-in items to ``-inf``, take the top
    ``max(ks)`` items (ties: lower item index first), then each metric at
    each k. A cutoff larger than the catalogue (toy data) ranks every item;
    the metric's formula is unchanged (e.g. precision still divides by k). Users with an empty fold-out are skipped before scoring.
    """
    X_in = canonical(fold.X_in)
    X_out = canonical(fold.X_out)
    if X_in.shape != X_out.shape:
        raise ValueError(f"fold-in {X_in.shape} and fold-out {X_out.shape} differ in shape")
    n_users, n_items = X_in.shape
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ConfigError(f"cutoffs ks must be positive integers, got {ks}")
    K = min(ks[-1], n_items)  # a cutoff beyond a toy catalogue ranks the whole catalogue

    rows = scored_rows(X_out)  # (n_scored,) users with something to find
    per_user = {f"{name}@{k}": np.empty(len(rows)) for name in METRICS for k in ks}
    seen = {k: np.zeros(n_items, dtype=bool) for k in ks}  # items in anyone's top k
    for c in ranked_chunks(score_fn, X_in, X_out, rows, K, max_chunk_bytes=max_chunk_bytes, progress=progress):
        for k in ks:
            for name, fn in METRICS.items():  # each (c,)
                per_user[f"{name}@{k}"][c.start : c.start + len(c.rows)] = fn(c.top, c.x_out, k)
            seen[k][c.top[:, :k].ravel()] = True

    return Evaluation(
        per_user=per_user,
        rows=rows,
        fold_in_size=row_nnz(X_in)[rows],
        coverage={f"coverage@{k}": float(seen[k].mean()) for k in ks},
        ks=ks,
        n_users=n_users,
        n_items=n_items,
    )


@dataclass
class RatingEvaluation:
    """RMSE and MAE over ``n`` held-out ratings (the explicit-rating protocol)."""

    rmse: float
    mae: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return _finite_or_none({"rmse": self.rmse, "mae": self.mae, "n": int(self.n)})


def evaluate_ratings(predict_fn: PredictFn, R: sp.spmatrix | sp.sparray, *, chunk: int = 1 << 20) -> RatingEvaluation:
    """RMSE and MAE of ``predict_fn`` on the stored ratings of ``R`` (users x items)
    (:func:`aerec.protocol.rating_predictions` says how it is called)."""
    predicted, actual = rating_predictions(predict_fn, R, chunk=chunk)
    return RatingEvaluation(metrics.rmse(predicted, actual), metrics.mae(predicted, actual), len(actual))


def _mean_se(x: np.ndarray) -> dict[str, float | int]:
    n = len(x)
    if n == 0:
        return {"mean": math.nan, "se": math.nan, "n": 0}
    return {"mean": float(np.mean(x)), "se": float(np.std(x) / math.sqrt(n)), "n": n}


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


class _CallableModule(types.ModuleType):
    """``aerec.evaluate`` names both this module and its main function; calling the module calls the function.

    Importing a submodule binds its name in the package, so ``aerec.evaluate``
    is this module once anything imported ``aerec.evaluate``, and the public
    API's function before; either way ``aerec.evaluate(score_fn, fold)`` works.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Evaluation:
        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
