"""Hyperparameter search: trial order, selection on validation only, resume, failed trials, the spec's errors."""

import json

import numpy as np
import pandas as pd
import pytest

import aerec.evaluate
from aerec.cli import main
from aerec.data.prepare import item_table
from aerec.data.prepared import Fold, PreparedDataset
from aerec.errors import ConfigError
from aerec.search import SearchSpec, run_search
from tests.conftest import block_data, split_rows


@pytest.fixture
def data_dir(tmp_path):
    X, _, _ = block_data(n_users=140)
    train, rest = split_rows(X, 80)
    half = rest.n_users // 2 - 4  # 26 validation and 34 test users, told apart by their number
    validation = Fold(rest.X_in[:half], rest.X_out[:half], np.arange(half))
    test = Fold(rest.X_in[half:], rest.X_out[half:], np.arange(rest.n_users - half))
    items = item_table(np.arange(X.shape[1]), None)
    ds = PreparedDataset(train, validation, test, items, np.arange(80), {"dataset": "blocks"})
    ds.save(tmp_path / "prep")
    return tmp_path / "prep"


def ease_spec(data_dir, values=(1.0, 30.0, 3000.0), **kw):
    return SearchSpec.from_dict({"model": "ease", "data": str(data_dir), "fixed": {"refine": 0}, "grid": {"l2_grid": [[v] for v in values]}, **kw})


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_grid_is_the_full_product_in_order_and_random_draws_distinct_combinations():
    spec = SearchSpec.from_dict({"model": "ease", "data": "x", "grid": {"l2": [1.0, 2.0, 3.0], "refine": [0, 1]}})
    assert spec.trials() == [{"l2": a, "refine": b} for a in (1.0, 2.0, 3.0) for b in (0, 1)]
    rnd = SearchSpec.from_dict({"model": "ease", "data": "x", "method": "random", "n_trials": 4, "seed": 3, "grid": {"l2": [1.0, 2.0, 3.0], "refine": [0, 1]}})
    picks = rnd.trials()
    assert len(picks) == 4 and len({json.dumps(p) for p in picks}) == 4
    assert all(p in spec.trials() for p in picks)
    assert picks == rnd.trials(), "the draw is seeded"


def test_chooses_the_best_validation_trial_and_scores_test_once(data_dir, tmp_path, monkeypatch):
    seen = []
    real = aerec.evaluate.evaluate

    def spy(score_fn, fold, **kw):
        seen.append(fold.n_users)
        return real(score_fn, fold, **kw)

    monkeypatch.setattr(aerec.evaluate, "evaluate", spy)
    data = PreparedDataset.load(data_dir)
    result = run_search(ease_spec(data_dir), tmp_path / "s")
    trials = lines(tmp_path / "s" / "trials.jsonl")
    val = [t["validation"]["ndcg@100"]["mean"] for t in trials]
    assert result.best["params"] == trials[int(np.argmax(val))]["params"]
    assert data.validation.n_users != data.test.n_users
    assert seen.count(data.test.n_users) == 1 and seen[-1] == data.test.n_users, "the test users are scored once, at the end"
    assert set(seen[:-1]) == {data.validation.n_users}
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["test"]["summary"]["ndcg@100"]["mean"] == pytest.approx(result.test["summary"]["ndcg@100"]["mean"])
    per_user = pd.read_parquet(tmp_path / "s" / "test" / "per_user.parquet")
    assert len(per_user) == result.test["n_scored"]
    assert per_user["ndcg@100"].mean() == pytest.approx(result.test["summary"]["ndcg@100"]["mean"])


def test_the_choice_does_not_depend_on_the_test_users(data_dir, tmp_path):
    first = run_search(ease_spec(data_dir), tmp_path / "a", evaluate_test=False)
    ds = PreparedDataset.load(data_dir)
    flipped = Fold(ds.test.X_out, ds.test.X_in, ds.test.users)  # a different test fold, same validation
    PreparedDataset(ds.train, ds.validation, flipped, ds.items, ds.train_users, ds.manifest).save(tmp_path / "other")
    second = run_search(ease_spec(tmp_path / "other"), tmp_path / "b", evaluate_test=False)
    assert first.best["params"] == second.best["params"]
    assert [t["validation"] for t in first.trials] == [t["validation"] for t in second.trials]


