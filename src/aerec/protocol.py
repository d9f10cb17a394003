"""The protocol's mechanics that fitting and evaluation share: chunked ranking of a fold, and the validation criteria.

Models need part of the protocol (PROTOCOL.md §3) while they fit: the number
that early stopping and hyperparameter choice maximise, :func:`validation_ndcg`
for ranking models and :func:`validation_rmse` for rating models. This module
sits below :mod:`aerec.models`, so models never import :mod:`aerec.evaluate`,
which builds the full evaluation (every metric, the standard errors, the
cold-start buckets, RMSE and MAE) on the same :func:`ranked_chunks` and
:func:`rating_predictions`.

Memory is bounded: users are scored in chunks of :func:`rows_per_chunk`
rows, so the dense score matrix of all users never exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from aerec import metrics
from aerec.data.prepared import Fold

ScoreFn = Callable[[sp.csr_matrix], Any]  # (n, n_items) numpy array or torch tensor

PredictFn = Callable[[np.ndarray, np.ndarray], Any]  # (users, items) -> (n,) ratings

__all__ = ["PredictFn", "RankedChunk", "ScoreFn", "canonical", "ranked_chunks", "rating_predictions", "row_nnz", "rows_per_chunk", "scored_rows", "validation_ndcg", "validation_rmse"]


def rows_per_chunk(n_items: int, max_chunk_bytes: int) -> int:
    """Users scored at once so that a chunk's dense float64 scores fit ``max_chunk_bytes`` (at least one)."""
    return max(1, int(max_chunk_bytes) // (max(n_items, 1) * 8))


def canonical(X: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """A CSR copy without duplicate or explicit-zero entries (the caller's matrix is untouched)."""
    X = sp.csr_matrix(X, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    return X


def row_nnz(X: sp.csr_matrix) -> np.ndarray:
    """Entries per row of a canonical CSR, int64."""
    return np.diff(X.indptr).astype(np.int64)


def scored_rows(X_out: sp.csr_matrix) -> np.ndarray:
    """The users the protocol scores: those with a nonempty fold-out (int64 row numbers)."""
    return np.flatnonzero(row_nnz(X_out) > 0).astype(np.int64)


@dataclass
class RankedChunk:
    """One chunk of scored users: their positions ``start:start+len(rows)`` among the scored users, their
    row numbers in the fold, their top items (fold-in masked, best first) and their fold-out rows."""

    start: int
    rows: np.ndarray  # (c,) int64
    top: np.ndarray  # (c, K) int64
    x_out: sp.csr_matrix  # (c, n_items)


def ranked_chunks(
    score_fn: ScoreFn, X_in: sp.csr_matrix, X_out: sp.csr_matrix, rows: np.ndarray, k: int, *, max_chunk_bytes: int, progress: bool = False
) -> Iterator[RankedChunk]:
    """Score ``rows`` of the canonical fold ``(X_in, X_out)`` chunk by chunk and yield each chunk's top ``k``.

    ``score_fn`` is never called with more than :func:`rows_per_chunk` rows; the
    fold-in items get ``-inf`` before ranking (ties: lower item index first).
    """
    n_items = X_in.shape[1]
    chunk = rows_per_chunk(n_items, max_chunk_bytes)
    with tqdm(total=len(rows), unit="user", desc="evaluate", disable=not progress, leave=False) as bar:
        for start in range(0, len(rows), chunk):
            r = rows[start : start + chunk]  # (c,)
            x_in = X_in[r]  # (c, n_items)
            scores = score_fn(x_in)  # (c, n_items)
            if tuple(scores.shape) != (len(r), n_items):
                raise ValueError(f"score_fn returned shape {tuple(scores.shape)} for input {x_in.shape}")
            top = metrics.topk_items(scores, k, exclude=x_in)  # (c, k)
            del scores
            yield RankedChunk(start, r, top, X_out[r])
            bar.update(len(r))


def validation_ndcg(score_fn: ScoreFn, fold: Fold, k: int = 100, *, max_chunk_bytes: int = 256 * 2**20) -> float:
    """Mean NDCG@k over the fold's scored users: the criterion models use for early stopping and
    hyperparameter choice (PROTOCOL.md §3). NaN when no user has a nonempty fold-out."""
    X_in, X_out = canonical(fold.X_in), canonical(fold.X_out)
    if X_in.shape != X_out.shape:
        raise ValueError(f"fold-in {X_in.shape} and fold-out {X_out.shape} differ in shape")
    rows = scored_rows(X_out)
    if not len(rows):
        return float("nan")
    values = np.empty(len(rows))
    K = min(k, X_in.shape[1])
    for c in ranked_chunks(score_fn, X_in, X_out, rows, K, max_chunk_bytes=max_chunk_bytes):
        values[c.start : c.start + len(c.rows)] = metrics.ndcg(c.top, c.x_out, k)
    return float(values.mean())


def rating_predictions(predict_fn: PredictFn, R: sp.spmatrix | sp.sparray, *, chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted, actual)`` float64 over the stored ratings of ``R`` (users x items), in row-major order.

    ``predict_fn(users, items)`` receives int64 row and column indices (at
    most ``chunk`` pairs at a time) and returns one predicted rating per pair
    (a model's ``.predict``). Every stored entry of ``R`` is a held-out rating,
    whatever its value.
    """
    coo = sp.coo_matrix(R)
    order = np.lexsort((coo.col, coo.row))
    users, items = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
    actual = np.asarray(coo.data[order], dtype=np.float64)
    predicted = np.empty(len(actual), dtype=np.float64)
    for start in range(0, len(actual), chunk):
        stop = start + chunk
        p = np.asarray(predict_fn(users[start:stop], items[start:stop])).ravel()
        if p.shape != (len(users[start:stop]),):
            raise ValueError(f"predict_fn returned {p.size} values for {len(users[start:stop])} pairs")
        predicted[start:stop] = p
    return predicted, actual


def validation_rmse(predict_fn: PredictFn, R: sp.spmatrix | sp.sparray) -> float:
    """RMSE of ``predict_fn`` on the held-out ratings ``R``: what rating models minimise on validation."""
    return metrics.rmse(*rating_predictions(predict_fn, R))
