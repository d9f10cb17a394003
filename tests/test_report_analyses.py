"""The report's cold start (Table 7), Table 6 and genres (Table 8, Figure 8) sections: present with their inputs only, numbers by hand."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from aerec import paper
from aerec.analysis.genres import analyse, write_outputs
from aerec.cli import main
from aerec.report import write_report
from aerec.report_analyses import cold_start

# fold-in sizes and NDCG@100 of six test users; below 20: the first three (0.1, 0.2, 0.6)
FOLD_IN = [5, 12, 19, 20, 60, 150]
NDCG = [0.1, 0.2, 0.6, 0.9, 0.9, 0.9]


def _m(mean, se=0.01, n=6):
    return {"mean": mean, "se": se, "n": n}


def write_search(folder, model, *, per_user=None, data="runs/toy", sweep=None):
    """A finished search's files as aerec.search writes them, with made-up metrics (no model is fitted)."""
    folder.mkdir(parents=True)
    metrics = {"ndcg@100": _m(0.5), "recall@20": _m(0.4), "recall@50": _m(0.6)}
    best = {"params": (sweep or [{}])[0].get("params", {}), "status": "ok", "validation": metrics}
    summary = {"model": model, "data": data, "best": best, "n_trials": 1, "n_failed": 0, "statuses": ["ok"], "test": {"summary": metrics, "n_scored": 6}}
    grid = {k: [r["params"][k] for r in sweep] for k in sweep[0]["params"]} if sweep else {}
    spec = {"model": model, "data": data, "method": "grid", "fixed": {}, "grid": grid, **({"sweep": True} if sweep else {})}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "spec.json").write_text(json.dumps(spec))
    if sweep:
        (folder / "sweep.json").write_text(json.dumps(sweep))
    if per_user is not None:
        (folder / "test").mkdir()
        per_user.to_parquet(folder / "test" / "per_user.parquet", index=False)
    return folder


def per_user(ndcg=NDCG, shift=0.0):
    n = len(ndcg)
    cols = {"row": np.arange(n), "fold_in_size": np.array(FOLD_IN[:n], dtype=np.int64)}
    for k in (20, 50, 100):
        cols[f"ndcg@{k}"] = np.array(ndcg) + shift
        cols[f"recall@{k}"] = np.array(ndcg) / 2 + shift
        cols[f"precision@{k}"] = np.zeros(n)
        cols[f"hit@{k}"] = np.ones(n)
    return pd.DataFrame(cols)


def grouping_json(path, algorithm, timings, data="runs/toy", K=6):
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {"K": K, "R": 1, "F": 6, "algorithm": algorithm, "normalize": "l2", "timings": timings, "overlap": {"groups_per_item": 1.0}, "groups": [], "data": data,
               "command": f"aerec groups --data {data} -k {K} --algorithm {algorithm} --timings-out {path.name}"}  # fmt: skip
    path.write_text(json.dumps(summary))


def _section(text, start, end="</section>"):
    assert start in text, start
    return text.split(start, 1)[1].split(end, 1)[0]


def _pm(x):
    """Mean ± se written out by hand: the population standard deviation over sqrt(n)."""
    x = [float(v) for v in x]
    n = len(x)
    mean = sum(x) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in x) / n) / math.sqrt(n)
    return f"{mean:.4f}\u00a0±\u00a0{se:.4f}"


