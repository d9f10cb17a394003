"""WMF: weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky, ICDM 2008).

With counts ``x_ui >= 0``, preference ``p_ui = 1[x_ui > 0]`` and confidence
``c_ui = 1 + α x_ui``, user factors ``x_u`` and item factors ``y_i`` minimise

    Σ_{u,i} c_ui (p_ui - x_uᵀ y_i)² + λ (Σ_u ||x_u||² + Σ_i ||y_i||²)

by alternating least squares: with the items fixed each user solves
``(YᵀY + Yᵀ(C_u - I)Y + λI) x_u = Yᵀ C_u p_u`` (Eq. 4 of the paper), and the
items likewise with the users fixed.

Training runs on the CPU with ``implicit`` (Frederickson's Cython ALS).
implicit reads the value it is given as the confidence itself (its update
adds ``(value - 1) y yᵀ`` to ``YᵀY + λI`` and ``value · y`` to the right-hand
side) after multiplying by its own ``alpha``; so it is given ``1 + α x_ui``
with its ``alpha`` left at 1, which makes the confidence exactly ``c_ui``.

Strong generalization: the training users' factors are thrown away. A
held-out user is folded in by the user step above against the fixed item
factors (batched ``f x f`` solves in torch, float64), and scored
``x_u Yᵀ``. A user with an empty fold-in gets ``x_u = 0`` and all-zero
scores, as implicit does for an empty training row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from aerec.data.prepared import Fold
from aerec.checks import at_least, check, one_of
from aerec.errors import ConfigError, DataError
from aerec.models.base import Recommender
from aerec.validate import get_array

SOLVERS = ("cg", "cholesky")


@dataclass
class WMFConfig:
    """Hyperparameters of WMF.

    Attributes:
        factors: f, the number of latent factors (the paper's grid: 100, 200).
        alpha: α in the confidence ``1 + α x_ui`` (the paper's grid: 2, 5, 10, 30, 50, 100).
        regularization: λ, the L2 penalty on user and item factors (not scaled by counts;
            search it too: on ml-1m at α = 10, λ = 100 beat 1, 10, 30 and 300).
        iterations: ALS iterations (each a user step, then an item step).
        solver: ``cg`` (implicit's default: 3 warm-started conjugate-gradient steps per
            row and iteration) or ``cholesky`` (an exact solve of every row).
        num_threads: implicit's training threads; 0 uses every core.
    """

    factors: int = 100
    alpha: float = 10.0
    regularization: float = 100.0
    iterations: int = 15
    solver: str = "cg"
    num_threads: int = 0

    def __post_init__(self) -> None:
        _check_config(self)


class WMF(Recommender):
    """Hu et al. (2008) implicit-feedback matrix factorisation, trained by ALS, users folded in."""

    name = "wmf"
    honours = frozenset({"device"})
    Config = WMFConfig

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        """Train on ``X``; ``validation`` is not used (the search selects on it from outside). The fit option
        ``seed`` seeds implicit's random initial factors; ``device`` is where the fold-in and scoring run."""
        cfg = self.config
        try:
            from implicit.cpu.als import AlternatingLeastSquares
        except ImportError as e:
            raise ConfigError(f"wmf: needs the `implicit` package (pip install 'implicit>=0.7,<0.8'): {e}") from None
        from threadpoolctl import threadpool_limits

        X = _canonical(X, "wmf: training matrix")
        C = X.copy()
        C.data = (1.0 + cfg.alpha * C.data.astype(np.float64)).astype(np.float32)  # c_ui, given to implicit as the confidence
        if not np.isfinite(C.data).all():
            raise ConfigError(f"wmf: alpha={cfg.alpha:g}: the confidences 1 + alpha x overflow float32 (largest x: {X.data.max():g})")
        with threadpool_limits(1, "blas"):  # implicit parallelises over rows itself (and warns otherwise)
            als = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=1.0,  # implicit multiplies its input by alpha: 1 leaves c_ui as it is
                dtype=np.float32,
                use_cg=cfg.solver == "cg",
                iterations=cfg.iterations,
                num_threads=cfg.num_threads,
                random_state=self.options_.seed,
            )
            try:
                als.fit(C, show_progress=self.options_.progress)
            except Exception as e:  # implicit's ModelFitError (NaN factors) and its other numerical failures
                raise DataError(f"wmf: ALS failed ({type(e).__name__}: {' '.join(str(e).split())[:200]}); lower alpha or raise regularization") from None
        self.user_factors_ = np.asarray(als.user_factors, dtype=np.float32)  # (train users, f), never used to score
        self.Y_ = torch.from_numpy(np.ascontiguousarray(als.item_factors, dtype=np.float32)).to(self.device)  # (items, f)

    def fold_in(self, X_in: sp.csr_matrix) -> torch.Tensor:
        """Factors (float64, users x f) of the fold-in rows: the ALS user step against the item factors."""
        X_in = self._check_input(X_in)
        return fold_in_factors(_canonical(X_in, "wmf: fold-in"), self.Y_, self.config.alpha, self.config.regularization)

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        U = self.fold_in(X_in)  # (users, f)
        return (U.to(self.Y_.dtype) @ self.Y_.T).cpu().numpy()  # (users, items)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.Y_.cpu().numpy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        Y = np.ascontiguousarray(get_array(state, "item_factors", ndim=2), dtype=np.float32)  # (items, f)
        if Y.shape[1] < 1:
            raise DataError(f"item_factors: has shape {Y.shape} (expected at least one factor per item)")
        self.Y_ = torch.from_numpy(Y).to(self.device)
        self.n_items_ = Y.shape[0]


def fold_in_factors(X: sp.csr_matrix, Y: torch.Tensor, alpha: float, l2: float, max_elements: int = 2**23) -> torch.Tensor:
    """The ALS user step for every row of ``X`` (users x items) against fixed item factors ``Y``.

    ``x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)^-1 Yᵀ C_u p_u`` with ``c_ui = 1 + α x_ui``,
    solved in float64 on ``Y``'s device. Rows go in batches whose padded item
    factors (batch x longest row x f) hold at most ``max_elements`` numbers;
    a row's result does not depend on the other rows of its batch.
    """
    device, n_factors = Y.device, Y.shape[1]
    Y = Y.to(torch.float64)
    G = Y.T @ Y + l2 * torch.eye(n_factors, dtype=torch.float64, device=device)  # (f, f)
    lengths = np.diff(X.indptr)
    U = torch.zeros((X.shape[0], n_factors), dtype=torch.float64, device=device)
    for a, b in _batches(lengths, max(1, max_elements // n_factors)):
        L = int(lengths[a:b].max())
        if L == 0:
            continue  # empty rows: x_u = 0
        present = np.arange(L) < lengths[a:b, None]  # (n, L)
        idx = np.zeros((b - a, L), dtype=np.int64)
        conf = np.zeros((b - a, L), dtype=np.float64)  # c_ui on the row's items, 0 on the padding
        idx[present] = X.indices[X.indptr[a] : X.indptr[b]]
        conf[present] = 1.0 + alpha * X.data[X.indptr[a] : X.indptr[b]]
        idx_t = torch.from_numpy(idx).to(device)
        conf_t = torch.from_numpy(conf).to(device)
        weight = torch.where(torch.from_numpy(present).to(device), conf_t - 1.0, 0.0)  # c_ui - 1, 0 on the padding
        Yp = Y[idx_t]  # (n, L, f)
        A = G + (Yp * weight[..., None]).transpose(1, 2) @ Yp  # (n, f, f)
        rhs = torch.einsum("nl,nlf->nf", conf_t, Yp)  # (n, f) = Yᵀ C_u p_u
        U[a:b] = torch.linalg.solve(A, rhs[..., None])[..., 0]
    return U


def _batches(lengths: np.ndarray, max_cells: int):
    """Consecutive ranges ``[a, b)`` with ``(b - a) * max(lengths[a:b]) <= max_cells`` (at least one row)."""
    a, n = 0, len(lengths)
    while a < n:
        b, longest = a + 1, int(lengths[a])
        while b < n and (b + 1 - a) * max(longest, int(lengths[b])) <= max_cells:
            longest = max(longest, int(lengths[b]))
            b += 1
        yield a, b
        a = b


def _canonical(X: sp.spmatrix, what: str) -> sp.csr_matrix:
    """A float32 CSR copy with sorted indices and no duplicates or explicit zeros; negative values are an error."""
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    X.sum_duplicates()
    X.eliminate_zeros()
    if X.nnz and X.data.min() < 0:
        raise DataError(f"{what} has negative values; WMF needs counts x_ui >= 0")
    return X


def _check_config(cfg: WMFConfig) -> None:
    check(cfg, factors=at_least(1, 100_000), alpha=at_least(0.0), regularization=at_least(0.0), iterations=at_least(1, 1_000_000),
          solver=one_of(*SOLVERS), num_threads=at_least(0, 4096))  # fmt: skip