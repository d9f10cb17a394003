"""Spectral norm, stable rank and the generalization bound of a network's weight matrices (Sec. 5.5, Figure 4).

Khawar et al. (Sec. 5.5) explain Sw-DAE's advantage over FC-DAE by the
spectral norm ``||W||_2`` of its weight matrices and by the bound of
Neyshabur et al. [19, Theorem 1] on the generalization error::

    srank(W) = ||W||_F² / ||W||_2²                       (1 <= srank(W) <= rank(W))
    bound    = sqrt( prod_j ||W_j||_2² * sum_j srank(W_j) / n )

over the ``L`` weight matrices ``W_j`` of the network and ``n`` training
examples (users). The theorem's bound is ``O(...)`` of this expression; we
report the expression itself, without the constant, the depth factor or the
log terms, which are the same for two networks of the same depth, width and
data (Sw-DAE against FC-DAE of the same K), the comparison of Figure 4.

The matrices are the ones the network computes with: a layer with a
``dense_weight()`` method (Sw-DAE's structured layers, exactly zero outside
the structure; FC-DAE's dense ones, masked for FC-Prune) gives that matrix;
any other module's 2-D ``weight`` parameters are taken as they are. The
spectral norm is the largest singular value from ARPACK (``svds`` with
``k = 1``), or a dense SVD for matrices too small for ARPACK.

:func:`spectra_monitor` is what the training loop calls after each epoch
when a fit runs with the option ``track_spectra``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.sparse.linalg as spla
import torch
from torch import nn


def spectral_norm(W: np.ndarray | torch.Tensor) -> float:
    """The largest singular value of a 2-D matrix."""
    A = _array(W)
    if A.size == 0 or not np.any(A):
        return 0.0
    if min(A.shape) < 3:
        return float(np.linalg.norm(A, 2))
    v0 = np.random.default_rng(0).standard_normal(min(A.shape))  # a fixed start: the same matrix gives the same number
    s = spla.svds(A, k=1, return_singular_vectors=False, tol=1e-6, v0=v0)
    return float(s[0])


def stable_rank(W: np.ndarray | torch.Tensor, norm: float | None = None) -> float:
    """``||W||_F² / ||W||_2²`` (0 for a zero matrix); ``norm`` is ``||W||_2`` when already known."""
    A = _array(W)
    s = spectral_norm(A) if norm is None else norm
    if s == 0.0:
        return 0.0
    return float(np.sum(A.astype(np.float64) ** 2) / s**2)


def generalization_bound(norms: list[float], stable_ranks: list[float], n: int) -> float:
    """``sqrt(prod_j ||W_j||² * sum_j srank(W_j) / n)`` (Sec. 5.5, without the O's constant)."""
    if n < 1:
        raise ValueError("n, the number of training examples, must be at least 1")
    log_prod = sum(2.0 * math.log(s) for s in norms) if all(s > 0 for s in norms) else -math.inf
    if log_prod == -math.inf:
        return 0.0
    return math.exp(0.5 * (log_prod + math.log(sum(stable_ranks)) - math.log(n)))


def weight_matrices(module: nn.Module) -> dict[str, torch.Tensor]:
    """The weight matrices a network computes with, by module name, in the module's order."""
    out: dict[str, torch.Tensor] = {}
    covered: set[str] = set()
    for name, sub in module.named_modules():
        if any(name == c or name.startswith(c + ".") for c in covered):
            continue
        if callable(getattr(sub, "dense_weight", None)):
            out[name or "weight"] = sub.dense_weight().detach()
            covered.add(name)
        elif isinstance(getattr(sub, "weight", None), nn.Parameter) and sub.weight.dim() == 2:
            out[name or "weight"] = sub.weight.detach()
    return out


def layer_spectra(module: nn.Module, n: int) -> dict:
    """Per matrix its spectral norm, stable rank and Frobenius norm, and the bound over all of them."""
    layers = {}
    for name, W in weight_matrices(module).items():
        A = _array(W)
        s = spectral_norm(A)
        layers[name] = {"spectral_norm": s, "stable_rank": stable_rank(A, norm=s), "frobenius": float(np.linalg.norm(A))}
    bound = generalization_bound([v["spectral_norm"] for v in layers.values()], [v["stable_rank"] for v in layers.values()], n) if layers else 0.0
    return {"layers": layers, "bound": bound}


def spectra_monitor(track: bool, module: nn.Module, n: int) -> Callable[[], dict] | None:
    """The training loop's ``monitor``: :func:`layer_spectra` of ``module`` after each epoch when ``track``
    (the fit option ``track_spectra``), else ``None``."""
    if not track:
        return None
    return lambda: layer_spectra(module, n)


def _array(W: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(W, torch.Tensor):
        W = W.detach().float().cpu().numpy()
    A = np.asarray(W, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"a weight matrix must be 2-D, not {A.ndim}-D")
    return A
