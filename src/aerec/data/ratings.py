"""The explicit-rating protocol: a random split of the ratings themselves (AutoRec, DeepRec).

Rating-prediction autoencoders (Sedhain et al., WWW 2015, Sec. 3; Kuchaiev &
Ginsburg 2017) are evaluated by how well they predict held-out *ratings* of
users and items they have seen, not by ranking for unseen users. The split
here is AutoRec's (Sec. 3): the ratings, not the users, are divided at random::

    all ratings (after dedupe), permuted with numpy.random.default_rng(seed)
    |<-------------------- 90 % -------------------->|<-- 10 % test -->|
    |<------------ 90 % train ------------>|<-10 %->|
                                            validation

``test_prop`` of the ratings are the test set; ``validation_prop`` of the
rest are held out for validation (early stopping, hyperparameter choice);
the remainder is the training set. Every rating lands in exactly one part.
Users and items are shared: the three parts are users x items CSR matrices
of rating values over the same rows and columns, so a model predicts a
held-out rating of a user from that user's (or item's) *training* ratings.

Preprocessing keeps every rating (no value threshold, no activity filter);
a repeated (user, item) pair is kept once, at its first occurrence
(:func:`aerec.data.preprocess.preprocess` with ``dedupe=True``). Rows are
the users with at least one rating, columns the items with at least one
rating, so a user or item may have held-out ratings but none in training.

**Unseen users and items.** A held-out rating whose user or item has no
training rating is predicted as the *training global mean* (the mean of all
training ratings); :class:`aerec.models.rating_base.RatingRecommender`
applies this default. AutoRec (Sec. 3) used the constant 3 instead; the
global mean is the least-squares constant and needs no knowledge of the scale.

Layout of a ratings directory (written atomically, read without pickles)::

    manifest.json    dataset, sources with sha256, {"protocol": {"kind": "ratings", ...}}, counts
    train.npz        CSR users x items, training ratings (float32)
    validation.npz   CSR users x items, validation ratings
    test.npz         CSR users x items, test ratings
    items.parquet    column j: item_id, title, genres
    users.parquet    row i: user_id
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

import aerec
from aerec.atomic import atomic_dir
from aerec.data.interactions import Interactions
from aerec.data.prepare import file_record, item_table
from aerec.data.prepared import load_csr, load_items, load_table, protocol_kind, read_manifest
from aerec.data.preprocess import Filters, preprocess
from aerec.errors import DataError

__all__ = ["KIND", "RATING_FILTERS", "RatingSplit", "RatingSplitParams", "RatingsDataset", "prepare_ratings", "split_ratings"]

KIND = "ratings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Keep every rating; only a repeated (user, item) pair is dropped.
RATING_FILTERS = Filters(value_above=None, min_item_users=0, min_user_items=0, dedupe=True)


@dataclass(frozen=True)
class RatingSplitParams:
    """Parameters of the explicit-rating split.

    Attributes:
        test_prop: the fraction of all ratings in the test set (AutoRec: 0.1).
        validation_prop: the fraction of the remaining ratings held out for validation (AutoRec: 0.1).
        seed: seeds ``numpy.random.default_rng``, the only source of randomness.
    """

    test_prop: float = 0.1
    validation_prop: float = 0.1
    seed: int = 98765

    def __post_init__(self) -> None:
        for name in ("test_prop", "validation_prop"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise DataError(f"{name} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class RatingSplit:
    """Indices (into the rating log) of each part, each sorted ascending."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_ratings(n: int, params: RatingSplitParams) -> RatingSplit:
    """Divide ratings ``0..n-1`` into train / validation / test at random.

    One permutation from ``default_rng(seed)``: its first
    ``round(test_prop * n)`` entries are the test set, the next
    ``round(validation_prop * (n - n_test))`` the validation set, the rest
    training. Disjoint, covering, and the same for the same ``(n, params)``.
    """
    rng = np.random.default_rng(params.seed)
    perm = rng.permutation(n)
    n_test = int(round(params.test_prop * n))
    n_val = int(round(params.validation_prop * (n - n_test)))
    return RatingSplit(
        train=np.sort(perm[n_test + n_val :]),
        validation=np.sort(perm[n_test : n_test + n_val]),
        test=np.sort(perm[:n_test]),
    )


