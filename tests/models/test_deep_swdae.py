"""Deep Sw-DAE specifics: the stack's shapes and structure, its parameter count, pretraining, depth 1 = Sw-DAE."""

import numpy as np
import pytest
import torch

from aerec.errors import ConfigError
from aerec.models.deep_swdae import DeepSwDAE
from aerec.models.swdae import SwDAE
from tests.conftest import block_data, split_rows

TINY = {"n_groups": (6, 3), "overlap_ratio": 0.34, "n_components": 4, "batch_size": 32, "lr": 1e-2, "pretrain_epochs": 3, "max_epochs": 3}


@pytest.fixture(scope="module")
def data():
    X, _, _ = block_data(n_users=160, n_items=48, n_blocks=6, per_user=6, seed=1)
    return split_rows(X, 120)


@pytest.fixture(scope="module")
def fitted(data):
    train, fold = data
    return DeepSwDAE(**TINY).fit(train, validation=fold)


def test_shapes_of_the_stack(fitted, data):
    train, fold = data
    assert fitted.score(fold.X_in).shape == (fold.n_users, train.shape[1])
    enc, dec = fitted.module_.encoders, fitted.module_.decoders
    assert [(e.structure.n_items, e.structure.n_hidden, e.structure.overlap) for e in enc] == [(48, 6, 2), (6, 3, 1)]
    assert [d.bias.shape[0] for d in dec] == [48, 6]  # decoder l writes layer l's inputs
    assert [e.bias.shape[0] for e in enc] == [6, 3]


def test_weights_outside_every_layers_structure_are_exactly_zero_after_fine_tuning(fitted):
    for layers in (fitted.module_.encoders, fitted.module_.decoders):
        for layer in layers:
            W = layer.dense_weight()  # (K_l, items_l)
            mask = layer.structure.mask().bool()
            assert torch.count_nonzero(W[~mask]) == 0
            assert torch.count_nonzero(W[mask]) == mask.sum()
            assert torch.all(layer.structure.mask().sum(0) == layer.structure.overlap)  # exactly R_l groups per input


def test_parameter_count_is_the_sum_over_layers(fitted):
    expected = sum(2 * m * r + k + m for m, k, r in [(48, 6, 2), (6, 3, 1)])
    assert fitted.n_parameters() == expected == fitted.fit_info_["parameters"]


def test_save_then_load_gives_identical_scores(fitted, data):
    _, fold = data
    state = fitted.state_dict()
    assert {"layer0.item_groups", "layer1.item_groups"} <= set(state)
    loaded = DeepSwDAE(fitted.config)
    loaded.load_state_dict({k: v.copy() for k, v in state.items()})
    np.testing.assert_array_equal(loaded.score(fold.X_in), fitted.score(fold.X_in))
    for level in (0, 1):
        np.testing.assert_array_equal(loaded.module_.encoders[level].structure.groups.numpy(), state[f"layer{level}.item_groups"])


def test_same_seed_gives_same_scores(fitted, data):
    train, fold = data
    again = DeepSwDAE(**TINY).fit(train, validation=fold)
    np.testing.assert_array_equal(again.score(fold.X_in), fitted.score(fold.X_in))


def test_layer_one_of_the_pretrained_stack_is_the_pretrained_swdae(data):
    """Before fine-tuning, the stack's first layer holds a Sw-DAE trained for ``pretrain_epochs``; deeper layers trained too."""
    train, _ = data
    deep = DeepSwDAE(**TINY).pretrain(train)
    shallow = SwDAE(n_groups=6, overlap=2, n_components=4, batch_size=32, lr=1e-2, max_epochs=TINY["pretrain_epochs"]).fit(train)
    stack = deep.module_
    np.testing.assert_array_equal(stack.encoders[0].structure.groups.numpy(), shallow.module_.encoder.structure.groups.numpy())
    for mine, theirs in [(stack.encoders[0], shallow.module_.encoder), (stack.decoders[0], shallow.module_.decoder)]:
        torch.testing.assert_close(mine.weight, theirs.weight, rtol=0, atol=0)
        torch.testing.assert_close(mine.bias, theirs.bias, rtol=0, atol=0)
    for layer in deep.fit_info_["layers"]:
        losses = layer["pretraining_loss"]
        assert len(losses) == TINY["pretrain_epochs"] and losses[-1] < losses[0]
    fresh = DeepSwDAE(**{**TINY, "pretrain_epochs": 0}).pretrain(train)
    assert not torch.equal(fresh.module_.encoders[0].weight, stack.encoders[0].weight)


def test_depth_one_without_pretraining_is_a_swdae(data):
    train, fold = data
    deep = DeepSwDAE(**{**TINY, "n_groups": (6,), "pretrain_epochs": 0}).fit(train, validation=fold)
    shallow = SwDAE(n_groups=6, overlap=2, n_components=4, batch_size=32, lr=1e-2, max_epochs=3).fit(train, validation=fold)
    np.testing.assert_array_equal(deep.score(fold.X_in), shallow.score(fold.X_in))
    assert deep.n_parameters() == shallow.n_parameters()


@pytest.mark.parametrize("n_groups", [(), (6, 6), (60,)])
def test_widths_must_decrease_below_the_items(data, n_groups):
    train, _ = data
    with pytest.raises(ConfigError, match="n_groups=\\(.*\\): (needs at least one width|must decrease layer by layer)"):
        DeepSwDAE(**{**TINY, "n_groups": n_groups}).fit(train)
