"""Mult-VAE and Mult-DAE against hand computations of Liang et al.'s (2018) objectives."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.batches import csr_to_batch
from aerec.errors import ConfigError
from aerec.cost import multdae_cost, multvae_cost
from aerec.models.multvae import MultDAE, MultModule, MultVAE, MultVAEConfig, kl_weight, l2_normalize_rows

X_SMALL = sp.csr_matrix(
    np.array(
        [
            [1, 0, 1, 0, 0],
            [0, 2, 0, 1, 1],
            [1, 1, 1, 1, 0],
        ],
        dtype=np.float32,
    )
)


def fixed(cls, n_items=5, seed=0, **cfg):
    """A model built on ``n_items`` items (fitted with lr 0, so still at its initialisation), then
    given fixed weights drawn from ``seed``."""
    X = sp.csr_matrix(np.eye(n_items, dtype=np.float32))
    model = cls(lr=0.0, max_epochs=1, max_steps=1, **cfg).fit(X)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.module_.parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.5, tuple(p.shape))))
    return model


def weights(model):
    W = [w.detach().double().numpy() for w in model.module_.weights]
    b = [v.detach().double().numpy() for v in model.module_.biases]
    return W, b


def log_softmax(y):
    y = y - y.max(1, keepdims=True)
    return y - np.log(np.exp(y).sum(1, keepdims=True))


def normalised(X):
    X = X.toarray().astype(np.float64)
    return X / np.sqrt((X**2).sum(1, keepdims=True))


# -- the KL annealing schedule ---------------------------------------------------


def test_kl_weight_grows_linearly_to_the_cap_with_the_defaults():
    cfg = MultVAEConfig()
    assert (cfg.anneal_cap, cfg.total_anneal_steps) == (0.2, 200_000)
    beta = [kl_weight(t, cfg.anneal_cap, cfg.total_anneal_steps) for t in (0, 20_000, 40_000, 100_000, 200_000, 1_000_000)]
    np.testing.assert_allclose(beta, [0.0, 0.1, 0.2, 0.2, 0.2, 0.2])
    assert kl_weight(100_000, 1.0, 200_000) == 0.5  # linear up to an uncapped 1
    assert kl_weight(7, 0.3, 0) == 0.3  # no annealing: the cap throughout


def test_the_kl_weight_follows_the_global_step_across_epochs(monkeypatch):
    seen = []
    original = MultModule.kl_weight

    def spy(self, step):
        seen.append(step)
        return original(self, step)

    monkeypatch.setattr(MultModule, "kl_weight", spy)
    X = sp.random(40, 12, density=0.3, format="csr", random_state=0, dtype=np.float32)
    X.data[:] = 1.0
    MultVAE(hidden=4, latent=2, batch_size=16, max_epochs=3, patience=0).fit(X)
    assert seen == list(range(9))  # 3 batches per epoch, never reset


# -- the input ---------------------------------------------------------------------


def test_rows_are_l2_normalised_on_their_non_zeros():
    X = sp.csr_matrix(np.array([[3, 0, 4, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.float32))
    out = l2_normalize_rows(csr_to_batch(X)).dense().numpy()
    np.testing.assert_allclose(out, [[0.6, 0, 0.8, 0], [0.5, 0.5, 0.5, 0.5], [0, 0, 0, 0]], rtol=1e-6)


@pytest.mark.parametrize("cls", [MultVAE, MultDAE])
def test_the_first_layer_reads_the_normalised_input(cls):
    model = fixed(cls, hidden=3, **({"latent": 2} if cls is MultVAE else {}))
    model.module_.eval()
    W, b = weights(model)
    with torch.no_grad():
        got = model.module_.encode_input(csr_to_batch(X_SMALL)).double().numpy()
    np.testing.assert_allclose(got, normalised(X_SMALL) @ W[0] + b[0], rtol=1e-5, atol=1e-6)


# -- Mult-VAE --------------------------------------------------------------------


def test_scores_decode_the_mean_deterministically():
    model = fixed(MultVAE, hidden=3, latent=2)
    W, b = weights(model)
    state = model.module_.generator.get_state()
    s1, s2 = model.score(X_SMALL), model.score(X_SMALL)
    np.testing.assert_array_equal(s1, s2)
    assert torch.equal(model.module_.generator.get_state(), state)  # scoring draws nothing
    mu = (np.tanh(normalised(X_SMALL) @ W[0] + b[0]) @ W[1] + b[1])[:, :2]
    np.testing.assert_allclose(s1, np.tanh(mu @ W[2] + b[2]) @ W[3] + b[3], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_vae_loss_is_the_multinomial_likelihood_plus_beta_kl(p):
    model = fixed(MultVAE, hidden=3, latent=2, input_dropout=p, anneal_cap=1.0, total_anneal_steps=100)
    module = model.module_.train()
    batch = csr_to_batch(X_SMALL)
    # the draws the module will make from its own generator: the dropout mask, then ε
    g = torch.Generator().set_state(module.generator.get_state())
    keep = (torch.rand(batch.vals.shape, generator=g) >= p) if p > 0 else torch.ones(len(batch.vals), dtype=torch.bool)
    eps = torch.randn((3, 2), generator=g).double().numpy()
    with torch.no_grad():
        loss = float(module.loss(batch, step=30))  # β = 30 / 100

    W, b = weights(model)
    mask = np.zeros(X_SMALL.shape)
    mask[batch.rows.numpy(), batch.cols.numpy()] = keep.numpy()
    x_tilde = normalised(X_SMALL) * mask / (1 - p)
    out = np.tanh(x_tilde @ W[0] + b[0]) @ W[1] + b[1]
    mu, logvar = out[:, :2], out[:, 2:]
    z = mu + eps * np.exp(0.5 * logvar)
    logits = np.tanh(z @ W[2] + b[2]) @ W[3] + b[3]
    nll = -(X_SMALL.toarray() * log_softmax(logits)).sum(1).mean()
    kl = (0.5 * (mu**2 + np.exp(logvar) - logvar - 1)).sum(1).mean()
    assert loss == pytest.approx(nll + 0.3 * kl, rel=1e-5)


def test_vae_loss_at_the_mean_outside_training():
    model = fixed(MultVAE, hidden=3, latent=2, total_anneal_steps=0, anneal_cap=0.7)
    module = model.module_.eval()
    with torch.no_grad():
        loss = float(module.loss(csr_to_batch(X_SMALL), step=0))
    W, b = weights(model)
    out = np.tanh(normalised(X_SMALL) @ W[0] + b[0]) @ W[1] + b[1]
    mu, logvar = out[:, :2], out[:, 2:]
    logits = np.tanh(mu @ W[2] + b[2]) @ W[3] + b[3]
    nll = -(X_SMALL.toarray() * log_softmax(logits)).sum(1).mean()
    kl = (0.5 * (mu**2 + np.exp(logvar) - logvar - 1)).sum(1).mean()
    assert loss == pytest.approx(nll + 0.7 * kl, rel=1e-5)


# -- Mult-DAE --------------------------------------------------------------------


def test_dae_loss_adds_the_weight_penalty_on_weights_only():
    assert MultDAE().config.l2_penalty == pytest.approx(0.01 / 500)
    model = fixed(MultDAE, hidden=3, input_dropout=0.0, l2_penalty=0.1)
    with torch.no_grad():
        loss = float(model.module_.train().loss(csr_to_batch(X_SMALL), step=0))
    W, b = weights(model)
    logits = np.tanh(normalised(X_SMALL) @ W[0] + b[0]) @ W[1] + b[1]
    nll = -(X_SMALL.toarray() * log_softmax(logits)).sum(1).mean()
    penalty = 0.1 * ((W[0] ** 2).sum() + (W[1] ** 2).sum())
    assert loss == pytest.approx(nll + penalty, rel=1e-5)


# -- both ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,cfg,cost",
    [
        (MultVAE, {}, multvae_cost(30)),
        (MultVAE, {"hidden": 7, "latent": 3}, multvae_cost(30, 7, 3)),
        (MultDAE, {}, multdae_cost(30)),
        (MultDAE, {"hidden": 7}, multdae_cost(30, 7)),
    ],
)
def test_parameter_counts_match_the_cost_model(cls, cfg, cost):
    model = cls(max_epochs=1, max_steps=1, **cfg).fit(sp.csr_matrix(np.eye(30, dtype=np.float32)))
    assert model.n_parameters() == cost["parameters"] == model.fit_info_["parameters"]


@pytest.mark.parametrize("cls,cfg", [(MultVAE, {"hidden": 4, "latent": 2}), (MultDAE, {"hidden": 4})])
def test_every_parameter_moves_after_one_step_and_the_global_rng_is_untouched(cls, cfg):
    X = sp.csr_matrix(np.eye(6, dtype=np.float32) + np.eye(6, k=1, dtype=np.float32))
    init = cls(lr=0.0, max_epochs=1, max_steps=1, **cfg).fit(X).state_dict()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    moved = cls(max_epochs=1, max_steps=1, **cfg).fit(X).state_dict()
    assert torch.equal(torch.rand(3), expected)  # dropout and ε use the module's generator
    for name, value in moved.items():
        assert not np.allclose(value, init[name]), name


@pytest.mark.parametrize(
    "cls,cfg,match",
    [
        (MultVAE, {"hidden": 0}, "hidden"),
        (MultVAE, {"latent": 0}, "latent"),
        (MultVAE, {"anneal_cap": -0.1}, "anneal"),
        (MultVAE, {"total_anneal_steps": -1}, "anneal"),
        (MultDAE, {"input_dropout": 1.0}, "input_dropout="),
        (MultDAE, {"l2_penalty": -1.0}, "l2_penalty="),
    ],
)
def test_bad_configs_are_clear_errors(cls, cfg, match):
    with pytest.raises(ConfigError, match=match):
        cls(**cfg).fit(sp.csr_matrix(np.eye(4, dtype=np.float32)))


def test_mult_dae_has_no_latent_layer():
    with pytest.raises(ConfigError, match="unknown parameter"):
        MultDAE(latent=3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
@pytest.mark.parametrize("cls,cfg", [(MultVAE, {"hidden": 8, "latent": 4}), (MultDAE, {"hidden": 8})])
def test_cuda_training_round_trips_to_the_cpu(cls, cfg, blocks, tmp_path):
    from aerec.artifacts import load_model, save_model
    from aerec.data.prepare import item_table

    train, fold, _, _ = blocks
    model = cls(batch_size=16, max_epochs=3, lr=3e-2, device="cuda", **cfg).fit(train, validation=fold)
    again = cls(batch_size=16, max_epochs=3, lr=3e-2, device="cuda", **cfg).fit(train, validation=fold)
    np.testing.assert_allclose(again.score(fold.X_in), model.score(fold.X_in), rtol=1e-4, atol=1e-4)
    save_model(model, tmp_path / "m", item_table(np.arange(train.shape[1]), None))
    on_cpu, _, _ = load_model(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(on_cpu.score(fold.X_in), model.score(fold.X_in), rtol=1e-4, atol=1e-4)
