"""Search directories -> one static HTML page of tables and matplotlib figures.

``write_report(run_dir)`` finds every finished search under ``run_dir`` (a
directory holding ``summary.json``, at any depth: an ``aerec search --out``
directory, or a cell of an ``aerec experiment`` run), groups them by dataset
(the last component of the prepared directory in ``summary.json``'s ``data``)
and writes ``index.html`` with PNG figures beside it:

* per dataset, the leaderboard (test NDCG@100, Recall@20, Recall@50 as
  mean ± s.e. over test users, the validation NDCG@100 the choice was made on,
  the chosen values) and a bar chart of test NDCG@100 with ±1 s.e. error bars;
* per sweep (``sweep.json``), a table of every level and a line plot of
  validation and test NDCG@100 over the swept value;
* the paper's published numbers (``aerec.paper``) beside ours where the paper
  reports the same analysis: Table 3 by model name, Table 4 for an fc-prune
  sweep over ``sparsity``, Table 5 for an fc-reg sweep over ``activation_l1``.
  They are the paper's ML-20M numbers; our datasets differ, and the page says so;
* from :mod:`aerec.report_analyses`: per dataset, cold start (Table 7: the
  test metrics of users with few fold-in items, from ``test/per_user.parquet``,
  and NDCG@100 per bucket of fold-in size); Table 6 (seconds per stage of
  Algorithm 1 and 2 from ``aerec groups --timings-out`` files, and a pointer
  to a sweep over ``grouping``); the genre composition of hidden units
  (Table 8, Figure 8) of every ``aerec genres --out`` directory, its PNGs
  copied in.
* from :mod:`aerec.report_training`: per dataset, our Table 2 (parameters,
  FLOPs per user, NDCG@100 and % over Mult-VAE), Figure 4 (spectral norm,
  bound, loss and validation NDCG@100 per epoch of ``track_spectra`` runs)
  and Figure 5 (test accuracy against the width of two or more width
  sweeps); and in every sweep's plot, Figure 7's panel of test Recall@20
  and Recall@50, the value chosen on validation marked.

Every table and figure carries the command that made it: ``aerec search
SPEC.toml --out DIR`` with the TOML file found under an ``experiments/``
folder whose model, data, fixed fields and grid equal ``spec.json``'s (when
none matches, the spec itself is shown as TOML). The page is self-contained
(no JavaScript, no external resources) and all text is HTML-escaped. It is
built in a temporary directory and renamed into place.

This module reads JSON and draws; it never imports torch.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import tomllib
from collections import Counter
from pathlib import Path

from aerec import paper
from aerec.atomic import atomic_dir
from aerec.errors import ConfigError
from aerec.report_html import PAPER_LABEL, SELECT, Page, Search, esc, fmt_num, fmt_pm, fmt_value, html_commands, html_thead, new_figure, read_json, rel_path, slug


def find_searches(run_dir: str | Path) -> tuple[list[Path], list[Path]]:
    """Finished search directories (with summary.json) under ``run_dir``, and unfinished ones (spec.json only)."""
    finished, unfinished = [], []
    for root, dirs, files in os.walk(run_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "summary.json" in files:
            finished.append(Path(root))
            dirs[:] = []  # best/, trials/, test/ hold no searches
        elif "spec.json" in files:
            unfinished.append(Path(root))
    return finished, unfinished


def load_search(path: Path, run_dir: Path) -> Search:
    summary = read_json(path / "summary.json")
    spec = read_json(path / "spec.json") if (path / "spec.json").is_file() else None
    sweep = read_json(path / "sweep.json") if (path / "sweep.json").is_file() else None
    s = Search(path, summary, spec, sweep, name=rel_path(path, run_dir))
    if spec is not None:
        s.spec_toml = spec_as_toml(spec)
        s.command = search_command(path, spec)
    return s


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``out/index.html`` (default ``run_dir/report``) and its figures; return the index's path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such directory")
    found, unfinished = find_searches(run_dir)
    if not found:
        raise ConfigError(f"{run_dir}: no finished search under it (no summary.json; run `aerec search` or `aerec experiment` first)")
    out = Path(out) if out is not None else run_dir / "report"
    if out.is_dir() and any(out.iterdir()) and not (out / "index.html").is_file():
        raise ConfigError(f"{out}: exists, is not empty and holds no earlier report (index.html); choose another --out")
    searches = [load_search(p, run_dir) for p in found]
    page = _build(run_dir, out, searches, unfinished)
    with atomic_dir(out, overwrite=True) as tmp:
        for name, fig in page.figures.items():
            fig.savefig(tmp / name, dpi=110)
        for name, src in page.files.items():
            shutil.copyfile(src, tmp / name)
        (tmp / "index.html").write_text("\n".join(page.parts) + "\n", encoding="utf-8")
    return out / "index.html"


# -- the page ---------------------------------------------------------------------------
def _build(run_dir: Path, out: Path, searches: list[Search], unfinished: list[Path]) -> Page:
    page = Page()
    title = f"aerec report: {run_dir}"
    page.add("<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(title)}</title>", f"<style>{_CSS}</style>", "</head><body>")
    page.add(f"<h1>{esc(title)}</h1>")
    page.add("<p>Test metrics are means over test users ± one standard error; each model was chosen on validation NDCG@100 "
             "alone and its test users scored once. Columns and markers labelled <em>paper (ML-20M)</em> are the published numbers "
             "of Khawar et al. (WWW 2020) on ML-20M: a different, larger dataset than ours, shown for context, not as targets.</p>")  # fmt: skip
    made_by = [f"aerec report {shlex.quote(str(run_dir))} --out {shlex.quote(str(out))}"]
    if (run_dir / "run.json").is_file() and (run_dir / "config.toml").is_file():  # an `aerec experiment` run (config.toml: its file's copy)
        experiment = shlex.join(["aerec", "experiment", str(run_dir / "config.toml"), "--out", str(run_dir)])
        made_by.insert(0, experiment)
        description = read_json(run_dir / "run.json").get("description")
        if description:
            page.add(f"<p>{esc(description)}</p>")
        for s in searches:
            s.command = s.command or f"{experiment}  # its cell {s.name}"
    page.add(html_commands(made_by, label="made by"))
    by_dataset: dict[str, list[Search]] = {}
    for s in searches:
        by_dataset.setdefault(s.dataset, []).append(s)
    from aerec.report_analyses import analyses_sections, find_analyses  # cold start, Table 6, genres

    analyses = find_analyses(run_dir, out)
    extra = "".join(f'<li><a href="#{esc(anchor)}">{esc(label)}</a></li>' for anchor, label in analyses.nav(searches))
    page.add("<nav><ul>" + "".join(f'<li><a href="#data-{esc(slug(d))}">{esc(d)}</a></li>' for d in sorted(by_dataset)) + extra + '<li><a href="#paper">the paper\'s numbers</a></li></ul></nav>')
    for dataset in sorted(by_dataset):
        _dataset_section(page, dataset, by_dataset[dataset])
    analyses_sections(page, analyses, searches)
    if unfinished:
        page.add("<h2>Unfinished searches</h2>", "<p>These directories hold a spec.json but no summary.json (running, stopped or failed before the end); they are left out above.</p>", "<ul>")
        page.add(*(f"<li><code>{esc(rel_path(p, run_dir))}</code></li>" for p in unfinished), "</ul>")
    _paper_section(page)
    page.add("</body></html>")
    return page


def one_per_model(searches: list[Search]) -> list[Search]:
    """Each model's row (``Search.variant``) once: of its searches, the one with the highest validation NDCG@100.

    A folder of runs often holds the same model more than once (a search, an experiment's cell, a sweep's point);
    the leaderboard picks among them on validation alone, as a search picks among its trials. Searches without a
    validation score (failed, or not run to the end) are chosen only where nothing else is.
    """
    def score(s: Search) -> float:
        return (s.validation() or {}).get("mean", -math.inf)

    best: dict[str, Search] = {}
    for s in sorted(searches, key=lambda s: s.name):
        if s.variant not in best or score(s) > score(best[s.variant]):
            best[s.variant] = s
    return list(best.values())


def _dataset_section(page: Page, dataset: str, searches: list[Search]) -> None:
    def by_test(rows):
        return sorted(rows, key=lambda s: (-(s.test(SELECT) or {}).get("mean", -math.inf), s.name))

    everything = by_test(searches)
    ranked = by_test(one_per_model(searches))
    count = Counter(s.variant for s in searches)
    data_paths = sorted({str(s.summary.get("data")) for s in searches})
    page.add(f'<section id="data-{esc(slug(dataset))}">', f"<h2>{esc(dataset)}</h2>")
    page.add(f"<p>Our data: <code>{esc(', '.join(data_paths))}</code>. The <em>{esc(PAPER_LABEL)}</em> columns are Table 3 (a) of the paper, "
             "measured on ML-20M, not on this dataset.</p>")  # fmt: skip
    page.add("<h3>Leaderboard</h3>")
    if len(everything) > len(ranked):
        page.add("<p>One row per model: where several searches hold the same model, the row is the one with the highest "
                 "validation NDCG@100 among them (column <em>of searches</em>); every search is listed below the chart.</p>")  # fmt: skip
    commands = _leaderboard(page, dataset, ranked, count)
    ok = [s for s in ranked if s.test(SELECT)]
    if ok:
        page.figure(f"{dataset}-ndcg", _bar_chart(dataset, ok), f"test NDCG@100 per model on {dataset}", commands,
                    f"Test NDCG@100 on {dataset} (bars: ours, ±1 s.e.; diamonds: {PAPER_LABEL}, Table 3 (a), a different dataset).")  # fmt: skip
    if len(everything) > len(ranked):
        page.add(f"<details><summary>All {len(everything)} searches on {esc(dataset)}</summary>")
        _leaderboard(page, dataset, everything, count)
        page.add("</details>")
    from aerec.report_analyses import cold_start_section

    cold_start_section(page, dataset, ranked)
    from aerec import report_training  # imports this module: imported here, not at the top

    report_training.dataset_sections(page, dataset, searches)  # Table 2, Figures 4 and 5
    for s in searches:
        if s.sweep:
            _sweep_section(page, s)
    page.add("</section>")


def _leaderboard(page: Page, dataset: str, rows: list[Search], count: dict[str, int]) -> list[str]:
    """The table of ``rows`` with the commands and specs under it; returns the commands."""
    page.add("<table>")
    page.add(html_thead([("", ["model", "search"]), (f"ours ({dataset})", ["test NDCG@100", "test Recall@20", "test Recall@50", "val NDCG@100", "chosen on validation", "trials", "of searches"]),
                     (f"{PAPER_LABEL}, Table 3 (a), test", ["NDCG@100", "Recall@20", "Recall@50"])]), "<tbody>")  # fmt: skip
    for s in rows:
        p = paper.table3_row(s.variant) or {}
        status = _status(s)
        cells = [s.variant, s.name]
        cells += [fmt_pm(s.test(m)) if status is None else status for m in paper.METRICS]
        cells += [fmt_pm(s.validation()) if status is None else status, _chosen(s), _trials(s), str(count.get(s.variant, 1))]
        cells += [fmt_num(p.get(m)) for m in paper.METRICS]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>")
    commands = [s.command or f"aerec search SPEC.toml --out {shlex.quote(str(s.path))}  # SPEC.toml: see the spec below" for s in rows]
    page.add(html_commands(commands), _spec_details(rows))
    return commands


def _sweep_section(page: Page, s: Search) -> None:
    rows = s.sweep or []
    names = sorted({k for r in rows for k in r["params"]})
    chosen = (s.summary.get("best") or {}).get("params")
    found = paper.sweep_rows(s.model, names[0]) if len(names) == 1 else None
    table, by_value = found if found else (None, {})
    page.add(f"<h3>Sweep: {esc(s.model)} over {esc(', '.join(names) or '(nothing)')} <small>({esc(s.name)})</small></h3>")
    if table is not None:
        page.add(f"<p>Beside ours: {esc(table.name)} of the paper ({esc(table.caption)}), measured on {esc(table.dataset)}, not on {esc(s.dataset)}.</p>")
    groups = [("", names), (f"ours ({s.dataset})", ["status", "val NDCG@100", "test NDCG@100", "test Recall@20", "test Recall@50", "chosen on validation"])]
    if table is not None:
        groups.append((f"{PAPER_LABEL}, {table.name}, test", ["NDCG@100", "Recall@20", "Recall@50"]))
    page.add("<table>", html_thead(groups), "<tbody>")
    for r in rows:
        test = (r.get("test") or {}).get("summary") or {}
        ok = r["status"] == "ok"
        cells = [fmt_value(r["params"].get(n)) for n in names] + [r["status"], fmt_pm((r.get("validation") or {}).get(SELECT)) if ok else "–"]
        cells += [fmt_pm(test.get(m)) if test else ("not kept" if ok else "–") for m in paper.METRICS]
        cells.append("★" if r["params"] == chosen else "")
        if table is not None:
            p = _lookup(by_value, r["params"].get(names[0])) or {}
            cells += [fmt_num(p.get(m)) for m in paper.METRICS]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>")
    commands = [s.command or f"aerec search SPEC.toml --out {shlex.quote(str(s.path))}  # SPEC.toml: see the spec below"]
    page.add(html_commands(commands), _spec_details([s]))
    if any(r["status"] == "ok" for r in rows):
        caption = f"Left: validation and test NDCG@100 (±1 s.e.) of {s.model} on {s.dataset} over {', '.join(names)}; right: test Recall@20 and Recall@50 (±1 s.e.); dotted: the value chosen on validation"
        if table is not None:
            caption += f"; dashed: {PAPER_LABEL}, {table.name} (test NDCG@100 on ML-20M, a different dataset)"
        page.figure(f"{s.name}-sweep", _sweep_plot(s, rows, names, by_value), f"NDCG@100, Recall@20 and Recall@50 over {', '.join(names)} for {s.model}", commands, caption + ".")


def _paper_section(page: Page) -> None:
    page.add('<section id="paper">', "<h2>The paper's numbers</h2>",
             "<p>As published in Khawar, Poon and Zhang, <em>Learning the Structure of Auto-Encoding Recommenders</em> (WWW 2020), "
             "on ML-20M, Netflix and MSD; kept in <code>aerec.paper</code>. None of these were measured here.</p>")  # fmt: skip
    for t in paper.TABLE3.values():
        _paper_table(page, t, paper.METRICS, ("NDCG@100", "Recall@20", "Recall@50"))
    for t in (paper.TABLE4, paper.TABLE5, paper.TABLE7):
        _paper_table(page, t, paper.METRICS, ("NDCG@100", "Recall@20", "Recall@50"))
    for t in paper.TABLE2.values():
        _paper_table(page, t, ("parameters_m", "flops_m", "ndcg@100", "improvement_pct"), ("Parameters (M)", "Flops (M)", "NDCG@100", "% Improvement"))
    page.add("</section>")


def _paper_table(page: Page, t: paper.PaperTable, keys, labels) -> None:
    page.add(f"<h3>{esc(t.name)}: {esc(t.dataset)}</h3>", f"<p>{esc(t.caption)}</p>", "<table>")
    fmt = ".3f" if set(keys) <= set(paper.METRICS) else "g"  # Table 2 mixes millions, metrics and percentages
    page.add("<thead><tr><th>row</th>" + "".join(f"<th>{esc(h)}</th>" for h in labels) + "</tr></thead><tbody>")
    for label, row in t.rows.items():
        page.add(f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{esc(fmt_num(row.get(k), fmt))}</td>" for k in keys) + "</tr>")
    page.add("</tbody></table>", html_commands([f"the paper, {t.name} ({t.dataset}); aerec.paper"], label="source"))


# -- figures ------------------------------------------------------------------------------


def _bar_chart(dataset: str, searches: list[Search]):
    labels = [s.variant if s.name == s.variant else f"{s.variant} ({s.name})" for s in searches]
    means = [s.test(SELECT)["mean"] for s in searches]
    errs = [s.test(SELECT).get("se") or 0.0 for s in searches]
    fig = new_figure(7.5, 0.45 * len(searches) + 1.6)
    ax = fig.add_subplot()
    y = list(range(len(searches)))
    ax.barh(y, means, xerr=errs, color="#4c78a8", ecolor="#222", capsize=3, label=f"ours ({dataset}, test)")
    marks = [(i, paper.table3_row(s.variant)["ndcg@100"]) for i, s in enumerate(searches) if (paper.table3_row(s.variant) or {}).get("ndcg@100") is not None]
    if marks:
        ax.scatter([v for _, v in marks], [i for i, _ in marks], marker="D", color="#e45756", zorder=3, label=f"{PAPER_LABEL}, Table 3 (a)")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("test NDCG@100")
    ax.set_title(f"{dataset}: test NDCG@100 (±1 s.e.)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return fig


def _sweep_plot(s: Search, rows: list[dict], names: list[str], by_value: dict):
    ok = [r for r in rows if r["status"] == "ok"]
    xs_raw = [r["params"].get(names[0]) for r in ok] if len(names) == 1 else None
    numeric = xs_raw is not None and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_raw)
    xs = xs_raw if numeric else list(range(len(ok)))
    fig = new_figure(12.0, 4.2)
    ax = fig.add_subplot(1, 2, 1)
    recall_ax = fig.add_subplot(1, 2, 2, sharex=ax)  # Figure 7: shares the swept axis, its scale and ticks
    val = [(r.get("validation") or {}).get(SELECT) or {} for r in ok]
    ax.errorbar(xs, [v.get("mean") for v in val], yerr=[v.get("se") or 0.0 for v in val], marker="o", capsize=3, label=f"ours ({s.dataset}), validation")
    test = [((r.get("test") or {}).get("summary") or {}).get(SELECT) for r in ok]
    tx = [(x, t) for x, t in zip(xs, test) if t]
    if tx:
        ax.errorbar([x for x, _ in tx], [t["mean"] for _, t in tx], yerr=[t.get("se") or 0.0 for _, t in tx], marker="s", capsize=3, label=f"ours ({s.dataset}), test")
    if numeric and by_value:
        px = sorted(by_value)
        ax.plot(px, [by_value[v]["ndcg@100"] for v in px], "--", marker="D", color="#e45756", label=f"{PAPER_LABEL}, test")
    if numeric and min(xs) > 0 and max(xs) / min(xs) >= 100:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, [", ".join(f"{k}={fmt_value(v)}" for k, v in r["params"].items()) for r in ok], rotation=30, ha="right", fontsize="small")
    ax.set_xlabel(names[0] if len(names) == 1 else "trial")
    ax.set_ylabel("NDCG@100")
    ax.set_title(f"{s.model} on {s.dataset}: NDCG@100 over {', '.join(names)}")
    from aerec.report_training import sweep_recall_panel

    sweep_recall_panel(recall_ax, ax, s, ok, xs, numeric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# -- the command that made a search ----------------------------------------------------------
def search_command(path: Path, spec: dict) -> str | None:
    """``aerec search FILE --out PATH [--data D]`` for the TOML file under an experiments/ folder that matches ``spec``, else None."""
    for root in _roots(path):
        matches = []
        for toml_path in sorted((root / "experiments").rglob("*.toml")):
            try:
                raw = tomllib.loads(toml_path.read_text())
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
            if _same_search(raw, spec):
                matches.append((str(raw.get("data")) != str(spec.get("data")), toml_path))  # a file naming the same data first
        if matches:
            other_data, toml_path = min(matches)
            cmd = ["aerec", "search", str(toml_path.relative_to(root)), "--out", rel_path(path, root, absolute=Path.cwd())]
            return shlex.join(cmd + (["--data", str(spec.get("data"))] if other_data else []))
    return None


def spec_as_toml(spec: dict) -> str:
    """``spec.json`` written back as a search TOML file (what ``aerec search`` would read)."""
    lines = []
    for key in ("model", "data", "method", "n_trials", "seed", "trial_budget", "sweep"):
        if key in spec:
            lines.append(f"{key} = {_toml_value(spec[key])}")
    for section in ("fixed", "grid"):
        lines.append(f"\n[{section}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in (spec.get(section) or {}).items()]
    return "\n".join(lines) + "\n"


def _same_search(raw: dict, spec: dict) -> bool:
    """Whether a TOML file describes the same search (model, fixed fields, grid, method) as a spec.json."""
    keys = ("model", "fixed", "grid")
    if any(raw.get(k, {} if k != "model" else None) != spec.get(k, {} if k != "model" else None) for k in keys):
        return False
    return raw.get("method", "grid") == spec.get("method", "grid")


def _roots(path: Path) -> list[Path]:
    """Folders holding an experiments/ folder: the working directory, then the search's parents."""
    out = []
    for p in [Path.cwd(), *path.resolve().parents]:
        if (p / "experiments").is_dir() and p not in out:
            out.append(p)
    return out


