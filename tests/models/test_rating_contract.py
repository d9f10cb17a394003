"""The contract every rating model in ``MODELS`` (task "rating") must keep, on tiny known-answer ratings."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aerec.artifacts import load_model, save_model
from aerec.data.interactions import Interactions
from aerec.data.ratings import RatingSplitParams, prepare_ratings, split_ratings
from aerec.errors import ConfigError
from aerec.evaluate import evaluate_ratings
from aerec.models import MODELS

RATING = sorted(n for n, c in MODELS.items() if c.task == "rating")

# Small, fast settings per rating model; every rating model in MODELS must appear here.
FAST = {
    "i-autorec": {"hidden": 16, "l2_penalty": 1.0, "batch_size": 16, "lr": 3e-2, "max_epochs": 25},
    "u-autorec": {"hidden": 16, "l2_penalty": 1.0, "batch_size": 16, "lr": 3e-2, "max_epochs": 25},
    "deeprec": {"hidden": (16, 8), "dropout": 0.2, "batch_size": 16, "lr": 1e-2, "max_epochs": 25},
    "denoising-autorec": {"hidden": (16,), "latent": 8, "batch_size": 16, "lr": 1e-2, "max_epochs": 25},
}


def test_every_rating_model_has_fast_settings():
    assert set(RATING) == set(FAST) == {"i-autorec", "u-autorec", "deeprec", "denoising-autorec"}


def two_taste_log(n_users=60, n_items=40, seed=0):
    """Two kinds of users and of items: a user rates items of their own kind 4-5, the others 1-2.

    Half of the user x item grid is rated; the right answer is known, and the
    global mean (about 3) is far from every rating.
    """
    rng = np.random.default_rng(seed)
    kind_u, kind_i = rng.integers(0, 2, n_users), rng.integers(0, 2, n_items)
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    value = np.where(kind_u[u] == kind_i[i], 4.0, 1.0) + rng.integers(0, 2, len(u))
    return Interactions(u + 1, i + 1, value.astype(np.float32))


@pytest.fixture(scope="module")
def data():
    return prepare_ratings(two_taste_log(), RatingSplitParams(seed=0), dataset="toy")


@pytest.fixture(scope="module", params=RATING)
def fitted(request, data):
    """Each rating model fitted once for the whole module (the tests do not change it)."""
    model = MODELS[request.param](**FAST[request.param]).fit(data.train, validation=data.validation)
    return model, data


def pairs(R):
    coo = R.tocoo()
    return coo.row, coo.col


def test_predictions_have_the_right_shape_dtype_and_range(fitted):
    model, data = fitted
    users, items = pairs(data.test)
    p = model.predict(users, items)
    assert p.shape == (data.test.nnz,) and p.dtype == np.float32 and np.isfinite(p).all()
    grid_u, grid_i = np.indices(data.train.shape).reshape(2, -1)
    every = model.predict(grid_u, grid_i)
    assert every.min() >= data.train.data.min() and every.max() <= data.train.data.max()  # clipped to [1, 5]
    assert model.predict(np.array([], np.int64), np.array([], np.int64)).shape == (0,)


def test_parameters_move_after_one_step(fitted):
    model, data = fitted
    one = type(model)(model.config, max_epochs=1, max_steps=1).fit(data.train)
    init = type(model)(one.config)
    init._build(one.inputs_.shape, one.global_mean_, torch.device("cpu"))
    for (name, a), b in zip(init.module_.state_dict().items(), one.module_.state_dict().values()):
        assert not torch.equal(a, b), f"{model.name}: {name} did not move"


def test_save_then_load_gives_identical_predictions(fitted, tmp_path):
    model, data = fitted
    save_model(model, tmp_path / "m", data.items)
    loaded, items, meta = load_model(tmp_path / "m")
    assert meta["model"] == model.name and loaded.task == "rating"
    users, items_ = pairs(data.test)
    np.testing.assert_array_equal(loaded.predict(users, items_), model.predict(users, items_))
    assert not list(tmp_path.glob(".*tmp*"))


def test_same_config_gives_same_predictions(fitted):
    model, data = fitted
    again = type(model)(model.config).fit(data.train, validation=data.validation)
    users, items = pairs(data.test)
    np.testing.assert_array_equal(again.predict(users, items), model.predict(users, items))


def test_test_ratings_never_influence_training(fitted):
    """Other values for the test ratings leave training and validation, and so the fitted model, unchanged."""
    model, data = fitted
    log = two_taste_log()
    test = split_ratings(len(log), RatingSplitParams(seed=0)).test
    log.value[test] = 6 - log.value[test]
    other = prepare_ratings(log, RatingSplitParams(seed=0), dataset="toy")
    assert (other.test != data.test).nnz > 0
    refit = type(model)(model.config).fit(other.train, validation=other.validation)
    users, items = pairs(data.test)
    np.testing.assert_array_equal(refit.predict(users, items), model.predict(users, items))


def test_beats_the_global_mean_on_known_structure(fitted):
    model, data = fitted
    mean = data.train.data.mean()
    baseline = evaluate_ratings(lambda u, i: np.full(len(u), mean), data.test).rmse
    assert evaluate_ratings(model.predict, data.test).rmse < 0.5 * baseline


def test_unseen_users_and_items_get_the_training_mean_and_bad_indices_are_errors(fitted):
    model, data = fitted
    R = sp.lil_matrix(data.train)
    R[0, :] = 0  # user 0 and item 0 without training ratings
    R[:, 0] = 0
    R = sp.csr_matrix(R)
    R.eliminate_zeros()
    m = type(model)(model.config, max_epochs=2).fit(R)
    p = m.predict(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    assert p[:3].tolist() == [np.float32(R.data.mean())] * 3
    with pytest.raises(ConfigError, match="user index"):
        m.predict(np.array([R.shape[0]]), np.array([0]))
    with pytest.raises(ConfigError, match="item index"):
        m.predict(np.array([0]), np.array([-1]))
