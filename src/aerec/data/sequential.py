"""Sequential strong generalization: held-out histories split by time (issue 5).

The protocol of Sachdeva, Manco, Ritacco & Pudi (SVAE, WSDM 2019): the
preprocessing and the choice of users are those of the strong-generalization
split (PROTOCOL.md §1-2, :func:`aerec.data.split.split`, which this module
calls, so the training matrix, the item vocabulary and the validation and
test users are identical to ``aerec prepare``'s), but each held-out user's
history is divided by time instead of at random::

    a held-out user's k interactions, oldest first
    |<------------ fold-in: the earliest k - n_out ------------>|<- fold-out: the latest n_out ->|

Where we had to choose:

* **Sizes.** ``n_out = int(test_prop * k)`` (the latest 20 %, rounded down),
  the same expression, hence the same number of fold-out items per user, as
  the random split; the fold-in is the rest (the earliest 80 %, rounded up).
  Users with ``k < min_fold_items`` (5) go wholly to the fold-in, as in
  PROTOCOL.md. The SVAE authors' notebook takes the fold-in as
  ``int(0.8 * k)`` (rounded down), one item fewer when ``k`` is not a
  multiple of 5; we keep the random split's sizes so that the two protocols
  differ only in *which* items are held out.
* **Ties in time.** A user's interactions are ordered by timestamp, equal
  timestamps by their order in the file (a stable sort), so the fold-out is
  strictly later than the fold-in in that order; its timestamps are never
  earlier than the fold-in's, and may equal the last fold-in timestamp
  (MovieLens stores seconds, and a user often rates several movies in one).
* **Which interactions count.** ``k`` is counted after dropping the held-out
  user's interactions on items outside the training vocabulary (as the
  random split does), and positions are over the remaining ones.
* **Timestamps are required.** Data without them (the derived ml-1m CSV
  here) is a :class:`~aerec.errors.DataError`.

The prepared directory holds the usual binary matrices (so every
bag-of-items model runs unchanged) and three more, with the same sparsity
pattern as ``train``, ``validation_in`` and ``test_in`` and values = the
1-based position of the interaction in the user's time-ordered history
(float32, exact below 2**24): ``train_order``, ``validation_in_order``,
``test_in_order``. :func:`inputs_for` hands a model the matrices it needs:
a sequential model (class attribute ``sequential = True``) gets the order
matrices as its inputs, every other model the binary ones. Fold-outs are
always binary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aerec.data.interactions import Interactions
from aerec.data.prepare import prepare
from aerec.data.prepared import Fold, PreparedDataset
from aerec.data.preprocess import Filters, preprocess
from aerec.data.split import SplitParams
from aerec.errors import DataError

__all__ = ["ORDER_MATRICES", "inputs_for", "is_sequential", "prepare_sequential", "time_positions"]

#: The extra matrices of a sequential prepared directory: name -> the binary matrix whose pattern it shares.
ORDER_MATRICES = {"train_order": "train", "validation_in_order": "validation_in", "test_in_order": "test_in"}

_WITH_TIMESTAMPS = "ml-100k and ml-latest-small have them"


def prepare_sequential(data: Interactions, filters: Filters, params: SplitParams, *, dataset: str) -> PreparedDataset:
    """Preprocess and split ``data`` as :func:`~aerec.data.prepare.prepare`, held-out histories by time.

    Raises :class:`DataError` when ``data`` has no timestamps.
    """
    if data.timestamp is None:
        raise DataError(f"{dataset}: the sequential protocol needs timestamps; this dataset's files have none ({_WITH_TIMESTAMPS})")
    base = prepare(data, filters, params, dataset=dataset)  # the same preprocessing, users, items and training matrix
    kept = preprocess(data, filters)
    n_items = base.n_items

    col = _column_index(base.items["item_id"]).get_indexer(_as_item_keys(kept.raw_items()))
    known = col >= 0  # held-out interactions on items unseen in training are dropped, as in the split
    users = kept.raw_users()[known]
    col = col[known]
    position = time_positions(_user_codes(users), kept.timestamp[known])  # (n,) 1-based, per user

    train_row = pd.Index(base.train_users).get_indexer(users)
    in_train = train_row >= 0
    train_order = _csr(train_row[in_train], col[in_train], position[in_train], (base.train.shape[0], n_items))

    folds, orders = [], []
    for fold in (base.validation, base.test):
        row = pd.Index(fold.users).get_indexer(users)
        mine = row >= 0
        r, c, p = row[mine], col[mine], position[mine]
        k = np.bincount(r, minlength=fold.n_users)  # (users,) interactions per held-out user
        n_out = np.array([int(params.test_prop * kk) if kk >= params.min_fold_items else 0 for kk in k.tolist()], dtype=np.int64)
        out = p > (k - n_out)[r]  # the latest n_out positions
        shape = (fold.n_users, n_items)
        X_in_order = _csr(r[~out], c[~out], p[~out], shape)
        X_in = _binary(X_in_order)
        X_out = _binary(_csr(r[out], c[out], p[out], shape))
        folds.append(Fold(X_in, X_out, fold.users))
        orders.append(X_in_order)

    manifest = dict(base.manifest)
    manifest["protocol"] = {
        **manifest["protocol"],
        "kind": "sequential",
        "fold_in_prop": round(1.0 - params.test_prop, 12),
        "fold_out_size": "int(test_prop * k), the latest; users with k < min_fold_items: none",
        "ties": "equal timestamps in file order",
    }
    extra = {"train_order": train_order, "validation_in_order": orders[0], "test_in_order": orders[1]}
    return PreparedDataset(base.train, folds[0], folds[1], base.items, base.train_users, manifest, {**base.extra, **extra})


def time_positions(user: np.ndarray, timestamp: np.ndarray) -> np.ndarray:
    """The 1-based position of each interaction in its user's history, oldest first.

    Interactions are ordered by ``timestamp``; equal timestamps keep their
    order in the input (file order). Returns int64 of the input's length.
    """
    n = len(user)
    order = np.lexsort((np.arange(n), np.asarray(timestamp), np.asarray(user)))  # by user, then time, then file order
    sorted_users = np.asarray(user)[order]
    starts = np.r_[0, np.flatnonzero(sorted_users[1:] != sorted_users[:-1]) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, n]))  # start of each sorted row's user run
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - first + 1
    return position


def is_sequential(model) -> bool:
    """Whether a model (class or instance) reads time-ordered histories (``sequential = True``)."""
    return bool(getattr(model, "sequential", False))


def inputs_for(model, data: PreparedDataset, *, where: str = "") -> tuple[sp.csr_matrix, Fold, Fold]:
    """(train, validation, test) as ``model`` (a class or an instance) needs them.

    A sequential model gets the order matrices as its inputs (values =
    1-based positions in time order): ``Fold(X_in=order, X_out=binary
    fold-out)``; any other model gets the binary matrices. A sequential model
    on a prepared directory without order matrices is a :class:`DataError`
    (``where`` names the directory in the message).
    """
    if not is_sequential(model):
        return data.train, data.validation, data.test
    missing = [name for name in ORDER_MATRICES if name not in data.extra]
    if missing:
        name = getattr(model, "name", type(model).__name__)
        dataset = data.manifest.get("dataset", "DATASET")
        place = f"{where}: " if where else ""
        raise DataError(
            f"{place}{name} needs time-ordered histories, but this prepared dataset has no order matrices "
            f"(prepare it with `aerec prepare {dataset} ... --protocol sequential`)"
        )
    return (
        data.extra["train_order"],
        Fold(data.extra["validation_in_order"], data.validation.X_out, data.validation.users),
        Fold(data.extra["test_in_order"], data.test.X_out, data.test.users),
    )


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """CSR with the given entries (float32), canonical: indices sorted, no duplicates.

    A repeated (user, item) (possible only with ``Filters(dedupe=False)``)
    keeps its earliest position.
    """
    rows, cols, values = np.asarray(rows), np.asarray(cols), np.asarray(values)
    first = np.lexsort((values, cols, rows))  # earliest position first within each (row, col)
    rows, cols, values = rows[first], cols[first], values[first]
    keep = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])] if len(rows) else np.zeros(0, dtype=bool)
    X = sp.csr_matrix((values[keep].astype(np.float32), (rows[keep], cols[keep])), shape=shape)
    X.sort_indices()
    return X


def _binary(X: sp.csr_matrix) -> sp.csr_matrix:
    B = X.copy()
    B.data = np.ones_like(B.data, dtype=np.float32)
    return B


def _user_codes(users: np.ndarray) -> np.ndarray:
    """An int64 code per interaction, equal for equal users (any id type)."""
    return pd.factorize(users)[0].astype(np.int64)


def _as_item_keys(raw_items: np.ndarray) -> np.ndarray:
    """Raw item ids in the form the item table stores them (integers, or strings)."""
    raw_items = np.asarray(raw_items)
    return raw_items if np.issubdtype(raw_items.dtype, np.integer) else raw_items.astype(str)


def _column_index(item_ids: pd.Series) -> pd.Index:
    values = item_ids.to_numpy()
    return pd.Index(values if np.issubdtype(values.dtype, np.integer) else values.astype(str))
