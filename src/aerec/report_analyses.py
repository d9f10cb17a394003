"""The report's analyses beyond the leaderboard: cold start (Table 7), item grouping (Table 6), genres (Table 8, Figure 8).

:mod:`aerec.report` calls these while it builds its page; each section is
there only when its inputs are found under the run directory:

* **Cold start** (the paper's Sec. 5.8, Table 7), in each dataset's section:
  for every finished search with ``test/per_user.parquet``, the test
  Recall@20, Recall@50 and NDCG@100 of the users with fewer than
  ``COLD_START_BELOW`` fold-in items, one row per search, the paper's Table 7
  beside (ML-20M); then NDCG@100 per bucket of fold-in size, as a table and a
  figure. Means and standard errors are :meth:`aerec.evaluate.Evaluation.by_bucket`'s
  (the mean over users; ``std(ddof=0) / sqrt(n)``): the per-user values are
  loaded into an ``Evaluation`` and its own method computes them.
* **Table 6** (Sec. 5.7), Algorithm 1 against Algorithm 2: every JSON file
  written by ``aerec groups --timings-out FILE`` (a dict with the keys
  ``GROUPING_KEYS``) outside the search directories, grouped by data, K, R, F
  and normalisation; per algorithm the seconds of each stage, the mean and
  every run. The accuracy of the two comes from a search that sweeps
  ``grouping`` (``sweep = true``): its rows are in its dataset's sweep
  section, and this section points at it with validation and test NDCG@100
  per algorithm.
* **Genres** (Sec. 5.10, Table 8, Figure 8): every directory written by
  ``aerec genres MODEL --out DIR`` (its ``genres.json`` has the keys
  ``GENRES_KEYS``): the per-genre table of our units against random groups,
  the overall means, the Table 8 layout, ``summary.png`` and the Figure 8
  heat maps, copied into the report directory under new names.

Malformed JSON (or a ``genres.json`` or timings file whose contents are not
what aerec writes) is a one-line :class:`~aerec.errors.ConfigError`, as
everywhere in the report. This module never imports torch.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aerec import paper
from aerec.errors import ConfigError
from aerec.report_html import PAPER_LABEL, Page, Search, esc, fmt_num, fmt_pm, html_commands, html_thead, new_figure, read_json, rel_path, slug

COLD_START_BELOW = 20  # fold-in items; RESULTS.md's threshold (the paper gives none)
COLD_START_EDGES = (5, 10, 20, 50, 100)  # buckets [5, 10), ..., [100, inf); a leading [0, 5) only when such users exist
COLD_START_KS = (20, 50, 100)
COLD_START_METRICS = (("recall@20", "Recall@20"), ("recall@50", "Recall@50"), ("ndcg@100", "NDCG@100"))  # Table 7's column order

GENRES_KEYS = frozenset({"definition", "units", "items", "items_without_genres", "R", "top", "min_size", "ours", "random", "command"})
GROUPING_KEYS = frozenset({"K", "R", "F", "algorithm", "normalize", "timings", "overlap", "groups"})
STAGES = {  # aerec.structure.learn_groups's timings, in order
    "laplacian": "build Δ / scale (Alg. 1 only)",
    "eigen": "top-F eigen/singular vectors",
    "normalize": "normalise",
    "kmeans": "K-means",
    "assign": "assign R nearest",
    "total": "total",
}
ALGORITHMS = {"laplacian": "Algorithm 1 (Laplacian)", "svd": "Algorithm 2 (SVD of X)"}
MAX_JSON_BYTES = 16 * 2**20  # larger .json files are not read (a timings file is a few kB)


@dataclass
class GenresRun:
    """A directory written by ``aerec genres --out``."""

    path: Path
    result: dict
    name: str  # relative to the run directory


@dataclass
class GroupingRun:
    """One JSON summary written by ``aerec groups --timings-out``."""

    path: Path
    summary: dict
    timings: dict[str, float]
    name: str

    @property
    def key(self) -> tuple:
        s = self.summary
        return (str(s.get("data") or "?"), s["K"], s["R"], s["F"], str(s["normalize"]))

    @property
    def command(self) -> str:
        s = self.summary
        if s.get("command"):
            return str(s["command"])
        argv = ["aerec", "groups", "--data", str(s.get("data") or "DATA"), "-k", str(s["K"]), "-r", str(s["R"]), "-f", str(s["F"]),
                "--algorithm", str(s["algorithm"]), "--normalize", str(s["normalize"]), "--json"]  # fmt: skip
        return shlex.join(argv) + f"  # its JSON summary: {self.name}"


@dataclass
class Analyses:
    genres: list[GenresRun] = field(default_factory=list)
    groupings: list[GroupingRun] = field(default_factory=list)

    def nav(self, searches: list[Search]) -> list[tuple[str, str]]:
        """(anchor, label) of the top-level sections that will be shown."""
        links = []
        if self.groupings or grouping_sweeps(searches):
            links.append(("table6", "Table 6: Algorithm 1 against 2"))
        links += [(f"genres-{slug(g.name)}", f"genres: {g.name}") for g in self.genres]
        return links


# -- finding the inputs ---------------------------------------------------------------------
def find_analyses(run_dir: Path, out: Path) -> Analyses:
    """``aerec genres`` directories anywhere under ``run_dir``, ``aerec groups --timings-out`` files outside search directories.

    Hidden entries, symbolic links and the report's own folder ``out`` are skipped.
    """
    found = Analyses()
    skip = out.resolve()

    def walk(folder: Path, in_search: bool) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        names = {e.name for e in entries}
        in_search = in_search or "summary.json" in names or "spec.json" in names  # a search's own files, best/, trials/
        for e in entries:
            if e.name.startswith(".") or e.is_symlink():
                continue
            if e.is_dir():
                if e.resolve() != skip:
                    walk(e, in_search)
            elif e.name == "genres.json":
                run = _genres_run(e, run_dir)
                if run is not None:
                    found.genres.append(run)
            elif e.suffix == ".json" and not in_search and e.stat().st_size <= MAX_JSON_BYTES:
                run = _grouping_run(e, run_dir)
                if run is not None:
                    found.groupings.append(run)

    walk(run_dir, False)
    return found


def _genres_run(path: Path, run_dir: Path) -> GenresRun | None:
    result = read_json(path)
    if not isinstance(result, dict) or not GENRES_KEYS <= result.keys():
        return None  # some other genres.json
    try:  # what the section reads, checked now so that a broken file is one line before anything is written
        for name, p in result["ours"]["genres"].items():
            r = result["random"]["genres"][name]
            float(p["items"]), float(p["top_mean"]), float(p["dominant"]), float(r["top_mean"]["mean"]), float(r["top_mean"]["sd"]), float(r["dominant"]["mean"])
            int(p["exemplar"]["unit"]), int(p["exemplar"]["size"]), {str(g): float(v) for g, v in p["exemplar"]["top3"].items()}
        for k in ("mean_top_mean", "mean_top_lift", "mean_purity"):
            float(result["ours"]["overall"][k]), float(result["random"]["overall"][k]["mean"]), float(result["random"]["overall"][k]["sd"])
        int(result["random"]["shuffles"]), int(result["random"]["seed"]), int(result["top"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: not a genres.json as `aerec genres --out` writes it ({type(e).__name__}: {e})") from None
    return GenresRun(path.parent, result, rel_path(path.parent, run_dir))


def _grouping_run(path: Path, run_dir: Path) -> GroupingRun | None:
    summary = read_json(path)
    if not isinstance(summary, dict) or not GROUPING_KEYS <= summary.keys():
        return None  # not an `aerec groups` summary
    t = summary["timings"]
    if not isinstance(t, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in t.values()):
        raise ConfigError(f"{path}: its timings must map stage names to seconds (as `aerec groups --timings-out` writes them)")
    if not all(isinstance(summary[k], int) and not isinstance(summary[k], bool) for k in ("K", "R", "F")):
        raise ConfigError(f"{path}: K, R and F must be integers (as `aerec groups --timings-out` writes them)")
    return GroupingRun(path, summary, {str(k): float(v) for k, v in t.items()}, rel_path(path, run_dir))


def grouping_sweeps(searches: list[Search]) -> list[Search]:
    """Searches that sweep ``grouping`` (``sweep = true``), with at least one finished level."""
    return [s for s in searches if s.sweep and any("grouping" in r.get("params", {}) and r.get("status") == "ok" for r in s.sweep)]


# -- cold start (Table 7) ---------------------------------------------------------------------
def cold_start(path: Path, below: int = COLD_START_BELOW, edges=COLD_START_EDGES) -> tuple[dict, list[dict], int] | None:
    """The users below ``below`` fold-in items and the buckets of ``edges`` (``Evaluation.by_bucket``'s dicts), and all scored users; None without test/per_user.parquet."""
    from aerec.evaluate import Evaluation

    file = path / "test" / "per_user.parquet"
    if not file.is_file():
        return None
    import pandas as pd
    from pyarrow import ArrowException

    try:
        df = pd.read_parquet(file)
    except (OSError, ValueError, ArrowException) as e:
        raise ConfigError(f"{file}: cannot read it as Parquet ({e})") from None
    keys = [f"{m}@{k}" for m in ("ndcg", "recall") for k in COLD_START_KS]
    missing = [c for c in ["fold_in_size", *keys] if c not in df.columns]
    if missing:
        raise ConfigError(f"{file}: no column {', '.join(missing)} (written by `aerec search`, it has row, fold_in_size and the metrics)")
    ev = Evaluation(
        per_user={k: df[k].to_numpy(np.float64) for k in keys},
        rows=df["row"].to_numpy(np.int64) if "row" in df.columns else np.arange(len(df)),
        fold_in_size=df["fold_in_size"].to_numpy(np.int64),
        coverage={},
        ks=COLD_START_KS,
        metric_names=("ndcg", "recall"),
    )
    return ev.by_bucket((0, below))[0], ev.by_bucket(edges), ev.n_scored


def cold_start_section(page: Page, dataset: str, searches: list[Search], below: int = COLD_START_BELOW) -> None:
    """Table 7 for one dataset's searches (those with test/per_user.parquet), then NDCG@100 by fold-in bucket."""
    found = [(s, c) for s in searches if (c := cold_start(s.path, below)) is not None]
    if not found:
        return
    commands = [s.command or f"aerec search SPEC.toml --out {shlex.quote(str(s.path))}  # SPEC.toml: see the spec above" for s, _ in found]
    page.add(f'<h3 id="cold-start-{esc(slug(dataset))}">Cold start (Table 7): test users with fewer than {below} fold-in items</h3>')
    sizes = sorted({(c[0]["n"], c[2]) for _, c in found})
    users = "; ".join(f"{n} of {total} scored test users" for n, total in sizes)
    page.add(f"<p>Each search's chosen model, its test metrics restricted to the users whose fold-in has fewer than {below} items ({esc(users)}), "
             "from its <code>test/per_user.parquet</code>; mean ± s.e. over those users as <code>Evaluation.by_bucket</code> computes them "
             "(s.e. = std(ddof=0) / √n). The paper selects cold-start users by fold-in size but gives no threshold; "
             f"{below} is ours (RESULTS.md). The <em>{esc(PAPER_LABEL)}</em> columns are its Table 7, measured on ML-20M, not on {esc(dataset)}.</p>")  # fmt: skip
    page.add("<table>", html_thead([("", ["model", "search"]), (f"ours ({dataset}), fold-in < {below}", ["users"] + [label for _, label in COLD_START_METRICS]),
                                (f"{PAPER_LABEL}, Table 7, test (cold-start users)", [label for _, label in COLD_START_METRICS])]), "<tbody>")  # fmt: skip
    for s, (low, _, _) in found:
        p = paper.table7_row(s.model) or {}
        cells = [s.model, s.name, str(low["n"])] + [_mean_se(low, m) for m, _ in COLD_START_METRICS] + [fmt_num(p.get(m)) for m, _ in COLD_START_METRICS]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands(commands))

    labels = [b["label"] for b in found[0][1][1]]
    same = all([b["label"] for b in c[1]] == labels for _, c in found)
    if not same:  # a leading [0, 5) bucket in some searches only: keep the common buckets
        common = set.intersection(*({b["label"] for b in c[1]} for _, c in found))
        labels = [lab for lab in labels if lab in common]
    counts = {lab: {b["n"] for _, c in found for b in c[1] if b["label"] == lab} for lab in labels}
    uniform = all(len(v) == 1 for v in counts.values())
    page.add(f"<h4>Test NDCG@100 by fold-in size ({esc(dataset)})</h4>", "<table>")
    header = [f"{lab}, n = {next(iter(counts[lab]))}" if uniform else lab for lab in labels]
    page.add(html_thead([("", ["model", "search"]), (f"ours ({dataset}), test NDCG@100 per bucket of fold-in items", header)]), "<tbody>")
    for s, (_, buckets, _) in found:
        by = {b["label"]: b for b in buckets}
        cells = [s.model, s.name] + [_mean_se(by[lab], "ndcg@100") + ("" if uniform else f" (n = {by[lab]['n']})") for lab in labels]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands(commands))
    page.figure(f"{dataset}-cold-start", _bucket_plot(dataset, found, labels, counts if uniform else None), f"test NDCG@100 by fold-in size on {dataset}", commands,
                f"Test NDCG@100 on {dataset} per bucket of fold-in size (±1 s.e.; our data only: the paper gives no per-bucket numbers).")  # fmt: skip