# -- small helpers --------------------------------------------------------------------------
_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:110em;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em;font-size:.88em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th{background:#f0f0f0}td:first-child,td:nth-child(2){text-align:left}thead th{text-align:center}"
    "figure{margin:1em 0}img{max-width:100%}figcaption{font-size:.9em;color:#444}"
    ".cmd{font-size:.85em;color:#333}.cmd code{display:block;white-space:pre-wrap;background:#f7f7f7;padding:.2em .4em;margin:.1em 0}"
    "pre{background:#f7f7f7;padding:.5em;font-size:.85em}nav li{display:inline;margin-right:1em}"
)


def _spec_details(searches: list[Search]) -> str:
    parts = [f"<details><summary>spec of {esc(s.name)} (spec.json as TOML)</summary><pre>{esc(s.spec_toml)}</pre></details>" for s in searches if s.spec_toml]
    return "".join(parts)


def _status(s: Search) -> str | None:
    if s.summary.get("best") is None:
        return "did not finish" if "did not finish" in s.summary.get("statuses", []) else "failed"
    if not s.test(SELECT):
        return "not tested"
    return None


def _chosen(s: Search) -> str:
    best = s.summary.get("best")
    if best is None:
        return "–"
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in best["params"].items()) or "(defaults)"


def _trials(s: Search) -> str:
    n, failed = s.summary.get("n_trials", "?"), s.summary.get("n_failed")
    return f"{n}" + (f" ({failed} failed)" if failed else "")


def _lookup(by_value: dict, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return next((row for k, row in by_value.items() if math.isclose(k, v, rel_tol=1e-9)), None)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))
