"""The experiment runner: datasets x models, each cell a resumable search, one run directory.

An experiment is described by a TOML file::

    description = "Table 3 on ML-1M"      # optional, shown in run.json
    cells = ["ml-1m/ease", "ml-1m/wmf"]   # optional: which dataset/model pairs (default: every pair)

    [datasets]                            # short name -> a prepared directory (`aerec prepare`)
    ml-1m = "runs/ml-1m"

    [models.ease]                         # short name -> a search without `data` (aerec.search)
    options = { device = "cpu" }          # fit options (aerec.fit_options.FitOptions)

    [models.wmf]
    search = "experiments/search/wmf.toml"   # take model, method, [fixed], [grid] ... from a search file

    [models.swdae-p]
    model = "swdae"                       # the model (aerec.models.MODELS); default: the short name
    [models.swdae-p.fixed]
    match_model = "mult-vae"
    [models.swdae-p.grid]
    lr = [1e-3, 1e-2]

A model's table takes the keys of a search file (``model``, ``method``,
``n_trials``, ``seed``, ``trial_budget``, ``sweep``, ``fixed``, ``grid``,
``options``) and ``search``, a search file whose keys (all but its ``data``)
come first; the table's own keys then replace them, ``fixed``, ``grid`` and
``options`` value by value (a value fixed here is no longer searched, and the
other way round). Paths
are relative to the current directory, as in search files.

Each (dataset, model) pair is a *cell*: one :func:`aerec.search.run_search`
into ``RUN_DIR/cells/<dataset>/<model>/``, which selects on validation and
scores the test users once with the chosen configuration (its per-user test
metrics in ``test/per_user.parquet``, the chosen model in ``best/``). The run
directory holds::

    config.toml   a copy of the experiment's file
    run.json      ``environment`` (Python, torch, numpy, platform, CPUs, CUDA
                  device), ``git_revision`` of the aerec checkout ("unknown"
                  outside git) and ``git_dirty``, ``started``/``finished``, and
                  ``cells``: per cell its status ("ok", "failed", "did not
                  finish"), seconds, the chosen values (``params``), validation
                  and test NDCG@100, Recall@20, Recall@50 (mean, se, n)
    cells/        one search directory per cell

The whole file is checked before anything runs; a mistake is one
:class:`~aerec.errors.ConfigError` line naming the key. A run is resumable: a
cell whose ``summary.json`` exists and whose ``spec.json`` is the cell's
search is not run again (an interrupted cell resumes at its next trial, and
a grown grid runs only its new trials); a cell whose earlier trials ran on
other data (the prepared manifest's fingerprint, in ``data.json``) or with
other fixed values or fit options is refused, as a failed cell, rather than mixed. A
cell that raises (an :class:`~aerec.errors.AerecError` or anything else) is
recorded with the error's type and message and the other cells still run, as
is a cell none of whose trials finished. ``run.json`` is rewritten atomically
after every cell. "did not finish" (every trial past its time budget, as the
paper's SLIM on MSD) is a result, not a failure: :func:`failed_cells`, which
makes ``aerec experiment`` exit 1, counts only "failed".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aerec.atomic import atomic_write_bytes, atomic_write_json
from aerec.errors import ConfigError
from aerec.search import SELECT, SearchSpec, check_resume, run_search

HEADLINE = ("ndcg@100", "recall@20", "recall@50")
_KEYS = {"description", "datasets", "models", "cells"}
_MODEL_KEYS = {"search", "model", "method", "n_trials", "seed", "trial_budget", "sweep", "fixed", "grid", "options"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a dataset or model short name: a directory name


@dataclass
class Cell:
    """One (dataset, model) pair: the search it runs and where."""

    dataset: str
    model: str
    spec: SearchSpec

    @property
    def path(self) -> str:
        return f"cells/{self.dataset}/{self.model}"


@dataclass
class ExperimentConfig:
    """A checked experiment: its cells in order, and the file's text (copied into the run directory)."""

    cells: list[Cell]
    text: str
    description: str = ""
    datasets: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: str | Path) -> ExperimentConfig:
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (IsADirectoryError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read ({e})") from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str = "experiment") -> ExperimentConfig:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{source}: not valid TOML: {e}") from None
        return cls.from_dict(raw, text=text, source=source)

    @classmethod
    def from_dict(cls, raw: dict, *, text: str = "", source: str = "experiment") -> ExperimentConfig:
        """Check every key and build every cell's search; the first mistake is a ConfigError naming its key."""
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        datasets = _table(raw, "datasets", source)
        models = _table(raw, "models", source)
        for name, where in datasets.items():
            _check_name(name, f"datasets.{name}", source)
            if not isinstance(where, str):
                raise ConfigError(f"{source}: datasets.{name}: expected the path of a prepared directory, got {where!r}")
            if not (Path(where) / "manifest.json").is_file():
                raise ConfigError(f"{source}: datasets.{name}: {where} is not a prepared directory (no manifest.json; run `aerec prepare` first)")
        entries = {}
        for name, entry in models.items():
            _check_name(name, f"models.{name}", source)
            if not isinstance(entry, dict):
                raise ConfigError(f"{source}: models.{name}: expected a table (the keys of a search file)")
            entries[name] = _model_entry(name, entry, source)
        pairs = _pairs(raw, datasets, models, source)
        cells = []
        for ds, model in pairs:
            try:
                spec = SearchSpec.from_dict({**entries[model], "data": datasets[ds]}, source=f"models.{model}")
            except ConfigError as e:
                raise ConfigError(f"{source}: {e}") from None
            cells.append(Cell(ds, model, spec))
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{source}: description: expected a string")
        return cls(cells, text, description, dict(datasets))


