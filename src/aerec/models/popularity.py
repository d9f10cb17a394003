"""Popularity: every user gets the items most often seen in training.

The non-personalised baseline: ``score(u, i) = |{v in train : X[v, i] = 1}|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from aerec.data.prepared import Fold
from aerec.models.base import Recommender
from aerec.validate import get_array


@dataclass
class PopularityConfig:
    """Popularity has no hyperparameters."""


class Popularity(Recommender):
    """Scores each item by its number of training interactions."""

    name = "popularity"
    Config = PopularityConfig

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        self.counts_ = np.asarray((X > 0).sum(axis=0), dtype=np.float32).ravel()  # (items,)

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.counts_, (X_in.shape[0], self.n_items_)).copy()  # (users, items)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.counts_ = np.asarray(get_array(state, "counts", ndim=1), dtype=np.float32)  # (items,)
        self.n_items_ = len(self.counts_)