def test_resume_skips_finished_trials_and_extends_the_grid(data_dir, tmp_path, monkeypatch):
    run_search(ease_spec(data_dir, values=(1.0, 30.0)), tmp_path / "s")
    fits = []
    from aerec.models.ease import EASE

    real_fit = EASE.fit
    monkeypatch.setattr(EASE, "fit", lambda self, *a, **k: fits.append(self.config.l2_grid) or real_fit(self, *a, **k))
    result = run_search(ease_spec(data_dir, values=(1.0, 30.0, 3000.0)), tmp_path / "s")
    assert fits == [(3000.0,)], "only the new trial is fitted"
    assert len(result.trials) == 3 and len(lines(tmp_path / "s" / "trials.jsonl")) == 3


def test_a_failing_trial_is_recorded_and_the_search_goes_on(data_dir, tmp_path):
    spec = SearchSpec.from_dict({"model": "ease", "data": str(data_dir), "fixed": {"l2": 30.0}, "grid": {"dtype": ["float16", "float32"]}})
    result = run_search(spec, tmp_path / "s")
    trials = lines(tmp_path / "s" / "trials.jsonl")
    assert [t["status"] for t in trials] == ["failed", "ok"]
    assert "dtype='float16': choose 'float32', 'float64'" in trials[0]["error"]
    assert result.best["params"] == {"dtype": "float32"}
    assert (tmp_path / "s" / "best" / "model.json").is_file()


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"model": "nope", "data": "x"}, "model 'nope'"),
        ({"model": "ease", "data": "x", "grid": {"lambda": [1]}}, r"\[grid\] lambda: not a parameter of ease"),
        ({"model": "ease", "data": "x", "fixed": {"l2": 1.0}, "grid": {"l2": [1.0]}}, "both fixed and searched"),
        ({"model": "ease", "data": "x", "grid": {"l2": 1.0}}, "expected a non-empty list"),
        ({"model": "ease", "data": "x", "method": "random"}, "n_trials"),
        ({"model": "ease"}, "missing key 'data'"),
        ({"model": "ease", "data": "x", "grdi": {}}, "unknown key"),
    ],
)
def test_bad_specs_are_one_line_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpec.from_dict(raw)