def _table(raw: dict, key: str, source: str) -> dict:
    value = raw.get(key)
    if value is None:
        raise ConfigError(f"{source}: missing [{key}]")
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{source}: [{key}]: expected a non-empty table")
    return value


def _check_name(name: str, key: str, source: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"{source}: {key}: a short name of letters, digits, '.', '_' and '-' (it names a directory)")


def _model_entry(name: str, entry: dict, source: str) -> dict:
    """A model's table resolved to the keys of a search (without ``data``): its search file first, then its own keys."""
    key = f"models.{name}"
    unknown = sorted(set(entry) - _MODEL_KEYS)
    if unknown:
        raise ConfigError(f"{source}: {key}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_MODEL_KEYS))}")
    base: dict = {}
    if "search" in entry:
        path = Path(str(entry["search"]))
        try:
            base = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{source}: {key}.search: {path}: no such file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{source}: {key}.search: {path}: not a readable TOML file ({e})") from None
        base.pop("data", None)
    own = {k: v for k, v in entry.items() if k != "search"}
    for section in ("fixed", "grid", "options"):
        if section in own and not isinstance(own[section], dict):
            raise ConfigError(f"{source}: {key}.{section}: expected a table")
    fixed = {**base.get("fixed", {}), **own.get("fixed", {})}
    grid = {**base.get("grid", {}), **own.get("grid", {})}
    for k in own.get("fixed", {}):
        grid.pop(k, None)  # fixed here: no longer searched
    for k in own.get("grid", {}):
        fixed.pop(k, None)  # searched here: no longer fixed
    options = {**base.get("options", {}), **own.get("options", {})}
    out = {**base, **own, "fixed": fixed, "grid": grid, "options": options}
    out.setdefault("model", name)
    return out


def _pairs(raw: dict, datasets: dict, models: dict, source: str) -> list[tuple[str, str]]:
    if "cells" not in raw:
        return [(d, m) for d in datasets for m in models]
    cells = raw["cells"]
    if not isinstance(cells, list) or not cells:
        raise ConfigError(f"{source}: cells: expected a non-empty list of \"dataset/model\" strings")
    pairs = []
    for c in cells:
        parts = c.split("/") if isinstance(c, str) else []
        if len(parts) != 2:
            raise ConfigError(f"{source}: cells: {c!r}: expected \"dataset/model\"")
        ds, model = parts
        if ds not in datasets:
            raise ConfigError(f"{source}: cells: {c!r}: no dataset {ds!r} in [datasets] ({', '.join(datasets)})")
        if model not in models:
            raise ConfigError(f"{source}: cells: {c!r}: no model {model!r} in [models] ({', '.join(models)})")
        if (ds, model) in pairs:
            raise ConfigError(f"{source}: cells: {c!r} is listed twice")
        pairs.append((ds, model))
    return pairs


# -- running ------------------------------------------------------------------


