"""Sw-DAE specifics: the structure holds through training, both likelihoods, planted groups help."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.fit_options import FitOptions
from aerec.models import SwDAE
from tests.conftest import block_data, split_rows


@pytest.fixture(scope="module")
def data():
    X, _, _ = block_data(n_users=160, n_items=48, n_blocks=6, per_user=6, seed=1)
    return split_rows(X, 120)


@pytest.mark.parametrize("loss", ["multinomial", "logistic"])
def test_weights_outside_the_structure_are_exactly_zero_after_training(data, loss):
    train, fold = data
    model = SwDAE(n_groups=12, overlap=2, n_components=6, max_epochs=3, batch_size=32, lr=1e-2, loss=loss)
    model.fit(train, validation=fold)
    for layer in (model.module_.encoder, model.module_.decoder):
        W = layer.dense_weight()  # (K, items)
        mask = layer.structure.mask().bool()
        assert torch.count_nonzero(W[~mask]) == 0
        assert torch.count_nonzero(W[mask]) == mask.sum()  # every structural weight is in use
    items_per_row = model.module_.encoder.structure.mask().sum(0)
    assert torch.all(items_per_row == 2)  # every item in exactly R groups


def test_parameters_move_after_one_step(data):
    train, fold = data
    before = SwDAE(n_groups=12, overlap=2, n_components=6, max_epochs=1, max_steps=1).fit(train)
    init = SwDAE(n_groups=12, overlap=2, n_components=6, max_epochs=1, max_steps=1, lr=0.0).fit(train)
    for name, value in before.state_dict().items():
        if name == "item_groups":
            np.testing.assert_array_equal(value, init.state_dict()[name])
        elif name.endswith("weight"):
            assert not np.allclose(value, init.state_dict()[name]), name


def test_the_groups_given_are_the_groups_used(data):
    from aerec.structure import learn_groups

    train, _ = data
    groups = learn_groups(train, n_groups=12, overlap=2, n_components=6, seed=3)
    model = SwDAE(n_groups=12, overlap=2, max_epochs=1).fit(train, groups=groups)
    np.testing.assert_array_equal(model.state_dict()["item_groups"], np.sort(groups.item_groups, axis=1))


def test_overlap_must_be_below_the_group_count():
    from aerec.errors import ConfigError

    with pytest.raises(ConfigError, match="overlap"):
        SwDAE(n_groups=4, overlap=4).fit(sp.csr_matrix(np.eye(10, dtype=np.float32)))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
@pytest.mark.parametrize("backend,precision", [("csr", "fp32"), ("dense", "fp32"), ("gemm", "fp32"), ("gemm", "bf16"), ("auto", "tf32")])
def test_cuda_training_keeps_the_structure_and_round_trips(data, backend, precision, tmp_path):
    from aerec.artifacts import load_model, save_model
    from aerec.data.prepare import item_table

    train, fold = data
    model = SwDAE(n_groups=12, overlap=2, n_components=6, max_epochs=3, batch_size=32, lr=1e-2, backend=backend).fit(train, validation=fold, options=FitOptions(precision=precision, device="cuda"))
    assert model.module_.backend == ("gemm" if backend == "auto" else backend)
    assert np.isfinite(model.fit_info_["training"]["best_validation_ndcg@100"])
    for layer in (model.module_.encoder, model.module_.decoder):
        assert torch.count_nonzero(layer.dense_weight()[~layer.structure.mask().bool()]) == 0
    save_model(model, tmp_path / "m", item_table(np.arange(train.shape[1]), None))
    loaded, _, _ = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.score(fold.X_in), model.score(fold.X_in), rtol=1e-5, atol=1e-5)
    on_cpu, _, _ = load_model(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(on_cpu.score(fold.X_in), model.score(fold.X_in), rtol=1e-4, atol=1e-4)


def test_popularity_bias_is_each_likelihoods_popularity_predictor():
    from aerec.models.losses import popularity_bias

    X = sp.csr_matrix(np.array([[1, 0, 2], [1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32))
    counts = np.array([3, 1, 2])  # users holding each item (a value of 2 counts once)
    logistic = popularity_bias(X, "logistic")
    np.testing.assert_allclose(1 / (1 + np.exp(-logistic)), (counts + 0.5) / 5, rtol=1e-6)
    multinomial = popularity_bias(X, "multinomial")
    softmax = np.exp(multinomial) / np.exp(multinomial).sum()
    np.testing.assert_allclose(softmax, (counts + 0.5) / (counts + 0.5).sum(), rtol=1e-6)
    with pytest.raises(ValueError, match="loss"):
        popularity_bias(X, "poisson")


@pytest.mark.parametrize("model_name", ["swdae", "fc-dae"])
@pytest.mark.parametrize("loss", ["multinomial", "logistic"])
def test_output_bias_popularity_starts_there_and_lowers_the_first_loss(data, model_name, loss):
    from aerec.models import MODELS
    from aerec.models.losses import popularity_bias

    train, _ = data
    width = {"swdae": {"n_groups": 12, "overlap": 2, "n_components": 6}, "fc-dae": {"n_hidden": 12}}[model_name]
    start = {}
    for how in ("zero", "popularity"):
        model = MODELS[model_name](**width, max_epochs=1, max_steps=1, lr=0.0, batch_size=200, loss=loss, output_bias=how).fit(train)
        start[how] = model
    np.testing.assert_allclose(start["popularity"].state_dict()["decoder.bias"], popularity_bias(train, loss), rtol=1e-6)
    assert not start["zero"].state_dict()["decoder.bias"].any()
    first = {how: m.fit_info_["training"]["history"][0]["loss"] for how, m in start.items()}
    assert first["popularity"] < first["zero"], first


def test_an_unknown_output_bias_is_a_config_error(data):
    from aerec.errors import ConfigError

    with pytest.raises(ConfigError, match="output_bias='mean': choose 'zero', 'popularity'"):
        SwDAE(n_groups=12, overlap=2, n_components=6, max_epochs=1, output_bias="mean").fit(data[0])


def test_given_groups_give_the_same_model_and_mismatched_ones_are_refused(data, tmp_path):
    from aerec.errors import ConfigError, DataError
    from aerec.structure import learn_groups, load_groups, save_groups

    train, fold = data
    cfg = dict(n_groups=12, overlap=2, n_components=6, max_epochs=2, batch_size=32, lr=1e-2)
    own = SwDAE(**cfg).fit(train, validation=fold)
    groups = learn_groups(train, **SwDAE(**cfg).grouping(train.shape[1]))
    path = save_groups(groups, tmp_path / "g.safetensors")
    given = SwDAE(**cfg).fit(train, validation=fold, groups=load_groups(path))
    np.testing.assert_array_equal(given.score(fold.X_in), own.score(fold.X_in))
    assert given.fit_info_["groups"]["source"] == "given" and own.fit_info_["groups"]["source"] == "learned"
    with pytest.raises(ConfigError, match="n_groups 12 \\(the model needs 10\\)"):
        SwDAE(**{**cfg, "n_groups": 10}).fit(train, groups=groups)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(DataError, match="bad.safetensors: not a safetensors file"):
        load_groups(bad)
    from safetensors.numpy import save

    arrays = groups.to_arrays()
    arrays["item_groups"][0, 0] = 99
    (tmp_path / "range.safetensors").write_bytes(save(arrays, metadata=groups.metadata()))
    with pytest.raises(DataError, match="group indices must lie in \\[0, 12\\)"):
        load_groups(tmp_path / "range.safetensors")
    arrays["item_groups"][0] = [3, 3]
    (tmp_path / "twice.safetensors").write_bytes(save(arrays, metadata=groups.metadata()))
    with pytest.raises(DataError, match="the same group twice"):
        load_groups(tmp_path / "twice.safetensors")
