"""FC-Reg specifics: the penalty by hand, it lowers the activations, λ1 = 0 is FC-DAE, a base is where training starts."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.artifacts import fit_inputs, save_model
from aerec.batches import csr_to_batch
from aerec.data.prepare import item_table
from aerec.errors import ConfigError
from aerec.models import FCDAE
from aerec.models.fcreg import FCReg, SparseActivationDAE, activation_penalty
from aerec.models.layers import DenseLayer
from tests.conftest import block_data, split_rows

FAST = {"n_hidden": 8, "batch_size": 16, "max_epochs": 25, "lr": 3e-2}


def fitted(model, X, **kwargs):
    """``model.fit`` with the saved base its config names loaded, as ``aerec train`` and a search pass it."""
    return model.fit(X, **kwargs, **fit_inputs(model))


@pytest.fixture(scope="module")
def data():
    X, _, _ = block_data()
    return split_rows(X, 80)


def test_the_loss_adds_lambda_times_the_summed_activations_on_a_hand_case():
    encoder = DenseLayer(4, 3, bias_size=3, fan_in=4)
    decoder = DenseLayer(4, 3, bias_size=4, fan_in=3)
    with torch.no_grad():
        for p in (encoder.weight, decoder.weight, decoder.bias):
            p.zero_()
        encoder.bias.copy_(torch.tensor([0.0, math.log(3.0), 0.0]))  # h = (0.5, 0.75, 0.5) for every user
    module = SparseActivationDAE(encoder, decoder, activation_l1=0.1, input_dropout=0.0, hidden_dropout=0.0, loss="multinomial", backend="dense", seed=0, device=torch.device("cpu"))
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    batch = csr_to_batch(X)
    with torch.no_grad():
        assert float(activation_penalty(module.hidden(batch))) == pytest.approx(1.75)
        # uniform logits: -log softmax = log 4 per observed item; 2 and 1 items -> mean 1.5 log 4
        assert float(module.loss(batch, 0)) == pytest.approx(1.5 * math.log(4.0) + 0.1 * 1.75, rel=1e-6)


def test_a_larger_penalty_gives_smaller_activations(data):
    train, fold = data
    means = [FCReg(**FAST, activation_l1=lam).fit(train, validation=fold).fit_info_["mean_activation"] for lam in (0.0, 0.1, 1.0)]
    assert means[0] > means[1] > means[2]


def test_without_the_penalty_it_is_fc_dae_exactly(data):
    train, fold = data
    reg = FCReg(**FAST, activation_l1=0.0).fit(train, validation=fold)
    np.testing.assert_array_equal(reg.score(fold.X_in), FCDAE(**FAST).fit(train, validation=fold).score(fold.X_in))


def test_a_base_gives_the_starting_weights_and_width(data, tmp_path):
    train, fold = data
    base = FCDAE(**{**FAST, "max_epochs": 3}).fit(train)
    save_model(base, tmp_path / "base", item_table(np.arange(train.shape[1]), None))
    frozen = fitted(FCReg(**{**FAST, "n_hidden": 3, "lr": 0.0, "max_epochs": 1}, base=str(tmp_path / "base")), train)
    assert frozen.config.n_hidden == 8
    np.testing.assert_array_equal(frozen.score(fold.X_in), base.score(fold.X_in))
    with pytest.raises(ConfigError, match="has 40 items, the training data has 20"):
        fitted(FCReg(base=str(tmp_path / "base")), train[:, :20])


def test_a_negative_penalty_is_a_clear_error(data):
    with pytest.raises(ConfigError, match="activation_l1=-1.0: must be at least 0"):
        FCReg(activation_l1=-1.0).fit(data[0])
