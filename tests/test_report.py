"""The HTML report: every search's row, the paper's numbers beside a sweep, escaping, and the empty-directory error."""

import json
import re

import numpy as np
import pytest

from aerec import paper
from aerec.cli import main
from aerec.data.prepare import item_table
from aerec.data.prepared import Fold, PreparedDataset
from aerec.report import find_searches, load_search, one_per_model, write_report
from aerec.search import SearchSpec, run_search
from tests.conftest import block_data, split_rows


def _metric(mean, se=0.01, n=30):
    return {"mean": mean, "se": se, "n": n}


def _metrics(ndcg):
    return {"ndcg@100": _metric(ndcg), "recall@20": _metric(ndcg - 0.02), "recall@50": _metric(ndcg + 0.1)}


WIDTH_FIELDS = {"swdae": "n_groups", "fc-dae": "n_hidden", "fc-prune": "n_hidden", "fc-reg": "n_hidden", "mult-dae": "hidden", "mult-vae": "hidden"}


def fake_describe(model: str, field: str | None = None) -> dict:
    """The facts a model of that name writes with ``describe()`` (its width field; Sw-DAE's structure)."""
    facts = {"model": model, "task": "ranking", "variant": model}
    if model in WIDTH_FIELDS:
        facts["width"] = {"field": WIDTH_FIELDS[model], "value": None}
    if model == "swdae":
        facts["structure"] = {"groups": "item_groups", "width_bias": "encoder.bias"}
    return facts


def write_fake_sweep(folder, model="fc-reg", field="activation_l1", values=(1e-5, 1e-4, 1e-3, 1e-2, 1e-1), data="runs/blocks"):
    """A finished sweep's files as aerec.search writes them, with made-up metrics (no model is fitted)."""
    folder.mkdir(parents=True)
    rows = [{"params": {field: v}, "status": "ok", "validation": _metrics(0.30 + 0.01 * i), "test": {"summary": _metrics(0.29 + 0.01 * i), "n_scored": 30}} for i, v in enumerate(values)]
    best = {"params": rows[-1]["params"], "status": "ok", "validation": rows[-1]["validation"], "describe": fake_describe(model, field)}
    summary = {"model": model, "data": data, "best": best, "n_trials": len(rows), "n_failed": 0, "statuses": ["ok"], "test": rows[-1]["test"], "sweep": rows}
    spec = {"model": model, "data": data, "method": "grid", "sweep": True, "fixed": {}, "grid": {field: list(values)}}
    for name, obj in (("summary.json", summary), ("sweep.json", rows), ("spec.json", spec)):
        (folder / name).write_text(json.dumps(obj))
    return folder


def make_run(root):
    """A tiny run directory: EASE, popularity and an EASE sweep run for real on block data, plus a made-up fc-reg sweep."""
    X, _, _ = block_data(n_users=140)
    train, rest = split_rows(X, 80)
    half = rest.n_users // 2
    validation = Fold(rest.X_in[:half], rest.X_out[:half], np.arange(half))
    test = Fold(rest.X_in[half:], rest.X_out[half:], np.arange(rest.n_users - half))
    data = root / "blocks"
    PreparedDataset(train, validation, test, item_table(np.arange(X.shape[1]), None), np.arange(80), {"dataset": "blocks"}).save(data)
    run = root / "run"
    cells = run / "cells" / "blocks"
    ease = {"model": "ease", "data": str(data), "fixed": {"refine": 0}}
    run_search(SearchSpec.from_dict({**ease, "grid": {"l2": [1.0, 300.0]}}), cells / "ease")
    run_search(SearchSpec.from_dict({"model": "popularity", "data": str(data)}), cells / "popularity")
    run_search(SearchSpec.from_dict({**ease, "sweep": True, "grid": {"l2": [1.0, 30.0, 3000.0]}}), cells / "ease-sweep")
    write_fake_sweep(cells / "fc-reg", data=str(data))
    return run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("report"))
    index = write_report(run)
    return run, index, index.read_text()


def _rows(table_html):
    return re.findall(r"<tr><td>(.*?)</td>", table_html)


