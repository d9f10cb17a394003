"""The experiment runner: cells, resume, failed cells, selection on validation only, provenance, config errors."""

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from aerec.cli import main
from aerec.data.prepare import item_table
from aerec.data.prepared import Fold, PreparedDataset
from aerec.errors import ConfigError
from aerec.experiment import ExperimentConfig, run_experiment
from aerec.models.ease import EASE
from aerec.models.popularity import Popularity
from tests.conftest import block_data, split_rows

EASE_GRID = "[models.ease]\nfixed = { refine = 0 }\ngrid = { l2_grid = [[1.0], [30.0], [3000.0]] }\n"


@pytest.fixture
def prepared(tmp_path):
    """A checkerboard split into 80 training, 26 validation and 34 test users."""
    X, _, _ = block_data(n_users=140)
    train, rest = split_rows(X, 80)
    half = rest.n_users // 2 - 4
    validation = Fold(rest.X_in[:half], rest.X_out[:half], np.arange(half))
    test = Fold(rest.X_in[half:], rest.X_out[half:], np.arange(rest.n_users - half))
    ds = PreparedDataset(train, validation, test, item_table(np.arange(X.shape[1]), None), np.arange(80), {"dataset": "blocks"})
    ds.save(tmp_path / "blocks")
    return tmp_path / "blocks"


def config(text: str, **datasets) -> ExperimentConfig:
    head = "[datasets]\n" + "".join(f"{name} = {json.dumps(str(path))}\n" for name, path in datasets.items())
    return ExperimentConfig.from_text(head + text)


def test_every_cell_is_a_search_and_run_json_records_it(prepared, tmp_path):
    cfg = config(EASE_GRID + "[models.popularity]\n", blocks=prepared)
    run = run_experiment(cfg, tmp_path / "run")
    assert [(c["dataset"], c["model"], c["status"]) for c in run["cells"]] == [("blocks", "ease", "ok"), ("blocks", "popularity", "ok")]
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved == json.loads(json.dumps(run))
    assert (tmp_path / "run" / "config.toml").read_text() == cfg.text
    ease = saved["cells"][0]
    summary = json.loads((tmp_path / "run" / "cells" / "blocks" / "ease" / "summary.json").read_text())
    assert ease["params"] == summary["best"]["params"]
    assert ease["test"]["ndcg@100"] == summary["test"]["summary"]["ndcg@100"]
    assert ease["validation"]["ndcg@100"] == summary["best"]["validation"]["ndcg@100"]
    assert (tmp_path / "run" / "cells" / "blocks" / "ease" / "test" / "per_user.parquet").is_file()
    assert (tmp_path / "run" / "cells" / "blocks" / "ease" / "best" / "model.json").is_file()
    assert ease["seconds"] > 0 and saved["started"] <= saved["finished"]


