"""ItemKNN: item-based nearest neighbours with cosine similarity (Sarwar et al., WWW 2001; Deshpande & Karypis, TOIS 2004).

The classic neighbourhood baseline of RecBole, LensKit and Cornac. Item
``j``'s similarity to item ``i`` is the cosine of their user columns,

    s_ij = x_iᵀ x_j / (||x_i|| ||x_j|| + shrink)        (s_ii = 0)

and each item keeps its ``neighbours`` most similar items (ties: the lower
index). A user's score for item ``j`` is ``Σ_i x_ui s_ij`` over the items of
the fold-in, so held-out users need no fitting.

Choices: ``shrink`` (Koren 2008's shrinkage of similarities resting on few
co-occurrences) is 0 by default, the plain cosine; the similarity is computed
in blocks of ``block`` items, so the dense ``items x items`` matrix never exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from aerec.data.prepared import Fold
from aerec.errors import ConfigError
from aerec.models.base import Recommender, csr_state, square_csr_from_state


@dataclass
class ItemKNNConfig:
    """Hyperparameters of ItemKNN.

    Attributes:
        neighbours: the most similar items each item keeps (at least 1).
        shrink: added to the denominator of the cosine (0: plain cosine).
        block: items whose similarities are computed at once (memory: ``items x block`` floats).
    """

    neighbours: int = 100
    shrink: float = 0.0
    block: int = 2048

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ConfigError(f"itemknn: neighbours={self.neighbours} must be at least 1")
        if self.shrink < 0:
            raise ConfigError(f"itemknn: shrink={self.shrink} must be at least 0")
        if self.block < 1:
            raise ConfigError(f"itemknn: block={self.block} must be at least 1")


class ItemKNN(Recommender):
    """Item-based k nearest neighbours, cosine similarity."""

    name = "itemknn"
    Config = ItemKNNConfig

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        cfg = self.config
        m = X.shape[1]
        k = min(cfg.neighbours, m - 1) if m > 1 else 0
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())  # (items,)
        Xt = sp.csr_matrix(X.T)  # (items, users)
        rows, cols, vals = [], [], []
        for start in range(0, m, cfg.block):
            stop = min(start + cfg.block, m)
            S = (Xt @ X[:, start:stop]).toarray()  # (items, b): x_iᵀ x_j
            S /= norms[:, None] * norms[None, start:stop] + cfg.shrink + 1e-12
            S[np.arange(start, stop), np.arange(stop - start)] = 0.0  # no item is its own neighbour
            if k == 0:
                continue
            top = np.argsort(-S, axis=0, kind="stable")[:k]  # (k, b): each column's k most similar items
            v = np.take_along_axis(S, top, axis=0)
            keep = v > 0
            rows.append(top[keep])
            cols.append(np.broadcast_to(np.arange(start, stop), top.shape)[keep])
            vals.append(v[keep])
        cat = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
        self.S_ = sp.csr_matrix((cat(vals, np.float32), (cat(rows, np.int64), cat(cols, np.int64))), shape=(m, m))
        self.fit_info_ = {"neighbours": k, "stored_similarities": int(self.S_.nnz)}

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        return np.asarray((X_in.astype(np.float32) @ self.S_).toarray(), dtype=np.float32)  # (users, items)

    def state_dict(self) -> dict[str, np.ndarray]:
        return csr_state("S_", self.S_)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.S_ = square_csr_from_state("S_", state)
        self.n_items_ = self.S_.shape[0]