def run_experiment(
    config: ExperimentConfig,
    out: str | Path,
    *,
    progress: bool = False,
    say: Callable[[str], None] = lambda msg: None,
) -> dict[str, Any]:
    """Run (or resume) every cell of ``config`` into the run directory ``out``; return run.json's content."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "config.toml", config.text.encode())
    previous = _previous_cells(out / "run.json")
    run: dict[str, Any] = {
        "description": config.description,
        "config": "config.toml",
        "started": _now(),
        "finished": None,
        "environment": environment(),
        **git_revision(),
        "selected_on": f"validation {SELECT}",
        "cells": [],
    }
    atomic_write_json(out / "run.json", run)
    n = len(config.cells)
    for i, cell in enumerate(config.cells, 1):
        record = _run_cell(cell, out, previous.get(cell.path), progress)
        run["cells"].append(record)
        atomic_write_json(out / "run.json", run)
        say(f"[{i}/{n}] {cell.dataset}/{cell.model}: {_cell_line(record)}")
    run["finished"] = _now()
    atomic_write_json(out / "run.json", run)
    return run


def _run_cell(cell: Cell, out: Path, previous: dict | None, progress: bool) -> dict[str, Any]:
    """Run one cell (or find it finished); never raises for a failure of the cell itself."""
    path = out / cell.path
    record: dict[str, Any] = {"dataset": cell.dataset, "model": cell.model, "model_name": cell.spec.model, "data": cell.spec.data, "dir": cell.path}
    t0 = time.perf_counter()
    try:
        check_resume(path, cell.spec)
        if is_finished(path, cell.spec):
            seconds = previous.get("seconds") if previous else None
            return {**record, **_outcome(path), "seconds": seconds, "reused": True}
        run_search(cell.spec, path, progress=progress)
        record.update(_outcome(path))
    except Exception as e:  # noqa: BLE001 - an AerecError, or a bug: either way the other cells run; its type and message are kept
        record.update(status="failed", error=f"{type(e).__name__}: {e}")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["reused"] = False
    return record


def is_finished(path: Path, spec: SearchSpec) -> bool:
    """Whether a cell's search directory holds a finished search of exactly ``spec``."""
    if not (path / "summary.json").is_file() or not (path / "spec.json").is_file():
        return False
    try:
        saved = json.loads((path / "spec.json").read_text())
    except (OSError, ValueError):
        return False
    return saved == _spec_json(spec)


def _spec_json(spec: SearchSpec) -> Any:
    """``spec.json`` as run_search writes it, read back (tuples become lists)."""
    return json.loads(json.dumps({**dataclasses.asdict(spec), "trials": spec.trials()}, default=str))


def _outcome(path: Path) -> dict[str, Any]:
    """A finished cell's status, chosen values and headline metrics, from its summary.json."""
    s = json.loads((path / "summary.json").read_text())
    best, test = s.get("best"), s.get("test")
    out: dict[str, Any] = {"n_trials": s.get("n_trials"), "n_failed": s.get("n_failed")}
    if best is None:
        statuses = s.get("statuses", [])
        out["status"] = "did not finish" if statuses == ["did not finish"] else "failed"
        errors = [t.get("error", "") for t in _trials(path) if t.get("status") != "ok"]
        out["error"] = errors[0] if errors else "no trial finished"
        return out
    out["status"] = "ok"
    out["params"] = best["params"]
    out["validation"] = {k: best["validation"][k] for k in HEADLINE if k in best["validation"]}
    out["test"] = {k: test["summary"][k] for k in HEADLINE if k in test["summary"]} if test else None
    return out


def _trials(path: Path) -> list[dict]:
    log = path / "trials.jsonl"
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _previous_cells(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        return {c["dir"]: c for c in json.loads(path.read_text()).get("cells", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _cell_line(record: dict) -> str:
    took = f"{record['seconds']:.1f} s" if isinstance(record.get("seconds"), (int, float)) else "earlier"
    if record["status"] != "ok":
        return f"{record['status']} ({took}): {record.get('error', '')}"
    reused = "finished earlier" if record.get("reused") else f"ok in {took}"
    val = record["validation"][SELECT]["mean"]
    test = f", test {record['test'][SELECT]['mean']:.4f}" if record.get("test") else ""
    return f"{reused}; validation NDCG@100 {val:.4f}{test}"


def failed_cells(run: dict) -> list[dict]:
    """The cells of a run.json whose status is "failed" ("did not finish" is a result, not a failure)."""
    return [c for c in run["cells"] if c["status"] == "failed"]


# -- provenance ---------------------------------------------------------------


def environment() -> dict[str, Any]:
    """Versions, platform, CPUs and the CUDA device this process runs with."""
    import numpy
    import scipy
    import torch

    import aerec

    cuda = None
    if torch.cuda.is_available():
        cuda = {"device": torch.cuda.get_device_name(0), "count": torch.cuda.device_count(), "cuda": torch.version.cuda}
    return {
        "python": platform.python_version(),
        "aerec": aerec.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda,
        "argv": sys.argv,
    }


def git_revision() -> dict[str, Any]:
    """``git_revision``: the commit of the aerec checkout this code runs from ("unknown" outside git); ``git_dirty``: whether tracked files changed."""
    repo = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return {"git_revision": "unknown", "git_dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, timeout=10)
        return {"git_revision": head.stdout.strip(), "git_dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"git_revision": "unknown", "git_dirty": None}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
