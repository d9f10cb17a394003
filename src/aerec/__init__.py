"""aerec: autoencoder recommenders with learned structure.

Data flows one way: ``data`` -> ``structure`` -> ``models`` -> ``evaluate``
-> ``experiment`` -> ``report`` (docs/DESIGN.md). Lower layers never import
higher ones.

The public API, loaded on first use so that ``import aerec`` stays light (no
torch until a model is touched)::

    import aerec
    model = aerec.MODELS["ease"](l2=500).fit(X)          # X: users x items, any scipy sparse matrix
    items, scores = model.recommend(X_new, n=10)           # (users, 10) each, best first

``aerec.MODELS`` (name -> class), ``aerec.load_model`` (a saved model
directory), ``aerec.PreparedDataset`` (a prepared split),
``aerec.FitOptions`` (how a fit runs: ``fit(X, options=aerec.FitOptions(device="cpu", seed=3))``)
and ``aerec.evaluate`` (the protocol's evaluation of a ``score`` function).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from aerec.errors import AerecError, ConfigError, DataError  # noqa: E402  (after __version__: the submodules read it)

#: Public name -> the module that defines it.
_LAZY = {
    "MODELS": "aerec.models",
    "load_model": "aerec.artifacts",
    "save_model": "aerec.artifacts",
    "PreparedDataset": "aerec.data.prepared",
    "FitOptions": "aerec.fit_options",
    "evaluate": "aerec.evaluate",
}

__all__ = ["AerecError", "ConfigError", "DataError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aerec' has no attribute {name!r}")
    if module == f"aerec.{name}":  # aerec.evaluate: the submodule, which is callable as its function
        return importlib.import_module(module)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
