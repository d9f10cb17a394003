"""EASE: Embarrassingly Shallow Autoencoders (Steck, WWW 2019).

An item-item model with a zero diagonal, fitted in closed form. The objective
is ``min_B ||X - X B||_F^2 + λ ||B||_F^2`` subject to ``diag(B) = 0``; with
``P = (XᵀX + λI)^-1`` its solution is

    B = I - P · diagMat(1 / diag(P)),   i.e.  B_ij = -P_ij / P_jj (i ≠ j),  B_jj = 0

and a user's scores are ``x_u B``. Held-out users need no fitting: their
fold-in row is the input.

λ is chosen on validation NDCG@100 (PROTOCOL.md §3) when ``l2`` is ``None``:
every value of ``l2_grid`` is tried, then ``refine`` more values spaced
geometrically between the best grid value's neighbours. The search does not
invert a matrix per λ: one eigendecomposition of the smaller of the two Gram
matrices (items x items, or users x users through the Woodbury identity)
gives the validation scores of every λ at the cost of a matrix product
(:class:`SpectralScores`). The chosen λ's weights are then solved exactly by a
Cholesky factorisation. Everything runs in ``dtype`` (float32 or float64) on
the device of the fit options (CUDA where present).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from aerec.checks import at_least, check, one_of
from aerec.data.prepared import Fold
from aerec.device import check_memory, resolve_dtype, torch_csr
from aerec.errors import DataError
from aerec.models.base import Recommender
from aerec.protocol import validation_ndcg
from aerec.validate import get_array


@dataclass
class EASEConfig:
    """Hyperparameters of EASE.

    Attributes:
        l2: λ, the L2 penalty; ``None`` chooses it on validation NDCG@100 (without validation data:
            :data:`DEFAULT_L2`, with a warning).
        l2_grid: the values of λ tried when ``l2`` is ``None``.
        refine: extra values tried between the neighbours of the best grid value.
        dtype: ``float32`` or ``float64`` for the Gram matrix and its inverse.
    """

    l2: float | None = None
    l2_grid: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
    refine: int = 4
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check(self, l2=(lambda v: v is None or v >= 0, "must be at least 0 (or None: chosen on validation)"),
              l2_grid=(lambda v: len(v) > 0 and all(x >= 0 for x in v), "needs at least one value, each at least 0"),
              refine=at_least(0), dtype=one_of("float32", "float64"))  # fmt: skip


#: λ when it is neither given nor chosen on validation data: the value Steck (2019) reports for ML-20M.
DEFAULT_L2 = 500.0


class EASE(Recommender):
    """EASE^R with the closed-form solution of Steck (2019), Eq. 8."""

    name = "ease"
    Config = EASEConfig
    honours = frozenset({"device"})

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        cfg = self.config
        device, dtype = self.device, resolve_dtype(cfg.dtype)
        m = X.shape[1]
        check_memory(3 * m * m * torch.finfo(dtype).bits // 8, device, f"ease: {m:,} x {m:,} item-item matrices (Gram, its factor, the weights)")
        G = gram(X, device, dtype)  # (items, items)
        if cfg.l2 is None and validation is not None:
            self._search_l2(G, X, validation)
        else:
            if cfg.l2 is None:
                warnings.warn(f"ease: no validation data to choose l2 on; using l2 = {DEFAULT_L2:g} (Steck 2019's value for ML-20M); "
                              "pass validation=... or l2=...", stacklevel=3)
            self.l2_ = DEFAULT_L2 if cfg.l2 is None else float(cfg.l2)
            self.B_ = ease_weights(G, self.l2_)
        self.fit_info_ = {**self.fit_info_, "l2": self.l2_}

    def _search_l2(self, G: torch.Tensor, X: sp.csr_matrix, validation: Fold) -> None:
        spectral = SpectralScores(G, X)
        tried: dict[float, float] = {}

        def trial(l2: float) -> None:
            tried[l2] = validation_ndcg(lambda X_in: spectral.scores(X_in, l2), validation)

        grid = sorted(float(v) for v in self.config.l2_grid)
        for l2 in tqdm(grid, desc="ease: l2 grid", disable=not self.options_.progress):
            trial(l2)
        i = grid.index(max(grid, key=tried.get))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        if self.config.refine > 0 and hi > lo:
            for l2 in np.geomspace(lo, hi, self.config.refine + 2)[1:-1]:
                if float(l2) not in tried:
                    trial(float(l2))
        del spectral
        self.l2_ = max(tried, key=tried.get)
        self.B_ = ease_weights(G, self.l2_)
        self.fit_info_ = {
            "validation_ndcg@100": {f"{k:g}": v for k, v in sorted(tried.items())},
            "best_validation_ndcg@100": tried[self.l2_],
        }

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        B = self.B_
        if B.device.type == "cpu":
            return np.asarray(X_in.astype(B.numpy().dtype) @ B.numpy(), dtype=np.float32)  # (users, items)
        x = torch_csr(X_in, B.device, B.dtype)
        return (x @ B).float().cpu().numpy()  # (users, items)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"B": self.B_.cpu().numpy(), "l2": np.array(self.l2_)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        device = self.device
        B = get_array(state, "B", ndim=2)  # (items, items)
        if B.shape[0] != B.shape[1]:
            raise DataError(f"B: has shape {B.shape} (expected a square items x items matrix)")
        l2 = get_array(state, "l2")
        if l2.size != 1:
            raise DataError(f"l2: has shape {l2.shape} (expected one number)")
        self.B_ = torch.from_numpy(np.ascontiguousarray(B)).to(device)
        self.l2_ = float(l2.reshape(-1)[0])
        self.n_items_ = self.B_.shape[0]


GRAM_CHUNK_ENTRIES = 1 << 28  # the dense Gram method densifies about this many entries of X at a time


def gram(X: sp.csr_matrix, device: torch.device, dtype: torch.dtype, method: str = "auto") -> torch.Tensor:
    """The dense item-item Gram matrix ``XᵀX`` (items x items) on ``device``.

    ``method``: ``sparse`` forms it as a sparse product on the CPU (scipy)
    and densifies it once; ``dense`` accumulates ``X_cᵀ X_c`` over chunks of
    rows densified on ``device``, one GEMM each (what a GPU does fast);
    ``auto`` is ``dense`` on CUDA and ``sparse`` elsewhere. Both are exact
    for 0/1 data: the float32 GEMMs may use TF32 tensor cores only when every
    value of ``X`` has at most 8 significant bits (exactly a bfloat16, so
    exactly a TF32), and they accumulate in float32, so every count below
    2^24 comes out exact; float64 stays float64.
    """
    if method == "auto":
        method = "dense" if device.type == "cuda" else "sparse"
    if method == "sparse":
        G = (X.T @ X).astype(np.float64 if dtype == torch.float64 else np.float32)
        return torch.from_numpy(G.toarray()).to(device=device, dtype=dtype)
    if method != "dense":
        raise ValueError(f"gram method {method!r}: choose auto, sparse or dense")
    data = torch.from_numpy(np.ascontiguousarray(X.data, dtype=np.float32))
    tf32 = dtype == torch.float32 and bool((data.to(torch.bfloat16).float() == data).all())
    n, m = X.shape
    chunk = max(1, min(n, GRAM_CHUNK_ENTRIES // max(m, 1)))  # rows densified at a time
    G = torch.zeros(m, m, dtype=dtype, device=device)
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        for start in range(0, n, chunk):
            block = X[start : start + chunk].tocoo()
            D = torch.zeros(block.shape, dtype=dtype, device=device)
            rows = torch.from_numpy(block.row.astype(np.int64)).to(device)
            cols = torch.from_numpy(block.col.astype(np.int64)).to(device)
            D.index_put_((rows, cols), torch.from_numpy(block.data).to(device=device, dtype=dtype), accumulate=True)
            G.addmm_(D.T, D)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return G


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


class SpectralScores:
    """EASE scores ``x B(λ)`` for any λ from one eigendecomposition.

    With ``P = (XᵀX + λI)^-1`` the EASE scores of a fold-in row ``x`` are
    ``s_j = -(x P)_j / P_jj`` off the fold-in (the fold-in items themselves
    are masked by the evaluation, so their ``+x_j`` term is dropped).

    * items <= users: ``XᵀX = Q Λ Qᵀ`` gives ``x P = (x Q) diag(1/(Λ+λ)) Qᵀ``
      and ``diag(P) = (Q∘Q) 1/(Λ+λ)``.
    * users < items: ``X Xᵀ = V S Vᵀ`` and ``W = Vᵀ X`` give, by Woodbury,
      ``λP = I - Wᵀ diag(1/(S+λ)) W``, so ``λ x P = x - (x Wᵀ) diag(1/(S+λ)) W``
      and ``λ diag(P) = 1 - (W∘W)ᵀ 1/(S+λ)``; the factor λ cancels in ``s``.
    """

    def __init__(self, G: torch.Tensor, X: sp.csr_matrix) -> None:
        self.device, self.dtype = G.device, G.dtype
        n_users, n_items = X.shape
        self.by_items = n_items <= n_users
        if self.by_items:
            self.eig, self.Q = torch.linalg.eigh(G)  # (items,), (items, items)
            self.Q2 = self.Q * self.Q
        else:
            K = _dense(X @ X.T, self.device, self.dtype)  # (users, users)
            self.eig, V = torch.linalg.eigh(K)
            del K
            self.W = (torch_csr(X.T.tocsr(), self.device, self.dtype) @ V).T.contiguous()  # (users, items) = Vᵀ X
            self.W2 = self.W * self.W

    def scores(self, X_in: sp.csr_matrix, l2: float) -> torch.Tensor:
        x = torch_csr(sp.csr_matrix(X_in), self.device, self.dtype)
        d = 1.0 / (self.eig + l2)
        if self.by_items:
            xP = ((x @ self.Q) * d) @ self.Q.T  # (users, items)
            dP = self.Q2 @ d  # (items,)
        else:
            xP = x.to_dense() - ((x @ self.W.T) * d) @ self.W  # λ x P
            dP = 1.0 - d @ self.W2  # λ diag(P)
        return -xP / dP


def _dense(M: sp.spmatrix, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(M.toarray()).to(device=device, dtype=dtype)