def test_every_search_has_a_row_and_every_figure_is_written(report):
    run, index, text = report
    assert index == run / "report" / "index.html"
    leaderboard = text.split("<h3>Leaderboard</h3>")[1].split("</table>")[0]
    assert sorted(_rows(leaderboard)) == ["ease", "fc-reg", "popularity"], "one row per model"
    everything = text.split("<summary>All 4 searches on blocks</summary>")[1].split("</details>")[0]
    assert sorted(_rows(everything)) == ["ease", "ease", "fc-reg", "popularity"], "and every search below"
    for name in re.findall(r'<img src="([^"]+)"', text):
        assert (index.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(re.findall(r"<img ", text)) == 4, "one bar chart, one cold-start plot (the searches with test/per_user.parquet) and one plot per sweep"
    assert "<script" not in text and "http://" not in text and "https://" not in text.replace("<!DOCTYPE html>", "")


def test_a_sweep_the_paper_reports_shows_its_numbers_beside_ours(report):
    _, _, text = report
    section = text.split("Sweep: fc-reg over activation_l1")[1].split("</table>")[0]
    assert '<th colspan="3">paper (ML-20M), Table 5, test</th>' in section
    for value, label in paper.TABLE5_L1.items():
        assert f"{paper.TABLE5.rows[label]['ndcg@100']:.3f}" in section, value
    ease = text.split("Sweep: ease over l2")[1].split("</table>")[0]
    assert "paper (ML-20M)" not in ease, "the paper has no EASE sweep"
    assert "★" in ease, "the trial chosen on validation is marked"


def test_the_leaderboard_picks_among_searches_of_one_model_on_validation(report):
    run, _, text = report
    searches = [load_search(p, run) for p in find_searches(run)[0]]
    eases = [s for s in searches if s.model == "ease"]
    chosen = max(eases, key=lambda s: s.validation()["mean"])
    assert [s.name for s in one_per_model(searches) if s.model == "ease"] == [chosen.name]
    leaderboard = text.split("<h3>Leaderboard</h3>")[1].split("</table>")[0]
    row = next(r for r in leaderboard.splitlines() if r.startswith("<tr><td>ease</td>"))
    assert f"<td>{chosen.name}</td>" in row and f"{chosen.validation()['mean']:.4f}" in row


def test_the_paper_column_of_the_leaderboard_is_table_3(report):
    _, _, text = report
    row = next(r for r in text.splitlines() if r.startswith("<tr><td>fc-reg</td>"))
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[-3:] == [f"{paper.TABLE3['ML-20M'].rows['Fc-reg'][m]:.3f}" for m in paper.METRICS]


def test_each_table_and_figure_carries_a_command(report):
    _, _, text = report
    assert text.count("</table>") == len(re.findall(r'</table>\n<div class="cmd">', text)), "a command under every table"
    figures = re.findall(r"<figure>(.*?)</figure>", text, re.S)
    assert figures and all('<div class="cmd">made by:<code>' in f for f in figures), "a command in every figure"
    assert "aerec search SPEC.toml --out" in text, "no experiments/ file matches: the command names the spec shown below it"
    assert "<details><summary>spec of cells/blocks/ease-sweep" in text


def test_text_is_escaped(tmp_path):
    weird = 'a<b>&c"d'
    write_fake_sweep(tmp_path / "run" / weird, data=f"runs/{weird}")
    text = write_report(tmp_path / "run").read_text()
    assert weird not in text
    assert "a&lt;b&gt;&amp;c&quot;d" in text


def test_a_directory_without_a_search_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert main(["report", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aerec: error: ") and "no finished search" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "empty").rglob("*")) == ["sub"]
    assert main(["report", str(tmp_path / "missing")]) == 1


def test_cli_writes_to_out_and_will_not_replace_a_folder_that_is_not_a_report(report, tmp_path, capsys):
    run, _, _ = report
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "index.html")
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0, "an earlier report is replaced"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    assert main(["report", str(run), "--out", str(tmp_path / "other")]) == 1
    assert [p.name for p in (tmp_path / "other").iterdir()] == ["keep.txt"]


def test_an_experiment_run_names_its_command_for_each_cell(tmp_path):
    run = tmp_path / "run"
    write_fake_sweep(run / "cells" / "blocks" / "fc-reg")
    (run / "config.toml").write_text('description = "Table <5>"\n')
    (run / "run.json").write_text(json.dumps({"description": "Table <5>", "config": "config.toml"}))
    text = write_report(run).read_text()
    assert f"aerec experiment {run / 'config.toml'} --out {run}  # its cell cells/blocks/fc-reg" in text
    assert "<p>Table &lt;5&gt;</p>" in text
