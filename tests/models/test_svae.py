"""SVAE's own tests (the contract suite covers the rest): order, padding, the loss formula."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from aerec.batches import csr_to_batch
from aerec.fit_options import FitOptions
from aerec.models import MODELS
from aerec.models.svae import SVAE, sequences
from aerec.training import train

TINY = {"embedding": 8, "rnn": 8, "hidden": 8, "latent": 4, "next_k": 2, "batch_size": 8, "max_epochs": 2, "lr": 3e-2}
OPTIONS = FitOptions(seed=3)
N_ITEMS = 12


def ordered_rows(seqs, n_items=N_ITEMS):
    """A CSR whose row r holds the items of ``seqs[r]`` with values = their 1-based positions."""
    rows = [r for r, s in enumerate(seqs) for _ in s]
    cols = [i for s in seqs for i in s]
    vals = [p + 1 for s in seqs for p in range(len(s))]
    return sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(len(seqs), n_items))


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    train_seqs = [list(rng.permutation(N_ITEMS)[: rng.integers(3, 9)]) for _ in range(40)]
    return SVAE(**TINY).fit(ordered_rows(train_seqs), options=OPTIONS)


def test_is_registered_and_sequential():
    assert MODELS["svae"] is SVAE and SVAE.sequential
    assert SVAE.Config().weight_decay == 0.01  # the paper's Adam weight decay
    cfg = SVAE.Config()
    assert (cfg.embedding, cfg.rnn, cfg.latent) == (256, 200, 64)


def test_sequences_sort_by_value_then_item_and_keep_the_most_recent():
    X = sp.csr_matrix(np.array([[0, 3, 1, 2, 0], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0], [5, 4, 3, 2, 1]], np.float32))
    items, lengths = sequences(csr_to_batch(X), max_len=3)
    assert lengths.tolist() == [3, 3, 0, 3]
    assert items[0].tolist() == [2, 3, 1]
    assert items[1].tolist() == [0, 2, 4]  # equal values: item order (a binary row)
    assert items[3].tolist() == [2, 1, 0]  # the three most recent of five


def test_order_matters(model):
    a = model.score(ordered_rows([[1, 2, 3, 4, 5]]))
    b = model.score(ordered_rows([[5, 4, 3, 2, 1]]))
    assert not np.allclose(a, b)


def test_a_binary_row_is_read_in_item_order(model):
    binary = sp.csr_matrix((np.ones(4, np.float32), ([0, 0, 0, 0], [7, 2, 9, 4])), shape=(1, N_ITEMS))
    np.testing.assert_array_equal(model.score(binary), model.score(ordered_rows([[2, 4, 7, 9]])))


def test_padding_does_not_change_a_users_scores_or_loss(model):
    short, long = [3, 1], [0, 2, 4, 6, 8, 10, 11, 9, 7]
    alone = model.score(ordered_rows([short]))
    padded = model.score(ordered_rows([long, short, []]))
    np.testing.assert_allclose(padded[1:2], alone, rtol=1e-5, atol=1e-6)
    module = model.module_.eval()  # z = μ: the loss is deterministic
    with torch.no_grad():
        both = module.loss(csr_to_batch(ordered_rows([long, short])), step=10**9)
        each = [module.loss(csr_to_batch(ordered_rows([s])), step=10**9) for s in (long, short)]
    torch.testing.assert_close(both, (each[0] + each[1]) / 2)


def test_an_empty_history_is_scored_from_the_initial_state(model):
    s = model.score(sp.csr_matrix((2, N_ITEMS), dtype=np.float32))
    module = model.module_
    with torch.no_grad():
        mu, _ = module.posterior_params(torch.zeros(1, module.gru.hidden_size))
        expected = module.decode(mu).numpy()
    np.testing.assert_allclose(s, np.vstack([expected, expected]), rtol=1e-6)


def test_only_the_most_recent_max_len_items_are_read():
    m = SVAE(**{**TINY, "max_len": 3}).fit(ordered_rows([[0, 1, 2, 3], [4, 5, 6, 7]] * 5), options=OPTIONS)
    np.testing.assert_array_equal(m.score(ordered_rows([[9, 8, 1, 2, 3]])), m.score(ordered_rows([[1, 2, 3]])))


def test_loss_is_the_formula(model):
    """The batch loss equals a per-user, per-step loop over the docstring's formula (z = μ)."""
    seqs = [[4, 1, 7, 2, 9], [3, 5], [6]]  # the last user has nothing to predict and is left out
    module = model.module_.eval()
    beta = 0.2
    k = module.next_k
    with torch.no_grad():
        got = module.loss(csr_to_batch(ordered_rows(seqs)), step=10**9)  # β = anneal_cap = 0.2
        users = []
        for s in seqs[:2]:
            h = module.states(torch.tensor([s]), torch.tensor([len(s)]))[0]  # (T, rnn)
            nll, kl = 0.0, 0.0
            for t in range(len(s) - 1):
                mu, logvar = module.posterior_params(h[t : t + 1])
                logp = F.log_softmax(module.decode(mu), dim=1)[0]
                nll -= sum(logp[i] for i in s[t + 1 : t + 1 + k])
                kl += 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum()
            users.append(nll / min(k, len(s) - 1) + beta * kl / (len(s) - 1))
    torch.testing.assert_close(got, torch.stack(users).mean().reshape(()), rtol=1e-5, atol=1e-5)


def test_loss_is_finite_and_one_step_moves_every_parameter():
    m = SVAE(**{**TINY, "max_epochs": 1})
    m.n_items_ = N_ITEMS
    m._build(torch.device("cpu"))
    before = {k: v.clone() for k, v in m.module_.state_dict().items()}
    X = ordered_rows([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]] * 4)
    result = train(m.module_, X, m.config, device=torch.device("cpu"))
    assert np.isfinite(result.history[0]["loss"])
    after = m.module_.state_dict()
    for name, value in before.items():
        assert not torch.equal(value, after[name]), f"{name} did not move"


def test_a_batch_with_nothing_to_predict_has_zero_loss(model):
    loss = model.module_.train().loss(csr_to_batch(ordered_rows([[1], []])), step=0)
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    model.module_.eval()


def test_fitting_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SVAE(**TINY).fit(ordered_rows([[0, 1, 2, 3]] * 6), options=OPTIONS)
    torch.testing.assert_close(torch.rand(3), expected)
