"""Item embeddings from the co-occurrence spectrum: steps 1-3 of Algorithm 2 (Sw-DAE, §3.1.3).

With ``Xᵀ = U Σ Vᵀ`` (m items x n users), the items are projected on the
``F`` leading left singular vectors, scaled by their singular values:

    P = U_F Σ_F        (m x F)

Since ``XᵀX = U Σ² Uᵀ``, ``U_F`` are the leading eigenvectors of the
co-occurrence matrix ``Y = XᵀX`` and ``σ = sqrt(λ)``; ``P Pᵀ`` is the best
rank-``F`` approximation of ``Y``. Unlike Algorithm 1 nothing discounts
popular items: a popular item has a long row of ``P``.

The eigenpairs come from :func:`aerec.structure.spectral.gram_eigenpairs`
with ``F = X`` (the same solvers as Algorithm 1: ARPACK on ``v ↦ Xᵀ(Xv)``
by default, PROPACK's Lanczos bidiagonalisation of ``X`` on request, dense
for small problems, block Krylov on CUDA). Squaring loses nothing that
matters here: the relative error of ``σ_F`` is about ``ε (σ_1 / σ_F)²``,
1e-13 on ML-1M. Columns get :func:`canonical_signs`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from aerec.structure.spectral import gram_eigenpairs


def svd_embedding(
    X: sp.spmatrix, n_components: int, *, seed: int = 0, device: torch.device | str = "cpu", solver: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of Algorithm 2: ``(P, σ)`` with ``P = U_F Σ_F`` ``(m, F)`` and ``σ`` the ``F`` largest singular values of ``Xᵀ``.

    ``F`` must be smaller than ``min(n, m)``. ``P`` is float64 from the CPU
    solvers and float32 from the CUDA one; ``solver`` is described in
    :func:`gram_eigenpairs`.
    """
    vectors, values = gram_eigenpairs(X, n_components, seed=seed, device=device, solver=solver)
    sigma = np.sqrt(np.clip(values, 0.0, None))
    return vectors * sigma.astype(vectors.dtype)[None, :], sigma
