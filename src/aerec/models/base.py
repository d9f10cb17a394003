"""The interface every recommender implements.

A model is a config dataclass plus a :class:`Recommender` subclass (STYLE.md
§Distilled 2). ``__init__`` only stores the config; ``fit`` learns from the
training matrix (users x items CSR) and returns ``self``; learned attributes
end in ``_``. ``score`` receives the fold-in rows of users the model has never
seen and returns a dense ``float32`` array of item scores. Masking of seen
items, top-k and metrics are done once, outside the models
(:mod:`aerec.evaluate`).

Saving is data, never a pickle: :meth:`Recommender.state_dict` gives named
numpy arrays (saved as safetensors), :attr:`Recommender.fit_info_` a JSON-able
dict of what fitting chose (saved beside the config); see
:mod:`aerec.artifacts`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from aerec.data.prepared import Fold
from aerec.errors import ConfigError


class Recommender(ABC):
    """Base class: ``fit(X, *, validation=None) -> self`` and ``score(X_in) -> scores``.

    Subclasses set ``name`` (the CLI name, lowercase with hyphens) and
    ``Config`` (a dataclass whose fields are the hyperparameters, each with a
    default and documented in the class docstring). ``task`` says which
    protocol a model is built for: ``"ranking"`` here (top-k for unseen
    users), ``"rating"`` for :class:`~aerec.models.rating_base.RatingRecommender`.
    ``sequential = True`` marks a model that reads time-ordered histories: its
    input matrices hold 1-based positions in time order instead of ones
    (:func:`aerec.data.sequential.inputs_for`).
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    task: ClassVar[str] = "ranking"
    sequential: ClassVar[bool] = False

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.Config()
        if overrides:
            names = {f.name for f in dataclasses.fields(self.Config)}
            unknown = sorted(set(overrides) - names)
            if unknown:
                raise ConfigError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.fit_info_: dict[str, Any] = {}

    # -- learning -------------------------------------------------------
    @abstractmethod
    def fit(self, X: sp.csr_matrix, *, validation: Fold | None = None, progress: bool = False) -> Recommender:
        """Learn from the training matrix ``X`` (users x items).

        ``validation`` (fold-in and fold-out of validation users) may be used
        for early stopping or hyperparameter choice, never for gradients.
        """

    @abstractmethod
    def score(self, X_in: sp.csr_matrix) -> np.ndarray:
        """Scores (``float32``, users x items) for fold-in rows of unseen users."""

    # -- persistence ----------------------------------------------------
    @abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """The learned arrays, by name."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the learned arrays returned by :meth:`state_dict`."""

    @property
    def n_items(self) -> int:
        return int(self.n_items_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise ConfigError(f"{self.name}: the model is not fitted")

    def _check_input(self, X_in: sp.csr_matrix) -> sp.csr_matrix:
        self._check_fitted()
        X_in = sp.csr_matrix(X_in)
        if X_in.shape[1] != self.n_items_:
            raise ConfigError(f"{self.name}: input has {X_in.shape[1]} items, the model has {self.n_items_}")
        return X_in


def csr_state(prefix: str, X: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as named arrays for a state dict: ``{prefix}indptr``, ``indices``, ``data``, ``shape``."""
    X = sp.csr_matrix(X)
    return {
        f"{prefix}indptr": X.indptr.astype(np.int64),
        f"{prefix}indices": X.indices.astype(np.int64),
        f"{prefix}data": X.data.astype(np.float32),
        f"{prefix}shape": np.array(X.shape, dtype=np.int64),
    }


def csr_from_state(prefix: str, state: dict[str, np.ndarray]) -> sp.csr_matrix:
    """The inverse of :func:`csr_state`."""
    shape = tuple(int(v) for v in state[f"{prefix}shape"])
    return sp.csr_matrix((np.asarray(state[f"{prefix}data"], dtype=np.float32), state[f"{prefix}indices"], state[f"{prefix}indptr"]), shape=shape)
