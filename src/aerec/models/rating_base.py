"""The interface of rating-prediction models (the explicit-rating protocol of :mod:`aerec.data.ratings`).

A rating model is a config dataclass plus a :class:`RatingRecommender`
subclass. ``fit(R_train, *, validation=None)`` learns from a users x items CSR
matrix of training ratings (rows are users, as everywhere in aerec);
``predict(users, items)`` returns one ``float32`` rating per (user row, item
column) pair. Users and items are the *training* matrix's rows and columns:
the protocol holds out ratings, not users, so a prediction for user ``u`` is
made from ``u``'s training ratings (or, for an item-based model, item ``i``'s).

Two rules every rating model shares, applied here once:

* **Unseen users and items.** A pair whose user or item has no training
  rating is predicted as the training global mean (AutoRec, Sec. 3, used 3).
* **The rating range.** Predictions are clipped to ``[min, max]`` of the
  training ratings (1 to 5 on MovieLens).

``validation`` (the validation ratings, same shape) is used only to stop
early and keep the best weights, by validation RMSE (the training loop
maximises ``-RMSE``); it never reaches the gradients.

Saving is data (STYLE.md §7): :meth:`RatingRecommender.state_dict` holds the
learned arrays plus the training global mean, rating range and which users
and items had training ratings; a torch model also saves its input rows
(the training ratings), which it needs to predict.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from aerec.batches import SparseBatch, csr_to_batch
from aerec.errors import ConfigError, DataError
from aerec.fit_options import FitOptions
from aerec.models.base import Model, csr_from_state, csr_state
from aerec.models.layers import sparse_batch_mm
from aerec.models.spectra import spectra_monitor
from aerec.models.torch_base import check_training_memory
from aerec.models.torch_base import module_arrays
from aerec.protocol import validation_rmse
from aerec.training import train
from aerec.validate import get_array


class RatingRecommender(Model):
    """Base class: ``fit(R, *, validation=None) -> self`` and ``predict(users, items) -> ratings``.

    Subclasses set ``name`` and ``Config`` (as :class:`~aerec.models.base.Recommender`)
    and implement :meth:`_fit`, :meth:`_predict`, :meth:`_state_dict` and
    :meth:`_load_state_dict`; the base class handles the unseen-user/item
    default, clipping, and the shared state.
    """

    task: ClassVar[str] = "rating"

    # -- learning -------------------------------------------------------
    def fit(self, R: sp.csr_matrix, *, validation: sp.csr_matrix | None = None, options: FitOptions | None = None) -> RatingRecommender:
        """Learn from the training ratings ``R`` (users x items); ``validation`` only for early stopping;
        ``options`` as for :meth:`aerec.models.base.Recommender.fit`."""
        self._use_options(options)
        R = _ratings(R, "training ratings")
        if R.nnz == 0:
            raise DataError(f"{self.name}: no training ratings")
        if validation is not None:
            validation = _ratings(validation, "validation ratings")
            if validation.shape != R.shape:
                raise DataError(f"{self.name}: validation ratings are {validation.shape}, training {R.shape}")
        self.n_users_, self.n_items_ = R.shape
        self.global_mean_ = float(R.data.mean())
        self.rating_range_ = (float(R.data.min()), float(R.data.max()))
        self.known_users_ = np.diff(R.indptr) > 0
        self.known_items_ = np.bincount(R.indices, minlength=self.n_items_) > 0
        self.fit_info_ = self._fit(R, validation)
        return self

    def describe(self) -> dict[str, Any]:
        """The facts of :meth:`aerec.models.base.Model.describe`, and the number of users (rating models know theirs)."""
        facts = super().describe()
        if hasattr(self, "n_users_"):
            facts["users"] = int(self.n_users_)
        return facts

    @abstractmethod
    def _fit(self, R: sp.csr_matrix, validation: sp.csr_matrix | None) -> dict:
        """Learn; return what fitting chose (JSON-able) as ``fit_info_``."""

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings (``float32``, one per pair) for user rows ``users`` and item columns ``items``."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64).ravel()
        items = np.asarray(items, dtype=np.int64).ravel()
        if users.shape != items.shape:
            raise ConfigError(f"{self.name}: {len(users)} users but {len(items)} items")
        for what, ids, n in (("user", users, self.n_users_), ("item", items, self.n_items_)):
            if ids.size and (ids.min() < 0 or ids.max() >= n):
                raise ConfigError(f"{self.name}: {what} index outside [0, {n}) (the model has {n} {what}s)")
        out = np.full(len(users), self.global_mean_, dtype=np.float32)
        known = self.known_users_[users] & self.known_items_[items]
        if known.any():
            out[known] = self._predict(users[known], items[known])
        lo, hi = self.rating_range_
        return np.clip(out, lo, hi).astype(np.float32, copy=False)

    @abstractmethod
    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Raw predictions for pairs whose user and item both have training ratings."""

    # -- persistence ----------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The learned arrays and the shared rating statistics, by name."""
        self._check_fitted()
        return {
            "ratings.mean": np.array([self.global_mean_], dtype=np.float64),
            "ratings.range": np.array(self.rating_range_, dtype=np.float64),
            "ratings.known_users": self.known_users_.astype(np.uint8),
            "ratings.known_items": self.known_items_.astype(np.uint8),
            **self._state_dict(),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.global_mean_ = float(get_array(state, "ratings.mean", shape=(1,))[0])
        lo, hi = (float(v) for v in get_array(state, "ratings.range", shape=(2,)))
        if lo > hi:
            raise DataError(f"ratings.range: is [{lo}, {hi}] (expected lowest <= highest)")
        self.rating_range_ = (lo, hi)
        self.known_users_ = get_array(state, "ratings.known_users", kind="b", ndim=1).astype(bool)
        self.known_items_ = get_array(state, "ratings.known_items", kind="b", ndim=1).astype(bool)
        self.n_users_, self.n_items_ = len(self.known_users_), len(self.known_items_)
        self._load_state_dict({k: v for k, v in state.items() if not k.startswith("ratings.")})

    @abstractmethod
    def _state_dict(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...

    @property
    def n_items(self) -> int:
        return int(self.n_items_)



class TorchRatingRecommender(RatingRecommender):
    """Shared plumbing of the rating autoencoders: train ``module_`` with the generic loop, predict, save.

    The network reads one row of the training matrix and reconstructs it:
    ``rows = "users"`` (U-AutoRec, DeepRec) reads a user's ratings of all
    items, ``rows = "items"`` (I-AutoRec) an item's ratings by all users.
    The generic loop (:func:`aerec.training.train`) batches those rows; the
    module's ``forward`` maps a batch (sparse, or dense when re-fed) to dense
    reconstructions ``(rows, columns)`` and its ``loss`` is computed on the
    observed entries. The rating of pair (u, i) is the reconstruction of
    row u at column i (row i at column u for item rows).
    """

    rows: ClassVar[str] = "users"
    honours: ClassVar[frozenset[str]] = frozenset({"device", "precision", "checkpoint", "track_spectra"})
    #: Bytes of dense reconstructions computed at once when predicting.
    max_chunk_bytes: int = 64 * 2**20

    @abstractmethod
    def _build(self, shape: tuple[int, int], mean: float, device: torch.device) -> None:
        """Create ``module_`` for input rows of ``shape = (n_rows, n_columns)``."""

    def _fit(self, R: sp.csr_matrix, validation: sp.csr_matrix | None) -> dict:
        X = R if self.rows == "users" else R.T.tocsr()
        X.sort_indices()
        self.inputs_ = X
        device = self.device
        self._build(X.shape, self.global_mean_, device)
        check_training_memory(self, X.shape[0], device)
        held_out = validation is not None and validation.nnz > 0  # without validation ratings: train every epoch, keep the last
        validate = (lambda: validation_rmse(self.predict, validation)) if held_out else None
        result = train(self.module_, X, self.config, device=device, options=self.options_, validate=validate, desc=self.name,
                       monitor=spectra_monitor(self.options_.track_spectra, self.module_, X.shape[0]), metric="rmse", higher_is_better=False)  # fmt: skip
        training = result.as_dict()
        best = training.pop("best_validation_rmse")
        training = {"best_validation_rmse": best if math.isfinite(best) else None, **training}
        for record in training["history"]:
            if "validation" in record:
                record["validation_rmse"] = record.pop("validation")
        return {"training": training, "parameters": self.n_parameters()}

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module_.parameters())

    def _predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        rows, cols = (users, items) if self.rows == "users" else (items, users)
        out = np.empty(len(rows), dtype=np.float32)
        order = np.argsort(rows, kind="stable")  # pairs grouped by input row
        uniq, starts = np.unique(rows[order], return_index=True)
        starts = np.append(starts, len(rows))
        per_chunk = max(1, self.max_chunk_bytes // (self.inputs_.shape[1] * 4))
        device = next(self.module_.parameters()).device
        self.module_.eval()
        with torch.no_grad():
            for c in range(0, len(uniq), per_chunk):
                block = uniq[c : c + per_chunk]  # (b,) input rows
                y = self.module_(csr_to_batch(self.inputs_[block], device))  # (b, columns)
                idx = order[starts[c] : starts[min(c + per_chunk, len(uniq))]]  # the pairs of these rows
                local = torch.from_numpy(np.searchsorted(block, rows[idx])).to(device)
                out[idx] = y[local, torch.from_numpy(cols[idx]).to(device)].float().cpu().numpy()
        return out

    def _state_dict(self) -> dict[str, np.ndarray]:
        return {**{k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}, **csr_state("inputs.", self.inputs_)}

    def _load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.inputs_ = csr_from_state("inputs.", state)
        shape = self.inputs_.shape
        want = (self.n_users_, self.n_items_) if self.rows == "users" else (self.n_items_, self.n_users_)
        if shape != want:
            raise DataError(f"inputs.shape: is {shape} (expected {want}, from ratings.known_users and ratings.known_items)")
        self._build(shape, self.global_mean_, self.device)
        self.module_.load_state_dict(module_arrays(self.module_, {k: v for k, v in state.items() if not k.startswith("inputs.")}))
        self.module_.eval()


def first_layer(x: SparseBatch | torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x W + b`` for a sparse batch (its non-zeros only) or a dense ``(rows, n)`` tensor; ``W`` is ``(n, out)``."""
    if isinstance(x, SparseBatch):
        return sparse_batch_mm(x, weight) + bias  # (rows, out)
    return x @ weight + bias  # (rows, out)


def uniform_weight(n_in: int, n_out: int, bound: float, generator: torch.Generator, device: torch.device) -> torch.nn.Parameter:
    """An ``(n_in, n_out)`` weight uniform in ``±bound``, drawn on the CPU from ``generator``."""
    return torch.nn.Parameter(torch.empty(n_in, n_out).uniform_(-bound, bound, generator=generator).to(device))


def _ratings(R: Any, what: str) -> sp.csr_matrix:
    R = sp.csr_matrix(R, dtype=np.float32, copy=True)
    R.sum_duplicates()
    R.sort_indices()
    if R.nnz and not np.isfinite(R.data).all():
        raise DataError(f"{what}: not all finite")
    return R
