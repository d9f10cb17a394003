"""Item embeddings from the normalised item-item graph: steps 1-3 of Algorithm 1 (Sw-DAE, §3.1.1).

With ``X`` the n x m user-item matrix, the item-item graph has adjacency
``Y = XᵀX`` (its diagonal ``Y_ii = |x_i|`` included) and degrees
``D_ii = Σ_j Y_ij``. The paper's Laplacian (Eq. 1-2) is

    Δ = D^-1/2 Y D^-1/2,   Δ_ij = x_i·x_j / sqrt(D_ii D_jj)

with the rows and columns of degree-0 items (no interaction) set to zero,
the "otherwise" case of Eq. 2. The embedding is the matrix ``V_F`` of the
eigenvectors of the ``F`` largest eigenvalues of Δ (all in ``[0, 1]``: Δ is
positive semi-definite, and ``1`` belongs to ``D^1/2 1`` on every connected
component).

Δ is never formed for the eigensolver: with ``Z = X D^-1/2`` (n x m, as
sparse as ``X``), ``Δ = ZᵀZ``, so ``Δv = Zᵀ(Zv)`` costs ``2·nnz(X)``
multiply-adds against ``nnz(Δ)`` for the formed matrix (ML-1M: 0.9M against
7.5M; Lanczos 1.0 s against 3.0 s, and 0.8 s saved on forming Δ). The formed
matrix, :func:`item_laplacian`, is kept as the reference of Eq. 2.

:func:`gram_eigenpairs` finds the leading eigenpairs of ``FᵀF`` for a
sparse factor ``F``; Algorithm 1 calls it with ``F = Z``, Algorithm 2
(:mod:`aerec.structure.svd`) with ``F = X``. Its solvers:

* CPU, ``solver="auto"`` (the reference): ARPACK's implicitly restarted
  Lanczos (:func:`scipy.sparse.linalg.eigsh`) on ``v ↦ Fᵀ(Fv)``, which works
  in item space, from a start vector drawn from the caller's seed, so the
  result is deterministic. ``solver="propack"`` is Lanczos
  bidiagonalisation of ``F`` itself (PROPACK, :func:`scipy.sparse.linalg.svds`;
  right singular vectors, ``λ = σ²``), the method the paper names. They agree
  to 1e-15 in the eigenvalues; PROPACK is faster on ML-1M (0.19 s against
  0.30 s with one BLAS thread) but keeps a Lanczos basis of user-length
  vectors too, and on ML-20M's shape (136,677 users x 20,108 items, 10M
  interactions) took 50 s against 3.1 s for ARPACK.
* CPU, small problems (``min(n, m) <= DENSE_MAX_ITEMS`` or
  ``F >= min(n, m) / 2``, where Lanczos struggles): the dense
  ``numpy.linalg.eigh`` of ``FᵀF`` (or the thin SVD of ``F`` when there are
  fewer users than items).
* CUDA: :func:`block_krylov_eigh`, a restarted block Krylov method in torch
  on the sparse factor, in float32.

Eigenvectors are defined up to sign (and, for repeated eigenvalues, up to a
rotation); :func:`canonical_signs` makes each column's largest entry in
magnitude positive. The grouping with ``normalize="l2"`` does not depend on
either choice: rows of unit length and Euclidean K-means are invariant under
any orthogonal change of basis of the columns.
"""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import LinearOperator, eigsh, svds

from aerec.device import torch_csr

DENSE_MAX_ITEMS = 500  # at most this many items (or users), the dense solvers are used


def item_degrees(X: sp.spmatrix) -> np.ndarray:
    """``D_ii = Σ_j (XᵀX)_ij = x_i · (X 1)``, float64, computed without forming ``XᵀX``."""
    X = sp.csr_matrix(X, dtype=np.float64)
    return np.asarray(X.T @ np.asarray(X.sum(axis=1)).ravel()).ravel()


