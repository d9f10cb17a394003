"""Item embeddings from the co-occurrence spectrum: steps 1-3 of Algorithm 2 (Sw-DAE, §3.1.3).

With ``Xᵀ = U Σ Vᵀ`` (m items x n users), the items are projected on the
``F`` leading left singular vectors, scaled by their singular values:

    P = U_F Σ_F        (m x F)

Since ``XᵀX = U Σ² Uᵀ``, ``U_F`` are also the leading eigenvectors of the
co-occurrence matrix ``Y`` and ``P Pᵀ`` is its best rank-``F``
approximation. Unlike Algorithm 1 nothing discounts popular items: a
popular item has a long row of ``P``.

Solvers: on the CPU, ARPACK's Lanczos on ``XᵀX`` through
:func:`scipy.sparse.linalg.svds` (``solver="arpack"``) with a starting vector
from the caller's seed, or the dense SVD where ``min(m, n)`` is small; on
CUDA, :func:`aerec.structure.spectral.block_krylov_eigh` on ``v ↦ Xᵀ(Xv)``
with ``σ = sqrt(λ)``. Columns get :func:`canonical_signs`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds

from aerec.structure.spectral import DENSE_MAX_ITEMS, _torch_csr, block_krylov_eigh, canonical_signs


def svd_embedding(
    X: sp.spmatrix, n_components: int, *, seed: int = 0, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of Algorithm 2: ``(P, σ)`` with ``P = U_F Σ_F`` ``(m, F)`` and ``σ`` the ``F`` largest singular values of ``Xᵀ``.

    ``F`` must be smaller than ``min(n, m)``. ``P`` is float64 from the CPU
    solvers and float32 from the CUDA one.
    """
    Xt = sp.csr_matrix(sp.csr_matrix(X, dtype=np.float64).T)  # (m, n)
    m, n = Xt.shape
    if not 1 <= n_components < min(m, n):
        raise ValueError(f"svd_embedding: n_components={n_components} must be in 1..{min(m, n) - 1}")
    device = torch.device(device)
    if device.type == "cuda":
        x = _torch_csr(sp.csr_matrix(Xt.T), device, torch.float32)  # (n, m)
        xt = _torch_csr(Xt, device, torch.float32)
        gen = torch.Generator(device=device).manual_seed(seed)
        values, vectors = block_krylov_eigh(lambda v: xt @ (x @ v), m, n_components, generator=gen, dtype=torch.float32)
        sigma = values.clamp(min=0).sqrt()
        return canonical_signs((vectors * sigma).cpu().numpy()), sigma.cpu().numpy()
    if min(m, n) <= DENSE_MAX_ITEMS or 2 * n_components >= min(m, n):
        U, sigma, _ = np.linalg.svd(Xt.toarray(), full_matrices=False)
    else:
        v0 = np.random.default_rng(seed).standard_normal(min(m, n))
        U, sigma, _ = svds(Xt, k=n_components, v0=v0, solver="arpack")
    order = np.argsort(sigma)[::-1][:n_components]
    U, sigma = U[:, order], sigma[order]
    return canonical_signs(U * sigma[None, :]), sigma
