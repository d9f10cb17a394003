"""SLIM: Sparse Linear Methods for top-N recommendation (Ning & Karypis, ICDM 2011).

An item-item model ``W`` (items x items), sparse, nonnegative, with a zero
diagonal. Column ``j`` is learned on its own from the training matrix ``X``
(users x items) by an elastic net (Eq. 3 of the paper):

    w_j = argmin_w  ½ ||x_j - X w||² + (β/2) ||w||² + λ ||w||₁   subject to  w >= 0,  w_jj = 0

and a user's scores are ``x_u W``. Held-out users need no fitting: their
fold-in row is the input.

Each column is solved by scikit-learn's coordinate descent
(``ElasticNet(positive=True, fit_intercept=False)``), whose objective is
``1/(2n) ||y - Xw||² + a ρ ||w||₁ + ½ a (1 - ρ) ||w||²`` with ``n`` the
number of training users. Multiplying it by ``n`` gives SLIM's objective
exactly when

    a = (λ + β) / n,   ρ = λ / (λ + β).

``w_jj = 0`` is imposed by zeroing column ``j`` of ``X`` while ``x_j`` is
fitted (its coordinate then never moves from 0), then restoring it; every
worker thread owns a copy of ``X`` for this. Columns are independent, so
``W`` does not depend on the number of workers; coordinate descent runs in
cyclic order, so nothing is random.

A fit that runs past ``time_budget`` seconds stops and raises
:class:`aerec.errors.BudgetExceeded` (the paper reports that SLIM "did not
finish" on MSD).
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from aerec.data.prepared import Fold
from aerec.errors import BudgetExceeded, ConfigError
from aerec.models.base import Recommender, csr_state, square_csr_from_state


@dataclass
class SLIMConfig:
    """Hyperparameters of SLIM.

    Attributes:
        l1: λ, the L1 penalty (the paper's grid: 0.1, 0.5, 1, 5).
        l2: β, the L2 penalty (the paper's grid: 0.1, 0.5, 1, 5).
        max_iter: coordinate-descent sweeps per item at most.
        tol: scikit-learn's stopping tolerance (on the duality gap).
        n_jobs: worker threads, each fitting its share of the items; 0 uses every core.
        time_budget: seconds the fit may take before it stops with BudgetExceeded; 0: no limit.
    """

    l1: float = 1.0
    l2: float = 1.0
    max_iter: int = 100
    tol: float = 1e-4
    n_jobs: int = 1
    time_budget: float = 0.0

    def __post_init__(self) -> None:
        _check_config(self)


class SLIM(Recommender):
    """Ning & Karypis (2011) SLIM, one nonnegative elastic net per item."""

    name = "slim"
    Config = SLIMConfig
    budget_field = "time_budget"

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        """Learn ``W`` column by column; ``validation`` is not used."""
        cfg = self.config
        try:
            from sklearn.exceptions import ConvergenceWarning
        except ImportError as e:
            raise ConfigError(f"slim: needs scikit-learn (pip install 'scikit-learn>=1.3,<2'): {e}") from None
        X = sp.csc_matrix(X, dtype=np.float64, copy=True)  # coordinate descent reads columns
        X.sum_duplicates()
        X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)  # scikit-learn's sparse solver
        n_users, n_items = X.shape
        workers = min(cfg.n_jobs or os.cpu_count() or 1, n_items) or 1
        deadline = time.monotonic() + cfg.time_budget if cfg.time_budget > 0 else float("inf")
        job = _Columns(X, cfg, deadline, tqdm(total=n_items, desc="slim: items", disable=not self.options_.progress))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # counted in fit_info_ instead
            if workers == 1:
                parts = [job.run(range(n_items))]
            else:
                with ThreadPoolExecutor(workers) as pool:
                    parts = list(pool.map(job.run, [range(k, n_items, workers) for k in range(workers)]))
        job.bar.close()
        done = sum(len(p[0]) for p in parts)
        self.fit_info_ = {"finished": done == n_items, "items_done": done, "seconds": round(time.perf_counter() - t0, 3)}
        if done < n_items:
            raise BudgetExceeded(f"slim: time budget {cfg.time_budget:g} s spent after {done} of {n_items} items")
        self.fit_info_["not_converged"] = sum(p[1] for p in parts)
        columns = dict(item for p in parts for item in p[0])  # j -> (rows, weights)
        nnz = np.array([len(columns[j][0]) for j in range(n_items)], dtype=np.int64)
        W = sp.csc_matrix(
            (
                np.concatenate([columns[j][1] for j in range(n_items)]).astype(np.float32),
                np.concatenate([columns[j][0] for j in range(n_items)]),
                np.concatenate([[0], np.cumsum(nnz)]),
            ),
            shape=(n_items, n_items),
        )
        self.W_ = W.tocsr()  # (items, items), column j is w_j
        self.n_items_ = n_items
        self.fit_info_["nnz"] = int(self.W_.nnz)

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        X_in = X_in.astype(np.float32)
        return (X_in @ self.W_).toarray()  # (users, items)

    def state_dict(self) -> dict[str, np.ndarray]:
        return csr_state("W_", self.W_)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.W_ = square_csr_from_state("W_", state)
        self.n_items_ = self.W_.shape[1]


class _Columns:
    """Fits the columns ``w_j`` of a share of the items; one call per worker thread."""

    def __init__(self, X: sp.csc_matrix, cfg: SLIMConfig, deadline: float, bar: tqdm) -> None:
        self.X, self.cfg, self.deadline, self.bar = X, cfg, deadline, bar
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self, items: range) -> tuple[list[tuple[int, tuple[np.ndarray, np.ndarray]]], int]:
        """``([(j, (rows, weights)), ...], number not converged)`` for the items done before the deadline."""
        from sklearn.linear_model import ElasticNet

        cfg = self.cfg
        X = self.X.copy()  # this thread's own: column j is zeroed while x_j is fitted
        n_users = X.shape[0]
        enet = ElasticNet(
            alpha=(cfg.l1 + cfg.l2) / n_users,
            l1_ratio=cfg.l1 / (cfg.l1 + cfg.l2),
            positive=True,
            fit_intercept=False,
            copy_X=False,
            precompute=False,
            selection="cyclic",
            max_iter=cfg.max_iter,
            tol=cfg.tol,
        )
        out, not_converged = [], 0
        y = np.zeros(n_users, dtype=np.float64)
        for j in items:
            if self.stop.is_set() or time.monotonic() > self.deadline:
                self.stop.set()
                break
            s, e = X.indptr[j], X.indptr[j + 1]
            y[:] = 0.0
            y[X.indices[s:e]] = X.data[s:e]  # x_j, dense (users,)
            kept = X.data[s:e].copy()
            X.data[s:e] = 0.0  # w_jj = 0: column j is not a regressor
            enet.fit(X, y, check_input=False)
            X.data[s:e] = kept
            w = enet.coef_
            w[j] = 0.0
            rows = np.flatnonzero(w > 0)
            out.append((j, (rows.astype(np.int64), w[rows])))
            not_converged += int(enet.n_iter_ >= cfg.max_iter)
            with self.lock:
                self.bar.update(1)
        return out, not_converged


def _check_config(cfg: SLIMConfig) -> None:
    if cfg.l1 < 0 or cfg.l2 < 0 or cfg.l1 + cfg.l2 <= 0:
        raise ConfigError(f"slim: l1 and l2 must be nonnegative and not both zero, got {cfg.l1} and {cfg.l2}")
    if cfg.max_iter < 1 or cfg.tol <= 0:
        raise ConfigError(f"slim: max_iter must be positive and tol above 0, got {cfg.max_iter} and {cfg.tol}")
    if cfg.n_jobs < 0 or cfg.time_budget < 0:
        raise ConfigError(f"slim: n_jobs and time_budget must be nonnegative, got {cfg.n_jobs} and {cfg.time_budget}")