@dataclass
class RatingsDataset:
    """Training, validation and test ratings over shared users (rows) and items (columns)."""

    train: sp.csr_matrix
    validation: sp.csr_matrix
    test: sp.csr_matrix
    items: pd.DataFrame  # one row per column: item_id, title, genres
    users: np.ndarray  # raw user id of each row
    manifest: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return self.train.shape[1]

    def counts(self) -> dict:
        """Users, items and ratings of each part, for the manifest."""
        seen_users = np.diff(self.train.indptr) > 0
        seen_items = np.bincount(self.train.indices, minlength=self.n_items) > 0
        out = {"users": int(self.train.shape[0]), "items": int(self.n_items)}
        for name in ("train", "validation", "test"):
            out[f"{name}_ratings"] = int(getattr(self, name).nnz)
        for name in ("validation", "test"):
            R = getattr(self, name).tocoo()
            out[f"{name}_unseen"] = int(np.count_nonzero(~(seen_users[R.row] & seen_items[R.col])))
        return out

    def save(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write the directory atomically (a failure leaves nothing behind)."""
        manifest = {**self.manifest, "format_version": FORMAT_VERSION, "counts": self.counts()}
        with atomic_dir(out, overwrite=overwrite) as tmp:
            for name in ("train", "validation", "test"):
                sp.save_npz(tmp / f"{name}.npz", sp.csr_matrix(getattr(self, name)), compressed=False)
            self.items.reset_index(drop=True).to_parquet(tmp / "items.parquet", index=False)
            users = np.asarray(self.users)
            pd.DataFrame({"user_id": users.astype(str) if users.dtype == object else users}).to_parquet(tmp / "users.parquet", index=False)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return Path(out)

    @classmethod
    def load(cls, path: str | Path) -> RatingsDataset:
        """Read a directory written by :meth:`save`; any other directory is a one-line error."""
        path = Path(path)
        manifest = read_manifest(path, "run `aerec prepare --protocol ratings` first")
        kind = protocol_kind(manifest)
        if kind != KIND:
            raise DataError(f"{path}: prepared with the {kind} protocol, not explicit ratings (prepare it with --protocol ratings)")
        items = load_items(path / "items.parquet")
        users = load_table(path / "users.parquet", ("user_id",))["user_id"].to_numpy()
        shape = (len(users), len(items))  # every part: the users of users.parquet x the items of items.parquet
        parts = [load_csr(path / f"{name}.npz", shape=shape) for name in ("train", "validation", "test")]
        return cls(*parts, items, users, manifest)



def prepare_ratings(data: Interactions, params: RatingSplitParams, *, dataset: str, filters: Filters = RATING_FILTERS) -> RatingsDataset:
    """Dedupe (and optionally filter) ``data`` and split its ratings; the manifest records everything."""
    kept = preprocess(data, filters)
    if np.any(kept.value == 0):
        raise DataError("a rating of 0 cannot be told from a missing one in the sparse matrices; shift the scale first")
    users, rows = np.unique(kept.user, return_inverse=True)
    items, cols = np.unique(kept.item, return_inverse=True)
    shape = (len(users), len(items))
    s = split_ratings(len(kept), params)
    values = np.asarray(kept.value, dtype=np.float32)
    parts = [sp.csr_matrix((values[idx], (rows[idx], cols[idx])), shape=shape) for idx in (s.train, s.validation, s.test)]
    for R in parts:
        R.sort_indices()
    raw_items = items if kept.item_ids is None else kept.item_ids[items]
    raw_users = users if kept.user_ids is None else kept.user_ids[users]
    manifest = {
        "dataset": dataset,
        "aerec_version": aerec.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sources": [file_record(p) for p in data.sources],
        "protocol": {"kind": KIND, "filters": dataclasses.asdict(filters), "split": dataclasses.asdict(params), "unseen_default": "training global mean"},
        "read": {"ratings": len(data), "after_preprocessing": len(kept)},
        "rating_values": sorted(float(v) for v in np.unique(values)),
        "has_timestamps": data.timestamp is not None,
    }
    return RatingsDataset(parts[0], parts[1], parts[2], item_table(np.asarray(raw_items), data.items), np.asarray(raw_users), manifest)

