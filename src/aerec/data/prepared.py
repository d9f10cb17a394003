"""The prepared-dataset directory: the only thing later steps read.

Layout of a prepared directory::

    manifest.json        dataset, input files with sha256, protocol parameters, counts
    train.npz            CSR, training users x items (binary float32)
    validation_in.npz    CSR, validation users x items: fold-in
    validation_out.npz   CSR, validation users x items: fold-out (held out)
    test_in.npz          CSR, test users x items: fold-in
    test_out.npz         CSR, test users x items: fold-out
    items.parquet        column j of every matrix: item_id, title, genres
    users.parquet        user_id, split ("train" | "validation" | "test"), row
    NAME.npz             extra matrices listed in the manifest (synthetic data: planted_groups)

Matrices are saved with :func:`scipy.sparse.save_npz` and read with
``allow_pickle=False``; nothing here is ever a pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aerec.atomic import atomic_dir
from aerec.errors import DataError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass
class Fold:
    """Held-out users of one block (validation or test) of the split.

    ``X_in`` is what a model may see (the fold-in), ``X_out`` what it must
    find (the fold-out). Both are users x items CSR with the same rows.
    """

    X_in: sp.csr_matrix
    X_out: sp.csr_matrix
    users: np.ndarray

    def __post_init__(self) -> None:
        if self.X_in.shape != self.X_out.shape:
            raise ValueError(f"fold-in {self.X_in.shape} and fold-out {self.X_out.shape} differ in shape")
        if len(self.users) != self.X_in.shape[0]:
            raise ValueError("one user id per row is required")

    @property
    def n_users(self) -> int:
        return self.X_in.shape[0]


@dataclass
class PreparedDataset:
    """A dataset after preprocessing and the strong-generalization split."""

    train: sp.csr_matrix
    validation: Fold
    test: Fold
    items: pd.DataFrame  # one row per column: item_id, title, genres
    train_users: np.ndarray
    manifest: dict = field(default_factory=dict)
    extra: dict[str, sp.csr_matrix] = field(default_factory=dict)  # e.g. planted groups of synthetic data

    @property
    def n_items(self) -> int:
        return self.train.shape[1]

    def counts(self) -> dict:
        """Users, items and interactions of each part, for the manifest."""
        return {
            "items": int(self.n_items),
            "train_users": int(self.train.shape[0]),
            "train_interactions": int(self.train.nnz),
            "validation_users": int(self.validation.n_users),
            "validation_in": int(self.validation.X_in.nnz),
            "validation_out": int(self.validation.X_out.nnz),
            "test_users": int(self.test.n_users),
            "test_in": int(self.test.X_in.nnz),
            "test_out": int(self.test.X_out.nnz),
        }

    def save(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write the directory atomically (a failure leaves nothing behind)."""
        manifest = dict(self.manifest)
        manifest["format_version"] = FORMAT_VERSION
        manifest["counts"] = self.counts()
        manifest["extra"] = sorted(self.extra)
        with atomic_dir(out, overwrite=overwrite) as tmp:
            sp.save_npz(tmp / "train.npz", self.train.tocsr(), compressed=False)
            for name, fold in (("validation", self.validation), ("test", self.test)):
                sp.save_npz(tmp / f"{name}_in.npz", fold.X_in.tocsr(), compressed=False)
                sp.save_npz(tmp / f"{name}_out.npz", fold.X_out.tocsr(), compressed=False)
            self.items.reset_index(drop=True).to_parquet(tmp / "items.parquet", index=False)
            users = pd.concat(
                [
                    _users_frame(self.train_users, "train"),
                    _users_frame(self.validation.users, "validation"),
                    _users_frame(self.test.users, "test"),
                ],
                ignore_index=True,
            )
            users.to_parquet(tmp / "users.parquet", index=False)
            for name, matrix in self.extra.items():
                sp.save_npz(tmp / f"{name}.npz", sp.csr_matrix(matrix), compressed=False)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return Path(out)

    @classmethod
    def load(cls, path: str | Path) -> PreparedDataset:
        """Read a prepared directory written by :meth:`save`."""
        path = Path(path)
        manifest = read_manifest(path, "run `aerec prepare` first")
        if protocol_kind(manifest) == "ratings":
            raise DataError(f"{path}: holds explicit ratings (--protocol ratings), for rating models only (aerec.data.ratings.RatingsDataset)")
        try:
            train = load_csr(path / "train.npz")
            items = pd.read_parquet(path / "items.parquet")
            users = pd.read_parquet(path / "users.parquet")
            folds = {}
            for name in ("validation", "test"):
                block = users[users["split"] == name].sort_values("row")
                folds[name] = Fold(
                    load_csr(path / f"{name}_in.npz"),
                    load_csr(path / f"{name}_out.npz"),
                    block["user_id"].to_numpy(),
                )
            extra = {name: load_csr(path / f"{name}.npz") for name in manifest.get("extra", [])}
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{path}: cannot read prepared dataset ({e})") from None
        train_users = users[users["split"] == "train"].sort_values("row")["user_id"].to_numpy()
        return cls(train, folds["validation"], folds["test"], items, train_users, manifest, extra)


def _users_frame(ids: np.ndarray, split: str) -> pd.DataFrame:
    ids = np.asarray(ids)
    if ids.dtype == object:
        ids = ids.astype(str)
    return pd.DataFrame({"user_id": ids, "split": split, "row": np.arange(len(ids), dtype=np.int64)})


def read_manifest(path: Path, hint: str) -> dict:
    """The manifest of the prepared directory ``path``; a missing or unreadable one is a one-line error (``hint``: what to run)."""
    if not (path / MANIFEST).is_file():
        raise DataError(f"{path}: not a prepared dataset (no {MANIFEST}; {hint})")
    try:
        return json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path / MANIFEST}: cannot read it ({e})") from None


def protocol_kind(manifest: dict) -> str:
    """The protocol a prepared directory was written with: ``ratings``, ``sequential`` or ``strong``."""
    return str((manifest.get("protocol") or {}).get("kind", "strong"))


def load_csr(path: Path) -> sp.csr_matrix:
    with np.load(path, allow_pickle=False) as f:
        fmt = f["format"].item()
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != "csr":
            raise ValueError(f"{path.name} is {fmt}, expected csr")
        return sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
