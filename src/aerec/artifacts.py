"""Save and load a fitted model as data: config + weights + vocabulary, never a pickle.

A model directory holds::

    model.json          {"model": name, "config": {...}, "options": {...}, "fit_info": {...}, "n_items": ...}
    weights.safetensors the arrays of ``Recommender.state_dict()``
    items.parquet       the item vocabulary (item_id, title, genres), column order

It is written to a temporary directory and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

import aerec
from aerec.atomic import atomic_dir
from aerec.errors import AerecError, ConfigError
from aerec.fit_options import OPTION_FIELDS, FitOptions
from aerec.models import MODELS
from aerec.models.base import Recommender
from aerec.options import build_config

FORMAT_VERSION = 1


def save_model(model: Recommender, out: str | Path, items: pd.DataFrame, *, overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write ``model`` (fitted) and its item vocabulary to the directory ``out``."""
    meta = {
        "format_version": FORMAT_VERSION,
        "aerec_version": aerec.__version__,
        "model": model.name,
        "config": dataclasses.asdict(model.config),
        "options": model.options_.recorded(),
        "fit_info": model.fit_info_,
        "n_items": model.n_items,
        "describe": model.describe(),
        **(extra or {}),
    }
    state = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save_file(state, str(tmp / "weights.safetensors"))
        items.reset_index(drop=True).to_parquet(tmp / "items.parquet", index=False)
        (tmp / "model.json").write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
    return Path(out)


def load_model(path: str | Path, *, device: str | None = None) -> tuple[Recommender, pd.DataFrame, dict]:
    """Read a model directory: the model, its item vocabulary and its metadata.

    The model's ``options_`` are the fit options it was trained with
    (``model.json``'s ``"options"``), on ``device`` when given (else
    ``auto``). A directory written before the options left the config (its
    config holds ``device`` or ``seed``) is read the same way.
    """
    path = Path(path)
    if not (path / "model.json").is_file():
        raise AerecError(f"{path}: not a model directory (no model.json; train one with `aerec train`)")
    meta = json.loads((path / "model.json").read_text())
    name = meta.get("model")
    if name not in MODELS:
        raise AerecError(f"{path}/model.json: unknown model {name!r}")
    cls = MODELS[name]
    saved = dict(meta.get("config", {}))
    options = {**{k: saved.pop(k) for k in OPTION_FIELDS if k in saved}, **meta.get("options", {})}  # older files: options in the config
    options = {**options, "device": device or "auto", "checkpoint": None, "progress": False}
    model = cls(build_config(cls.Config, saved, f"{path}/model.json: config: "))
    model.options_ = build_config(FitOptions, options, f"{path}/model.json: options: ")
    model.load_state_dict(load_file(str(path / "weights.safetensors")))
    model.fit_info_ = meta.get("fit_info", {})
    items = pd.read_parquet(path / "items.parquet")
    return model, items, meta


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def fit_inputs(model: Recommender, files: dict[str, str | Path] | None = None, *, device: str = "auto") -> dict[str, Any]:
    """The inputs ``model.fit`` takes besides the data, loaded from disk.

    * FC-Prune and FC-Reg start from a saved FC-DAE, the directory their
      config's ``base`` names;
    * ``files`` maps an input the model declares in ``input_files`` to a file:
      ``{"groups": "groups.safetensors"}`` for Sw-DAE (``aerec groups --out``).

    A base model is loaded onto ``device`` (the fit's).

    A model never reads such files itself, so whoever fits one (``aerec train``,
    a search) passes ``model.fit(X, ..., **fit_inputs(model, files))``.
    """
    from aerec.structure import load_groups

    loaders = {"groups": load_groups}
    inputs: dict[str, Any] = {}
    path = getattr(model.config, "base", "")
    if path:
        inputs["base"], _, _ = load_model(path, device=device)
    for name, file in (files or {}).items():
        if name not in model.input_files or name not in loaders:
            raise ConfigError(f"{model.name}: takes no --{name} file (its input files: {', '.join(model.input_files) or 'none'})")
        inputs[name] = loaders[name](file)
    return inputs
