"""EASE: Embarrassingly Shallow Autoencoders (Steck, WWW 2019).

An item-item model with a zero diagonal, fitted in closed form. The objective
is ``min_B ||X - X B||_F^2 + λ ||B||_F^2`` subject to ``diag(B) = 0``; with
``P = (XᵀX + λI)^-1`` its solution is

    B = I - P · diagMat(1 / diag(P)),   i.e.  B_ij = -P_ij / P_jj (i ≠ j),  B_jj = 0

and a user's scores are ``x_u B``. Held-out users need no fitting: their
fold-in row is the input.

λ is chosen on validation NDCG@100 (PROTOCOL.md §3) when ``l2`` is ``None``:
every value of ``l2_grid`` is tried, then ``refine`` more values spaced
geometrically between the best grid value's neighbours. The Gram matrix is
formed once; each λ costs one Cholesky factorisation and inverse. The solve
runs in ``dtype`` (float32 or float64) on ``device`` (CUDA where present).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from aerec.data.prepared import Fold
from aerec.device import resolve_device, resolve_dtype
from aerec.errors import ConfigError
from aerec.evaluate import validation_ndcg
from aerec.models.base import Recommender


@dataclass
class EASEConfig:
    """Hyperparameters of EASE.

    Attributes:
        l2: λ, the L2 penalty; ``None`` chooses it on validation NDCG@100.
        l2_grid: the values of λ tried when ``l2`` is ``None``.
        refine: extra values tried between the neighbours of the best grid value.
        dtype: ``float32`` or ``float64`` for the Gram matrix and its inverse.
        device: ``auto`` (CUDA where present), ``cpu`` or ``cuda``.
    """

    l2: float | None = None
    l2_grid: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
    refine: int = 4
    dtype: str = "float32"
    device: str = "auto"


class EASE(Recommender):
    """EASE^R with the closed-form solution of Steck (2019), Eq. 8."""

    name = "ease"
    Config = EASEConfig

    def fit(self, X: sp.csr_matrix, *, validation: Fold | None = None, progress: bool = False) -> EASE:
        cfg = self.config
        device, dtype = resolve_device(cfg.device), resolve_dtype(cfg.dtype)
        X = sp.csr_matrix(X, dtype=np.float32)
        self.n_items_ = X.shape[1]
        G = gram(X, device, dtype)  # (items, items)
        if cfg.l2 is not None:
            self.l2_ = float(cfg.l2)
            self.B_ = ease_weights(G, self.l2_)
        else:
            if validation is None:
                raise ConfigError("ease: choosing l2 needs validation data (or pass --l2)")
            self._search_l2(G, validation, progress)
        self.fit_info_ = {**self.fit_info_, "l2": self.l2_}
        return self

    def _search_l2(self, G: torch.Tensor, validation: Fold, progress: bool) -> None:
        tried: dict[float, float] = {}
        best_B, best = None, -np.inf

        def trial(l2: float) -> None:
            nonlocal best_B, best
            self.B_ = ease_weights(G, l2)
            tried[l2] = ndcg = validation_ndcg(self.score, validation)
            if ndcg > best:
                best, best_B, self.l2_ = ndcg, self.B_, l2

        grid = sorted(float(v) for v in self.config.l2_grid)
        for l2 in tqdm(grid, desc="ease: l2 grid", disable=not progress):
            trial(l2)
        i = grid.index(self.l2_)
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        if self.config.refine > 0 and hi > lo:
            for l2 in np.geomspace(lo, hi, self.config.refine + 2)[1:-1]:
                if float(l2) not in tried:
                    trial(float(l2))
        self.B_ = best_B
        self.fit_info_ = {"validation_ndcg@100": {f"{k:g}": v for k, v in sorted(tried.items())}, "best_validation_ndcg@100": best}

    def score(self, X_in: sp.csr_matrix) -> np.ndarray:
        X_in = self._check_input(X_in)
        B = self.B_
        if B.device.type == "cpu":
            return np.asarray(X_in.astype(B.numpy().dtype) @ B.numpy(), dtype=np.float32)  # (users, items)
        x = torch.sparse_csr_tensor(
            torch.from_numpy(X_in.indptr.astype(np.int64)),
            torch.from_numpy(X_in.indices.astype(np.int64)),
            torch.from_numpy(X_in.data).to(B.dtype),
            size=X_in.shape,
            check_invariants=False,
        ).to(B.device)
        return (x @ B).float().cpu().numpy()  # (users, items)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"B": self.B_.cpu().numpy(), "l2": np.array(self.l2_)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        device = resolve_device(self.config.device)
        self.B_ = torch.from_numpy(np.ascontiguousarray(state["B"])).to(device)
        self.l2_ = float(np.asarray(state["l2"]).reshape(-1)[0])
        self.n_items_ = self.B_.shape[0]


def gram(X: sp.csr_matrix, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The dense item-item Gram matrix ``XᵀX`` (items x items) on ``device``.

    Formed as a sparse product on the CPU (scipy), then densified once.
    """
    G = (X.T @ X).astype(np.float64 if dtype == torch.float64 else np.float32)
    return torch.from_numpy(G.toarray()).to(device=device, dtype=dtype)


def ease_weights(G: torch.Tensor, l2: float) -> torch.Tensor:
    """B = I - P diagMat(1/diag(P)) with P = (G + λI)^-1 (Steck 2019, Eq. 8)."""
    A = G.clone()
    A.diagonal().add_(l2)
    L = torch.linalg.cholesky(A)
    del A
    P = torch.cholesky_inverse(L)  # (items, items)
    del L
    P.div_(-P.diagonal().clone())  # column j divided by -P_jj: now B off the diagonal
    P.diagonal().zero_()
    return P
