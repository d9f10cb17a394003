"""Hyperparameter search: a config-driven grid or random search that selects on validation only.

A search is described by a TOML file::

    model = "wmf"                 # a name of aerec.models.MODELS
    data = "runs/ml-1m"           # a prepared directory (`aerec prepare`)
    method = "grid"               # "grid": every combination; "random": n_trials of them
    n_trials = 0                  # random only: how many distinct combinations to draw
    seed = 0                      # random only: seeds the draw
    trial_budget = 0              # seconds a fit may take before it is stopped (0: none; models that support it)
    sweep = false                 # true: an analysis sweep, every trial kept and scored on test (after the choice)

    [fixed]                       # fields of the model's config set for every trial
    iterations = 15

    [options]                     # how every trial is fitted (aerec.fit_options.FitOptions)
    device = "cpu"
    seed = 0

    [grid]                        # fields searched: each a list of values
    alpha = [2, 5, 10, 30, 50, 100]
    factors = [100, 200]

Every trial fits the model on the training users and evaluates the
validation users (NDCG@100, Recall@20/50); the trial with the highest
validation NDCG@100 is chosen (ties: the earlier trial), and only that model
is ever scored on the test users, once, after every trial has run. Nothing a
trial or the selection sees depends on the test fold.

The output directory holds::

    spec.json        the search as read (with the resolved trial list)
    trials.jsonl     one line per finished trial: params, status, validation metrics, seconds
    best/            the chosen model (an `aerec train` model directory)
    test.json        the chosen model's test metrics (scored once)
    test/per_user.parquet  its per-user test metrics
    summary.json     the chosen params, their validation and test metrics

With ``sweep = true`` (the paper's Tables 4 and 5: a quantity varied and
every level reported) each trial's model is kept in ``trials/NNN/`` and,
after the choice has been made on validation, every kept trial is scored on
the test users too; ``sweep.json`` lists each trial's validation and test
metrics. The choice itself still rests on validation alone.

A search is resumable: trials already in ``trials.jsonl`` are not run again,
and the best model so far is kept in ``best/``. A trial that fails (a
configuration error, a model that did not finish within its budget) is
recorded with its status and message and the search goes on.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aerec.atomic import atomic_dir, atomic_write_json
from aerec.errors import AerecError, ConfigError

SELECT = "ndcg@100"
_KEYS = {"model", "data", "method", "n_trials", "seed", "trial_budget", "sweep", "fixed", "grid", "options"}


@dataclass
class SearchSpec:
    """What to search: a model, a prepared dataset, fixed fields and a grid of the searched ones, and the fit options."""

    model: str
    data: str
    method: str = "grid"
    n_trials: int = 0
    seed: int = 0
    trial_budget: float = 0.0
    sweep: bool = False
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from aerec.fit_options import OPTION_FIELDS
        from aerec.models import MODELS

        if self.model not in MODELS:
            raise ConfigError(f"model {self.model!r}: choose one of {', '.join(MODELS)}")
        if MODELS[self.model].task != "ranking":
            raise ConfigError(f"model {self.model!r} predicts ratings; search selects ranking models on validation NDCG@100 only")
        if self.method not in ("grid", "random"):
            raise ConfigError(f"method {self.method!r}: choose grid or random")
        names = {f.name for f in dataclasses.fields(MODELS[self.model].Config)}
        for section in ("fixed", "grid"):
            misplaced = sorted(set(getattr(self, section)) & set(OPTION_FIELDS))
            if misplaced:
                raise ConfigError(f"[{section}] {', '.join(misplaced)}: a fit option, not a parameter of {self.model}; put it in [options]")
            unknown = sorted(set(getattr(self, section)) - names)
            if unknown:
                raise ConfigError(f"[{section}] {', '.join(unknown)}: not a parameter of {self.model}; known: {', '.join(sorted(names))}")
        both = sorted(set(self.fixed) & set(self.grid))
        if both:
            raise ConfigError(f"{', '.join(both)}: both fixed and searched")
        for name, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"[grid] {name}: expected a non-empty list of values")
        from aerec.options import typed_values

        typed_values(MODELS[self.model].Config, self.fixed, "[fixed] ")  # a value of the wrong type: refused before any trial
        for name, values in self.grid.items():
            for value in values:
                typed_values(MODELS[self.model].Config, {name: value}, "[grid] ")
        if self.method == "random" and self.n_trials < 1:
            raise ConfigError("method = 'random' needs n_trials >= 1")
        if not isinstance(self.options, dict):
            raise ConfigError(f"options = {self.options!r}: expected a table of fit options")
        for name in ("checkpoint", "progress"):
            if name in self.options:
                raise ConfigError(f"[options] {name}: not a search option (a search resumes trial by trial; progress is the command's)")
        self.fit_options()  # checks the values

    def fit_options(self, *, progress: bool = False):
        """The :class:`~aerec.fit_options.FitOptions` every trial is fitted with."""
        from aerec.fit_options import FitOptions
        from aerec.options import build_config

        return build_config(FitOptions, {**self.options, "progress": progress}, "[options] ")

    @classmethod
    def from_toml(cls, path: str | Path) -> SearchSpec:
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict, *, source: str = "search") -> SearchSpec:
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        for key in ("model", "data"):
            if key not in raw:
                raise ConfigError(f"{source}: missing key {key!r}")
        try:
            return cls(**raw)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    def trials(self) -> list[dict[str, Any]]:
        """The searched combinations, in a fixed order (grid order; random: a seeded draw without repeats)."""
        names = list(self.grid)
        combos = [dict(zip(names, values)) for values in itertools.product(*(self.grid[n] for n in names))]
        if self.method == "random" and self.n_trials < len(combos):
            pick = np.random.default_rng(self.seed).choice(len(combos), size=self.n_trials, replace=False)
            combos = [combos[i] for i in sorted(pick)]
        return combos


def trial_key(params: dict[str, Any]) -> str:
    """A stable identity of a trial's searched values (for resuming)."""
    return json.dumps(params, sort_keys=True, default=str)


