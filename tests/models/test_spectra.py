"""Spectral norm, stable rank and the bound of Sec. 5.5, and their recording during training (Figure 4)."""

import math

import numpy as np
import pytest
import torch

from aerec.fit_options import FitOptions
from aerec.models.fcdae import FCDAE, FCDAEConfig
from aerec.models.spectra import generalization_bound, layer_spectra, spectral_norm, stable_rank, weight_matrices
from aerec.models.swdae import SwDAE, SwDAEConfig


def test_spectral_norm_is_the_largest_singular_value():
    A = np.random.default_rng(0).normal(size=(40, 25))
    assert spectral_norm(A) == pytest.approx(np.linalg.svd(A, compute_uv=False)[0], rel=1e-6)
    assert spectral_norm(torch.from_numpy(A.T).float()) == pytest.approx(np.linalg.norm(A, 2), rel=1e-5)
    assert spectral_norm(np.array([[3.0, 0.0], [0.0, -4.0]])) == pytest.approx(4.0)  # too small for ARPACK
    assert spectral_norm(np.zeros((5, 4))) == 0.0


def test_stable_rank_known_answers_and_bounds():
    u, v = np.arange(1.0, 6.0), np.arange(1.0, 4.0)
    assert stable_rank(np.outer(u, v)) == pytest.approx(1.0)  # rank one
    assert stable_rank(np.eye(7)) == pytest.approx(7.0)  # all singular values equal
    assert stable_rank(np.diag([2.0, 1.0, 1.0])) == pytest.approx(6.0 / 4.0)
    A = np.random.default_rng(1).normal(size=(30, 12))
    assert 1.0 <= stable_rank(A) <= np.linalg.matrix_rank(A)
    assert stable_rank(np.zeros((4, 4))) == 0.0


def test_bound_is_the_formula_of_section_5_5():
    # sqrt(2² · 3² · (1 + 2) / 4) = sqrt(27)
    assert generalization_bound([2.0, 3.0], [1.0, 2.0], 4) == pytest.approx(math.sqrt(27.0))
    # halving one layer's spectral norm halves the bound; more data shrinks it as 1/sqrt(n)
    assert generalization_bound([1.0, 3.0], [1.0, 2.0], 4) == pytest.approx(math.sqrt(27.0) / 2)
    assert generalization_bound([2.0, 3.0], [1.0, 2.0], 16) == pytest.approx(math.sqrt(27.0) / 2)
    with pytest.raises(ValueError):
        generalization_bound([1.0], [1.0], 0)


def _swdae():
    return SwDAE(SwDAEConfig(n_groups=8, overlap=2, n_components=4, max_epochs=3, patience=0, lr=1e-2))


def test_swdae_matrices_are_the_structured_ones(blocks):
    train, fold, _, _ = blocks
    m = _swdae().fit(train)
    mats = weight_matrices(m.module_)
    assert list(mats) == ["encoder", "decoder"]
    member = m.groups_.membership.toarray().T.astype(bool)  # (K, items)
    for W in mats.values():
        assert W.shape == (8, train.shape[1])
        assert torch.all(W[~torch.from_numpy(member)] == 0)
    got = layer_spectra(m.module_, n=train.shape[0])
    enc = mats["encoder"].double().numpy()
    assert got["layers"]["encoder"]["spectral_norm"] == pytest.approx(np.linalg.norm(enc, 2), rel=1e-6)
    assert got["layers"]["encoder"]["frobenius"] == pytest.approx(np.linalg.norm(enc), rel=1e-6)
    norms = [v["spectral_norm"] for v in got["layers"].values()]
    ranks = [v["stable_rank"] for v in got["layers"].values()]
    assert got["bound"] == pytest.approx(generalization_bound(norms, ranks, train.shape[0]))


@pytest.mark.parametrize("make", [_swdae, lambda: FCDAE(FCDAEConfig(n_hidden=8, max_epochs=3, patience=0, lr=1e-2))])
def test_tracking_records_every_epoch_and_changes_nothing(blocks, make):
    train, fold, _, _ = blocks
    tracked = make().fit(train, validation=fold, options=FitOptions(track_spectra=True))
    plain = make().fit(train, validation=fold)
    history = tracked.fit_info_["training"]["history"]
    assert len(history) == 3
    for rec in history:
        layers = rec["monitor"]["layers"]
        assert set(layers) == {"encoder", "decoder"}
        assert all(v["spectral_norm"] > 0 and v["stable_rank"] >= 1 - 1e-9 for v in layers.values())
        assert rec["monitor"]["bound"] > 0
    assert "monitor" not in plain.fit_info_["training"]["history"][0]
    # the last epoch's record describes the weights at the end of training (the best epoch when it is the last)
    assert np.array_equal(tracked.score(fold.X_in), plain.score(fold.X_in))
