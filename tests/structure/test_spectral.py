"""Algorithm 1's Laplacian against Eq. 1-2 written out densely, and its eigensolvers against each other."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.structure.spectral import (
    block_krylov_eigh,
    canonical_signs,
    item_degrees,
    item_laplacian,
    laplacian_factor,
    spectral_embedding,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def reference_laplacian(X: np.ndarray) -> np.ndarray:
    """Eq. 2 literally: Δ_ij = x_i·x_j / sqrt(deg_i deg_j), deg_i = Σ_j (XᵀX)_ij; 0 where a degree is 0."""
    Y = X.T @ X
    deg = Y.sum(axis=1)
    m = X.shape[1]
    out = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if deg[i] > 0 and deg[j] > 0:
                out[i, j] = Y[i, j] / np.sqrt(deg[i] * deg[j])
    return out


def principal_cosines(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between the column spaces of orthonormal A and B."""
    return np.linalg.svd(A.T @ B, compute_uv=False)


def random_feedback(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    X = sp.random(n_users, n_items, density=density, random_state=rng, format="csr")
    X.data[:] = 1.0
    return X


def test_laplacian_matches_eq_2_including_the_diagonal_and_degree_0_items():
    X = np.array(
        [
            [1, 1, 0, 0, 0, 1],
            [1, 0, 1, 0, 0, 0],
            [0, 1, 1, 1, 0, 0],
            [1, 1, 1, 0, 0, 1],
            [0, 0, 0, 1, 0, 0],
        ],
        dtype=np.float64,
    )  # item 4 has no interaction
    got = item_laplacian(sp.csr_matrix(X))
    assert isinstance(got, sp.csr_matrix)
    np.testing.assert_allclose(got.toarray(), reference_laplacian(X), atol=1e-14)
    deg = (X.T @ X).sum(axis=1)
    np.testing.assert_allclose(item_degrees(sp.csr_matrix(X)), deg)
    # Eq. 2's diagonal case for binary X: |x_i| / deg(v_i)
    for i in (0, 1, 2, 3, 5):
        assert got[i, i] == pytest.approx(X[:, i].sum() / deg[i])
    assert got[4].nnz == 0 and got[:, 4].nnz == 0
    Z, d = laplacian_factor(sp.csr_matrix(X))
    np.testing.assert_allclose((Z.T @ Z).toarray(), reference_laplacian(X), atol=1e-14)
    np.testing.assert_allclose(d, deg)


def test_laplacian_of_weighted_feedback():
    rng = np.random.default_rng(3)
    X = rng.random((9, 7)) * (rng.random((9, 7)) < 0.5)
    np.testing.assert_allclose(item_laplacian(sp.csr_matrix(X)).toarray(), reference_laplacian(X), atol=1e-13)


@pytest.mark.parametrize("solver,tol", [("propack", 1e-9), ("arpack", 1e-9), ("dense", 1e-9), ("block-krylov", 1e-5)])
def test_every_cpu_solver_gives_the_leading_eigenvectors_of_delta(solver, tol):
    """``block-krylov`` is the CUDA solver (float32) selected on the CPU."""
    X = random_feedback(300, 250, 0.04, seed=0)
    delta = reference_laplacian(X.toarray())
    w, V = np.linalg.eigh(delta)
    w, V = w[::-1][:12], V[:, ::-1][:, :12]
    got, values = spectral_embedding(X, 12, seed=0, solver=solver)
    np.testing.assert_allclose(values, w, atol=tol)
    assert values[0] == pytest.approx(1.0, abs=tol)  # D^1/2 1 on a connected graph
    np.testing.assert_allclose(delta @ got, got * values, atol=10 * tol)
    assert principal_cosines(got, V).min() > 1 - 10 * tol
    np.testing.assert_allclose(np.abs(got).max(axis=0), got[np.argmax(np.abs(got), axis=0), np.arange(12)])


def test_the_same_seed_gives_the_same_vectors():
    X = random_feedback(300, 250, 0.04, seed=1)
    a, _ = spectral_embedding(X, 8, seed=5, solver="propack")
    b, _ = spectral_embedding(X, 8, seed=5, solver="propack")
    np.testing.assert_array_equal(a, b)


def test_fewer_users_than_items_use_the_thin_svd():
    X = random_feedback(40, 300, 0.1, seed=2)
    got, values = spectral_embedding(X, 10, solver="dense")
    w = np.linalg.eigvalsh(reference_laplacian(X.toarray()))[::-1][:10]
    np.testing.assert_allclose(values, w, atol=1e-10)
    with pytest.raises(ValueError, match="rank"):
        spectral_embedding(X, 40)


@pytest.mark.parametrize("dtype,stop,tol", [(torch.float64, 1e-12, 1e-9), (torch.float32, 1e-5, 1e-4)])
def test_block_krylov_matches_a_dense_eigendecomposition(dtype, stop, tol):
    X = random_feedback(400, 300, 0.03, seed=4)
    delta = reference_laplacian(X.toarray())
    A = torch.from_numpy(delta).to(dtype)
    values, vectors = block_krylov_eigh(lambda v: A @ v, 300, 15, generator=torch.Generator().manual_seed(0), dtype=dtype, tol=stop)
    w, V = np.linalg.eigh(delta)
    np.testing.assert_allclose(values.double().numpy(), w[::-1][:15], atol=tol)
    assert principal_cosines(vectors.double().numpy(), V[:, ::-1][:, :15]).min() > 1 - 10 * tol


def test_canonical_signs_make_the_largest_entry_positive():
    V = np.array([[0.1, -0.9], [-0.5, 0.2], [0.3, 0.1]])
    np.testing.assert_array_equal(canonical_signs(V), np.array([[-0.1, -0.9], [0.5, 0.2], [-0.3, 0.1]]) * [1, -1])


@cuda
def test_cuda_eigenvectors_span_the_cpu_ones():
    X = random_feedback(3000, 2500, 0.01, seed=5)
    cpu, w_cpu = spectral_embedding(X, 20, seed=0)
    gpu, w_gpu = spectral_embedding(X, 20, seed=0, device="cuda")
    np.testing.assert_allclose(w_gpu, w_cpu, atol=1e-4)
    assert principal_cosines(gpu.astype(np.float64), cpu).min() > 0.999
