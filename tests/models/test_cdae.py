"""CDAE (Wu et al. 2016): its loss against a hand computation, and the fold-in of unseen users."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.batches import DeviceCSR, csr_to_batch
from aerec.errors import ConfigError
from aerec.evaluate import validation_ndcg
from aerec.metrics import topk_items
from aerec.models.cdae import CDAE
from tests.conftest import block_data, split_rows

X_SMALL = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 2, 0, 1, 1], [1, 1, 1, 1, 0]], dtype=np.float32))
FAST = {"hidden": 16, "batch_size": 16, "max_epochs": 25, "lr": 3e-2}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def fixed(X=X_SMALL, seed=0, **cfg):
    """A model built for ``X`` (fitted with lr 0), then given fixed weights drawn from ``seed``."""
    model = CDAE(lr=0.0, max_epochs=1, max_steps=1, **cfg).fit(X)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.module_.parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.5, tuple(p.shape))))
    return model


def objective(model, X, v):
    """Each user's ``ℓ(x_u, y_u(v)) + λ||v||²`` for the model's weights, in numpy (float64)."""
    m, cfg = model.module_, model.config
    W, b = m.encoder.weight.detach().double().numpy(), m.encoder.bias.detach().double().numpy()
    W2, b2 = m.decoder.weight.detach().double().numpy(), m.decoder.bias.detach().double().numpy()
    x = X.toarray().astype(np.float64)
    t = (x > 0).astype(np.float64)
    c = np.where(t > 0, 1.0, cfg.negative_weight)
    y = sigmoid(x @ W + b + v) @ W2.T + b2
    if cfg.loss == "weighted_square":
        err = c * (t - sigmoid(y)) ** 2
    else:
        err = -c * (t * np.log(sigmoid(y)) + (1 - t) * np.log(1 - sigmoid(y)))
    return err.sum(1) + cfg.l2_penalty * (v**2).sum(1)


@pytest.fixture(scope="module")
def fitted():
    X, _, _ = block_data()
    train, fold = split_rows(X, 80)
    return CDAE(**FAST).fit(train, validation=fold), fold


# -- the objective -----------------------------------------------------------------


@pytest.mark.parametrize("loss", ["weighted_square", "logistic"])
def test_training_loss_matches_a_hand_computation(loss):
    model = fixed(input_dropout=0.0, loss=loss, negative_weight=0.25, l2_penalty=0.1, hidden=3)
    ids = torch.tensor([2, 0, 1])  # these rows are training users 2, 0 and 1
    batch = csr_to_batch(X_SMALL)
    batch.ids = ids
    with torch.no_grad():
        got = float(model.module_.train().loss(batch, step=0))
    m = model.module_
    V = m.user_vectors.detach().double().numpy()[ids.numpy()]
    penalty = 0.1 * sum((w.detach().double().numpy() ** 2).sum() for w in (m.encoder.weight, m.decoder.weight))
    assert got == pytest.approx(objective(model, X_SMALL, V).mean() + penalty, rel=1e-5)


def test_weighted_square_loss_on_a_tiny_hand_case():
    """One user, two items, every weight zero: sigmoid outputs are ½ everywhere."""
    model = fixed(sp.csr_matrix(np.eye(2, dtype=np.float32)), input_dropout=0.0, negative_weight=0.2, l2_penalty=0.5, hidden=1)
    with torch.no_grad():
        for p in model.module_.parameters():
            p.zero_()
        model.module_.user_vectors[1] = 2.0  # only the penalty sees it: the decoder weights are zero
    batch = DeviceCSR(sp.csr_matrix(np.array([[0, 0], [3, 0]], dtype=np.float32))).batch(torch.tensor([1]))
    with torch.no_grad():
        got = float(model.module_.train().loss(batch, step=0))
    # target (1, 0), output (½, ½): 1·(1-½)² + 0.2·(0-½)² = 0.3; penalty 0.5·2² = 2
    assert got == pytest.approx(0.3 + 2.0, rel=1e-6)


def test_training_batches_must_name_their_users():
    model = fixed()
    with pytest.raises(ValueError, match="ids"):
        model.module_.loss(csr_to_batch(X_SMALL), step=0)


def test_every_parameter_moves_after_one_step_and_the_global_rng_is_untouched():
    X = sp.csr_matrix(np.eye(6, dtype=np.float32) + np.eye(6, k=1, dtype=np.float32))
    cfg = {"hidden": 4, "batch_size": 6, "max_epochs": 1, "max_steps": 1}
    init = CDAE(**{**cfg, "lr": 0.0}).fit(X).state_dict()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    moved = CDAE(**cfg).fit(X).state_dict()
    assert torch.equal(torch.rand(3), expected)  # the corruption uses the module's generator
    assert moved["user_vectors"].shape == (6, 4)
    for name, value in moved.items():
        assert not np.allclose(value, init[name]), name
    assert (moved["user_vectors"] != 0).all()  # every user of the batch, every coordinate


# -- fold-in of unseen users ---------------------------------------------------------


def test_foldin_beats_a_zero_user_vector():
    """Trained with heavy corruption, the network leans on the user vectors; fitting one helps unseen users."""
    X, _, _ = block_data()
    train, fold = split_rows(X, 80)
    model = CDAE(**{**FAST, "hidden": 8, "input_dropout": 0.9, "max_epochs": 10, "patience": 0}).fit(train)
    ndcg = {}
    for steps in (0, 50):
        model.config = dataclasses.replace(model.config, foldin_steps=steps)
        ndcg[steps] = validation_ndcg(model.score, fold)
    assert ndcg[50] > ndcg[0] + 0.02


def test_foldin_finds_the_users_block_when_only_the_user_vector_can():
    """A blind encoder (W = 0) and a decoder whose hidden unit k scores block k: with a zero vector every user
    gets the same ranking; the fitted vector must turn on the user's own block."""
    X, block_of_user, block_of_item = block_data()
    _, fold = split_rows(X, 80)
    model = fixed(X[:80], hidden=4, foldin_steps=50, foldin_lr=0.3)
    with torch.no_grad():
        m = model.module_
        m.encoder.weight.zero_(), m.encoder.bias.fill_(-2.0)
        m.decoder.weight.copy_(torch.from_numpy(8.0 * np.eye(4)[block_of_item]))  # (items, hidden)
        m.decoder.bias.fill_(-4.0)

    def in_block(scores):
        top = topk_items(scores, 7, exclude=fold.X_in)
        return (block_of_item[top] == block_of_user[80:, None]).mean()

    assert in_block(model.score(fold.X_in)) > 0.95
    model.config = dataclasses.replace(model.config, foldin_steps=0)
    zero = model.score(fold.X_in)
    np.testing.assert_array_equal(zero, np.broadcast_to(zero[0], zero.shape))
    assert in_block(zero) < 0.5


