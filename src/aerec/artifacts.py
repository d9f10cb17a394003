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
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

import aerec
from aerec.atomic import atomic_dir
from aerec.data.prepared import load_items
from aerec.device import is_allocation_error
from aerec.errors import AerecError, ConfigError, DataError
from aerec.fit_options import OPTION_FIELDS, FitOptions
from aerec.models import MODELS
from aerec.models.base import Recommender
from aerec.options import build_config
from aerec.validate import check_array

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

    A directory may come from anywhere, so everything is checked before use:
    ``model.json``'s fields and types, that the weights and the item table
    can be read, every saved array (the model's ``load_state_dict`` checks
    dtypes, shapes and index bounds, :mod:`aerec.validate`), and one row of
    ``items.parquet`` per item of the model. What does not fit is a one-line
    :class:`~aerec.errors.DataError` (or ``ConfigError`` for a bad config
    value) naming the file and the field or array.
    """
    path = Path(path)
    if not (path / "model.json").is_file():
        raise AerecError(f"{path}: not a model directory (no model.json; train one with `aerec train`)")
    meta = _read_meta(path / "model.json")
    cls = MODELS[meta["model"]]
    saved = dict(meta["config"])
    options = {**{k: saved.pop(k) for k in OPTION_FIELDS if k in saved}, **meta.get("options", {})}  # older files: options in the config
    options = {**options, "device": device or "auto", "checkpoint": None, "progress": False}
    model = cls(build_config(cls.Config, saved, f"{path}/model.json: config: "))
    model.options_ = build_config(FitOptions, options, f"{path}/model.json: options: ")
    items = load_items(path / "items.parquet")
    weights = path / "weights.safetensors"
    state = _read_weights(weights)
    try:
        model.load_state_dict(state)
    except DataError as e:  # the model's checks name the array
        raise DataError(f"{weights}: {e}") from None
    except KeyError as e:
        raise DataError(f"{weights}: {e.args[0] if e.args else e}: missing (the saved state has no such array)") from None
    except (MemoryError, RuntimeError) as e:  # the allocators, for a config whose widths the saved arrays were not checked against
        if not is_allocation_error(e):
            raise
        raise DataError(f"{path}/model.json: its config asks for a model too large for this machine ({type(e).__name__})") from None
    if model.n_items != len(items):
        raise DataError(f"{path / 'items.parquet'}: has {len(items)} rows (expected {model.n_items}, one per item of the model in {weights.name})")
    model.fit_info_ = meta.get("fit_info", {})
    return model, items, meta


def _read_meta(file: Path) -> dict:
    """``model.json``, its fields' types checked: ``model`` a known name, ``config`` an object, ``format_version`` this one."""
    try:
        meta = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{file}: cannot read it as JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{file}: holds {_json_kind({'model.json': meta}, 'model.json')} (expected a JSON object)")
    version = meta.get("format_version")
    if type(version) is not int:
        raise DataError(f"{file}: format_version is {version!r} (expected the integer {FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        raise DataError(f"{file}: format_version {version} was written by a newer aerec (this one reads {FORMAT_VERSION}; upgrade aerec)")
    if version != FORMAT_VERSION:
        raise DataError(f"{file}: format_version {version} is not one this aerec reads (expected {FORMAT_VERSION})")
    name = meta.get("model")
    if not isinstance(name, str):
        raise DataError(f"{file}: model is {name!r} (expected a model name, a string)")
    if name not in MODELS:
        raise AerecError(f"{file}: unknown model {name!r}")
    for field, required in (("config", True), ("options", False), ("fit_info", False)):
        if (required or field in meta) and not isinstance(meta.get(field), dict):
            raise DataError(f"{file}: {field} is {_json_kind(meta, field)} (expected a JSON object)")
    return meta


def _read_weights(file: Path) -> dict[str, np.ndarray]:
    """``weights.safetensors`` as numpy arrays; every array numeric, every float finite (the model checks the rest)."""
    if not file.is_file():
        raise DataError(f"{file}: missing")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError, TypeError, MemoryError) as e:
        raise DataError(f"{file}: cannot read it as safetensors ({type(e).__name__}: {e})") from None
    for key, a in state.items():
        check_array(a, f"{file}: {key}", kind="b" if a.dtype.kind == "b" else "n")
    return state


def _json_kind(meta: dict, field: str) -> str:
    """What ``meta[field]`` is, in JSON's words, for a message (``an array``, ``missing``)."""
    if field not in meta:
        return "missing"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(meta[field]), "null")


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
