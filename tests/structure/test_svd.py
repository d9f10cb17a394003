"""Algorithm 2's projection P = U_F Σ_F against a dense SVD."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.structure.svd import svd_embedding

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def reference_projection(X: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    U, s, _ = np.linalg.svd(X.T, full_matrices=False)  # Xᵀ = U Σ Vᵀ
    return U[:, :f] * s[:f], s[:f]


def same_up_to_column_sign(A: np.ndarray, B: np.ndarray, atol: float) -> None:
    signs = np.sign((A * B).sum(axis=0))
    np.testing.assert_allclose(A * signs, B, atol=atol)


def test_p_is_u_sigma_of_a_dense_svd_on_a_tiny_matrix():
    rng = np.random.default_rng(0)
    X = (rng.random((12, 8)) < 0.4).astype(np.float64)
    P, sigma = svd_embedding(sp.csr_matrix(X), 4)
    ref, s = reference_projection(X, 4)
    np.testing.assert_allclose(sigma, s, atol=1e-12)
    same_up_to_column_sign(P, ref, 1e-12)


@pytest.mark.parametrize("solver", ["propack", "arpack"])
def test_lanczos_solvers_match_the_dense_svd(solver):
    rng = np.random.default_rng(1)
    X = sp.random(300, 250, density=0.04, random_state=rng, format="csr")
    X.data[:] = 1.0
    P, sigma = svd_embedding(X, 10, seed=3, solver=solver)
    ref, s = reference_projection(X.toarray(), 10)
    np.testing.assert_allclose(sigma, s, atol=1e-9)
    same_up_to_column_sign(P, ref, 1e-8)


def test_too_many_components_is_an_error():
    X = sp.csr_matrix(np.eye(5))
    with pytest.raises(ValueError, match="n_components"):
        svd_embedding(X, 5)


@cuda
def test_cuda_projection_matches_the_cpu_one():
    rng = np.random.default_rng(2)
    X = sp.random(3000, 2500, density=0.01, random_state=rng, format="csr")
    X.data[:] = 1.0
    cpu, s_cpu = svd_embedding(X, 10)
    gpu, s_gpu = svd_embedding(X, 10, device="cuda")
    np.testing.assert_allclose(s_gpu, s_cpu, rtol=1e-4)
    same_up_to_column_sign(gpu.astype(np.float64), cpu, 1e-2 * np.abs(cpu).max())