@dataclass
class SearchResult:
    """The chosen trial, every trial's record, and the test metrics of the chosen one."""

    best: dict[str, Any] | None
    trials: list[dict[str, Any]]
    test: dict[str, Any] | None


def manifest_fingerprint(data: str | Path) -> str:
    """A hash of a prepared directory's manifest (its sources' checksums, the protocol, the counts; not its timings)."""
    import hashlib

    from aerec.data.prepared import MANIFEST

    try:
        manifest = json.loads((Path(data) / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{data}: cannot read its {MANIFEST} ({e})") from None
    if isinstance(manifest, dict):
        manifest.pop("seconds", None)
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()


def check_resume(out: str | Path, spec: SearchSpec) -> None:
    """Refuse to add to a search directory whose earlier trials ran on other data, or with another model, fixed
    values, fit options or budget (a resumed search keys its trials by the searched values only, so such trials
    would be taken as done). The data is stamped in ``data.json`` (a fingerprint of the prepared manifest) on
    the first run. A changed grid, method or sweep is a legitimate resume.
    """
    out = Path(out)
    fingerprint = manifest_fingerprint(spec.data)
    stamp = out / "data.json"
    if stamp.is_file():
        try:
            saved = json.loads(stamp.read_text())
        except (OSError, ValueError):
            saved = {}
        if not isinstance(saved, dict) or saved.get("manifest_sha256") != fingerprint:
            was = saved.get("data") if isinstance(saved, dict) else None
            raise ConfigError(f"{out}: its trials ran on other data ({was}) than {spec.data} holds; delete {out} or choose another --out to search again")
    elif (out / "trials.jsonl").is_file():
        saved_spec = _read_json(out / "spec.json")
        if saved_spec.get("data") != spec.data:
            raise ConfigError(f"{out}: its trials ran on {saved_spec.get('data')}, not {spec.data}; delete {out} or choose another --out")
    saved_spec = _read_json(out / "spec.json")
    if saved_spec:
        new = json.loads(json.dumps(dataclasses.asdict(spec), default=str))
        changed = [k for k in ("model", "fixed", "options", "trial_budget") if saved_spec.get(k, {} if k == "options" else None) != new[k]]
        if changed:
            raise ConfigError(f"{out}: its trials ran with another {' and '.join(changed)} ({', '.join(f'{k}={saved_spec.get(k)}' for k in changed)}); "
                              f"delete {out} or choose another --out")  # fmt: skip
    if not stamp.is_file():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(stamp, {"data": spec.data, "manifest_sha256": fingerprint})


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_search(
    spec: SearchSpec,
    out: str | Path,
    *,
    progress: bool = False,
    say: Callable[[str], None] = lambda msg: None,
    evaluate_test: bool = True,
) -> SearchResult:
    """Run (or resume) the search into ``out``; return the chosen trial and its test metrics."""
    from aerec.options import build_config
    from aerec.data.prepared import PreparedDataset
    from aerec.data.sequential import inputs_for
    from aerec.models import MODELS
    from aerec.trial import GroupsCache, run_trial, save_trial

    out = Path(out)
    data = PreparedDataset.load(spec.data)
    _, _, test_fold = inputs_for(MODELS[spec.model], data, where=spec.data)  # order matrices for a sequential model
    check_resume(out, spec)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "spec.json", {**dataclasses.asdict(spec), "trials": spec.trials()})
    log = out / "trials.jsonl"
    done = _read_trials(log)
    finished = {trial_key(t["params"]) for t in done}
    best = _best(done)
    todo = [p for p in spec.trials() if trial_key(p) not in finished]
    say(f"{spec.model} on {spec.data}: {len(spec.trials())} trials, {len(done)} already done")
    options = spec.fit_options(progress=progress)
    groups_cache = GroupsCache(out / "groups", data_id={"data": spec.data, "manifest": data.manifest.get("sources")})
    for i, params in enumerate(todo, 1):
        overrides = {**spec.fixed, **params}
        budget_field = MODELS[spec.model].budget_field  # the config field a model takes a time budget in, if any
        if spec.trial_budget and budget_field:
            overrides.setdefault(budget_field, spec.trial_budget)
        record: dict[str, Any] = {"params": params, "status": "ok"}
        t0 = time.perf_counter()
        try:
            cls = MODELS[spec.model]
            trial = run_trial(cls(build_config(cls.Config, overrides)), data, options=options, groups_cache=groups_cache, where=spec.data)
            record.update(validation=trial.validation.summary(), fit_seconds=round(trial.fit_seconds, 3), fit_info=_brief(trial.model.fit_info_), describe=trial.model.describe())
            if trial.groups is not None:
                record["groups"] = trial.groups
        except AerecError as e:
            record.update(status=getattr(e, "status", "failed"), error=str(e), fit_seconds=round(time.perf_counter() - t0, 3))
        except (ArithmeticError, ValueError, RuntimeError, MemoryError) as e:  # a diverging or singular fit (torch's LinAlgError is a RuntimeError)
            record.update(status="failed", error=f"{type(e).__name__}: {' '.join(str(e).split())}", fit_seconds=round(time.perf_counter() - t0, 3))
        record["seconds"] = round(time.perf_counter() - t0, 3)
        if record["status"] == "ok":
            extra = {"search": {"params": params, "fixed": spec.fixed, "options": spec.options}}
            if spec.sweep:
                save_trial(trial, _trial_dir(out, spec, params), data, where=spec.data, overwrite=True, extra=extra)
            if best is None or _score(record) > _score(best):
                save_trial(trial, out / "best", data, where=spec.data, overwrite=True, extra=extra)
                best = record
        _append(log, record)
        done.append(record)
        say(_trial_line(i, len(todo), record, best))
    test = None
    if best is not None and evaluate_test:
        test = _test_once(out, best, test_fold)
    summary = {
        "model": spec.model,
        "data": spec.data,
        "selected_on": f"validation {SELECT}",
        "best": best,
        "n_trials": len(done),
        "n_failed": sum(t["status"] != "ok" for t in done),
        "statuses": sorted({t["status"] for t in done}),
        "test": test,
    }
    if spec.sweep and evaluate_test:
        summary["sweep"] = _test_every_trial(out, spec, done, test_fold)
    atomic_write_json(out / "summary.json", summary)
    return SearchResult(best, done, test)


def _trial_dir(out: Path, spec: SearchSpec, params: dict) -> Path:
    keys = [trial_key(p) for p in spec.trials()]
    return out / "trials" / f"{keys.index(trial_key(params)):03d}"


def _test_every_trial(out: Path, spec: SearchSpec, done: list[dict], fold) -> list[dict]:
    """Sweep mode: each kept trial's validation and test metrics, in grid order (test scored once per trial)."""
    from aerec.artifacts import load_model
    from aerec.evaluate import evaluate

    by_key = {trial_key(t["params"]): t for t in done}
    rows = []
    for params in spec.trials():
        record = by_key.get(trial_key(params))
        if record is None:
            continue
        row = {"params": params, "status": record["status"], "validation": record.get("validation")}
        path = _trial_dir(out, spec, params)
        if record["status"] == "ok" and (path / "model.json").is_file():
            cached = path / "test.json"
            if cached.is_file():
                row["test"] = json.loads(cached.read_text())
            else:
                model, _, _ = load_model(path)
                ev = evaluate(model.score, fold, ks=(20, 50, 100))
                row["test"] = {"summary": ev.summary(), "n_scored": ev.n_scored}
                atomic_write_json(cached, row["test"])
        elif record["status"] == "ok":
            row["test"] = None  # run before sweep mode was on: its model was not kept
        rows.append(row)
    atomic_write_json(out / "sweep.json", rows)
    return rows


def leaderboard(searches: list[str | Path]) -> str:
    """A markdown table of finished searches (their summary.json), laid out as the paper's Table 3.

    One row per search: the model, its test NDCG@100, Recall@20 and Recall@50
    (mean ± s.e.), the validation NDCG@100 it was chosen by, the chosen values,
    and how many trials ran (and failed). Rows are sorted by test NDCG@100.
    """
    rows = []
    for path in searches:
        path = Path(path)
        summary_path = path / "summary.json"
        if not summary_path.is_file():
            raise ConfigError(f"{path}: not a finished search (no summary.json)")
        s = json.loads(summary_path.read_text())
        best, test = s.get("best"), s.get("test")
        fmt = lambda d, k: f"{d[k]['mean']:.4f} ± {d[k]['se']:.4f}"  # noqa: E731
        if best is None or test is None:
            cells = ["did not finish" if "did not finish" in s.get("statuses", []) else "failed"] * 4
            order = -math.inf
        else:
            t = test["summary"]
            cells = [fmt(t, "ndcg@100"), fmt(t, "recall@20"), fmt(t, "recall@50"), f"{best['validation'][SELECT]['mean']:.4f}"]
            order = t["ndcg@100"]["mean"]
        spec = json.loads((path / "spec.json").read_text()) if (path / "spec.json").is_file() else {}
        name = ((best or {}).get("describe") or {}).get("variant", s["model"])
        matched = {k: v for k, v in (spec.get("fixed") or {}).items() if k in ("match_model", "match_parameters") and v}
        chosen = "–" if best is None else (", ".join(f"{k}={v}" for k, v in {**best["params"], **matched}.items()) or "(defaults)")
        trials = f"{s['n_trials']}" + (f" ({s['n_failed']} failed)" if s.get("n_failed") else "")
        rows.append((order, f"| {name} | " + " | ".join(cells) + f" | {chosen} | {trials} |"))
    head = "| model | test NDCG@100 | test Recall@20 | test Recall@50 | val NDCG@100 | chosen on validation | trials |\n|---|---|---|---|---|---|---|"
    return "\n".join([head] + [r for _, r in sorted(rows, key=lambda r: -r[0])])


def sweep_table(search: str | Path) -> str:
    """A markdown table of a sweep (``sweep = true``): one row per trial, validation and test metrics."""
    path = Path(search) / "sweep.json"
    if not path.is_file():
        raise ConfigError(f"{search}: not a finished sweep (no sweep.json; set sweep = true in the search's file)")
    rows = json.loads(path.read_text())
    out = ["| trial | val NDCG@100 | test NDCG@100 | test Recall@20 | test Recall@50 |", "|---|---|---|---|---|"]
    for r in rows:
        name = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "(defaults)"
        if r["status"] != "ok":
            out.append(f"| {name} | {r['status']} | | | |")
            continue
        t = (r.get("test") or {}).get("summary")
        cells = [f"{t[k]['mean']:.4f} ± {t[k]['se']:.4f}" for k in ("ndcg@100", "recall@20", "recall@50")] if t else ["not kept"] * 3
        out.append(f"| {name} | {r['validation'][SELECT]['mean']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _test_once(out: Path, best: dict, fold) -> dict:
    """Score the test users with the chosen model, once; reuse the saved result if it is for the same trial."""
    from aerec.artifacts import load_model
    from aerec.evaluate import evaluate

    path = out / "test.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("params_key") == trial_key(best["params"]):
            return saved["test"]
    model, _, _ = load_model(out / "best")
    ev = evaluate(model.score, fold, ks=(20, 50, 100))  # the test users (order matrices for a sequential model)
    result = {"summary": ev.summary(), "n_scored": ev.n_scored}
    per_user = pd.DataFrame({"row": ev.rows, "fold_in_size": ev.fold_in_size, **ev.per_user})
    with atomic_dir(out / "test", overwrite=True) as tmp:
        per_user.to_parquet(tmp / "per_user.parquet", index=False)
    atomic_write_json(path, {"params_key": trial_key(best["params"]), "test": result, "evaluation": ev.to_json()})
    return result


def _read_trials(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    out = []
    for n, line in enumerate(log.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise ConfigError(f"{log}:{n}: not a JSON line (delete the line to rerun that trial)") from None
    return out


def _append(log: Path, record: dict) -> None:
    with open(log, "a") as f:
        f.write(json.dumps(record, default=_json_default) + "\n")
        f.flush()


def _best(trials: list[dict]) -> dict | None:
    ok = [t for t in trials if t["status"] == "ok"]
    return max(ok, key=_score) if ok else None  # max keeps the first of equal scores


def _score(record: dict) -> float:
    v = record["validation"][SELECT]["mean"]
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _brief(fit_info: dict) -> dict:
    """fit_info without long histories (they stay in the saved model)."""
    out = {}
    for k, v in fit_info.items():
        if isinstance(v, dict):
            v = {kk: vv for kk, vv in v.items() if kk != "history"}
        out[k] = v
    return out


def _trial_line(i: int, n: int, record: dict, best: dict | None) -> str:
    params = ", ".join(f"{k}={v}" for k, v in record["params"].items()) or "(defaults)"
    if record["status"] != "ok":
        return f"[{i}/{n}] {params}: {record['status']}: {record.get('error', '')}"
    mark = " *" if best is record else ""
    return f"[{i}/{n}] {params}: validation NDCG@100 {_score(record):.4f} ({record['fit_seconds']:.1f} s){mark}"


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
