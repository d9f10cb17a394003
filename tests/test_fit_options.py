"""FitOptions: how a fit runs, apart from the hyperparameters; one typed constructor for Python, TOML, JSON and the CLI."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.artifacts import load_model, save_model
from aerec.data.prepare import item_table
from aerec.errors import ConfigError
from aerec.fit_options import OPTION_FIELDS, FitOptions
from aerec.models import EASE, MODELS, FCDAE, Popularity, SwDAE
from aerec.options import build_config
from aerec.search import SearchSpec
from aerec.training import TrainConfig


def test_no_model_config_holds_a_fit_option():
    for name, cls in MODELS.items():
        fields = {f for f in cls.Config.__dataclass_fields__}
        assert not fields & set(OPTION_FIELDS), f"{name}: {fields & set(OPTION_FIELDS)}"
    assert not set(TrainConfig.__dataclass_fields__) & set(OPTION_FIELDS)


@pytest.mark.parametrize(
    "values,expected",
    [
        ({"precision": "fp8"}, "precision='fp8': choose 'fp32', 'tf32', 'bf16'"),
        ({"device": "gpu"}, "device='gpu': choose 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ({"seed": -1}, "seed=-1: must lie in \\[0, "),
        ({"seed": "3"}, "seed='3': expected an integer"),
        ({"track_spectra": 1}, "track_spectra=1: expected true or false"),
        ({"sead": 3}, "unknown field\\(s\\) sead of FitOptions"),
    ],
)
def test_a_bad_option_is_refused_naming_its_field(values, expected):
    with pytest.raises(ConfigError, match=expected):
        build_config(FitOptions, values)


def test_the_typed_constructor_checks_types_and_turns_lists_into_tuples():
    cfg = build_config(MODELS["deep-swdae"].Config, {"n_groups": [8, 4], "lr": 1})
    assert cfg.n_groups == (8, 4) and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    with pytest.raises(ConfigError, match="n_groups='many': expected an integer"):
        build_config(SwDAE.Config, {"n_groups": "many"})
    with pytest.raises(ConfigError, match="l2=True: expected a number"):
        build_config(EASE.Config, {"l2": True})
    assert build_config(EASE.Config, {"l2": None}).l2 is None  # optional fields take None
    with pytest.raises(ConfigError, match="swdae: n_groups='many': expected an integer"):
        SwDAE(n_groups="many")  # Python's Model(**overrides) goes through it too


def test_an_option_given_as_a_hyperparameter_says_where_it_belongs():
    with pytest.raises(ConfigError, match="device is a fit option, not a hyperparameter: pass fit\\(X, options=FitOptions"):
        EASE(device="cpu")
    with pytest.raises(ConfigError, match="seed .*a fit option.*options=FitOptions"):
        Popularity().fit(sp.csr_matrix(np.eye(3, dtype=np.float32)), seed=3)
    with pytest.raises(ConfigError, match=r"\[fixed\] device: a fit option, not a parameter of ease; put it in \[options\]"):
        SearchSpec.from_dict({"model": "ease", "data": "x", "fixed": {"device": "cpu"}})
    with pytest.raises(ConfigError, match=r"\[options\] precision='half'"):
        SearchSpec.from_dict({"model": "ease", "data": "x", "options": {"precision": "half"}})
    with pytest.raises(ConfigError, match=r"\[options\] checkpoint: not a search option"):
        SearchSpec.from_dict({"model": "swdae", "data": "x", "options": {"checkpoint": "c.pt"}})


def test_a_model_refuses_an_option_it_cannot_honour():
    X = sp.csr_matrix(np.eye(6, dtype=np.float32))
    with pytest.raises(ConfigError, match="ease: the fit option precision='bf16' does not apply to this model"):
        EASE(l2=1.0).fit(X, options=FitOptions(precision="bf16"))
    with pytest.raises(ConfigError, match="popularity: the fit option device='cuda' does not apply to this model \\(it runs on the CPU\\)"):
        Popularity().fit(X, options=FitOptions(device="cuda"))
    with pytest.raises(ConfigError, match="options must be a FitOptions"):
        Popularity().fit(X, options="cpu")
    # seed, progress and device=cpu are accepted by every model; a dict is read with the typed constructor
    Popularity().fit(X, options={"seed": 4, "progress": False, "device": "cpu"})


def test_the_seed_option_seeds_the_fit(blocks):
    train, fold, _, _ = blocks
    fit = lambda seed: FCDAE(n_hidden=6, max_epochs=2, lr=1e-2).fit(train, options=FitOptions(seed=seed)).score(fold.X_in)  # noqa: E731
    a, b, c = fit(1), fit(1), fit(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_model_json_records_the_options_and_loading_restores_them(blocks, tmp_path):
    train, fold, _, _ = blocks
    model = SwDAE(n_groups=8, overlap=2, n_components=4, max_epochs=1).fit(train, options=FitOptions(seed=5, checkpoint=str(tmp_path / "c.pt")))
    save_model(model, tmp_path / "m", item_table(np.arange(train.shape[1]), None))
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["options"] == {"device": "auto", "seed": 5, "precision": "fp32", "track_spectra": False}
    assert not set(meta["config"]) & set(OPTION_FIELDS)
    loaded, _, _ = load_model(tmp_path / "m", device="cpu")
    assert loaded.options_ == FitOptions(device="cpu", seed=5)
    np.testing.assert_array_equal(loaded.score(fold.X_in), model.score(fold.X_in))


def test_a_model_directory_written_before_the_options_left_the_config_still_loads(blocks, tmp_path):
    train, fold, _, _ = blocks
    model = EASE(l2=10.0).fit(train)
    save_model(model, tmp_path / "m", item_table(np.arange(train.shape[1]), None))
    path = tmp_path / "m" / "model.json"
    meta = json.loads(path.read_text())
    meta["config"]["device"] = "cpu"  # the old layout: options inside the config, no "options"
    del meta["options"]
    path.write_text(json.dumps(meta))
    loaded, _, _ = load_model(tmp_path / "m")
    assert loaded.options_.device == "auto" and "device" not in vars(loaded.config)
    np.testing.assert_array_equal(loaded.score(fold.X_in), model.score(fold.X_in))


def test_a_checkpoint_resumes_only_on_the_data_it_was_written_on(blocks, tmp_path):
    train, fold, _, _ = blocks
    ckpt = str(tmp_path / "c.pt")
    FCDAE(n_hidden=6, max_epochs=1).fit(train, validation=fold, options=FitOptions(checkpoint=ckpt))
    other = train.copy()
    other.data[:] = 2.0  # the same shape and pattern, other values
    with pytest.raises(ConfigError, match="c.pt: written by a run with other training data"):
        FCDAE(n_hidden=6, max_epochs=2).fit(other, validation=fold, options=FitOptions(checkpoint=ckpt))
    with pytest.raises(ConfigError, match="c.pt: written by a run with another configuration"):
        FCDAE(n_hidden=6, max_epochs=2).fit(train, validation=fold, options=FitOptions(checkpoint=ckpt, seed=9))
    resumed = FCDAE(n_hidden=6, max_epochs=2).fit(train, validation=fold, options=FitOptions(checkpoint=ckpt))
    assert resumed.fit_info_["training"]["epochs"] == 2


def test_the_cli_generates_the_options_a_model_honours(tmp_path, capsys):
    from aerec.cli import build_parser, main

    parser = build_parser()
    ease_help = parser.parse_args(["train", "ease", "--data", "d", "--out", "o", "--device", "cpu", "--seed", "2"])
    assert ease_help.opt_device == "cpu" and ease_help.opt_seed == 2
    with pytest.raises(SystemExit):  # EASE has no precision to set
        parser.parse_args(["train", "ease", "--data", "d", "--out", "o", "--precision", "bf16"])
    assert main(["synth", "--users", "120", "--items", "30", "--interactions", "1500", "--groups", "3", "--out", str(tmp_path / "syn"), "-q"]) == 0
    code = main(["train", "fc-dae", "--data", str(tmp_path / "syn"), "--out", str(tmp_path / "m"), "--n-hidden", "6", "--max-epochs", "1", "--seed", "7", "--precision", "bf16", "-q"])
    assert code == 0
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["options"]["seed"] == 7 and meta["options"]["precision"] == "bf16"
    capsys.readouterr()
    assert main(["train", "fc-dae", "--data", str(tmp_path / "syn"), "--out", str(tmp_path / "m2"), "--seed", "-1", "-q"]) != 0
    assert "seed=-1: must lie in [0, " in capsys.readouterr().err
