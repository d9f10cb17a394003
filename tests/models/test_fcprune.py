"""FC-Prune specifics: exact sparsity, removed weights stay exactly zero, the largest weights are kept, the base is checked."""

import numpy as np
import pytest
import torch
from safetensors.numpy import load, save

from aerec.artifacts import fit_inputs, save_model
from aerec.data.prepare import item_table
from aerec.errors import ConfigError
from aerec.models import FCDAE, Popularity
from aerec.models.fcprune import FCPrune
from tests.conftest import block_data, split_rows

FAST = {"n_hidden": 8, "batch_size": 16, "max_epochs": 25, "lr": 3e-2}


def fitted(model, X, **kwargs):
    """``model.fit`` with the saved base its config names loaded, as ``aerec train`` and a search pass it."""
    return model.fit(X, **kwargs, **fit_inputs(model))


@pytest.fixture(scope="module")
def data():
    X, _, _ = block_data()
    return split_rows(X, 80)


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    """A fitted FC-DAE and the directory it is saved in."""
    train, fold = data
    model = FCDAE(**FAST).fit(train, validation=fold)
    path = tmp_path_factory.mktemp("base") / "fc-dae"
    save_model(model, path, item_table(np.arange(train.shape[1]), None))
    return model, str(path)


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_each_layer_loses_its_smallest_weights_which_stay_exactly_zero(data, base, sparsity):
    train, fold = data
    fcdae, path = base
    model = fitted(FCPrune(**{**FAST, "max_epochs": 5}, weight_decay=1e-2, sparsity=sparsity, base=path), train, validation=fold)
    for name in ("encoder", "decoder"):
        layer, before = getattr(model.module_, name), getattr(fcdae.module_, name).weight.detach()
        mask = layer.mask  # (items, hidden), True = kept
        assert int((~mask).sum()) == round(sparsity * mask.numel())
        assert torch.count_nonzero(layer.weight[~mask]) == 0
        assert torch.count_nonzero(layer.weight[mask]) == mask.sum()
        assert before[mask].abs().min() >= before[~mask].abs().max()  # magnitude pruning
        assert not torch.equal(layer.weight[mask], before[mask])  # the kept connections were retrained
        assert model.fit_info_["sparsity"][name] == pytest.approx(sparsity, abs=1e-3)
    assert model.fit_info_["kept_parameters"] == model.n_parameters() - round(sparsity * 320) * 2


def test_global_scope_prunes_both_layers_together(data, base):
    train, _ = data
    fcdae, path = base
    model = fitted(FCPrune(**{**FAST, "max_epochs": 1}, sparsity=0.7, prune_scope="global", base=path), train)
    assert model.fit_info_["sparsity"]["overall"] == pytest.approx(0.7, abs=1e-3)
    kept = torch.cat([fcdae.module_.encoder.weight[model.module_.encoder.mask], fcdae.module_.decoder.weight[model.module_.decoder.mask]])
    removed = torch.cat([fcdae.module_.encoder.weight[~model.module_.encoder.mask], fcdae.module_.decoder.weight[~model.module_.decoder.mask]])
    assert kept.abs().min() >= removed.abs().max()


def test_no_pruning_and_no_learning_keeps_the_base(data, base):
    train, fold = data
    fcdae, path = base
    model = fitted(FCPrune(**{**FAST, "max_epochs": 1, "n_hidden": 3, "lr": 0.0}, sparsity=0.0, base=path), train)
    assert model.config.n_hidden == 8  # the base's width
    np.testing.assert_array_equal(model.score(fold.X_in), fcdae.score(fold.X_in))


def test_without_a_base_it_trains_the_same_fc_dae_first(data, base):
    train, fold = data
    fcdae, _ = base
    model = FCPrune(**FAST, sparsity=0.5).fit(train, validation=fold)
    info = model.fit_info_
    assert info["base"]["validation_ndcg@100"] == fcdae.fit_info_["training"]["best_validation_ndcg@100"]
    assert [r["loss"] for r in info["base"]["training"]["history"]] == [r["loss"] for r in fcdae.fit_info_["training"]["history"]]
    assert len(info["training"]["history"]) > 0


def test_masks_are_saved_and_loading_gives_identical_scores(data, base):
    train, fold = data
    model = fitted(FCPrune(**{**FAST, "max_epochs": 2}, sparsity=0.6, base=base[1]), train)
    state = load(save(model.state_dict()))  # the safetensors round trip of save_model
    assert state["encoder.mask"].dtype == np.bool_
    loaded = FCPrune(model.config)
    loaded.load_state_dict(state)
    np.testing.assert_array_equal(loaded.score(fold.X_in), model.score(fold.X_in))


def test_a_base_that_is_not_a_matching_fc_dae_is_a_clear_error(data, base, tmp_path):
    train, _ = data
    save_model(Popularity().fit(train), tmp_path / "pop", item_table(np.arange(train.shape[1]), None))
    with pytest.raises(ConfigError, match="pop: is a popularity model"):
        fitted(FCPrune(base=str(tmp_path / "pop")), train)
    with pytest.raises(ConfigError, match="has 40 items, the training data has 20"):
        fitted(FCPrune(base=base[1]), train[:, :20])


def test_a_base_is_an_argument_never_read_by_the_model(data, base):
    """The model never opens a model directory: a config naming one needs the loaded model passed in."""
    train, _ = data
    with pytest.raises(ConfigError, match=r"pass the loaded model, fit\(X, base=...\)"):
        FCPrune(base=base[1]).fit(train)
    fcdae, _ = base
    model = FCPrune(**{**FAST, "max_epochs": 1, "n_hidden": 3, "lr": 0.0}, sparsity=0.0).fit(train, base=fcdae)  # no path at all
    assert model.config.n_hidden == 8


@pytest.mark.parametrize(("option", "message"), [({"sparsity": 1.0}, "sparsity=1.0: must lie in \\[0, 1\\)"), ({"sparsity": -0.1}, "sparsity=-0.1"), ({"prune_scope": "row"}, "prune_scope='row': choose 'layer', 'global'")])
def test_bad_options_are_clear_errors(data, option, message):
    with pytest.raises(ConfigError, match=message):
        FCPrune(**option).fit(data[0])
