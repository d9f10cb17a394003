"""The report's Table 2, Figure 4, Figure 5 and Figure 7 panel, from made-up search directories (no model is fitted)."""

import json
import re
import subprocess
import sys

import pytest

from aerec.cli import main
from aerec.errors import ConfigError
from aerec.cost import multvae_cost, swdae_cost
from aerec.report import _sweep_plot, load_search, write_report
from tests.test_report import _metrics, write_fake_sweep


def write_search(folder, model, *, ndcg=0.30, params=None, fixed=None, fit_info=None, model_json=None, trials=None, data="runs/toy", describe=None):
    """A finished (non-sweep) search's files: summary.json, spec.json, trials.jsonl and, when given, best/model.json;
    ``describe``: the chosen model's facts, as aerec.search keeps them in the trial record."""
    folder.mkdir(parents=True)
    params = params or {}
    best = {"params": params, "status": "ok", "validation": _metrics(ndcg + 0.01), "fit_info": fit_info or {}, "fit_seconds": 1.0, "seconds": 1.0}
    if describe is not None:
        best["describe"] = describe
    summary = {"model": model, "data": data, "best": best, "n_trials": 1, "n_failed": 0, "statuses": ["ok"], "test": {"summary": _metrics(ndcg), "n_scored": 30}}
    spec = {"model": model, "data": data, "method": "grid", "fixed": {**(fixed or {})}, "grid": {k: [v] for k, v in params.items()}}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "spec.json").write_text(json.dumps(spec))
    (folder / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in (trials if trials is not None else [best])))
    if model_json is not None:
        (folder / "best").mkdir()
        (folder / "best" / "model.json").write_text(model_json if isinstance(model_json, str) else json.dumps(model_json))
    return folder


def history(n_epochs=5, scale=1.0, monitor=True):
    """Epoch records as aerec.training writes them; validation peaks at epoch 3."""
    out = []
    for e in range(1, n_epochs + 1):
        record = {"epoch": e, "steps": 10 * e, "loss": 1.0 / e, "train_seconds": 0.1, "seconds": 0.1 * e, "validation": 0.20 + 0.01 * min(e, 3) - 0.005 * max(e - 3, 0)}
        if monitor:
            layers = {"encoder": {"spectral_norm": scale * (1.5 + 0.25 * e), "stable_rank": 10.5 + e, "frobenius": 9.0}, "decoder": {"spectral_norm": scale * (3.0 + 0.5 * e), "stable_rank": 20.0 + e, "frobenius": 9.0}}
            record["monitor"] = {"layers": layers, "bound": scale * 2.0**e}
        out.append(record)
    return out


def training(hist, best_epoch=3):
    return {"best_validation_ndcg@100": 0.23, "best_epoch": best_epoch, "epochs": len(hist), "history": hist}


def _cells(row_html):
    return re.findall(r"<td>(.*?)</td>", row_html)


def _commands_follow_every_table(text):
    assert text.count("</table>") == len(re.findall(r'</table>\n<div class="cmd">', text)), "a command under every table"
    assert all('<div class="cmd">made by:<code>' in f for f in re.findall(r"<figure>(.*?)</figure>", text, re.S)), "a command in every figure"


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """Sw-DAE with its history in the trial record, FC-DAE with it only in best/model.json (as aerec.search keeps it)."""
    run = tmp_path_factory.mktemp("fig4") / "run"
    cells = run / "cells" / "toy"
    write_search(cells / "swdae", "swdae", ndcg=0.32, fit_info={"training": training(history()), "parameters": 100})
    brief = {"training": {k: v for k, v in training(history(scale=4.0)).items() if k != "history"}, "parameters": 200}
    write_search(cells / "fc-dae", "fc-dae", ndcg=0.28, fit_info=brief, model_json={"model": "fc-dae", "fit_info": {"training": training(history(scale=4.0)), "parameters": 200}})
    index = write_report(run)
    return index, index.read_text()


