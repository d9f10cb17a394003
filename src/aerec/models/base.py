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
import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from aerec.data.prepared import Fold
from aerec.device import is_allocation_error
from aerec.errors import ConfigError, DataError
from aerec.fit_options import OPTION_FIELDS, FitOptions
from aerec.metrics import as_numpy_scores, topk_items
from aerec.options import build_config
from aerec.validate import checked_csr


class Model(ABC):
    """What every model shares, ranking or rating: a checked config, a name, facts, and its arrays.

    Subclasses set ``name`` (the CLI name, lowercase with hyphens) and
    ``Config`` (a dataclass whose fields are the hyperparameters, each with a
    default, documented in the class docstring and checked in its
    ``__post_init__``). ``task`` says which protocol a model is built for:
    ``"ranking"`` (:class:`Recommender`: top-k for unseen users) or
    ``"rating"`` (:class:`~aerec.models.rating_base.RatingRecommender`).
    ``__init__`` only stores the config; learned attributes end in ``_``.

    How a fit runs (device, seed, precision, checkpoint, progress, spectra)
    is not in the config: it is a :class:`~aerec.fit_options.FitOptions`
    given to ``fit`` and kept as ``options_`` (``load_model`` sets it for a
    loaded model, with the device it is asked for). ``honours`` names the
    options a model acts on besides ``progress`` and ``seed`` (which every
    model accepts; a deterministic model has nothing to seed); any other
    option set away from its default is refused, and ``device`` may then be
    only ``auto`` or ``cpu``.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    task: ClassVar[str] = "ranking"
    #: The config field that bounds a fit's seconds (a search's ``trial_budget`` fills it), or None.
    budget_field: ClassVar[str | None] = None
    #: The fit options this model acts on besides ``progress`` and ``seed``.
    honours: ClassVar[frozenset[str]] = frozenset()
    #: How the model was (or will be) fitted; ``fit(options=...)`` and ``load_model`` set it.
    options_: FitOptions = FitOptions()

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.Config()
        if overrides:
            misplaced = sorted(set(overrides) & set(OPTION_FIELDS))
            if misplaced:
                raise ConfigError(f"{self.name}: {', '.join(misplaced)} is a fit option, not a hyperparameter: pass fit(X, options=FitOptions({misplaced[0]}=...))")
            names = {f.name for f in dataclasses.fields(self.Config)}
            unknown = sorted(set(overrides) - names)
            if unknown:
                raise ConfigError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
            try:
                config = build_config(self.Config, {**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, **overrides})
            except ConfigError as e:
                raise ConfigError(f"{self.name}: {e}") from None
        self.config = config
        self.fit_info_: dict[str, Any] = {}

    def _use_options(self, options: FitOptions | dict | None) -> None:
        """Keep ``options`` as ``options_`` after refusing the ones this model cannot honour."""
        if options is None:
            options = FitOptions()
        elif isinstance(options, dict):
            options = build_config(FitOptions, options, "options: ")
        elif not isinstance(options, FitOptions):
            raise ConfigError(f"{self.name}: options must be a FitOptions, not {type(options).__name__}")
        for field in options.differs():
            value = getattr(options, field)
            if field in ("progress", "seed") or field in self.honours or (field == "device" and value == "cpu"):
                continue
            raise ConfigError(f"{self.name}: the fit option {field}={value!r} does not apply to this model" + (" (it runs on the CPU)" if field == "device" else ""))
        self.options_ = options

    @property
    def device(self):
        """The torch device ``options_`` names (``auto``: CUDA where present)."""
        from aerec.device import resolve_device

        return resolve_device(self.options_.device)

    def describe(self) -> dict[str, Any]:
        """Facts about the fitted model, written into ``model.json`` (``"describe"``) for readers that must not
        switch on model names (the report, the genre analysis). Every model gives ``model``, ``task``,
        ``variant`` (the row name in a results table) and ``items``; a model adds what applies:

        * ``architecture``: a short text (``"K = 3000, R = 300"``, ``"I-600-200-600-I"``);
        * ``width``: ``{"field": config field, "value": K}``, the hidden width a width sweep varies;
        * ``cost``: :mod:`aerec.cost`'s ``parameters`` and ``flops_per_user`` (Table 2's convention);
        * ``structure``: for models with learned item groups, the saved arrays holding the first structured
          layer: ``{"groups": state key (items x R), "width_bias": state key whose length is K}``.
        """
        facts: dict[str, Any] = {"model": self.name, "task": self.task, "variant": self.name}
        if hasattr(self, "n_items_"):
            facts["items"] = int(self.n_items_)
        return facts

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


class Recommender(Model):
    """A ranking model: ``fit(X, *, validation=None) -> self``, ``score(X_in) -> scores``, ``recommend(X_in, n)``.

    A template: ``fit`` and ``score`` check their input once and call the
    subclass's ``_fit`` and ``_score``; ``recommend`` (top-n with the fold-in
    excluded) is written once here, for every model. ``sequential = True``
    marks a model that reads time-ordered histories: its input matrices hold
    1-based positions in time order instead of ones
    (:func:`aerec.data.sequential.inputs_for`).
    """

    sequential: ClassVar[bool] = False
    #: Inputs of ``fit`` besides the data that can come from a file, by name, with what the file is
    #: (``aerec train MODEL --NAME FILE``; :func:`aerec.artifacts.fit_inputs` loads them).
    input_files: ClassVar[dict[str, str]] = {}

    # -- learning -------------------------------------------------------
    def fit(self, X: sp.csr_matrix, *, validation: Fold | None = None, options: FitOptions | None = None, **inputs: Any) -> Self:
        """Learn from the training matrix ``X`` (users x items); returns ``self``.

        ``validation`` (fold-in and fold-out of validation users) may be used
        for early stopping or hyperparameter choice, never for gradients.
        ``options`` say how to run the fit (:class:`~aerec.fit_options.FitOptions`;
        default: all defaults); the model keeps them as ``options_``.
        ``inputs`` are what a model learns from besides ``X`` and its config:
        learned item groups (``SwDAE.fit(X, groups=...)``), a fitted base
        model (``FCPrune.fit(X, base=...)``). ``X`` is checked once here
        (a 2-D matrix with at least one user and one item, finite values) and
        handed to :meth:`_fit` as float32 CSR; ``n_items_`` is set and
        ``fit_info_`` starts empty.
        """
        accepted = inspect.signature(self._fit).parameters
        unknown = sorted(k for k in inputs if k not in accepted)
        if unknown:
            hint = " (a fit option: pass options=FitOptions(...))" if set(unknown) & set(OPTION_FIELDS) else ""
            raise ConfigError(f"{self.name}: fit() takes no {', '.join(unknown)}{hint} (its inputs: {', '.join(k for k in accepted if k not in ('X', 'validation')) or 'none'})")
        self._use_options(options)
        X = self._check_training(X)
        self.n_items_ = X.shape[1]
        self.fit_info_ = {}
        try:
            self._fit(X, validation=validation, **inputs)
        except (MemoryError, RuntimeError) as e:
            if is_allocation_error(e):
                raise ConfigError(f"{self.name}: not enough memory for this configuration on {X.shape[0]:,} users x {X.shape[1]:,} items ({type(e).__name__})") from None
            if isinstance(e, RuntimeError) and "overflow" in str(e):
                raise DataError(f"{self.name}: fitting overflowed float32 ({str(e).splitlines()[0][:160]}); lower the learning rate or the penalties") from None
            raise
        return self

    @abstractmethod
    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None, **inputs: Any) -> None:
        """The model's own learning, on a checked float32 CSR ``X``."""

    def score(self, X_in: sp.csr_matrix) -> np.ndarray:
        """Scores (``float32``, users x items) for fold-in rows of unseen users."""
        return self._score(self._check_input(X_in))

    @abstractmethod
    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        """The model's own scoring, on checked fold-in rows (a CSR with the model's number of items)."""

    def recommend(self, X_in: sp.csr_matrix, n: int = 10, *, exclude_seen: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The top ``n`` items of each fold-in row and their scores: two ``(users, n)`` arrays, best first.

        ``items`` are column indices (int64; map them through the item
        vocabulary for ids), ``scores`` float32. With ``exclude_seen`` (the
        protocol's rule) the row's own items are never recommended; a row
        with fewer than ``n`` other items is padded with ``-1`` and ``-inf``.
        Ties go to the lower item index.
        """
        X_in = self._check_input(X_in)
        if n < 1:
            raise ConfigError(f"{self.name}: n={n} must be at least 1")
        scores = as_numpy_scores(self._score(X_in))  # (users, items)
        k = min(n, self.n_items_)
        top = topk_items(scores, k, exclude=X_in if exclude_seen else None)  # (users, k)
        top_scores = np.take_along_axis(scores, top, axis=1).astype(np.float32)
        if exclude_seen:  # excluded items rank last with -inf: they are not recommendations
            hit = X_in[np.arange(X_in.shape[0])[:, None], top]  # (users, k): the fold-in's value at each pick
            seen = (hit.toarray() if sp.issparse(hit) else np.asarray(hit)) != 0
            top, top_scores = np.where(seen, -1, top), np.where(seen, -np.inf, top_scores).astype(np.float32)
        if k < n:
            pad = ((0, 0), (0, n - k))
            top, top_scores = np.pad(top, pad, constant_values=-1), np.pad(top_scores, pad, constant_values=-np.inf)
        return top, top_scores

    def _check_training(self, X: sp.csr_matrix) -> sp.csr_matrix:
        try:
            X = sp.csr_matrix(X, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{self.name}: the training data is not a users x items matrix ({e})") from None
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ConfigError(f"{self.name}: the training data has shape {X.shape}; it needs at least one user and one item")
        if not np.isfinite(X.data).all():
            raise ConfigError(f"{self.name}: the training data holds NaN or infinite values")
        return X

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
    """The inverse of :func:`csr_state`, every array checked first (:func:`aerec.validate.check_csr`: float
    values, indices in range); a misfit is a :class:`~aerec.errors.DataError` naming the array."""
    for part in ("indptr", "indices", "data", "shape"):
        if f"{prefix}{part}" not in state:
            raise DataError(f"{prefix}{part}: missing (the saved state has no such array)")
    arrays = [state[f"{prefix}{part}"] for part in ("indptr", "indices", "data", "shape")]
    return checked_csr(*arrays, "", prefix=prefix, data_kind="f", dtype=np.float32)


def square_csr_from_state(prefix: str, state: dict[str, np.ndarray]) -> sp.csr_matrix:
    """:func:`csr_from_state` for an items x items matrix (ItemKNN's similarities, SLIM's weights)."""
    W = csr_from_state(prefix, state)
    if W.shape[0] != W.shape[1]:
        raise DataError(f"{prefix}shape: is {W.shape} (expected a square items x items matrix)")
    return W