# -- cold start -------------------------------------------------------------------------------
def test_cold_start_numbers_are_a_hand_computation_and_the_paper_is_beside(tmp_path):
    run = tmp_path / "run"
    write_search(run / "swdae", "swdae", per_user=per_user())
    write_search(run / "mult-vae", "mult-vae", per_user=per_user(shift=0.01))
    write_search(run / "ease", "ease")  # no test/per_user.parquet: no cold-start row
    low, buckets, n = cold_start(run / "swdae")
    assert n == 6 and low["n"] == 3 and low["label"] == "[0, 20)"
    assert low["metrics"]["ndcg@100"]["mean"] == pytest.approx(0.3)
    assert low["metrics"]["ndcg@100"]["se"] == pytest.approx(math.sqrt(0.14 / 3) / math.sqrt(3))
    assert [b["label"] for b in buckets] == ["[5, 10)", "[10, 20)", "[20, 50)", "[50, 100)", "[100, inf)"]
    assert [b["n"] for b in buckets] == [1, 2, 1, 1, 1]

    text = write_report(run).read_text()
    table = _section(text, "Cold start (Table 7)", "</table>")
    rows = {r[0]: r for r in (re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr><td>.*?</tr>", table))}
    assert sorted(rows) == ["mult-vae", "swdae"], "one row per search with per-user results"
    sw = rows["swdae"]
    assert sw[2] == "3"
    assert sw[3:6] == [_pm(np.array(NDCG[:3]) / 2), _pm(np.array(NDCG[:3]) / 2), _pm(NDCG[:3])]  # Recall@20, Recall@50, NDCG@100
    assert sw[3:6] == [_pm([0.05, 0.1, 0.3]), _pm([0.05, 0.1, 0.3]), "0.3000\u00a0±\u00a00.1247"]
    assert sw[6:] == [f"{paper.TABLE7.rows['SW-DAE'][m]:.3f}" for m in ("recall@20", "recall@50", "ndcg@100")] == ["0.460", "0.619", "0.343"]
    assert rows["mult-vae"][5] == _pm(np.array(NDCG[:3]) + 0.01)
    assert "paper (ML-20M), Table 7" in table
    buckets_table = _section(text, "Test NDCG@100 by fold-in size", "</table>")
    assert "[10, 20), n = 2" in buckets_table and _pm(NDCG[1:3]) in buckets_table
    figure = re.findall(r'<img src="([^"]*cold-start[^"]*)"', text)
    assert len(figure) == 1 and (run / "report" / figure[0]).is_file()


def test_no_per_user_results_no_cold_start_section(tmp_path):
    write_search(tmp_path / "run" / "ease", "ease")
    text = write_report(tmp_path / "run").read_text()
    assert "Cold start (Table 7)" not in text and "fold-in size" not in text
    assert "Table 6" not in text.split('<section id="paper">')[0] and "genres" not in text


def test_a_per_user_file_without_the_metrics_is_a_one_line_error(tmp_path, capsys):
    write_search(tmp_path / "run" / "ease", "ease", per_user=per_user().drop(columns=["recall@50"]))
    assert main(["report", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aerec: error: ") and "recall@50" in err and len(err.splitlines()) == 1


# -- Table 6 ----------------------------------------------------------------------------------
def test_table6_shows_seconds_per_stage_with_their_mean_and_points_at_the_grouping_sweep(tmp_path):
    run = tmp_path / "run"
    base = {"laplacian": 0.01, "eigen": 0.5, "normalize": 0.001, "kmeans": 3.0, "assign": 0.4, "total": 4.0}
    grouping_json(run / "groupings" / "laplacian-1.json", "laplacian", base)
    grouping_json(run / "groupings" / "laplacian-2.json", "laplacian", {**base, "kmeans": 4.0, "total": 5.5})
    grouping_json(run / "groupings" / "svd-1.json", "svd", {**base, "laplacian": 0.0, "eigen": 0.25, "total": 3.0})
    (run / "groupings" / "notes.json").write_text(json.dumps({"K": 1}))  # another JSON file: ignored
    rows = [{"params": {"grouping": g}, "status": "ok", "validation": {"ndcg@100": _m(v)}, "test": {"summary": {"ndcg@100": _m(t), "recall@20": _m(0.3), "recall@50": _m(0.4)}}}
            for g, v, t in (("laplacian", 0.4251, 0.4413), ("svd", 0.4295, 0.4315))]  # fmt: skip
    write_search(run / "cells" / "toy" / "swdae", "swdae", sweep=rows)

    text = write_report(run).read_text()
    section = _section(text, '<section id="table6">')
    cells = {r[0]: r for r in (re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr><td>.*?</tr>", section))}
    lap, svd = cells["Algorithm 1 (Laplacian)"], cells["Algorithm 2 (SVD of X)"]
    assert lap[1] == "2" and svd[1] == "1"
    assert lap[2:] == ["0.010 (0.010, 0.010)", "0.500 (0.500, 0.500)", "0.001 (0.001, 0.001)", "3.500 (3.000, 4.000)", "0.400 (0.400, 0.400)", "4.750 (4.000, 5.500)"]
    assert svd[2:] == ["0.000", "0.250", "0.001", "3.000", "0.400", "3.000"]
    assert "aerec groups --data runs/toy -k 6 --algorithm svd --timings-out svd-1.json" in section, "the commands under the table"
    assert 'href="#data-toy"' in section and "validation 0.4251" in section and "test 0.4413" in section and "test 0.4315" in section
    assert '<a href="#table6">' in text


def test_a_grouping_sweep_alone_gives_the_accuracy_line_and_timings_alone_the_table(tmp_path):
    run = tmp_path / "run"
    write_search(run / "ease", "ease")
    grouping_json(run / "g" / "a.json", "svd", {"eigen": 0.2, "kmeans": 1.0, "total": 1.2})
    section = _section(write_report(run).read_text(), '<section id="table6">')
    assert "Algorithm 2 (SVD of X)" in section and "Accuracy" not in section


def test_a_malformed_json_file_under_the_run_directory_is_a_one_line_error(tmp_path, capsys):
    write_search(tmp_path / "run" / "ease", "ease")
    (tmp_path / "run" / "groupings").mkdir()
    (tmp_path / "run" / "groupings" / "svd-1.json").write_text('{"K": 6, "timings": ')
    assert main(["report", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aerec: error: ") and "svd-1.json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "report").exists()


# -- genres -----------------------------------------------------------------------------------
GENRES = ["Drama", "Drama|Comedy", "Comedy", "Horror", "Horror|Drama", ""]
GROUPS = np.array([[0, 1], [0, 2], [1, 2], [2, 0], [2, 1], [1, 0]])


def test_genres_section_has_the_table_the_command_and_copies_of_every_figure(tmp_path):
    run = tmp_path / "run"
    write_search(run / "ease", "ease")
    result = analyse(GROUPS, 3, GENRES, top=2, shuffles=2, seed=0)
    command = "aerec genres runs/<model> --top 2 --out run/genres-toy"
    write_outputs(result, run / "analyses" / "genres-toy", command=command)
    index = write_report(run)
    text = index.read_text()
    section = _section(text, '<section id="genres-analyses-genres-toy">')
    assert "aerec genres runs/&lt;model&gt; --top 2" in section and "runs/<model>" not in text
    rows = {r[0]: r for r in (re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr><td>.*?</tr>", section.split("</table>")[0]))}
    assert sorted(rows) == ["Comedy", "Drama", "Horror"]
    assert rows["Drama"][1] == "60.0%" and rows["Drama"][2] == f"{result['ours']['genres']['Drama']['top_mean']:.3f}"
    images = re.findall(r'<img src="([^"]+)"', section)
    sources = ["summary.png", "fig8-comedy.png", "fig8-drama.png", "fig8-horror.png"]
    assert len(images) == 4
    for name, src in zip(images, sources):
        assert name.endswith(src) and "/" not in name
        assert (index.parent / name).read_bytes() == (run / "analyses" / "genres-toy" / src).read_bytes()
    assert text.count("</table>") == len(re.findall(r'</table>\n<div class="cmd">', text)), "a command under every table"
    assert all('<div class="cmd">made by:<code>' in f for f in re.findall(r"<figure>(.*?)</figure>", text, re.S))


def test_a_genres_json_of_another_shape_is_not_a_section_and_a_broken_one_an_error(tmp_path, capsys):
    run = tmp_path / "run"
    write_search(run / "ease", "ease")
    (run / "other").mkdir()
    (run / "other" / "genres.json").write_text(json.dumps({"genres": ["Drama"]}))
    assert "Genre composition" not in write_report(run).read_text()
    result = {k: v for k, v in analyse(GROUPS, 3, GENRES, top=2, shuffles=2).items() if not k.startswith("_")}
    result["command"] = ""
    del result["ours"]["genres"]["Drama"]["exemplar"]
    (run / "other" / "genres.json").write_text(json.dumps(result))
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aerec: error: ") and "genres.json" in err and len(err.splitlines()) == 1


def test_the_report_modules_do_not_import_torch():
    code = "import sys, aerec.report, aerec.report_analyses; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- aerec groups --timings-out ---------------------------------------------------------------
def test_groups_timings_out_writes_the_summary_and_a_bad_path_is_one_line(tmp_path, capsys):
    assert main(["synth", "--users", "200", "--items", "60", "--interactions", "3000", "--groups", "4", "--out", str(tmp_path / "syn"), "-q"]) == 0
    out = tmp_path / "runs" / "groupings" / "svd-1.json"  # its folder is made
    argv = ["groups", "--data", str(tmp_path / "syn"), "-k", "4", "-r", "1", "-f", "4", "--algorithm", "svd", "--device", "cpu", "--show", "2"]
    assert main([*argv, "--timings-out", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads(out.read_text())
    assert {"K", "R", "F", "algorithm", "normalize", "timings", "overlap", "groups", "data", "command"} <= summary.keys()
    assert summary["K"] == 4 and summary["algorithm"] == "svd" and len(summary["groups"]) == 2
    assert set(summary["timings"]) == {"laplacian", "eigen", "normalize", "kmeans", "assign", "total"}
    assert "aerec groups --data" in summary["command"] and f"--timings-out {out}" in summary["command"]
    assert not list(out.parent.glob(".*")), "no temporary file left"

    (tmp_path / "a-file").write_text("")
    for bad in (tmp_path / "runs", tmp_path / "a-file" / "t.json"):  # a directory; a path under a file
        assert main([*argv, "--timings-out", str(bad)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("aerec: error: --timings-out ") and len(err.splitlines()) == 1