def test_cli_search_prints_the_choice_and_errors_cleanly(data_dir, tmp_path, capsys):
    spec = tmp_path / "ease.toml"
    spec.write_text(f'model = "ease"\ndata = "{data_dir}"\n[fixed]\nrefine = 0\n[grid]\nl2_grid = [[1.0], [30.0]]\n')
    assert main(["search", str(spec), "--out", str(tmp_path / "s"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "ease chose l2_grid=[" in out and "test ndcg@100" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    assert main(["search", str(bad), "--out", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"aerec: error: {bad}: not valid TOML") and err.count("\n") == 1
    assert not (tmp_path / "t").exists()


def test_leaderboard_rows_follow_test_ndcg_and_show_failures(data_dir, tmp_path, capsys):
    run_search(ease_spec(data_dir), tmp_path / "ease")
    run_search(SearchSpec.from_dict({"model": "popularity", "data": str(data_dir)}), tmp_path / "pop")
    failing = SearchSpec.from_dict({"model": "ease", "data": str(data_dir), "fixed": {"l2": 1.0}, "grid": {"dtype": ["float16"]}})
    run_search(failing, tmp_path / "bad")
    assert main(["leaderboard", str(tmp_path / "pop"), str(tmp_path / "bad"), str(tmp_path / "ease")]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["ease", "popularity", "ease"]
    assert "| failed |" in rows[2] and "(1 failed)" in rows[2]
    assert rows[1].split("|")[6].strip() == "(defaults)"
    assert main(["leaderboard", str(tmp_path / "nowhere")]) == 1


def test_a_trial_past_its_budget_is_recorded_as_did_not_finish(data_dir, tmp_path):
    spec = SearchSpec.from_dict({"model": "slim", "data": str(data_dir), "trial_budget": 1e-9, "grid": {"l1": [0.5]}})
    result = run_search(spec, tmp_path / "s")
    (trial,) = lines(tmp_path / "s" / "trials.jsonl")
    assert trial["status"] == "did not finish" and "time budget" in trial["error"]
    assert result.best is None and result.test is None
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["statuses"] == ["did not finish"]


def test_a_sweep_keeps_and_tests_every_trial_but_chooses_on_validation(data_dir, tmp_path, capsys):
    plain = run_search(ease_spec(data_dir), tmp_path / "plain")
    sweep = run_search(ease_spec(data_dir, sweep=True), tmp_path / "sweep")
    assert sweep.best["params"] == plain.best["params"], "sweep mode does not change the choice"
    rows = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [r["params"] for r in rows] == ease_spec(data_dir).trials()
    chosen = next(r for r in rows if r["params"] == sweep.best["params"])
    assert chosen["test"]["summary"]["ndcg@100"]["mean"] == pytest.approx(sweep.test["summary"]["ndcg@100"]["mean"])
    assert len({r["test"]["summary"]["ndcg@100"]["mean"] for r in rows}) == 3, "each trial scored with its own model"
    assert main(["leaderboard", "--trials", str(tmp_path / "sweep")]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 2 + 3 and table[2].startswith("| l2_grid=[1.0] |")
    assert main(["leaderboard", "--trials", str(tmp_path / "plain")]) == 1


def test_a_parameter_matched_swdae_is_its_own_row(data_dir, tmp_path):
    """The row name comes from the model itself (describe()["variant"]), kept in the trial record."""
    fixed = {"n_components": 4, "max_epochs": 1, "batch_size": 16}
    for name, extra in (("p", {"match_parameters": 250}), ("plain", {"n_groups": 8, "overlap": 2})):
        spec = SearchSpec.from_dict({"model": "swdae", "data": str(data_dir), "fixed": {**fixed, **extra}, "grid": {"lr": [1e-2]}})
        result = run_search(spec, tmp_path / name)
        assert result.best["describe"]["variant"] == ("swdae-p" if name == "p" else "swdae")
    table = main(["leaderboard", str(tmp_path / "p"), str(tmp_path / "plain")])
    assert table == 0


def test_a_search_over_lr_learns_swdaes_groups_once_and_gets_what_each_trial_would_alone(data_dir, tmp_path, monkeypatch):
    import aerec.structure as structure

    spec = SearchSpec.from_dict({"model": "swdae", "data": str(data_dir), "grid": {"lr": [1e-2, 3e-2]},
                                 "fixed": {"n_groups": 8, "overlap": 2, "n_components": 4, "max_epochs": 3, "batch_size": 16}})  # fmt: skip
    calls = []
    real = structure.learn_groups
    monkeypatch.setattr(structure, "learn_groups", lambda *a, **k: calls.append(k) or real(*a, **k))
    result = run_search(spec, tmp_path / "s")
    assert len(calls) == 1, "one grouping setting: learned once"
    assert [t["groups"] for t in result.trials] == ["learned", "reused"]
    assert len(list((tmp_path / "s" / "groups").glob("*.safetensors"))) == 1
    data = PreparedDataset.load(data_dir)
    from aerec.models import SwDAE

    alone = SwDAE(**spec.fixed, lr=3e-2).fit(data.train, validation=data.validation)  # learns its own groups
    assert result.trials[1]["validation"]["ndcg@100"]["mean"] == aerec.evaluate.evaluate(alone.score, data.validation).summary()["ndcg@100"]["mean"]
    spec2 = SearchSpec.from_dict({**json.loads(json.dumps(dataclasses_asdict(spec))), "grid": {"lr": [1e-2, 3e-2, 1e-1]}})
    calls.clear()
    result = run_search(spec2, tmp_path / "s")  # resumed in a new run: the new trial loads the saved groups
    assert calls == [] and result.trials[-1]["groups"] == "loaded"


def dataclasses_asdict(spec):
    import dataclasses

    d = dataclasses.asdict(spec)
    return {k: d[k] for k in ("model", "data", "grid", "fixed")}