def laplacian_factor(X: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(Z, D)`` with ``Z = X D^-1/2`` (n x m CSR, float64) so that ``Δ = ZᵀZ``; degree-0 columns are zero."""
    X = sp.csr_matrix(X, dtype=np.float64)
    degree = item_degrees(X)
    scale = np.zeros_like(degree)
    np.divide(1.0, np.sqrt(degree), out=scale, where=degree > 0)
    Z = X.multiply(scale[None, :]).tocsr()
    return Z, degree


def item_laplacian(X: sp.spmatrix) -> sp.csr_matrix:
    """Δ = D^-1/2 XᵀX D^-1/2 of Eq. 1-2 as a sparse m x m matrix (the diagonal included, degree-0 items zero)."""
    Z, _ = laplacian_factor(X)
    return sp.csr_matrix(Z.T @ Z)


def spectral_embedding(
    X: sp.spmatrix, n_components: int, *, seed: int = 0, device: torch.device | str = "cpu", solver: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of Algorithm 1: ``(V_F, λ)``, the eigenvectors ``(m, F)`` of the ``F`` largest eigenvalues of Δ.

    Columns are in descending order of eigenvalue, with :func:`canonical_signs`.
    ``V_F`` is float64 from the CPU solvers and float32 from the CUDA one.
    ``F`` must be smaller than ``min(n, m)`` (the rank of Δ is at most that). ``solver`` is described in
    :func:`gram_eigenpairs`.
    """
    Z, _ = laplacian_factor(X)
    return laplacian_eigenvectors(Z, n_components, seed=seed, device=device, solver=solver)


def laplacian_eigenvectors(
    Z: sp.csr_matrix, n_components: int, *, seed: int = 0, device: torch.device | str = "cpu", solver: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``F`` leading eigenpairs ``(V_F, λ)`` of ``Δ = ZᵀZ`` from the factor of :func:`laplacian_factor`."""
    return gram_eigenpairs(Z, n_components, seed=seed, device=device, solver=solver)


def gram_eigenpairs(
    F: sp.spmatrix, k: int, *, seed: int = 0, device: torch.device | str = "cpu", solver: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """``(V, λ)``: the ``k`` largest eigenvalues of ``FᵀF`` (descending) and their eigenvectors ``(m, k)``.

    ``F`` is n x m sparse; ``FᵀF`` is never formed. ``k`` must be smaller
    than ``min(n, m)``, the most ``FᵀF`` can have non-zero. ``solver`` on the
    CPU: ``"auto"`` (dense for small problems, else ARPACK), ``"arpack"``,
    ``"propack"`` (falls back to ARPACK where it does not converge,
    :func:`propack_svds`), ``"dense"``, or ``"block-krylov"``; the start vector
    comes from ``seed``. On CUDA it is always ``"block-krylov"``
    (:func:`block_krylov_eigh`, float32); selected on the CPU it runs the same
    code there, so the GPU's solver is tested without a GPU.
    Columns get :func:`canonical_signs`.
    """
    F = sp.csr_matrix(F, dtype=np.float64)
    n, m = F.shape
    if not 1 <= k < min(n, m):
        raise ValueError(f"n_components={k} must be in 1..{min(n, m) - 1} (the rank of FᵀF is at most min(users, items))")
    device = torch.device(device)
    if device.type == "cuda" or solver == "block-krylov":
        f = torch_csr(F, device, torch.float32)  # (n, m)
        ft = torch_csr(sp.csr_matrix(F.T), device, torch.float32)  # (m, n)
        gen = torch.Generator(device=device).manual_seed(seed)
        values, vectors = block_krylov_eigh(lambda v: ft @ (f @ v), m, k, generator=gen, dtype=torch.float32)
        return canonical_signs(vectors.cpu().numpy()), values.cpu().numpy()
    solver = _pick_solver(solver, min(n, m), k)
    if solver == "dense" and m <= n:
        values, vectors = np.linalg.eigh((F.T @ F).toarray())
    elif solver == "dense":  # fewer users than items: the thin SVD of F is the smaller problem
        _, sigma, vt = np.linalg.svd(F.toarray(), full_matrices=False)
        values, vectors = sigma**2, vt.T
    elif solver == "propack" and (triplet := propack_svds(F, k, seed)) is not None:
        values, vectors = triplet[1] ** 2, triplet[2].T
    else:  # ARPACK, asked for or where PROPACK did not converge
        Ft = sp.csr_matrix(F.T)
        op = LinearOperator((m, m), matvec=lambda v: Ft @ (F @ v), matmat=lambda v: Ft @ (F @ v), dtype=np.float64)
        v0 = np.random.default_rng(seed).standard_normal(m)
        values, vectors = eigsh(op, k=k, which="LA", v0=v0)
    order = np.argsort(values)[::-1][:k]
    return canonical_signs(vectors[:, order]), values[order]


def propack_svds(A: sp.spmatrix, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``svds(A, k, solver="propack")`` with a Lanczos basis of ``max(10 k, 200)`` vectors; ``None`` if it does not converge.

    PROPACK gives up when its basis is full before ``k`` triplets converge,
    which happens on flat spectra (random matrices) rather than on
    interaction data; :func:`gram_eigenpairs` then uses ARPACK.
    """
    kmax = min(min(A.shape), max(10 * k, 200))
    try:
        return svds(A, k=k, solver="propack", random_state=np.random.default_rng(seed), maxiter=kmax)
    except np.linalg.LinAlgError:
        return None


def _pick_solver(solver: str, size: int, k: int) -> str:
    """``"auto"``: the dense solver for ``size <= DENSE_MAX_ITEMS`` or ``k >= size / 2`` (where Lanczos struggles), else ARPACK."""
    if solver not in ("auto", "propack", "arpack", "dense", "block-krylov"):
        raise ValueError(f"solver={solver!r}: choose auto, propack, arpack, dense or block-krylov")
    if solver == "auto":
        return "dense" if size <= DENSE_MAX_ITEMS or 2 * k >= size else "arpack"
    return solver


def canonical_signs(V: np.ndarray) -> np.ndarray:
    """``V`` with each column multiplied by ±1 so that its entry of largest magnitude is positive."""
    if V.size == 0:
        return V
    pick = V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])]
    return V * np.where(pick < 0, -1.0, 1.0).astype(V.dtype)[None, :]


