"""The report's analyses of training and architecture: Figure 4, Figure 5, Figure 7's recall panel and Table 2.

:mod:`aerec.report` calls :func:`dataset_sections` from each dataset's section
and :func:`sweep_recall_panel` from its per-sweep plot. For one dataset:

* Table 2 (Khawar et al., Sec. 5.2): per Sw-DAE, Sw-DAE-P, Mult-VAE, Mult-DAE
  and FC-DAE search, its chosen trial's parameters (``fit_info.parameters``),
  FLOPs per user and architecture (what the chosen model's ``describe()``
  said, kept in its trial record: :mod:`aerec.cost`'s counts on its own
  config and items), test NDCG@100 and its % improvement over
  Mult-VAE, ``100 (NDCG - NDCG_vae) / NDCG_vae``.
* Figure 4 (Sec. 5.5): for every search trained with ``track_spectra`` (history
  records with a ``"monitor"``), per epoch (a) the spectral norm of each weight
  matrix, (b) the bound ``sqrt(prod_j ||W_j||² · sum_j srank(W_j) / n)``
  (:mod:`aerec.models.spectra`) and (c) the training loss and validation
  NDCG@100; and per search a table of those numbers at its best and last epoch.
* Figure 5 (Sec. 5.3): when two or more sweeps vary only a model's width
  (each model's ``describe()["width"]``), test NDCG@100 and Recall@20 against the width.
* Figure 7 (Sec. 5.9): beside every sweep's NDCG@100 panel, test Recall@20 and
  Recall@50 over the swept value, the value chosen on validation marked.

An epoch's history is read from the chosen trial's record (``summary.json``'s
``best``, a line of ``trials.jsonl``) when it holds one, else from the chosen
model's ``best/model.json`` (``aerec.search`` keeps long histories there), else
from the first trial of ``trials.jsonl`` that has one. A section whose data is
absent is left out; a file that is not JSON is a one-line ConfigError.

This module reads JSON and draws; it never imports torch (the cost formulas,
:mod:`aerec.cost`, are plain arithmetic).
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from aerec.errors import ConfigError
from aerec.report_html import Page, SELECT, Search, esc, fmt_pm, fmt_value, html_commands, html_thead, new_figure, read_json

TABLE2_MODELS = {"swdae": "Sw-DAE", "swdae-p": "Sw-DAE-P", "mult-vae": "Mult-VAE", "mult-dae": "Mult-DAE", "fc-dae": "FC-DAE"}  # in the paper's order
BOUND = "sqrt(∏_j ||W_j||₂² · Σ_j srank(W_j) / n)"


def dataset_sections(page: Page, dataset: str, searches: list[Search]) -> None:
    """Table 2, Figure 4 and Figure 5 for one dataset, each only where its data is there."""
    table2_section(page, dataset, searches)
    figure4_section(page, dataset, searches)
    figure5_section(page, dataset, searches)


# -- Table 2 --------------------------------------------------------------------------------
def table2_section(page: Page, dataset: str, searches: list[Search]) -> None:
    rows = sorted((r for r in (_table2_row(s) for s in searches) if r is not None), key=lambda r: (list(TABLE2_MODELS).index(r["key"]), r["search"].name))
    if not rows:
        return
    vae = [r for r in rows if r["key"] == "mult-vae" and r["ndcg"] is not None]
    ref = next((r for r in vae if r["search"].path.name == "mult-vae"), vae[0] if vae else None)
    page.add(f"<h3>Table 2 (ours, {esc(dataset)}): parameters, FLOPs and NDCG@100</h3>")
    items = sorted({r["n_items"] for r in rows if r["n_items"]})
    note = "Parameters are the chosen model's own count; FLOPs per user count one multiply and one add per weight of a forward pass (aerec.cost)"
    note += f", on {', '.join(f'{n:,}' for n in items)} items" if items else ""
    if ref is not None:
        note += f". % improvement: 100 · (NDCG@100 − Mult-VAE's) / Mult-VAE's, Mult-VAE being search {ref['search'].name}"
    page.add(f"<p>{esc(note)}. The paper's Table 2 (ML-20M, Netflix, MSD) is under <em>the paper's numbers</em>.</p>", "<table>")
    page.add(html_thead([("", ["model", "search"]), (f"ours ({dataset})", ["architecture", "parameters", "FLOPs per user", "test NDCG@100", "% improvement over Mult-VAE"])]), "<tbody>")
    for r in rows:
        improvement = "–"
        if ref is not None and r is not ref and r["ndcg"] is not None and ref["ndcg"]["mean"]:
            improvement = f"{100.0 * (r['ndcg']['mean'] - ref['ndcg']['mean']) / ref['ndcg']['mean']:+.2f}"
        cells = [r["label"], r["search"].name, r["architecture"], _count(r["parameters"]), _count(r["flops"]), fmt_pm(r["ndcg"]), improvement]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands([_command(r["search"]) for r in rows]))


def _table2_row(s: Search) -> dict | None:
    key = _table2_key(s)
    best = s.summary.get("best")
    if key is None or not isinstance(best, dict):
        return None
    facts = s.facts  # what the chosen model said of itself (Recommender.describe): nothing here switches on model names
    cost = facts.get("cost") if isinstance(facts.get("cost"), dict) else {}
    n_items, flops, parameters = facts.get("items"), cost.get("flops_per_user"), (best.get("fit_info") or {}).get("parameters")
    return {"key": key, "label": TABLE2_MODELS[key], "search": s, "n_items": n_items if isinstance(n_items, int) else None,
            "architecture": str(facts.get("architecture") or "–"), "parameters": parameters if isinstance(parameters, int) else None,
            "flops": flops if isinstance(flops, int) else None, "ndcg": s.test(SELECT)}  # fmt: skip


def _table2_key(s: Search) -> str | None:
    return s.variant if s.variant in TABLE2_MODELS else None


# -- Figure 4 -------------------------------------------------------------------------------
def figure4_section(page: Page, dataset: str, searches: list[Search]) -> None:
    runs = [r for r in (_monitored(s) for s in searches) if r is not None]
    if not runs:
        return
    for r in runs:
        r["label"] = r["search"].model if sum(x["search"].model == r["search"].model for x in runs) == 1 else f"{r['search'].model} ({r['search'].name})"
    commands = [_command(r["search"]) for r in runs]
    page.add(f"<h3>Figure 4 (ours, {esc(dataset)}): spectral norm, generalization bound and training</h3>")
    page.add(f"<p>Recorded after every epoch with <code>track_spectra = true</code> (aerec.models.spectra). The bound is {esc(BOUND)} over the "
             "network's weight matrices W_j and the n training users: the expression inside Neyshabur et al.'s O(), without its constant.</p>")  # fmt: skip
    caption = (f"{dataset}: (a) spectral norm ||W||₂ of each model's encoder (solid) and decoder (dashed) weight matrix; (b) the bound {BOUND}, "
               f"without the O() constant (log scale); (c) training loss (solid, left axis) and validation NDCG@100 (dashed, right axis). "
               f"One colour per model: {', '.join(r['label'] for r in runs)}.")  # fmt: skip
    page.figure(f"{dataset}-figure4", _figure4(dataset, runs), f"spectral norm, generalization bound, training loss and validation NDCG@100 per epoch on {dataset}", commands, caption)
    for r in runs:
        _epoch_table(page, r)


def _monitored(s: Search) -> dict | None:
    """The chosen trial's training (else the first trial's with one) when its history has monitor records."""
    best = s.summary.get("best")
    candidates = []
    if isinstance(best, dict):
        candidates.append((best.get("params"), (best.get("fit_info") or {}).get("training")))
        if (s.path / "best" / "model.json").is_file():
            candidates.append((best.get("params"), (_model_json(s).get("fit_info") or {}).get("training")))
    for params, training in candidates:
        if _has_monitor(training):
            return {"search": s, "params": params, "training": training, "chosen": True}
    for record in _trials(s.path / "trials.jsonl"):
        training = (record.get("fit_info") or {}).get("training") if isinstance(record.get("fit_info"), dict) else None
        if _has_monitor(training):
            return {"search": s, "params": record.get("params"), "training": training, "chosen": False}
    return None


def _has_monitor(training: Any) -> bool:
    return isinstance(training, dict) and any(isinstance(h, dict) and isinstance(h.get("monitor"), dict) for h in training.get("history") or [])


def _figure4(dataset: str, runs: list[dict]):
    fig = new_figure(15.0, 4.4)
    ax_norm, ax_bound, ax_loss = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    ax_val = ax_loss.twinx()
    positive = True
    for i, r in enumerate(runs):
        colour, history = f"C{i}", _history(r["training"])
        monitored = [h for h in history if isinstance(h.get("monitor"), dict)]
        for j, layer in enumerate(_layers(monitored)):
            xs, ys = _xy(monitored, lambda h, layer=layer: (((h["monitor"].get("layers") or {}).get(layer) or {}).get("spectral_norm")))
            ax_norm.plot(xs, ys, _style(layer, j), color=colour, label=f"{r['label']}: {layer}")
        xs, ys = _xy(monitored, lambda h: h["monitor"].get("bound"))
        positive = positive and all(y > 0 for y in ys)
        ax_bound.plot(xs, ys, "-", color=colour, label=r["label"])
        xs, ys = _xy(history, lambda h: h.get("loss"))
        ax_loss.plot(xs, ys, "-", color=colour, label=f"{r['label']}: training loss")
        xs, ys = _xy(history, lambda h: h.get("validation"))
        ax_val.plot(xs, ys, "--", marker=".", color=colour, label=f"{r['label']}: validation NDCG@100")
    if positive:
        ax_bound.set_yscale("log")
    for ax, title, ylabel in ((ax_norm, "(a) spectral norm", r"$\|W\|_2$"), (ax_bound, "(b) generalization bound", "bound (no constant)"), (ax_loss, "(c) training loss and validation NDCG@100", "training loss")):
        ax.set_title(f"{title} ({dataset})", fontsize="medium")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_val.set_ylabel("validation NDCG@100")
    ax_norm.legend(fontsize="small")
    ax_bound.legend(fontsize="small")
    handles = ax_loss.get_legend_handles_labels()[0] + ax_val.get_legend_handles_labels()[0]
    ax_val.legend(handles, [h.get_label() for h in handles], fontsize="small", loc="center right")  # on the upper axes, so no line crosses it
    return fig


def _epoch_table(page: Page, r: dict) -> None:
    training, s = r["training"], r["search"]
    history = _history(training)
    layers = _layers([h for h in history if isinstance(h.get("monitor"), dict)])
    by_epoch = {h.get("epoch"): h for h in history}
    best_epoch = training.get("best_epoch")
    if best_epoch not in by_epoch:  # no record of it: the epoch of the highest validation
        scored = [h for h in history if _number(h.get("validation")) is not None]
        best_epoch = max(scored, key=lambda h: h["validation"]).get("epoch") if scored else None
    which = "its chosen trial" if r["chosen"] else f"trial {', '.join(f'{k}={fmt_value(v)}' for k, v in (r['params'] or {}).items()) or '(defaults)'}"
    page.add(f"<h4>{esc(r['label'])} ({esc(s.name)}, {esc(which)}): best and last epoch</h4>", "<table>")
    groups = [("", ["", "epoch"])] + ([("spectral norm ||W||₂", layers), ("stable rank", layers)] if layers else []) + [("", ["bound", "training loss", "val NDCG@100"])]
    page.add(html_thead(groups), "<tbody>")
    for label, h in (("best epoch (on validation)", by_epoch.get(best_epoch)), ("last epoch", history[-1] if history else None)):
        h = h or {}
        monitor = h.get("monitor") if isinstance(h.get("monitor"), dict) else {}
        per_layer = monitor.get("layers") or {}
        cells = [label, fmt_value(h.get("epoch", "–"))]
        cells += [_text((per_layer.get(n) or {}).get("spectral_norm")) for n in layers]
        cells += [_text((per_layer.get(n) or {}).get("stable_rank")) for n in layers]
        cells += [_text(monitor.get("bound")), _text(h.get("loss")), _text(h.get("validation"), ".4f")]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands([_command(s)]))


def _history(training: dict) -> list[dict]:
    return [h for h in training.get("history") or [] if isinstance(h, dict)]


def _layers(history: list[dict]) -> list[str]:
    """Layer names in the order first seen."""
    names: dict[str, None] = {}
    for h in history:
        names.update(dict.fromkeys(h["monitor"].get("layers") or {}))
    return list(names)


def _style(layer: str, j: int) -> str:
    return {"encoder": "-", "decoder": "--"}.get(layer, (":", "-.")[j % 2])


# -- Figure 5 -------------------------------------------------------------------------------
def figure5_section(page: Page, dataset: str, searches: list[Search]) -> None:
    sweeps = sorted(((s, f) for s in searches if (f := _width_field(s)) is not None), key=lambda x: ("structure" not in x[0].facts, x[0].name))  # structured models first
    if len(sweeps) < 2:
        return
    series = []
    for s, f in sweeps:
        label = s.model if sum(x.model == s.model for x, _ in sweeps) == 1 else f"{s.model} ({s.name})"
        chosen = (s.summary.get("best") or {}).get("params")
        points = {}
        for row in s.sweep:
            test = (row.get("test") or {}).get("summary") or {}
            width = row["params"].get(f)
            if row.get("status") == "ok" and test.get(SELECT) and _number(width) is not None:
                points[width] = {"test": test, "chosen": row["params"] == chosen}
        series.append({"search": s, "field": f, "label": label, "points": points})
    series = [x for x in series if x["points"]]
    if len(series) < 2:
        return
    commands = [_command(x["search"]) for x in series]
    fields = ", ".join(sorted({f"{x['search'].model}: {x['field']}" for x in series}))
    page.add(f"<h3>Figure 5 (ours, {esc(dataset)}): test accuracy against the width of the hidden layer</h3>")
    page.add(f"<p>Each width is trained, chosen on validation at its best epoch and scored on the test users (sweep = true). The width is K ({esc(fields)}); "
             "★ marks the width each model's search chose on validation. Each sweep also has its own section below.</p>", "<table>")  # fmt: skip
    page.add(html_thead([("", ["width K"])] + [(x["label"], ["test NDCG@100", "test Recall@20"]) for x in series]), "<tbody>")
    for width in sorted({w for x in series for w in x["points"]}):
        cells = [fmt_value(width)]
        for x in series:
            p = x["points"].get(width)
            cells += [fmt_pm(p["test"].get(SELECT)) + (" ★" if p["chosen"] else ""), fmt_pm(p["test"].get("recall@20"))] if p else ["–", "–"]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands(commands))
    caption = f"Test NDCG@100 (left) and Recall@20 (right), ±1 s.e., against the width K on {dataset}, one line per model: {', '.join(x['label'] for x in series)}."
    page.figure(f"{dataset}-figure5", _figure5(dataset, series), f"test NDCG@100 and Recall@20 against the width K on {dataset}", commands, caption)


def _width_field(s: Search) -> str | None:
    """The width field a sweep varies (the chosen model's ``describe()["width"]``), when it varies that field alone."""
    field = (s.facts.get("width") or {}).get("field")
    if field is None or not s.sweep:
        return None
    rows = [r for r in s.sweep if isinstance(r, dict) and isinstance(r.get("params"), dict)]
    names = {k for r in rows for k in r["params"]}
    varying = {k for k in names if len({json.dumps(r["params"].get(k), sort_keys=True) for r in rows}) > 1}
    return field if varying == {field} else None


def _figure5(dataset: str, series: list[dict]):
    fig = new_figure(11.0, 4.2)
    for k, (metric, name) in enumerate(((SELECT, "NDCG@100"), ("recall@20", "Recall@20")), 1):
        ax = fig.add_subplot(1, 2, k)
        for i, x in enumerate(series):
            widths = sorted(x["points"])
            values = [x["points"][w]["test"].get(metric) or {} for w in widths]
            ax.errorbar(widths, [v.get("mean") for v in values], yerr=[v.get("se") or 0.0 for v in values], marker="o", capsize=3, color=f"C{i}", label=x["label"])
        widths = sorted({w for x in series for w in x["points"]})
        if all(w > 0 for w in widths):
            ax.set_xscale("log")
            ax.set_xticks(widths, [fmt_value(w) for w in widths], minor=False)
            ax.set_xticks([], minor=True)
        ax.set_xlabel("width K of the hidden layer")
        ax.set_ylabel(f"test {name}")
        ax.set_title(f"{dataset}: test {name} (±1 s.e.)", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


# -- Figure 7: the recall panel of a sweep's plot ----------------------------------------------
def sweep_recall_panel(ax, ax_ndcg, s: Search, ok: list[dict], xs: list, numeric: bool) -> None:
    """Test Recall@20 and Recall@50 (±1 s.e.) over the swept value on ``ax`` (which shares ``ax_ndcg``'s x axis: its scale and
    ticks); the value chosen on validation marked on both panels."""
    chosen = (s.summary.get("best") or {}).get("params")
    for metric, name, marker in (("recall@20", "Recall@20", "o"), ("recall@50", "Recall@50", "s")):
        points = [(x, ((r.get("test") or {}).get("summary") or {}).get(metric)) for x, r in zip(xs, ok)]
        points = [(x, v) for x, v in points if v and v.get("mean") is not None]
        if points:
            ax.errorbar([x for x, _ in points], [v["mean"] for _, v in points], yerr=[v.get("se") or 0.0 for _, v in points], marker=marker, capsize=3, label=f"ours ({s.dataset}), test {name}")
    marked = [x for x, r in zip(xs, ok) if r["params"] == chosen]
    for a in (ax_ndcg, ax):
        for x in marked:
            a.axvline(x, linestyle=":", color="#555", label="chosen on validation")
    if not ax.has_data():
        ax.text(0.5, 0.5, "no test metrics (trials not kept)", ha="center", va="center", transform=ax.transAxes)
    if not numeric:  # the trials' labels, as on the NDCG@100 panel
        ax.tick_params(axis="x", labelrotation=30, labelsize="small")
    ax.set_xlabel(ax_ndcg.get_xlabel())
    ax.set_ylabel("test recall")
    ax.set_title(f"{s.model} on {s.dataset}: test Recall@20 and Recall@50")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


# -- reading ----------------------------------------------------------------------------------
def _model_json(s: Search) -> dict:
    """The chosen model's ``best/model.json`` ({} when there is none)."""
    path = s.path / "best" / "model.json"
    if not path.is_file():
        return {}
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: not a JSON object")
    return meta


def _trials(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path}:{n}: not a JSON line") from None
        if isinstance(record, dict):
            out.append(record)
    return out


def _command(s: Search) -> str:
    return s.command or f"aerec search SPEC.toml --out {shlex.quote(str(s.path))}  # SPEC.toml: spec.json of {s.name}, shown under the leaderboard"


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _xy(history: list[dict], get) -> tuple[list, list]:
    pairs = [(h.get("epoch"), _number(get(h))) for h in history]
    pairs = [(x, y) for x, y in pairs if _number(x) is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _text(v, fmt: str = ".4g") -> str:
    return "–" if _number(v) is None else format(v, fmt)


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n:,} ({n / 1e6:.3f} M)"
