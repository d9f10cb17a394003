"""Save and load a fitted model as data: config + weights + vocabulary, never a pickle.

A model directory holds::

    model.json          {"model": name, "config": {...}, "fit_info": {...}, "n_items": ...}
    weights.safetensors the arrays of ``Recommender.state_dict()``
    items.parquet       the item vocabulary (item_id, title, genres), column order

It is written to a temporary directory and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save_file

import aerec
from aerec.atomic import atomic_dir
from aerec.errors import AerecError, ConfigError
from aerec.models import MODELS
from aerec.models.base import Recommender

FORMAT_VERSION = 1


def save_model(model: Recommender, out: str | Path, items: pd.DataFrame, *, overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write ``model`` (fitted) and its item vocabulary to the directory ``out``."""
    meta = {
        "format_version": FORMAT_VERSION,
        "aerec_version": aerec.__version__,
        "model": model.name,
        "config": dataclasses.asdict(model.config),
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
    """Read a model directory: the model, its item vocabulary and its metadata."""
    path = Path(path)
    if not (path / "model.json").is_file():
        raise AerecError(f"{path}: not a model directory (no model.json; train one with `aerec train`)")
    meta = json.loads((path / "model.json").read_text())
    name = meta.get("model")
    if name not in MODELS:
        raise AerecError(f"{path}/model.json: unknown model {name!r}")
    cls = MODELS[name]
    config = config_from_dict(cls.Config, meta.get("config", {}))
    if device is not None and "device" in {f.name for f in dataclasses.fields(config)}:
        config = dataclasses.replace(config, device=device)
    model = cls(config)
    model.load_state_dict(load_file(str(path / "weights.safetensors")))
    model.fit_info_ = meta.get("fit_info", {})
    items = pd.read_parquet(path / "items.parquet")
    return model, items, meta


def config_from_dict(config_class: type, values: dict) -> object:
    """Rebuild a config dataclass from JSON values (lists back to tuples where the field is a tuple)."""
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for f in dataclasses.fields(config_class):
        if f.name not in values:
            continue
        v = values[f.name]
        if isinstance(v, list) and _is_tuple_type(hints.get(f.name)):
            v = tuple(v)
        kwargs[f.name] = v
    unknown = set(values) - {f.name for f in dataclasses.fields(config_class)}
    if unknown:
        raise ConfigError(f"{config_class.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
    return config_class(**kwargs)


def _is_tuple_type(tp) -> bool:
    if tp is tuple or typing.get_origin(tp) is tuple:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in typing.get_args(tp))
    return False


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def fit_inputs(model: Recommender, files: dict[str, str | Path] | None = None) -> dict[str, typing.Any]:
    """The inputs ``model.fit`` takes besides the data, loaded from disk.

    * FC-Prune and FC-Reg start from a saved FC-DAE, the directory their
      config's ``base`` names;
    * ``files`` maps an input the model declares in ``input_files`` to a file:
      ``{"groups": "groups.safetensors"}`` for Sw-DAE (``aerec groups --out``).

    A model never reads such files itself, so whoever fits one (``aerec train``,
    a search) passes ``model.fit(X, ..., **fit_inputs(model, files))``.
    """
    from aerec.structure import load_groups

    loaders = {"groups": load_groups}
    inputs: dict[str, typing.Any] = {}
    path = getattr(model.config, "base", "")
    if path:
        inputs["base"], _, _ = load_model(path, device=getattr(model.config, "device", None))
    for name, file in (files or {}).items():
        if name not in model.input_files or name not in loaders:
            raise ConfigError(f"{model.name}: takes no --{name} file (its input files: {', '.join(model.input_files) or 'none'})")
        inputs[name] = loaders[name](file)
    return inputs
