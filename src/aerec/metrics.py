"""Ranking metrics for top-k recommendation, as pure functions.

Orientation is users x items throughout. Every per-user metric takes

- ``topk``: an integer array ``(n_users, K)`` of item indices, best first
  (``K >= k``; :func:`topk_items` produces it), and
- ``heldout``: the fold-out, a ``(n_users, n_items)`` CSR matrix whose stored
  nonzero entries are the relevant items (binary relevance),

and returns a ``float64`` array of length ``n_users``. ``k`` may exceed ``K``
only when ``topk`` ranks the whole catalogue (``K == n_items``, a toy data
set): the ranking then simply ends before rank k. A user with an empty
fold-out has nothing to find, so every metric is undefined for that user and
its entry is ``NaN``; :func:`aerec.evaluate.evaluate` never scores such users
(PROTOCOL.md §3).

The formulas are those of the strong-generalization protocol of Liang et al.,
"Variational Autoencoders for Collaborative Filtering", WWW 2018 (§4.2), with
``|I_u|`` the size of user u's fold-out and ``rel(r) = 1`` when the item at
rank r is in it:

- ``DCG@k = sum_{r=1..k} rel(r) / log2(r + 1)``, ``NDCG@k = DCG@k / IDCG@k``,
- ``Recall@k = hits@k / min(k, |I_u|)``.

Precision, hit rate, reciprocal rank, average precision and catalogue
coverage are the usual definitions (RecBole's for the last two), stated in
each docstring.

For the explicit-rating protocol (:mod:`aerec.data.ratings`), :func:`rmse`
and :func:`mae` compare predicted with held-out ratings, one number over all
held-out ratings (the rating-prediction literature averages over ratings,
not users: Sedhain et al., WWW 2015, Sec. 3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from aerec.errors import NonFiniteScores

__all__ = ["as_numpy_scores", "average_precision", "coverage", "hit_rate", "mae", "mrr", "ndcg", "precision", "recall", "rmse", "topk_items"]


# -- top-k -----------------------------------------------------------------
def topk_items(scores: Any, k: int, exclude: sp.spmatrix | sp.sparray | None = None) -> np.ndarray:
    """The ``k`` best items of each row, best first.

    Parameters
    ----------
    scores
        Dense scores ``(n, n_items)``: a numpy array (any real dtype) or a
        torch tensor (on any device; it is copied to the CPU).
    k
        How many items to return, ``1 <= k <= n_items``.
    exclude
        Optional CSR ``(n, n_items)``, typically the fold-in: its stored
        nonzero entries get score ``-inf`` so that they rank last. The
        caller's ``scores`` are never modified; exclusion works on a copy.

    Returns
    -------
    np.ndarray
        ``int64 (n, k)`` item indices sorted by descending score.

    Ties are broken deterministically, lower item index first, both inside
    the top k and at its boundary (when more items share the k-th score than
    fit). Selection is ``np.argpartition`` (O(n * n_items)) followed by a sort
    of the k candidates; only rows whose k-th score is shared by an item
    outside the candidates take a second vectorised pass. Scores containing
    NaN are rejected with :class:`~aerec.errors.NonFiniteScores` (a ``ValueError``) (a diverged model must not be ranked
    silently). Peak memory is about three dense ``(n, n_items)`` arrays (the
    scores, the masked copy, the int64 partition indices).
    """
    s = as_numpy_scores(scores)  # (n, m)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D (users x items), got shape {s.shape}")
    n, m = s.shape
    k = int(k)
    if not 1 <= k <= m:
        raise ValueError(f"k={k} must be between 1 and the number of items ({m})")
    if np.isnan(s).any():
        raise NonFiniteScores("the model's scores contain NaN (its weights diverged?)")
    if exclude is not None:
        if exclude.shape != s.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, scores {s.shape}")
        s = s.copy()  # never write into the caller's array (it may be a view or read-only)
        rows, cols = _stored_nonzero(exclude)
        s[rows, cols] = -np.inf

    # The k largest of each row, in arbitrary order.
    cand = np.argpartition(s, m - k, axis=1)[:, m - k :]  # (n, k)
    vals = np.take_along_axis(s, cand, axis=1)  # (n, k)
    kth = vals.min(axis=1)  # (n,) the k-th largest score

    # Rows where an item outside the candidates ties with the k-th score:
    # argpartition chose among the tied items arbitrarily, so choose again,
    # taking the tied items with the lowest indices.
    n_tied_all = np.count_nonzero(s == kth[:, None], axis=1)  # (n,)
    n_tied_cand = np.count_nonzero(vals == kth[:, None], axis=1)  # (n,)
    redo = np.flatnonzero(n_tied_all > n_tied_cand)
    if redo.size:
        sb = s[redo]  # (b, m)
        kb = kth[redo][:, None]  # (b, 1)
        above = sb > kb  # (b, m)
        tied = sb == kb  # (b, m)
        room = k - np.count_nonzero(above, axis=1)  # (b,) tied items that fit
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))  # exactly k per row
        r, c = np.nonzero(chosen)  # row-major, so columns ascend within a row
        cand[redo] = c.reshape(len(redo), k)
        vals[redo] = sb[r, c].reshape(len(redo), k)

    # Descending score, then ascending item index.
    order = np.lexsort((cand, -vals), axis=1)  # (n, k)
    return np.take_along_axis(cand, order, axis=1).astype(np.int64, copy=False)


# -- per-user metrics --------------------------------------------------------
def ndcg(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Normalised discounted cumulative gain at ``k``, per user.

    ``DCG@k = sum_{r=1..k} rel(r) / log2(r + 1)`` over the first k ranked
    items; ``IDCG@k`` is the DCG of the ideal ranking, with all
    ``min(k, |I_u|)`` relevant items at the top:
    ``IDCG@k = sum_{r=1..min(k, |I_u|)} 1 / log2(r + 1)``; ``NDCG@k = DCG@k /
    IDCG@k`` lies in [0, 1]. Binary relevance, as in Liang et al. (WWW 2018)
    and their reference code ``NDCG_binary_at_k_batch``.

    Returns ``float64 (n_users,)``; ``NaN`` where the fold-out is empty.
    """
    hits, n_rel = _hits(topk, heldout, k)  # (n, k') bool with k' = min(k, K), (n,) int
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))  # (k',) 1/log2(r+1), r = 1..k'
    dcg = hits @ discount  # (n,)
    ideal = np.concatenate([[np.nan], np.cumsum(discount)])  # ideal[j]: IDCG with j relevant items
    idcg = ideal[np.minimum(n_rel, k)]  # (n,) NaN where n_rel == 0; n_rel <= k' when k' < k
    return dcg / idcg


