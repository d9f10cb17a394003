"""Recommendations for many users the model never saw, from a log of their histories.

The serving side of strong generalization: a trained model receives each
user's items (a CSV/TSV/Parquet log read by :func:`aerec.data.load.read_table`),
scores every item in its vocabulary, and returns the top ``n`` items the user
has not interacted with, in long format (``user_id, rank, item_id, score``).

Choices, each one what a batch job over a changing catalogue needs:

- **Unknown items.** Items absent from the model's vocabulary (added to the
  catalogue after training, or typos) are dropped and counted (``unknown =
  "skip"``, the default), or refused with the first few ids named
  (``unknown = "error"``). A user whose every item is unknown is ranked from
  an empty history and counted in :attr:`Histories.empty_users`.
- **Values.** With ``value_above``, only rows whose value is above it are
  interactions (the protocol's ``rating > 3.5``, for a log of ratings
  served to a model trained on a prepared MovieLens split); otherwise every
  row is one. A user with no row above it is still served, from an empty
  history.
- **Repeats.** An item a user has several times is one interaction (the models
  read binary histories). A sequential model (SVAE) reads order instead: its
  input holds each item's 1-based position among the user's distinct items,
  ordered by the time column where there is one (ties and no time column:
  file order), by first occurrence.
- **Fewer than n items.** A user who has interacted with all but ``j < n``
  known items gets ``j`` rows: fold-in items are never recommended.
- **Memory.** Users are scored in chunks of
  :func:`aerec.protocol.rows_per_chunk` rows, as the evaluation scores them,
  so the dense score matrix of all users never exists.

Users appear in the order of their first row in the log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aerec.data.interactions import Interactions
from aerec.data.sequential import time_positions
from aerec.errors import ConfigError, DataError
from aerec.protocol import rows_per_chunk

__all__ = ["Histories", "histories", "recommend_many", "UNKNOWN_ITEMS"]

#: What to do with an item id that is not in the model's vocabulary.
UNKNOWN_ITEMS = ("skip", "error")


@dataclass
class Histories:
    """Users' histories over a model's item columns.

    Attributes:
        user_ids: one raw user id per row of ``X`` (as strings), in order of first appearance in the log.
        X: ``(n_users, n_items)`` CSR: 1.0 per distinct known item, or for a sequential model its position.
        unknown_interactions: log rows dropped because their item is not in the vocabulary.
        unknown_items: the distinct unknown item ids, in order of first appearance.
        empty_users: users left with no item to read: all unknown, or none above ``value_above`` (ranked from an empty history).
    """

    user_ids: np.ndarray
    X: sp.csr_matrix
    unknown_interactions: int = 0
    unknown_items: tuple[str, ...] = ()
    empty_users: int = 0


def _raw_ids(codes: np.ndarray, vocab: np.ndarray | None) -> np.ndarray:
    """The raw ids of a column as strings (integer ids as written, factorised ids through their vocabulary)."""
    return (np.asarray(vocab)[codes] if vocab is not None else codes).astype(str)


def histories(
    log: Interactions, item_ids: np.ndarray, *, sequential: bool = False, unknown: str = "skip", value_above: float | None = None, where: str = "histories"
) -> Histories:
    """Map a log of (user, item[, time]) rows onto a model's item columns.

    Args:
        log: the users' interactions.
        item_ids: the model's item vocabulary (``items.parquet``'s ``item_id``), column order.
        sequential: build positions in time order (for a model with ``sequential = True``).
        unknown: ``"skip"`` or ``"error"`` for items not in ``item_ids`` (see the module docstring).
        value_above: keep only rows whose value is above this (``None``: every row).
        where: the file's name for error messages.
    """
    if unknown not in UNKNOWN_ITEMS:
        raise ConfigError(f"unknown={unknown!r}: choose one of {', '.join(UNKNOWN_ITEMS)}")
    if value_above is not None and not np.isfinite(value_above):
        raise ConfigError(f"value_above={value_above}: must be a finite number")
    if len(log) == 0:
        raise DataError(f"{where}: no interactions")
    vocab = np.asarray(item_ids).astype(str)
    column = pd.Index(vocab)
    if not column.is_unique:
        raise DataError(f"{where}: the model's item vocabulary repeats ids")
    users, user_order = pd.factorize(_raw_ids(log.user, log.user_ids), sort=False)  # codes in order of first appearance
    raw_items = _raw_ids(log.item, log.item_ids)
    cols = column.get_indexer(raw_items)  # -1 where unknown
    known = cols >= 0
    missing = pd.unique(raw_items[~known])
    if len(missing) and unknown == "error":
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"{where}: {len(missing)} item id(s) not in the model's vocabulary: {shown} (--unknown skip drops them)")

    keep = known if value_above is None else known & (np.asarray(log.value) > value_above)  # a user below it everywhere stays, empty
    rows, cols = users[keep], cols[keep]
    n_users = len(user_order)
    if sequential:
        times = log.timestamp[keep] if log.timestamp is not None else np.zeros(len(rows), np.int64)
        order = np.lexsort((np.arange(len(rows)), times, rows))  # by user, then time, then file order
        rows, cols, times = rows[order], cols[order], times[order]
        first = ~pd.DataFrame({"r": rows, "c": cols}).duplicated().to_numpy()  # each item's first occurrence
        rows, cols, times = rows[first], cols[first], times[first]
        values = time_positions(rows, times).astype(np.float32)
    else:
        values = np.ones(len(rows), np.float32)
    X = sp.csr_matrix((values, (rows, cols)), shape=(n_users, len(vocab)), dtype=np.float32)  # sums repeats
    if not sequential:
        X.data[:] = 1.0  # repeats are one interaction
    return Histories(
        user_ids=np.asarray(user_order).astype(str),
        X=X,
        unknown_interactions=int((~known).sum()),
        unknown_items=tuple(str(i) for i in missing),
        empty_users=int((np.diff(X.indptr) == 0).sum()),
    )


def recommend_many(model, h: Histories, item_ids: np.ndarray, n: int, *, chunk_bytes: int = 256 * 2**20) -> pd.DataFrame:
    """The top ``n`` unseen items of every user of ``h``: columns ``user_id, rank, item_id, score``.

    ``model`` is a fitted ranking :class:`~aerec.models.base.Recommender`
    (its ``score`` takes fold-in rows); ``item_ids`` is its vocabulary.
    """
    if n < 1:
        raise ConfigError(f"n={n}: must be at least 1")
    m = h.X.shape[1]
    vocab = np.asarray(item_ids).astype(str)
    if len(vocab) != m:
        raise ConfigError(f"the histories have {m} item columns, the vocabulary {len(vocab)}")
    k = min(n, m)
    step = rows_per_chunk(m, chunk_bytes)
    frames = []
    for start in range(0, h.X.shape[0], step):
        X = h.X[start : start + step]
        top, s = model.recommend(X, k)  # (b, k) each; -1 where a user has fewer than k unseen items
        r, c = np.nonzero(top >= 0)
        frames.append(
            pd.DataFrame(
                {
                    "user_id": h.user_ids[start + r],
                    "rank": (c + 1).astype(np.int32),
                    "item_id": vocab[top[r, c]],
                    "score": s[r, c],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