def test_figure4_appears_with_its_image_when_histories_have_monitor_records(monitored):
    index, text = monitored
    section = text.split("<h3>Figure 4 (ours, toy)")[1].split("<h3>")[0]
    image = re.search(r'<img src="([^"]+)" alt="spectral norm, generalization bound', section).group(1)
    assert (index.parent / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "without the O() constant" in section and "sqrt(∏_j ||W_j||₂² · Σ_j srank(W_j) / n)" in section
    assert "One colour per model: swdae, fc-dae." in section or "One colour per model: fc-dae, swdae." in section
    _commands_follow_every_table(text)


def test_the_best_and_last_epoch_table_shows_that_epochs_numbers(monitored):
    _, text = monitored
    for model, scale in (("swdae", 1.0), ("fc-dae", 4.0)):
        table = text.split(f"<h4>{model} (cells/toy/{model}, its chosen trial): best and last epoch</h4>")[1].split("</table>")[0]
        assert "<th>encoder</th><th>decoder</th><th>encoder</th><th>decoder</th>" in table
        rows = {cells[0]: cells[1:] for cells in map(_cells, re.findall(r"<tr>.*?</tr>", table)) if cells}
        for label, e in (("best epoch (on validation)", 3), ("last epoch", 5)):
            h = history(scale=scale)[e - 1]
            layers = h["monitor"]["layers"]
            expected = [str(e), format(layers["encoder"]["spectral_norm"], ".4g"), format(layers["decoder"]["spectral_norm"], ".4g"),
                        format(layers["encoder"]["stable_rank"], ".4g"), format(layers["decoder"]["stable_rank"], ".4g"),
                        format(h["monitor"]["bound"], ".4g"), format(h["loss"], ".4g"), format(h["validation"], ".4f")]  # fmt: skip
            assert rows[label] == expected, (model, label)
    assert rows["best epoch (on validation)"][:3] == ["3", "9", "18"], "fc-dae at epoch 3: 4·(1.5+0.75), 4·(3+1.5)"


def test_no_monitor_records_no_figure4(tmp_path):
    run = tmp_path / "run"
    write_search(run / "swdae", "swdae", fit_info={"training": training(history(monitor=False)), "parameters": 100})
    text = write_report(run).read_text()
    assert "Figure 4" not in text and "spectral norm" not in text


def test_figure5_combines_width_sweeps_of_different_models_and_lists_each_width(tmp_path):
    run = tmp_path / "run"
    write_fake_sweep(run / "swdae", model="swdae", field="n_groups", values=(250, 500, 1000), data="runs/toy")
    write_fake_sweep(run / "mult-vae", model="mult-vae", field="hidden", values=(250, 600), data="runs/toy")
    index = write_report(run)
    text = index.read_text()
    section = text.split("<h3>Figure 5 (ours, toy)")[1].split("<h3>")[0]
    table = section.split("</table>")[0]
    assert '<th colspan="2">swdae</th><th colspan="2">mult-vae</th>' in table
    rows = [_cells(r) for r in re.findall(r"<tr><td>.*?</tr>", table)]
    assert [r[0] for r in rows] == ["250", "500", "600", "1000"]
    assert rows[2][1:3] == ["–", "–"] and rows[1][3:] == ["–", "–"], "a width one model did not train is a dash"
    assert rows[3][1] == "0.3100\u00a0±\u00a00.0100 ★" and rows[3][2] == "0.2900\u00a0±\u00a00.0100", "swdae at K=1000: the chosen (last) level"
    assert re.search(r'<img src="[^"]+" alt="test NDCG@100 and Recall@20 against the width K on toy">', section)
    assert "Sweep: swdae over n_groups" in text and "Sweep: mult-vae over hidden" in text, "each sweep keeps its own section"
    assert len(re.findall(r"<img ", text)) == 4, "the bar chart, Figure 5 and one plot per sweep"
    _commands_follow_every_table(text)


def test_one_width_sweep_or_a_sweep_over_something_else_makes_no_figure5(tmp_path):
    run = tmp_path / "run"
    write_fake_sweep(run / "swdae", model="swdae", field="n_groups", values=(250, 500), data="runs/toy")
    write_fake_sweep(run / "swdae-r", model="swdae", field="overlap_ratio", values=(0.05, 0.1), data="runs/toy")
    assert "Figure 5" not in write_report(run).read_text()


def test_every_sweep_plot_has_a_recall_panel_with_the_choice_marked(tmp_path):
    run = tmp_path / "run"
    values = (0.02, 0.05, 0.1, 0.2)
    write_fake_sweep(run / "swdae", model="swdae", field="overlap_ratio", values=values, data="runs/toy")
    text = write_report(run).read_text()
    assert 'alt="NDCG@100, Recall@20 and Recall@50 over overlap_ratio for swdae"' in text
    assert "right: test Recall@20 and Recall@50 (±1 s.e.); dotted: the value chosen on validation" in text
    s = load_search(run / "swdae", run)
    fig = _sweep_plot(s, s.sweep, ["overlap_ratio"], {})
    ndcg_ax, recall_ax = fig.axes
    series = {c.get_label(): list(c.lines[0].get_ydata()) for c in recall_ax.containers}
    expected = [r["test"]["summary"] for r in s.sweep]
    assert series["ours (toy), test Recall@20"] == pytest.approx([t["recall@20"]["mean"] for t in expected])
    assert series["ours (toy), test Recall@50"] == pytest.approx([t["recall@50"]["mean"] for t in expected])
    for ax in (ndcg_ax, recall_ax):
        marks = [line for line in ax.get_lines() if line.get_label() == "chosen on validation"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [0.2, 0.2], "the last level is the validation choice"


def table2_run(root):
    n = 500
    cells = root / "run" / "cells" / "toy"
    sw, swp, vae = swdae_cost(n, 100, 10), swdae_cost(n, 40, 4), multvae_cost(n, 600, 200)
    facts = lambda variant, arch, cost: {"variant": variant, "items": n, "architecture": arch, "cost": cost}  # noqa: E731  (describe()'s)
    write_search(cells / "swdae", "swdae", ndcg=0.33, params={"n_groups": 100}, fixed={"overlap_ratio": 0.1}, fit_info={"parameters": sw["parameters"]},
                 describe=facts("swdae", "K = 100, R = 10", sw))
    write_search(cells / "swdae-matched", "swdae", ndcg=0.315, fixed={"match_model": "mult-vae"}, fit_info={"parameters": swp["parameters"]},
                 describe=facts("swdae-p", "K = 40, R = 4", swp))
    write_search(cells / "mult-vae", "mult-vae", ndcg=0.30, fit_info={"parameters": vae["parameters"]}, describe=facts("mult-vae", "I-600-200-600-I", vae))
    write_search(cells / "ease", "ease", ndcg=0.35, fit_info={})
    return root / "run", {"Sw-DAE": sw, "Sw-DAE-P": swp, "Mult-VAE": vae}


def test_table2_counts_are_the_cost_formulas_and_the_improvement_is_over_mult_vae(tmp_path):
    run, costs = table2_run(tmp_path)
    text = write_report(run).read_text()
    table = text.split("<h3>Table 2 (ours, toy)")[1].split("</table>")[0]
    rows = {c[0]: c[1:] for c in map(_cells, re.findall(r"<tr><td>.*?</tr>", table))}
    assert list(rows) == ["Sw-DAE", "Sw-DAE-P", "Mult-VAE"], "EASE is not in Table 2; a swdae search with match_model is Sw-DAE-P"
    for label, cost in costs.items():
        p, f = cost["parameters"], cost["flops_per_user"]
        assert rows[label][2:4] == [f"{p:,} ({p / 1e6:.3f} M)", f"{f:,} ({f / 1e6:.3f} M)"], label
    assert rows["Sw-DAE"][1] == "K = 100, R = 10" and rows["Mult-VAE"][1] == "I-600-200-600-I"
    assert rows["Sw-DAE"][-1] == f"{100 * (0.33 - 0.30) / 0.30:+.2f}" == "+10.00"
    assert rows["Sw-DAE-P"][-1] == "+5.00" and rows["Mult-VAE"][-1] == "–"
    _commands_follow_every_table(text)


def test_the_report_with_table2_does_not_import_torch(tmp_path):
    run, _ = table2_run(tmp_path)
    code = "import sys; from aerec.report import write_report; write_report(sys.argv[1]); assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code, str(run)], check=True, timeout=120)


def test_no_table2_model_no_table2(tmp_path):
    run = tmp_path / "run"
    write_search(run / "ease", "ease")
    assert "Table 2 (ours" not in write_report(run).read_text()


@pytest.mark.parametrize("where", ["model.json", "trials.jsonl"])
def test_malformed_json_is_a_one_line_error(tmp_path, capsys, where):
    run = tmp_path / "run"
    if where == "model.json":
        write_search(run / "fc-dae", "fc-dae", model_json="{not json")
    else:
        write_search(run / "fc-dae", "fc-dae", trials=[])
        (run / "fc-dae" / "trials.jsonl").write_text('{"params": {}}\n{oops\n')
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        write_report(run)
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aerec: error: ") and len(err.splitlines()) == 1
