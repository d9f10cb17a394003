"""The sparse-and-wide layer against a dense masked reference."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.batches import DeviceCSR, csr_to_batch
from aerec.models.layers import Structure, StructuredLayer, dropout_sparse


def random_structure(n_items=30, n_hidden=12, overlap=4, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.stack([rng.choice(n_hidden, overlap, replace=False) for _ in range(n_items)])
    return groups


def test_structure_transpose_is_consistent():
    groups = random_structure()
    s = Structure(groups, 12)
    M = s.mask()
    assert M.shape == (12, 30) and M.sum() == 30 * 4
    for i in range(30):
        assert set(torch.nonzero(M[:, i]).ravel().tolist()) == set(groups[i])
    vals = torch.arange(s.nnz, dtype=torch.float64)
    W = torch.sparse_csr_tensor(s.crow, s.col, vals, size=(30, 12), check_invariants=True).to_dense()
    Wt = torch.sparse_csr_tensor(s.t_crow, s.t_col, vals[s.t_perm], size=(12, 30), check_invariants=True).to_dense()
    torch.testing.assert_close(Wt, W.T)


def test_encode_equals_the_dense_masked_product():
    groups = random_structure()
    layer = StructuredLayer(Structure(groups, 12), bias_size=12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.bias.normal_()
    X = sp.random(7, 30, density=0.3, format="csr", random_state=1, dtype=np.float32)
    z = layer.encode(csr_to_batch(X))
    ref = torch.from_numpy(X.toarray()) @ layer.dense_weight().T + layer.bias
    torch.testing.assert_close(z, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["csr", "dense", "gemm"])
def test_decode_and_its_gradients_equal_the_dense_masked_reference(backend):
    groups = random_structure(seed=2)
    s = Structure(groups, 12)
    layer = StructuredLayer(s, bias_size=30, generator=torch.Generator().manual_seed(0)).double()
    h = torch.rand(5, 12, dtype=torch.float64, requires_grad=True)
    y = layer.decode(h, backend)
    W = torch.zeros(30, 12, dtype=torch.float64).scatter(1, s.groups, layer.weight)  # items x hidden, differentiable
    ref = h @ W.T + layer.bias
    torch.testing.assert_close(y, ref)
    g = torch.randn_like(y)
    gh, gw = torch.autograd.grad(y, (h, layer.weight), g)
    rh, rw = torch.autograd.grad(ref, (h, layer.weight), g)
    torch.testing.assert_close(gh, rh)
    torch.testing.assert_close(gw, rw)


def _masked_reference(layer, s, dtype=torch.float64):
    return torch.zeros(s.n_items, s.n_hidden, dtype=dtype).scatter(1, s.groups, layer.weight.to(dtype))  # items x hidden


@pytest.mark.parametrize("backend", ["csr", "gemm"])
def test_encode_and_its_weight_gradient_equal_the_dense_masked_reference(backend):
    s = Structure(random_structure(seed=3), 12)
    layer = StructuredLayer(s, bias_size=12, generator=torch.Generator().manual_seed(0)).double()
    X = sp.random(6, 30, density=0.3, format="csr", random_state=4, dtype=np.float64)
    batch = csr_to_batch(X)
    batch.vals = batch.vals.double()
    z = layer.encode(batch, backend)
    ref = torch.from_numpy(X.toarray()) @ _masked_reference(layer, s) + layer.bias
    torch.testing.assert_close(z, ref)
    g = torch.randn_like(z)
    (gw,) = torch.autograd.grad(z, (layer.weight,), g)
    (rw,) = torch.autograd.grad(ref, (layer.weight,), g)
    torch.testing.assert_close(gw, rw)


def test_gemm_backend_under_bf16_autocast_stays_near_the_float64_reference():
    """The GPU's default path (bf16 autocast, gemm) selected on the CPU: bf16 operands, within bf16's error."""
    s = Structure(random_structure(n_items=200, n_hidden=64, overlap=8, seed=5), 64)
    enc = StructuredLayer(s, bias_size=64, generator=torch.Generator().manual_seed(0))
    dec = StructuredLayer(s, bias_size=200, generator=torch.Generator().manual_seed(1))
    X = sp.random(16, 200, density=0.1, format="csr", random_state=6, dtype=np.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dec.decode(torch.sigmoid(enc.encode(csr_to_batch(X), "gemm")), "gemm")
    assert enc._scattered.dtype == torch.bfloat16 and dec._scattered.dtype == torch.bfloat16
    x64 = torch.from_numpy(X.toarray()).double()
    ref = torch.sigmoid(x64 @ _masked_reference(enc, s) + enc.bias.double()) @ _masked_reference(dec, s).T + dec.bias.double()
    err = (y.double() - ref).norm() / ref.norm()
    assert 1e-5 < err < 1e-2  # bf16 operands really were used, and they stay close
    y.float().sum().backward()
    assert enc.weight.grad.dtype == torch.float32 and torch.isfinite(enc.weight.grad).all()


def test_gemm_backend_refuses_a_stale_backward_and_never_saves_its_copy():
    s = Structure(random_structure(seed=7), 12)
    layer = StructuredLayer(s, bias_size=30, generator=torch.Generator().manual_seed(0))
    y1 = layer.decode(torch.rand(3, 12), "gemm")
    layer.decode(torch.rand(3, 12), "gemm")  # rewrites the shared dense copy y1's backward would read
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y1.sum().backward()
    assert set(layer.state_dict()) == {"weight", "bias"}
    with torch.no_grad():  # the copy follows the weights: entries outside the structure stay exactly zero
        layer.weight.mul_(2)
    W = layer.scattered(layer.weight, torch.float32)
    assert W.shape == (64, 64)  # padded to the alignment cuBLAS's fastest kernels need
    torch.testing.assert_close(W[:30, :12], layer.dense_weight().T)
    assert not W[30:].any() and not W[:, 12:].any()


def test_sparse_dropout_drops_about_p_and_rescales():
    X = sp.csr_matrix(np.ones((50, 40), dtype=np.float32))
    b = dropout_sparse(csr_to_batch(X), 0.6, torch.Generator().manual_seed(0))
    kept = len(b.vals) / 2000
    assert 0.35 < kept < 0.45
    torch.testing.assert_close(b.vals, torch.full_like(b.vals, 2.5))


def test_device_csr_batches_cover_every_row_once():
    X = sp.random(23, 9, density=0.4, format="csr", random_state=0, dtype=np.float32)
    data = DeviceCSR(X)
    seen = []
    for batch in data.batches(5, generator=torch.Generator().manual_seed(0)):
        seen.append(batch.dense())
    stacked = torch.cat(seen)
    # every row of X appears exactly once (in shuffled order)
    rows = {tuple(r) for r in X.toarray().round(6).tolist()}
    assert stacked.shape == (23, 9)
    assert {tuple(r) for r in stacked.numpy().round(6).tolist()} == rows
    order = torch.tensor([4, 0, 22])
    torch.testing.assert_close(data.batch(order).dense(), torch.from_numpy(X[[4, 0, 22]].toarray()))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
@pytest.mark.parametrize("backend,autocast,tol", [("csr", False, 1e-5), ("dense", False, 1e-5), ("gemm", False, 1e-5), ("gemm", True, 1e-2), ("dense", True, 1e-2)])
def test_cuda_layers_match_the_float64_reference(backend, autocast, tol):
    """Each backend on the GPU, at a size where cuBLAS and cuSPARSE pick real kernels, against float64 on the CPU."""
    s_cpu = Structure(random_structure(n_items=3000, n_hidden=1000, overlap=100, seed=8), 1000)
    s = Structure(s_cpu.groups, 1000, "cuda")
    enc = StructuredLayer(s, bias_size=1000, generator=torch.Generator().manual_seed(0))
    dec = StructuredLayer(s, bias_size=3000, generator=torch.Generator().manual_seed(1))
    X = sp.random(256, 3000, density=0.02, format="csr", random_state=9, dtype=np.float32)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        y = dec.decode(torch.sigmoid(enc.encode(csr_to_batch(X, "cuda"), backend)), backend)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(2)).cuda()
    gw_enc, gw_dec = torch.autograd.grad(y.float(), (enc.weight, dec.weight), g)
    E, D = (torch.zeros(3000, 1000, dtype=torch.float64).scatter(1, s_cpu.groups, layer.weight.detach().cpu().double()).requires_grad_(True) for layer in (enc, dec))
    x64 = torch.from_numpy(X.toarray()).double()
    ref = torch.sigmoid(x64 @ E + enc.bias.detach().cpu().double()) @ D.T + dec.bias.detach().cpu().double()
    rE, rD = torch.autograd.grad(ref, (E, D), g.cpu().double())
    rel = lambda a, b: float((a.double().cpu() - b).norm() / b.norm())  # noqa: E731
    assert torch.isfinite(y).all()
    assert rel(y, ref) < tol
    assert rel(gw_enc, rE.gather(1, s_cpu.groups)) < tol and rel(gw_dec, rD.gather(1, s_cpu.groups)) < tol


def test_sparse_batch_mm_dense_and_sparse_paths_agree_with_their_gradients():
    """The CUDA default (a GEMM of the densified batch) selected on the CPU, against the sparse product."""
    from aerec.models.layers import sparse_batch_mm

    X = sp.random(9, 40, density=0.2, format="csr", random_state=5, dtype=np.float32)
    W = torch.randn(40, 7, dtype=torch.float32, requires_grad=True)
    g = torch.randn(9, 7)
    out = {}
    for dense in (True, False):
        y = sparse_batch_mm(csr_to_batch(X), W, dense=dense)
        (gw,) = torch.autograd.grad(y, (W,), g)
        out[dense] = (y, gw)
    torch.testing.assert_close(out[True][0], torch.from_numpy(X.toarray()) @ W)
    torch.testing.assert_close(out[True][0], out[False][0])
    torch.testing.assert_close(out[True][1], out[False][1])
