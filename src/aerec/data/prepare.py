"""Read, preprocess and split a dataset into a prepared directory (PROTOCOL.md §1–2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

import aerec
from aerec.data.interactions import Interactions
from aerec.data.prepared import PreparedDataset
from aerec.data.preprocess import Filters, preprocess
from aerec.data.split import SplitParams, split


def prepare(data: Interactions, filters: Filters, params: SplitParams, *, dataset: str, extra: dict | None = None) -> PreparedDataset:
    """Preprocess and split ``data``; the manifest records inputs, parameters and counts."""
    n_read = len(data)
    kept = preprocess(data, filters)
    s = split(kept, params)
    items = item_table(s.item_ids, data.items)
    manifest = {
        "dataset": dataset,
        "aerec_version": aerec.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "sources": [file_record(p) for p in data.sources],
        "protocol": {"filters": dataclasses.asdict(filters), "split": dataclasses.asdict(params)},
        "read": {"interactions": n_read, "after_preprocessing": len(kept), "users_after_preprocessing": int(len(np.unique(kept.user)))},
        "dropped_heldout_interactions": {"validation": s.validation_dropped, "test": s.test_dropped},
        "has_timestamps": data.timestamp is not None,
    }
    if extra:
        manifest.update(extra)
    return PreparedDataset(s.train, s.validation, s.test, items, s.train_users, manifest)


def item_table(item_ids: np.ndarray, metadata: pd.DataFrame | None) -> pd.DataFrame:
    """One row per matrix column: ``item_id``, ``title``, ``genres`` ("" where unknown)."""
    table = pd.DataFrame({"item_id": item_ids})
    if metadata is not None and len(metadata):
        meta = metadata.reindex(item_ids)
        table["title"] = meta["title"].fillna("").astype(str).to_numpy() if "title" in meta else ""
        table["genres"] = meta["genres"].fillna("").astype(str).to_numpy() if "genres" in meta else ""
    else:
        table["title"] = ""
        table["genres"] = ""
    if not pd.api.types.is_integer_dtype(table["item_id"]):
        table["item_id"] = table["item_id"].astype(str)
    return table


def file_record(path: Path) -> dict:
    """Path, size and sha256 of an input file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": h.hexdigest()}
