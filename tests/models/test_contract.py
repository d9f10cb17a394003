"""The contract every model in ``MODELS`` must keep, on tiny known-answer data."""


import numpy as np
import pytest
import scipy.sparse as sp

from aerec.artifacts import load_model, save_model
from aerec.data.prepare import item_table
from aerec.data.prepared import Fold
from aerec.fit_options import FitOptions
from aerec.metrics import topk_items
from aerec.models import MODELS
from tests.conftest import block_data, split_rows

# The ranking models (task "ranking"); the rating models have their own suite (test_rating_contract.py).
RANKING = sorted(n for n, c in MODELS.items() if c.task == "ranking")

# Small, fast settings per ranking model; a model missing here runs the suite with its defaults (a new model
# needs no edit of this file; add it here only when its defaults are slow on this toy data).
FAST = {
    "popularity": {},
    "ease": {"l2_grid": (1.0, 10.0, 100.0), "refine": 1},
    "swdae": {"n_groups": 8, "overlap": 2, "n_components": 4, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "deep-swdae": {"n_groups": (8, 4), "overlap_ratio": 0.25, "n_components": 3, "batch_size": 16, "pretrain_epochs": 10, "max_epochs": 25, "lr": 1e-1},
    "mult-vae": {"hidden": 16, "latent": 8, "total_anneal_steps": 100, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "mult-dae": {"hidden": 8, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "fc-dae": {"n_hidden": 8, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "fc-prune": {"n_hidden": 8, "sparsity": 0.5, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "fc-reg": {"n_hidden": 8, "activation_l1": 1e-3, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "cdae": {"hidden": 16, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
    "wmf": {"factors": 4, "regularization": 1.0, "iterations": 10, "num_threads": 1},
    "slim": {"l1": 0.5, "l2": 5.0},
    "svae": {"embedding": 8, "rnn": 8, "hidden": 8, "latent": 4, "batch_size": 16, "max_epochs": 25, "lr": 3e-2},
}
PERSONALISED = {"itemknn", "ease", "swdae", "fc-dae", "deep-swdae", "mult-vae", "mult-dae", "fc-prune", "fc-reg", "cdae", "wmf", "slim", "svae"}


def test_fast_settings_name_only_registered_models():
    assert set(FAST) <= set(RANKING)
    assert {"popularity", "ease", "swdae", "itemknn"} <= set(RANKING)


@pytest.fixture(scope="module")
def module_blocks():
    X, _, _ = block_data()
    return split_rows(X, 80)


@pytest.fixture(scope="module", params=RANKING)
def fitted(request, module_blocks):
    """Each model fitted once for the whole module (the tests do not change it)."""
    train, fold = module_blocks
    model = MODELS[request.param](**FAST.get(request.param, {})).fit(train, validation=fold)
    return model, train, fold


def test_scores_have_the_right_shape_and_dtype(fitted):
    model, train, fold = fitted
    s = model.score(fold.X_in)
    assert s.shape == (fold.n_users, train.shape[1])
    assert s.dtype == np.float32
    assert np.isfinite(s).all()


def test_a_users_scores_do_not_depend_on_the_other_users_in_the_batch(fitted):
    model, _, fold = fitted
    together = model.score(fold.X_in)
    alone = np.vstack([model.score(fold.X_in[i : i + 1]) for i in range(fold.n_users)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_save_then_load_gives_identical_scores(fitted, tmp_path):
    model, train, fold = fitted
    items = item_table(np.arange(train.shape[1]), None)
    save_model(model, tmp_path / "m", items)
    loaded, items2, meta = load_model(tmp_path / "m")
    assert meta["model"] == model.name
    assert list(items2["item_id"]) == list(range(train.shape[1]))
    np.testing.assert_array_equal(loaded.score(fold.X_in), model.score(fold.X_in))
    assert not list(tmp_path.glob(".*tmp*")), "no temporary directory left behind"


def test_same_config_gives_same_scores(fitted):
    model, train, fold = fitted
    again = type(model)(model.config).fit(train, validation=fold)
    np.testing.assert_array_equal(again.score(fold.X_in), model.score(fold.X_in))


def test_held_out_users_never_reach_training(fitted):
    """Changing the test users' data cannot change a model fitted without them."""
    model, train, fold = fitted
    other = sp.csr_matrix(np.ones_like(fold.X_in.toarray()))
    refit = type(model)(model.config).fit(train, validation=fold)
    np.testing.assert_array_equal(refit.score(other[:3]), model.score(other[:3]))


def test_wrong_number_of_items_is_a_clear_error(fitted):
    from aerec.errors import ConfigError

    model, train, _ = fitted
    with pytest.raises(ConfigError, match="items"):
        model.score(sp.csr_matrix((2, train.shape[1] + 1), dtype=np.float32))


def test_recommend_is_the_top_n_of_score_with_the_fold_in_excluded(fitted):
    """``recommend`` (written once, in the base class) against top-k of ``score`` done by hand."""
    model, train, fold = fitted
    n = 7
    items, scores = model.recommend(fold.X_in, n)
    assert items.shape == scores.shape == (fold.n_users, n) and items.dtype == np.int64 and scores.dtype == np.float32
    full = model.score(fold.X_in)
    np.testing.assert_array_equal(items, topk_items(full, n, exclude=fold.X_in))
    np.testing.assert_array_equal(scores, np.take_along_axis(full, items, axis=1))
    seen = fold.X_in.toarray() != 0
    assert not np.take_along_axis(seen, items, axis=1).any()
    all_items, _ = model.recommend(fold.X_in, n, exclude_seen=False)
    np.testing.assert_array_equal(all_items, topk_items(full, n))


def test_unknown_fit_inputs_and_bad_training_data_are_clear_errors(fitted):
    from aerec.errors import ConfigError

    model, train, _ = fitted
    with pytest.raises(ConfigError, match="fit\\(\\) takes no nonsense"):
        type(model)(model.config).fit(train, nonsense=1)
    bad = train.astype(np.float32).copy()
    bad.data[0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        type(model)(model.config).fit(bad)
    with pytest.raises(ConfigError, match="at least one user and one item"):
        type(model)(model.config).fit(sp.csr_matrix((0, train.shape[1]), dtype=np.float32))


def test_describe_says_what_the_model_is(fitted):
    """The facts the report reads instead of switching on names; a model's cost counts its own parameters exactly."""
    model, train, _ = fitted
    facts = model.describe()
    assert facts["model"] == model.name and facts["task"] == "ranking" and facts["items"] == train.shape[1]
    assert facts["variant"].startswith(model.name.split("-")[0])
    if "cost" in facts:  # aerec.cost's formula (Table 2's convention) against the parameters the model really holds
        assert facts["cost"]["parameters"] == model.n_parameters()
    if "width" in facts:
        assert getattr(model.config, facts["width"]["field"]) == facts["width"]["value"]
    if "structure" in facts:
        state = model.state_dict()
        assert state[facts["structure"]["groups"]].shape[0] == train.shape[1]
        assert state[facts["structure"]["width_bias"]].shape[0] == facts.get("width", {}).get("value", state[facts["structure"]["width_bias"]].shape[0])


@pytest.mark.parametrize("name", sorted(PERSONALISED))
def test_personalised_models_find_the_users_block(name, blocks):
    """Each user's unseen block items (7 of 10) fill the top 7; popularity cannot do that.

    A sequential model reads the same blocks in a random time order (values =
    positions): in item-index order a block's first item would never follow
    another, so a next-item model could never learn to recommend it.
    """
    train, fold, block_of_user, block_of_item = blocks
    inputs = (train, fold)
    if MODELS[name].sequential:
        inputs = random_time_order(train, seed=0), Fold(random_time_order(fold.X_in, seed=1), fold.X_out, fold.users)
    model = MODELS[name](**FAST.get(name, {})).fit(inputs[0], validation=inputs[1])

    def in_block(scores):
        top = topk_items(scores, 7, exclude=fold.X_in)
        return (block_of_item[top] == block_of_user[:, None]).mean()

    assert in_block(model.score(inputs[1].X_in)) > 0.95
    assert in_block(MODELS["popularity"]().fit(train).score(fold.X_in)) < 0.6


def random_time_order(X, seed):
    """``X`` with each row's values replaced by a random order of its items (1-based positions)."""
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    for r in range(X.shape[0]):
        a, b = X.indptr[r], X.indptr[r + 1]
        X.data[a:b] = rng.permutation(b - a) + 1
    return X


TORCH = sorted(n for n in RANKING if "precision" in MODELS[n].honours)


@pytest.mark.parametrize("name", TORCH + ["swdae-dense"])
def test_every_torch_model_trains_in_bf16(name, module_blocks):
    """``precision = "bf16"`` autocasts the dense layers; sparse products stay float32 (no bf16 kernels)."""
    train, fold = module_blocks
    model_name, extra = ("swdae", {"backend": "dense"}) if name == "swdae-dense" else (name, {})
    model = MODELS[model_name](**{**FAST[model_name], "max_epochs": 2, **extra}).fit(train, validation=fold, options=FitOptions(precision="bf16"))
    assert all(np.isfinite(r["loss"]) for r in model.fit_info_["training"]["history"])
    s = model.score(fold.X_in)
    assert s.shape == (fold.n_users, train.shape[1]) and s.dtype == np.float32 and np.isfinite(s).all()