def block_krylov_eigh(
    apply,
    m: int,
    k: int,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    oversample: int | None = None,
    depth: int = 8,
    max_restarts: int = 50,
    tol: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest eigenpairs of a symmetric positive semi-definite operator, by restarted block Krylov.

    ``apply(V)`` returns ``A V`` for a ``(m, b)`` tensor on the generator's
    device. Each cycle builds the block Krylov basis ``[Q, AQ, ..., A^(d-1)Q]``
    (``b = k + oversample`` columns per block, ``d = depth`` blocks,
    orthonormalised by block Gram-Schmidt done twice), takes the Rayleigh-Ritz
    pairs of ``A`` on it, and stops when every one of the ``k`` wanted pairs
    has residual ``||Av - λv|| <= tol · λ_1``; otherwise it restarts from the
    ``b`` leading Ritz vectors. Returns ``(values (k,), vectors (m, k))``,
    values descending.
    """
    device = generator.device
    b = k + (max(10, k // 2) if oversample is None else oversample)
    if 2 * b >= m:  # a Krylov space this wide is the whole space: solve densely
        A = apply(torch.eye(m, dtype=dtype, device=device))
        values, vectors = torch.linalg.eigh((A + A.T) / 2)
        return values.flip(0)[:k], vectors.flip(1)[:, :k]
    depth = max(2, min(depth, m // b))
    Q, _ = torch.linalg.qr(torch.randn((m, b), generator=generator, dtype=dtype, device=device))  # (m, b)
    for _ in range(max_restarts):
        basis, images = [Q], []
        for j in range(depth):
            W = apply(basis[-1])  # (m, b)
            images.append(W)
            if j == depth - 1:
                break
            for _ in range(2):
                for B in basis:
                    W = W - B @ (B.T @ W)
            W, _ = torch.linalg.qr(W)
            basis.append(W)
        S = torch.cat(basis, dim=1)  # (m, d·b), orthonormal columns
        AS = torch.cat(images, dim=1)  # (m, d·b)
        T = S.T @ AS  # (d·b, d·b), the Rayleigh quotient SᵀAS
        ritz, C = torch.linalg.eigh((T + T.T) / 2)  # ascending
        ritz, C = ritz.flip(0), C.flip(1)
        V, AV = S @ C[:, :k], AS @ C[:, :k]  # (m, k)
        residual = torch.linalg.vector_norm(AV - V * ritz[:k], dim=0)
        if bool((residual <= tol * ritz[0].abs().clamp(min=torch.finfo(dtype).tiny)).all()):
            break
        Q, _ = torch.linalg.qr(S @ C[:, :b])
    return ritz[:k], V


