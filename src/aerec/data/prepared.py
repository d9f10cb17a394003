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
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aerec.atomic import atomic_dir
from aerec.errors import DataError
from aerec.validate import check_array, checked_csr, shape_text

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
        """Read a prepared directory written by :meth:`save`.

        Everything is checked before use (:mod:`aerec.validate`): each matrix's
        CSR arrays, its rows against the users of its block in
        ``users.parquet`` and its columns against ``items.parquet``; any misfit
        is a one-line :class:`DataError` naming the file.
        """
        path = Path(path)
        manifest = read_manifest(path, "run `aerec prepare` first")
        if protocol_kind(manifest) == "ratings":
            raise DataError(f"{path}: holds explicit ratings (--protocol ratings), for rating models only (aerec.data.ratings.RatingsDataset)")
        extra_names = _extra_names(manifest, path / MANIFEST)
        items = load_items(path / "items.parquet")
        blocks = _user_blocks(path / "users.parquet")
        n_items = len(items)
        train = load_csr(path / "train.npz", shape=(len(blocks["train"]), n_items))
        folds, shapes = {}, {"train": train.shape}
        for name in ("validation", "test"):
            shape = (len(blocks[name]), n_items)
            folds[name] = Fold(load_csr(path / f"{name}_in.npz", shape=shape), load_csr(path / f"{name}_out.npz", shape=shape), blocks[name])
            shapes[f"{name}_in"] = shape
        extra = {}
        for name in extra_names:
            base = name.removesuffix("_order") if name.endswith("_order") else None
            want = shapes.get(base) if base else ((n_items, None) if name == "planted_groups" else None)
            extra[name] = load_csr(path / f"{name}.npz", shape=want)
        return cls(train, folds["validation"], folds["test"], items, blocks["train"], manifest, extra)


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
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path / MANIFEST}: cannot read it ({e})") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path / MANIFEST}: is not a JSON object (it holds a {type(manifest).__name__})")
    return manifest


def protocol_kind(manifest: dict) -> str:
    """The protocol a prepared directory was written with: ``ratings``, ``sequential`` or ``strong``."""
    protocol = manifest.get("protocol") if isinstance(manifest, dict) else None
    return str(protocol.get("kind", "strong")) if isinstance(protocol, dict) else "strong"


def load_csr(path: Path, *, shape: tuple[int | None, int | None] | None = None) -> sp.csr_matrix:
    """A matrix written by ``scipy.sparse.save_npz`` (CSR), read without pickles and checked (:func:`aerec.validate.check_csr`).

    ``shape`` is the shape it must have (``None`` for a free axis). A missing,
    unreadable or malformed file is a one-line :class:`DataError` naming it
    (and the array).
    """
    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("format", "shape", "indptr", "indices", "data") if k not in f.files]
            if missing:
                raise DataError(f"{path}: no array {missing[0]!r} (expected a CSR matrix written by scipy.sparse.save_npz)")
            arrays = {k: f[k] for k in ("format", "shape", "indptr", "indices", "data")}
    except (AttributeError, TypeError):  # np.load gave a single array, which is no context manager
        raise DataError(f"{path}: not an .npz archive (expected a CSR matrix written by scipy.sparse.save_npz)") from None
    except (OSError, ValueError, EOFError, KeyError, RuntimeError, NotImplementedError, MemoryError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: cannot read it ({type(e).__name__}: {e})") from None
    bad = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise DataError(f"{path}: {bad[0]} is not an array (expected a CSR matrix written by scipy.sparse.save_npz)")
    fmt = arrays["format"].item() if arrays["format"].size == 1 else None
    if isinstance(fmt, bytes):
        fmt = fmt.decode(errors="replace")
    if fmt != "csr":
        raise DataError(f"{path}: format is {fmt!r} (expected 'csr')")
    X = checked_csr(arrays["indptr"], arrays["indices"], arrays["data"], arrays["shape"], str(path))
    if shape is not None and any(want is not None and got != want for got, want in zip(X.shape, shape, strict=True)):
        raise DataError(f"{path}: has shape {X.shape} (expected {shape_text(shape)}, from users.parquet and items.parquet)")
    return X


def load_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A parquet table with at least ``columns``; a missing, unreadable or foreign file is a one-line :class:`DataError` naming it."""
    from pyarrow import ArrowException

    if not path.is_file():
        raise DataError(f"{path}: missing")
    try:
        table = pd.read_parquet(path)
    except (ArrowException, OSError, ValueError, TypeError, KeyError, NotImplementedError, MemoryError) as e:
        raise DataError(f"{path}: cannot read it as parquet ({type(e).__name__}: {e})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (expected columns {', '.join(columns)})")
    return table


def load_items(path: Path) -> pd.DataFrame:
    """An item vocabulary (``items.parquet``): one row per item, ``item_id`` and ``title`` columns, no id twice."""
    items = load_table(path, ("item_id", "title"))
    if not items["item_id"].astype(str).is_unique:
        raise DataError(f"{path}: item_id repeats an id (expected one row per item)")
    return items


def _user_blocks(path: Path) -> dict[str, np.ndarray]:
    """``users.parquet``: the user ids of each block (train, validation, test), in row order; rows ``0..n-1`` each once."""
    users = load_table(path, ("user_id", "split", "row"))
    check_array(users["row"].to_numpy(), f"{path}: row", kind="i", ndim=1)
    unknown = sorted(set(users["split"].astype(str)) - {"train", "validation", "test"})
    if unknown:
        raise DataError(f"{path}: split {unknown[0]!r} (expected train, validation or test)")
    blocks = {}
    for name in ("train", "validation", "test"):
        block = users[users["split"] == name].sort_values("row", kind="stable")
        if not np.array_equal(block["row"].to_numpy(), np.arange(len(block))):
            raise DataError(f"{path}: the rows of the {name} users are not 0..{len(block) - 1}, each once")
        blocks[name] = block["user_id"].to_numpy()
    return blocks


def _extra_names(manifest: dict, where: Path) -> list[str]:
    """The extra matrices the manifest lists, as plain file stems (no path may leave the directory)."""
    names = manifest.get("extra", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and re.fullmatch(r"[A-Za-z0-9_-]+", n) for n in names):
        raise DataError(f"{where}: extra is {names!r} (expected a list of matrix names of letters, digits, _ and -)")
    return names