def test_foldin_lowers_each_users_objective(fitted):
    model, fold = fitted
    x = csr_to_batch(fold.X_in)
    v = model.module_.fold_in(x, model.config.foldin_steps, model.config.foldin_lr).double().numpy()
    assert (objective(model, fold.X_in, v) < objective(model, fold.X_in, np.zeros_like(v)) - 1e-3).all()


def test_zero_foldin_steps_scores_with_a_zero_vector(fitted):
    model, fold = fitted
    zero = CDAE(dataclasses.replace(model.config, foldin_steps=0))
    zero.load_state_dict(model.state_dict())
    m = model.module_
    with torch.no_grad():
        x = csr_to_batch(fold.X_in)
        expected = m.decoder.decode(torch.sigmoid(m.encoder.encode(x))).numpy()
    np.testing.assert_allclose(zero.score(fold.X_in), expected, rtol=1e-6, atol=1e-6)
    assert not np.allclose(model.score(fold.X_in), expected, atol=1e-3)


def test_scoring_changes_nothing_in_the_trained_model(fitted):
    """Fold-in fits fresh vectors: the network and the training users' vectors stay as they were, without gradients."""
    model, fold = fitted
    before = {k: v.copy() for k, v in model.state_dict().items()}  # copies: on the CPU the arrays share memory
    grads = [None if p.grad is None else p.grad.clone() for p in model.module_.parameters()]  # the last training step's
    generator = model.module_.generator.get_state()
    with torch.no_grad():  # as the training loop's validation calls it
        first = model.score(fold.X_in)
    after = model.state_dict()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    for p, g in zip(model.module_.parameters(), grads):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    assert torch.equal(model.module_.generator.get_state(), generator)  # scoring draws nothing
    np.testing.assert_array_equal(model.score(fold.X_in), first)  # deterministic


def test_a_users_scores_do_not_depend_on_the_other_users_in_the_batch(fitted):
    model, fold = fitted
    together = model.score(fold.X_in)
    alone = np.vstack([model.score(fold.X_in[i : i + 1]) for i in range(fold.n_users)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    reversed_ = model.score(fold.X_in[::-1])[::-1]
    np.testing.assert_allclose(reversed_, together, rtol=1e-5, atol=1e-6)


def test_state_round_trip_keeps_the_user_vectors_and_the_scores(fitted):
    model, fold = fitted
    state = model.state_dict()
    assert state["user_vectors"].shape == (80, FAST["hidden"])
    assert np.abs(state["user_vectors"]).max() > 0
    loaded = CDAE(model.config)
    loaded.load_state_dict(state)
    assert (loaded.n_users_, loaded.n_items) == (80, 40)
    np.testing.assert_array_equal(loaded.score(fold.X_in), model.score(fold.X_in))


@pytest.mark.parametrize(
    "cfg,match",
    [
        ({"loss": "multinomial"}, "loss='multinomial': choose 'weighted_square', 'logistic'"),
        ({"hidden": 0}, "hidden=0: must be at least 1"),
        ({"input_dropout": 1.0}, "input_dropout="),
        ({"negative_weight": 0.0}, "negative_weight="),
        ({"l2_penalty": -1.0}, "l2_penalty="),
        ({"foldin_steps": -1}, "foldin_steps="),
        ({"foldin_lr": 0.0}, "foldin_lr="),
    ],
)
def test_bad_configs_are_clear_errors(cfg, match):
    with pytest.raises(ConfigError, match=match):
        CDAE(**cfg).fit(sp.csr_matrix(np.eye(4, dtype=np.float32)))
