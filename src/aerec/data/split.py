"""The strong-generalization split of PROTOCOL.md §2 (Liang et al., WWW 2018).

Users, not interactions, are split: training users give the training matrix;
validation and test users are never seen in training, and each of their
histories is divided into a fold-in (what the model receives) and a fold-out
(what it must find)::

    users (sorted, permuted with seed 98765)
    |<----------- n - 2h training ----------->|<- h validation ->|<- h test ->|
                                              |  fold-in  80 %   |  fold-in   |
                                              |  fold-out 20 %   |  fold-out  |

Every random draw uses NumPy's legacy generator (:class:`numpy.random.RandomState`,
the same stream as ``np.random.seed`` + ``np.random.*`` in the published
notebook) so that the split is the literature's bit for bit, without touching
NumPy's global state.

Where we had to choose: a held-out user whose interactions all fall on items
outside the training vocabulary keeps an empty row (Liang et al.'s loader
drops trailing empty rows; an empty row is never scored, so the metrics are
the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aerec.data.interactions import Interactions
from aerec.data.prepared import Fold
from aerec.errors import ConfigError, DataError


@dataclass(frozen=True)
class SplitParams:
    """Parameters of PROTOCOL.md §2.

    Attributes:
        heldout_users: h, the number of validation users and of test users.
        seed: the legacy NumPy seed (98765 in the literature).
        test_prop: the fraction of a held-out user's interactions in the fold-out.
        min_fold_items: users with fewer interactions go wholly to the fold-in.
    """

    heldout_users: int
    seed: int = 98765
    test_prop: float = 0.2
    min_fold_items: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.test_prop < 1.0:  # 0 leaves nothing to find; NaN fails too
            raise ConfigError(f"test_prop={self.test_prop}: must be in (0, 1)")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed={self.seed}: must be in 0..2**32 - 1 (NumPy's legacy generator)")
        if self.min_fold_items < 0:
            raise ConfigError(f"min_fold_items={self.min_fold_items}: must be at least 0")


@dataclass
class Split:
    """The output of :func:`split`: matrices plus the id vocabularies."""

    train: sp.csr_matrix
    validation: Fold
    test: Fold
    train_users: np.ndarray  # raw ids, row order of ``train``
    item_ids: np.ndarray  # raw ids, column order of every matrix
    validation_dropped: int  # held-out interactions on items unseen in training
    test_dropped: int


def split(data: Interactions, params: SplitParams) -> Split:
    """Split preprocessed interactions as PROTOCOL.md §2 prescribes."""
    user_key = _sort_key(data.user, data.user_ids)  # orders users as their raw ids sort
    unique_uid = np.unique(user_key)  # step 1: sorted distinct users
    n, h = len(unique_uid), params.heldout_users
    if h < 1:
        raise DataError(f"--heldout-users must be at least 1, got {h}")
    if n - 2 * h < 1:
        raise DataError(
            f"--heldout-users {h} asks for {2 * h:,} validation and test users, "
            f"but only {n:,} users remain after preprocessing (need at least one training user)"
        )
    rng = np.random.RandomState(params.seed)  # step 2
    unique_uid = unique_uid[rng.permutation(n)]
    tr_users, vd_users, te_users = unique_uid[: n - 2 * h], unique_uid[n - 2 * h : n - h], unique_uid[n - h :]  # step 3

    in_train = np.isin(user_key, tr_users)
    unique_sid = pd.unique(data.item[in_train])  # step 4: first appearance in the filtered data
    item_col = pd.Index(unique_sid)

    train_rows = pd.Index(tr_users).get_indexer(user_key[in_train])
    train = _binary_csr(train_rows, item_col.get_indexer(data.item[in_train]), (len(tr_users), len(unique_sid)))

    folds, dropped = [], []
    for block in (vd_users, te_users):  # step 5, once for validation and once for test
        in_block = np.isin(user_key, block)
        cols = item_col.get_indexer(data.item[in_block])
        known = cols >= 0
        block_users = user_key[in_block][known]
        rows = pd.Index(block).get_indexer(block_users)  # step 6: permuted order within the block
        out = _fold_out_mask(block_users, params)
        shape = (len(block), len(unique_sid))
        X_in = _binary_csr(rows[~out], cols[known][~out], shape)
        X_out = _binary_csr(rows[out], cols[known][out], shape)
        folds.append(Fold(X_in, X_out, _raw(block, data.user_ids)))
        dropped.append(int((~known).sum()))

    item_ids = unique_sid if data.item_ids is None else data.item_ids[unique_sid]
    return Split(
        train=train,
        validation=folds[0],
        test=folds[1],
        train_users=_raw(tr_users, data.user_ids),
        item_ids=np.asarray(item_ids),
        validation_dropped=dropped[0],
        test_dropped=dropped[1],
    )


def _fold_out_mask(block_users: np.ndarray, params: SplitParams) -> np.ndarray:
    """Step 5: the fold-out mask over a block's interactions (in file order).

    Users are visited in ascending id order, each user's ``k`` interactions
    in file order; a user with ``k >= min_fold_items`` gets
    ``int(test_prop * k)`` of them drawn without replacement.
    """
    rng = np.random.RandomState(params.seed)
    order = np.argsort(block_users, kind="stable")  # group by user, file order kept within
    _, starts, counts = np.unique(block_users[order], return_index=True, return_counts=True)
    out = np.zeros(len(block_users), dtype=bool)
    for start, k in zip(starts.tolist(), counts.tolist()):
        if k >= params.min_fold_items:
            idx = np.zeros(k, dtype=bool)
            idx[rng.choice(k, size=int(params.test_prop * k), replace=False)] = True
            out[order[start : start + k]] = idx
    return out


def _binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    X = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)
    X.sum_duplicates()
    X.sort_indices()
    return X


def _sort_key(ids: np.ndarray, vocab: np.ndarray | None) -> np.ndarray:
    """An int64 key per row that sorts as the raw ids sort.

    Integer ids are their own key; string ids (codes into ``vocab``) are
    replaced by the rank of their string in sorted order.
    """
    if vocab is None:
        return np.asarray(ids, dtype=np.int64)
    rank = np.empty(len(vocab), dtype=np.int64)
    rank[np.argsort(vocab, kind="stable")] = np.arange(len(vocab))
    return rank[ids]


def _raw(keys: np.ndarray, vocab: np.ndarray | None) -> np.ndarray:
    """Raw user ids for sort keys (the inverse of :func:`_sort_key`)."""
    if vocab is None:
        return keys
    order = np.argsort(vocab, kind="stable")  # rank r -> code order[r]
    return np.asarray(vocab[order[keys]])