def _mean_se(bucket: dict, metric: str) -> str:
    m = bucket["metrics"].get(metric) or {}
    return "–" if not bucket["n"] or m.get("mean") is None or not math.isfinite(m["mean"]) else fmt_pm(m)


def _bucket_plot(dataset: str, found: list, labels: list[str], counts: dict | None):
    fig = new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    x = np.arange(len(labels), dtype=float)
    width = 0.3 / max(len(found), 1)
    for i, (s, (_, buckets, _)) in enumerate(found):
        by = {b["label"]: b["metrics"]["ndcg@100"] for b in buckets if b["n"]}
        pts = [(x[j] + (i - (len(found) - 1) / 2) * width, by[lab]) for j, lab in enumerate(labels) if lab in by]
        label = s.model if s.name == s.model else f"{s.model} ({s.name})"
        ax.errorbar([p for p, _ in pts], [v["mean"] for _, v in pts], yerr=[v["se"] for _, v in pts], marker="o", capsize=3, label=label)
    ticks = [f"{lab}\nn = {next(iter(counts[lab]))}" if counts else lab for lab in labels]
    ax.set_xticks(x, ticks, fontsize="small")
    ax.set_xlabel("fold-in items")
    ax.set_ylabel("test NDCG@100")
    ax.set_title(f"{dataset}: test NDCG@100 by fold-in size (±1 s.e.)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# -- Table 6: Algorithm 1 against Algorithm 2 ------------------------------------------------------
def table6_section(page: Page, groupings: list[GroupingRun], searches: list[Search]) -> None:
    sweeps = grouping_sweeps(searches)
    if not groupings and not sweeps:
        return
    page.add('<section id="table6">', "<h2>Item grouping: Algorithm 1 against Algorithm 2 (Table 6)</h2>")
    if groupings:
        page.add("<p>Seconds per stage of <code>aerec groups</code> (grouping alone, no training), from the JSON summaries its "
                 "<code>--timings-out</code> wrote; per algorithm the mean over runs, then every run in brackets. Times depend on the "
                 "machine, its load and the threads, so compare runs made together. The paper's Table 6 times ML-20M, Netflix and MSD, "
                 "not these data.</p>")  # fmt: skip
    by_key: dict[tuple, list[GroupingRun]] = {}
    for g in groupings:
        by_key.setdefault(g.key, []).append(g)
    for (data, k, r, f, normalize), runs in sorted(by_key.items(), key=lambda kv: tuple(map(str, kv[0]))):
        threads = sorted({str(g.summary["torch_threads"]) for g in runs if "torch_threads" in g.summary})
        page.add(f"<h3>{esc(Path(data).name or data)}: K = {esc(k)}, R = {esc(r)}, F = {esc(f)}, {esc(normalize)} normalisation</h3>",
                 f"<p>Data: <code>{esc(data)}</code>" + (f"; torch threads: {esc(', '.join(threads))}" if threads else "") + ".</p>")  # fmt: skip
        stages = list(STAGES) + sorted({s for g in runs for s in g.timings} - set(STAGES))
        stages = [s for s in stages if any(s in g.timings for g in runs)]
        page.add("<table>", html_thead([("", ["algorithm", "runs"]), ("seconds: mean (each run)", [STAGES.get(s, s) for s in stages])]), "<tbody>")
        algorithms = sorted({str(g.summary["algorithm"]) for g in runs}, key=lambda a: (a not in ALGORITHMS, list(ALGORITHMS).index(a) if a in ALGORITHMS else 0, a))
        for a in algorithms:
            mine = [g for g in runs if str(g.summary["algorithm"]) == a]
            cells = [ALGORITHMS.get(a, a), str(len(mine))] + [_seconds([g.timings[s] for g in mine if s in g.timings]) for s in stages]
            page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
        page.add("</tbody></table>", html_commands([g.command for g in sorted(runs, key=lambda g: g.name)]))
    for s in sweeps:
        names = sorted({n for row in s.sweep for n in row.get("params", {})})
        parts = []
        for row in s.sweep:
            if row.get("status") != "ok":
                continue
            params = row.get("params", {})
            label = ALGORITHMS.get(str(params.get("grouping")), str(params.get("grouping")))
            others = ", ".join(f"{n}={params.get(n)}" for n in names if n != "grouping")
            test = ((row.get("test") or {}).get("summary") or {}).get("ndcg@100")
            parts.append(f"{label}{f' ({others})' if others else ''}: validation {fmt_pm((row.get('validation') or {}).get('ndcg@100'))}, test {fmt_pm(test) if test else 'not kept'}")
        page.add(f'<p>Accuracy: the sweep of {esc(s.model)} over <code>grouping</code> in <a href="#data-{esc(slug(s.dataset))}">the {esc(s.dataset)} section</a> '
                 f"(<code>{esc(s.name)}</code>; every level trained and tested, the choice made on validation), NDCG@100: " + "; ".join(esc(p) for p in parts) + ".</p>")  # fmt: skip
        page.add(html_commands([s.command or f"aerec search SPEC.toml --out {shlex.quote(str(s.path))}  # SPEC.toml: its spec in the sweep section"]))
    page.add("</section>")


def _seconds(values: list[float]) -> str:
    if not values:
        return "–"
    mean = f"{sum(values) / len(values):.3f}"
    return mean if len(values) == 1 else f"{mean} ({', '.join(f'{v:.3f}' for v in values)})"


# -- genres: Table 8, Figure 8 ------------------------------------------------------------------------
def genres_section(page: Page, run: GenresRun) -> None:
    from aerec.analysis.genres import slug as genre_slug

    res, anchor = run.result, f"genres-{slug(run.name)}"
    ours, rand, top = res["ours"], res["random"], int(res["top"])
    commands = [str(res.get("command") or f"aerec genres MODEL_DIR --out {shlex.quote(str(run.path))}  # MODEL_DIR: not recorded")]
    page.add(f'<section id="{esc(anchor)}">', f"<h2>Genre composition of the hidden units (Table 8, Figure 8): {esc(run.name)}</h2>")
    page.add(f"<p>{esc(res['units'])} units, {esc(res['items'])} items (R = {esc(res['R'])}; {esc(res['items_without_genres'])} without genres); "
             f"minimum unit size {esc(res['min_size'])}. {esc(res['definition'])}. Random: {esc(rand['shuffles'])} seeded shuffles of the items "
             f"(first seed {esc(rand['seed'])}; same group sizes), mean ± s.d. The paper (ML-20M, IMDB genres) shows four hand-picked units "
             "and no baseline, so these numbers have no published counterpart.</p>")  # fmt: skip
    page.add("<table>", html_thead([("", ["genre", "share of items"]), (f"top-{top} mean fraction", ["ours", "random"]), ("units it dominates", ["ours", "random"])]), "<tbody>")
    for name, p in sorted(ours["genres"].items(), key=lambda kv: -float(kv[1]["items"])):
        r = rand["genres"][name]
        cells = [name, f"{float(p['items']):.1%}", f"{float(p['top_mean']):.3f}", f"{float(r['top_mean']['mean']):.3f}\u00a0±\u00a0{float(r['top_mean']['sd']):.3f}",
                 f"{float(p['dominant']):.1%}", f"{float(r['dominant']['mean']):.1%}"]  # fmt: skip
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands(commands))
    overall = [("mean over genres of the top-%d mean fraction" % top, "mean_top_mean", ".3f"), ("mean over genres of its lift (top-%d mean / share of items)" % top, "mean_top_lift", ".2f"),
               ("mean over units of the top genre's fraction", "mean_purity", ".3f")]  # fmt: skip
    page.add("<table>", "<thead><tr><th>overall</th><th>ours</th><th>random</th></tr></thead><tbody>")
    for label, key, fmt in overall:
        o, r = float(ours["overall"][key]), rand["overall"][key]
        cells = [label, format(o, fmt), f"{format(float(r['mean']), fmt)}\u00a0±\u00a0{format(float(r['sd']), fmt)}"]
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    page.add("</tbody></table>", html_commands(commands))
    page.add("<h3>Table 8 layout: per genre, the unit with the highest fraction and its top three genres</h3>", "<table>")
    page.add("<thead><tr><th>genre</th><th>unit</th><th>items</th><th>top three genres</th></tr></thead><tbody>")
    for name, p in ours["genres"].items():
        e = p["exemplar"]
        three = ", ".join(f"{g} ({float(v):.0%})" for g, v in e["top3"].items())
        page.add("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in (name, e["unit"], e["size"], three)) + "</tr>")
    page.add("</tbody></table>", html_commands(commands))
    prefix = f"genres-{slug(run.name)}"
    if (run.path / "summary.png").is_file():
        _copied_figure(page, run.path / "summary.png", f"{prefix}-summary.png", "mean genre fraction of the top units, ours against random groups", commands,
                       f"Per genre, the mean fraction of the top {top} units (ours; random groups of the same sizes ± s.d.; the share of items with the genre).")  # fmt: skip
    heat = [(name, run.path / f"fig8-{genre_slug(name)}.png") for name in ours["genres"]]
    heat = [(name, f) for name, f in heat if f.is_file()]
    if heat:
        page.add(f"<details><summary>Figure 8: the heat maps, one per genre ({len(heat)})</summary>")
        for name, f in heat:
            _copied_figure(page, f, f"{prefix}-{f.name}", f"Figure 8 heat map for {name}", commands,
                           f"Figure 8 for {name}: the {top} units richest in {name} (rows) against all genres, ours beside random groups of the same sizes.")  # fmt: skip
        page.add("</details>")
    page.add("</section>")


def _copied_figure(page: Page, src: Path, name: str, alt: str, commands: list[str], caption: str) -> None:
    """A PNG made elsewhere, copied into the report directory as ``name``."""
    page.files[name] = src
    page.add("<figure>", f'<img src="{esc(name)}" alt="{esc(alt)}">', f"<figcaption>{esc(caption)}</figcaption>", html_commands(commands), "</figure>")


def analyses_sections(page: Page, analyses: Analyses, searches: list[Search]) -> None:
    """The top-level sections: Table 6, then each genres directory."""
    table6_section(page, analyses.groupings, searches)
    for run in analyses.genres:
        genres_section(page, run)