def recall(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Recall at ``k`` normalised by what can be found, per user.

    ``Recall@k = hits@k / min(k, |I_u|)``, where ``hits@k`` counts fold-out
    items among the first k ranked. Dividing by ``min(k, |I_u|)`` rather than
    ``|I_u|`` makes a perfect ranking score 1 (Liang et al., WWW 2018, §4.2).

    Returns ``float64 (n_users,)``; ``NaN`` where the fold-out is empty.
    """
    hits, n_rel = _hits(topk, heldout, k)
    return _per_user(np.count_nonzero(hits, axis=1), np.minimum(n_rel, k), n_rel)


def precision(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Precision at ``k``, per user: ``hits@k / k``.

    Note it cannot reach 1 for a user with fewer than k fold-out items.

    Returns ``float64 (n_users,)``; ``NaN`` where the fold-out is empty.
    """
    hits, n_rel = _hits(topk, heldout, k)
    return _per_user(np.count_nonzero(hits, axis=1), np.full(len(n_rel), k), n_rel)


def hit_rate(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Hit rate at ``k``, per user: 1.0 if any fold-out item is in the top k, else 0.0.

    Returns ``float64 (n_users,)``; ``NaN`` where the fold-out is empty.
    """
    hits, n_rel = _hits(topk, heldout, k)
    return _per_user(hits.any(axis=1), np.ones(len(n_rel)), n_rel)


def mrr(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Reciprocal rank of the first fold-out item within the top ``k``, per user.

    ``RR@k = 1 / r*`` where ``r*`` is the rank of the first relevant item, and
    0 when none is in the top k; its mean over users is MRR@k (as RecBole's
    ``MRR``).

    Returns ``float64 (n_users,)``; ``NaN`` where the fold-out is empty.
    """
    hits, n_rel = _hits(topk, heldout, k)  # (n, k'), (n,)
    first = np.argmax(hits, axis=1)  # (n,) 0-based rank of the first hit (0 when there is none)
    rr = np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0)  # (n,)
    return _per_user(rr, np.ones(len(n_rel)), n_rel)


def average_precision(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Average precision at ``k``, per user; its mean over users is MAP@k.

    ``AP@k = sum_{r=1..k} P@r * rel(r) / min(k, |I_u|)``: the precision at the
    rank of each relevant item found, over what can be found in k ranks (the
    normalisation of RecBole's ``MAP``), so a perfect ranking scores 1.

    Returns ``float64 (n_users,)``; ``NaN`` where the fold-out is empty.
    """
    hits, n_rel = _hits(topk, heldout, k)  # (n, k'), (n,)
    prec = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)  # (n, k') P@r
    return _per_user((prec * hits).sum(axis=1), np.minimum(n_rel, k), n_rel)


def coverage(topk: np.ndarray, n_items: int, k: int) -> float:
    """Catalogue coverage at ``k``: the fraction of all ``n_items`` items that
    appear in the top k of at least one user.

    Unlike the other metrics this is one number for the whole set of users,
    not a per-user array, and it needs no fold-out.
    """
    topk = _check_topk(topk, k, n_items)
    if n_items == 0:
        return float("nan")
    return np.unique(topk).size / n_items


# -- rating prediction -----------------------------------------------------------
def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error over ``n`` ratings: ``sqrt((1/n) sum_k (p_k - r_k)^2)``.

    ``predicted`` and ``actual`` are 1-D arrays of the same length (computed
    in float64); NaN when ``n = 0``. NaN predictions are rejected with
    ``ValueError``.
    """
    err = _rating_errors(predicted, actual)
    return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error over ``n`` ratings: ``(1/n) sum_k |p_k - r_k|``; NaN when ``n = 0``."""
    err = _rating_errors(predicted, actual)
    return float(np.mean(np.abs(err))) if err.size else float("nan")


def _rating_errors(predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    p = np.asarray(predicted, dtype=np.float64).ravel()
    r = np.asarray(actual, dtype=np.float64).ravel()
    if p.shape != r.shape:
        raise ValueError(f"{p.size} predictions for {r.size} ratings")
    if np.isnan(p).any():
        raise NonFiniteScores("the model's predictions contain NaN (its weights diverged?)")
    return p - r


# -- helpers ---------------------------------------------------------------------
def as_numpy_scores(scores: Any) -> np.ndarray:
    """A numpy floating view (or copy) of numpy/torch scores."""
    if not isinstance(scores, np.ndarray) and hasattr(scores, "detach"):  # a torch tensor
        t = scores.detach()
        if not t.dtype.is_floating_point or t.element_size() < 4:  # ints, float16, bfloat16
            t = t.float()
        scores = t.cpu().numpy()
    s = np.asarray(scores)  # np.matrix -> ndarray too
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    return s


def _stored_nonzero(X: sp.spmatrix | sp.sparray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every stored nonzero entry of ``X`` (duplicates possible)."""
    X = sp.csr_matrix(X)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))  # (nnz,)
    keep = X.data != 0
    return rows[keep], X.indices[keep]


def _check_topk(topk: np.ndarray, k: int, n_items: int) -> np.ndarray:
    topk = np.asarray(topk)
    if topk.ndim != 2:
        raise ValueError(f"topk must be 2-D (users x ranks), got shape {topk.shape}")
    if not np.issubdtype(topk.dtype, np.integer):
        raise ValueError(f"topk must hold integer item indices, got {topk.dtype}")
    k, width = int(k), topk.shape[1]
    if k < 1 or (k > width and width != n_items):
        raise ValueError(f"k={k} must be between 1 and the number of ranked items ({width})")
    topk = topk[:, :k]  # (n, min(k, width))
    if topk.size and (topk.min() < 0 or topk.max() >= n_items):
        raise ValueError(f"topk holds item indices outside [0, {n_items})")
    return topk


def _hits(topk: np.ndarray, heldout: sp.spmatrix | sp.sparray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``hits (n, min(k, K))``: whether the item at each rank is in the fold-out;
    ``n_rel (n,)``: fold-out size (distinct stored nonzero items) per user.

    Membership is a binary search of ``row * n_items + item`` keys in the
    sorted keys of the fold-out, so no dense fold-out is ever built.
    """
    n, m = heldout.shape
    topk = _check_topk(topk, k, m)  # (n, k)
    if topk.shape[0] != n:
        raise ValueError(f"topk has {topk.shape[0]} rows, heldout {n}")
    rows, cols = _stored_nonzero(heldout)
    keys = np.unique(rows.astype(np.int64) * m + cols)  # (nnz,) sorted, distinct
    n_rel = np.bincount(keys // m, minlength=n) if m else np.zeros(n, np.int64)  # (n,)
    query = np.arange(n, dtype=np.int64)[:, None] * m + topk  # (n, k)
    if keys.size == 0:
        return np.zeros(query.shape, bool), n_rel
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)  # (n, k)
    return keys[pos] == query, n_rel


def _per_user(num: np.ndarray, den: np.ndarray, n_rel: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where the fold-out is empty."""
    out = np.full(len(n_rel), np.nan)
    ok = n_rel > 0
    out[ok] = num[ok] / den[ok]
    return out