def test_run_json_has_the_environment_and_the_git_revision(prepared, tmp_path):
    run = run_experiment(config("[models.popularity]\n", blocks=prepared), tmp_path / "run")
    env = run["environment"]
    for key in ("python", "torch", "numpy", "platform", "cpu_count", "cuda"):
        assert key in env
    assert run["git_revision"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", run["git_revision"])
    assert "git_dirty" in run


def test_a_second_run_fits_nothing_and_a_grown_grid_fits_only_the_new_trial(prepared, tmp_path, monkeypatch):
    cfg = config(EASE_GRID + "[models.popularity]\n", blocks=prepared)
    first = run_experiment(cfg, tmp_path / "run")
    fits = []
    real_ease, real_pop = EASE.fit, Popularity.fit
    monkeypatch.setattr(EASE, "fit", lambda self, *a, **k: fits.append(self.config.l2_grid) or real_ease(self, *a, **k))
    monkeypatch.setattr(Popularity, "fit", lambda self, *a, **k: fits.append("popularity") or real_pop(self, *a, **k))
    again = run_experiment(cfg, tmp_path / "run")
    assert fits == []
    assert [c["reused"] for c in again["cells"]] == [True, True]
    assert [c["seconds"] for c in again["cells"]] == [c["seconds"] for c in first["cells"]], "the first run's times are kept"
    assert [c["test"] for c in again["cells"]] == [c["test"] for c in first["cells"]]
    grown = config(EASE_GRID.replace("[3000.0]", "[3000.0], [100.0]") + "[models.popularity]\n", blocks=prepared)
    run_experiment(grown, tmp_path / "run")
    assert fits == [(100.0,)], "the changed cell resumes its search; the finished one is skipped"


def test_a_failed_cell_is_recorded_the_others_run_and_the_exit_status_is_one(prepared, tmp_path, monkeypatch, capsys):
    def boom(self, *a, **k):
        raise RuntimeError("boom in fit")

    monkeypatch.setattr(Popularity, "fit", boom)
    text = (
        f'[datasets]\nblocks = "{prepared}"\n'
        '[models.popularity]\n'
        '[models.half]\nmodel = "ease"\nfixed = { l2 = 30.0, dtype = "float16" }\n'
        + EASE_GRID
    )
    path = tmp_path / "exp.toml"
    path.write_text(text)
    code = main(["experiment", str(path), "--out", str(tmp_path / "run"), "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("aerec: error: 2 of 3 cells failed (blocks/popularity, blocks/half)") and err.count("\n") == 1
    assert "Traceback" not in out + err
    cells = {c["model"]: c for c in json.loads((tmp_path / "run" / "run.json").read_text())["cells"]}
    assert cells["popularity"]["status"] == "failed" and cells["popularity"]["error"] == "RuntimeError: boom in fit"
    assert cells["half"]["status"] == "failed" and "float16" in cells["half"]["error"]
    assert cells["ease"]["status"] == "ok", "the cell after the failures still ran"
    assert "| ease |" in out


def test_the_choice_of_every_cell_does_not_depend_on_the_test_users(prepared, tmp_path):
    ds = PreparedDataset.load(prepared)
    flipped = Fold(ds.test.X_out, ds.test.X_in, ds.test.users)  # another test fold, the same training and validation users
    PreparedDataset(ds.train, ds.validation, flipped, ds.items, ds.train_users, ds.manifest).save(tmp_path / "flipped")
    mult = '[models.mult-dae]\nfixed = { max_epochs = 2, hidden = 20 }\ngrid = { lr = [1e-3, 1e-2] }\n'
    run = run_experiment(config(EASE_GRID + mult, a=prepared, b=tmp_path / "flipped"), tmp_path / "run")
    by = {(c["dataset"], c["model"]): c for c in run["cells"]}
    for model in ("ease", "mult-dae"):
        a, b = by[("a", model)], by[("b", model)]
        assert a["params"] == b["params"] and a["validation"] == b["validation"]
        assert a["test"] != b["test"], "the test folds differ, so would any choice made on them"


def test_a_cell_whose_data_changed_is_refused_not_mixed(prepared, tmp_path):
    cfg = config("[models.popularity]\n", blocks=prepared)
    run_experiment(cfg, tmp_path / "run")
    ds = PreparedDataset.load(prepared)
    PreparedDataset(ds.train, ds.validation, ds.test, ds.items, ds.train_users, {**ds.manifest, "dataset": "other"}).save(prepared, overwrite=True)
    (cell,) = run_experiment(cfg, tmp_path / "run")["cells"]
    assert cell["status"] == "failed" and "other data" in cell["error"]


def test_a_cell_whose_fixed_values_changed_is_refused_not_mixed(prepared, tmp_path):
    run_experiment(config(EASE_GRID, blocks=prepared), tmp_path / "run")
    (cell,) = run_experiment(config(EASE_GRID.replace("refine = 0", "refine = 1"), blocks=prepared), tmp_path / "run")["cells"]
    assert cell["status"] == "failed" and "another fixed" in cell["error"] and "delete" in cell["error"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[models.ease]\n", r"missing \[datasets\]"),
        ('[datasets]\nd = "{prep}"\n', r"missing \[models\]"),
        ('[datasets]\nd = "{prep}"\n[models.ease]\n[extra]\n', "unknown key"),
        ('[datasets]\nd = "{tmp}/nowhere"\n[models.ease]\n', "datasets.d: .*nowhere is not a prepared directory"),
        ('[datasets]\n"a b" = "{prep}"\n[models.ease]\n', "datasets.a b: a short name"),
        ('[datasets]\nd = "{prep}"\n[models.nope]\n', "models.nope: model 'nope'"),
        ('[datasets]\nd = "{prep}"\n[models.ease]\ngrid = {{ lambda = [1] }}\n', r"models.ease: \[grid\] lambda: not a parameter of ease"),
        ('[datasets]\nd = "{prep}"\n[models.ease]\nsearch = "{tmp}/none.toml"\n', "models.ease.search: .*none.toml: no such file"),
        ('[datasets]\nd = "{prep}"\n[models.ease]\nmodle = "ease"\n', "models.ease: unknown key"),
        ('cells = ["d/wmf"]\n[datasets]\nd = "{prep}"\n[models.ease]\n', "cells: 'd/wmf': no model 'wmf'"),
        ('cells = ["d-ease"]\n[datasets]\nd = "{prep}"\n[models.ease]\n', "expected \"dataset/model\""),
        ('[datasets\n', "not valid TOML"),
    ],
)
def test_a_bad_config_is_a_one_line_error_naming_the_key(prepared, tmp_path, capsys, text, message):
    path = tmp_path / "exp.toml"
    path.write_text(text.format(prep=prepared, tmp=tmp_path))
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig.from_toml(path)
    code = main(["experiment", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("aerec: error: ") and err.count("\n") == 1
    assert not (tmp_path / "run").exists(), "nothing is written before the whole file is checked"


def test_a_search_file_supplies_a_model_and_the_table_overrides_it(prepared, tmp_path):
    search = tmp_path / "ease.toml"
    search.write_text('model = "ease"\ndata = "elsewhere"\n[fixed]\nl2 = 5.0\n[grid]\nrefine = [0, 1]\n')
    cfg = config(f'[models.mine]\nsearch = "{search}"\nfixed = {{ refine = 0 }}\ngrid = {{ l2 = [1.0, 2.0] }}\n', blocks=prepared)
    (cell,) = cfg.cells
    assert (cell.model, cell.spec.model, cell.spec.data) == ("mine", "ease", str(prepared))
    assert cell.spec.fixed == {"refine": 0} and cell.spec.grid == {"l2": [1.0, 2.0]}


def test_the_table3_config_is_valid_and_names_every_model_of_the_paper(prepared, monkeypatch):
    root = Path(__file__).resolve().parents[1]
    raw = tomllib.loads((root / "experiments" / "table3-ml-1m.toml").read_text())
    monkeypatch.chdir(root)  # its search files are named from the repository's root
    cfg = ExperimentConfig.from_dict({**raw, "datasets": {"ml-1m": str(prepared)}})
    assert {c.model for c in cfg.cells} >= {"swdae", "swdae-p", "fc-dae", "mult-vae", "mult-dae", "cdae", "wmf", "slim"}
