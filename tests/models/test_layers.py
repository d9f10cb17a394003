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


@pytest.mark.parametrize("backend", ["csr", "dense"])
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
