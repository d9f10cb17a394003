"""``aerec demo``: the whole method on a fresh machine, with no data to download.

1. **Data.** :func:`aerec.data.synthetic.generate` plants ``groups`` disjoint
   item groups (each user interested in one to three of them, a tenth of the
   draws by popularity instead) and the result is split as PROTOCOL.md
   splits real data (strong generalization: validation and test users never
   seen in training).
2. **Structure.** Algorithm 1 (:func:`aerec.structure.learn_groups`, Laplacian
   embedding, K-means with LocalSearch++ seeding) groups the items into
   ``K = groups`` groups, one per item, and
   :func:`~aerec.data.synthetic.group_recovery` scores them against the
   planted ones (1 is exact recovery, up to the order of the groups).
3. **Models.** Sw-DAE (``K = width x groups`` = 100 hidden units, R/K = 0.1,
   logistic likelihood, Adam lr 1e-2, batches of 100), FC-DAE of the same width and
   training, Mult-VAE and EASE, each a cell of one experiment
   (:mod:`aerec.experiment`): chosen on validation, the choice scored once on
   the test users.
4. **Results.** The leaderboard of the cells (:func:`aerec.search.leaderboard`)
   and, where :mod:`aerec.report` is installed, the HTML report.

Everything is written under one directory (default ``runs/demo``)::

    data/        the prepared synthetic dataset (planted_groups.npz among its extras)
    groups.json  the grouping's parameters, timings and recovery score
    config.toml, run.json, cells/   the experiment (aerec.experiment)

Running it again reuses the data (when generated with the same settings)
and the finished cells. The default size (3,600 users x 600 items, 120,000
interactions) took 17 s from the command line on a shared two-core machine
(load average 3-4); ``quick`` shrinks everything further (for tests). The
demo runs torch on one thread: its matrices are small, and a second thread
on a busy two-core machine made it ten times slower (190 s).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from aerec.atomic import atomic_write_json

DATASET = "synthetic"
MODELS = ("swdae", "fc-dae", "mult-vae", "ease")


@dataclass(frozen=True)
class DemoConfig:
    """The size of the demo.

    Attributes:
        users: training users (validation and test users come on top).
        heldout_users: validation users, and again test users.
        items: items.
        interactions: about this many interactions in all.
        groups: planted item groups K*.
        width: Sw-DAE's K (and FC-DAE's width) as a multiple of K*.
        batch_size: users per mini-batch of Sw-DAE and FC-DAE (Mult-VAE keeps its 500).
        max_epochs: the most epochs of each neural model.
        patience: validations without improvement before a neural model stops.
        seed: seeds the data, the grouping and the models.
    """

    users: int = 3000
    heldout_users: int = 300
    items: int = 600
    interactions: int = 120_000
    groups: int = 20
    width: int = 5
    batch_size: int = 100
    max_epochs: int = 40
    patience: int = 5
    seed: int = 0


QUICK = DemoConfig(users=240, heldout_users=30, items=90, interactions=5000, groups=6, width=2, batch_size=100, max_epochs=3, patience=2)


def experiment_text(c: DemoConfig, data: Path) -> str:
    """The demo's experiment file: four models with small fixed settings on the synthetic data."""
    k = c.width * c.groups
    train = f"max_epochs = {c.max_epochs}\npatience = {c.patience}"
    dae = f"{train}\nbatch_size = {c.batch_size}"
    return f"""\
description = "aerec demo: synthetic data with {c.groups} planted item groups"

[datasets]
{DATASET} = {json.dumps(str(data))}

[models.swdae.fixed]
n_groups = {k}
overlap_ratio = 0.1
loss = "logistic"
lr = 1e-2
{dae}

[models.swdae.options]
seed = {c.seed}

[models.fc-dae.fixed]
n_hidden = {k}
loss = "logistic"
lr = 1e-2
{dae}

[models.fc-dae.options]
seed = {c.seed}

[models.mult-vae.fixed]
total_anneal_steps = 2000
lr = 3e-3
{train}

[models.mult-vae.options]
seed = {c.seed}

[models.ease.fixed]
refine = 2
"""


def run_demo(out: str | Path, *, quick: bool = False, progress: bool = False, say: Callable[[str], None] = lambda msg: None, show: Callable[[str], None] = print) -> dict:
    """Run the demo into ``out``; ``show`` gets the results (recovery, leaderboard, report), ``say`` the progress."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: a second thread only adds synchronisation (module docstring)
    try:
        return _run(QUICK if quick else DemoConfig(), Path(out), progress, say, show)
    finally:
        torch.set_num_threads(threads)


def _run(c: DemoConfig, out: Path, progress: bool, say: Callable[[str], None], show: Callable[[str], None]) -> dict:
    from aerec.experiment import ExperimentConfig, run_experiment
    from aerec.search import leaderboard

    t0 = time.perf_counter()
    data = _data(c, out, say)
    grouping = _grouping(c, data, out)
    show(f"groups: Algorithm 1 found K = {c.groups} groups in {grouping['seconds']:.1f} s; recovery of the planted groups {grouping['recovery']:.3f} (1 = exact)")
    config = ExperimentConfig.from_text(experiment_text(c, data), source="demo")
    run = run_experiment(config, out, progress=progress, say=say)
    show("")
    show(leaderboard([out / cell["dir"] for cell in run["cells"] if "n_trials" in cell]))  # the cells whose search finished
    for cell in run["cells"]:
        if cell["status"] != "ok":
            show(f"{cell['model']}: {cell['status']}: {cell.get('error', '')}")
    try:
        from aerec.report import write_report
    except ImportError:
        show("\nreport: skipped (aerec.report is not available)")
    else:
        show(f"\nreport: {write_report(out)}")
    show(f"demo finished in {time.perf_counter() - t0:.0f} s; everything is under {out}")
    return run


def _data(c: DemoConfig, out: Path, say: Callable[[str], None]) -> Path:
    """The prepared synthetic dataset under ``out/data``, generated unless one with these settings is there."""
    from aerec.data.prepare import prepare
    from aerec.data.prepared import MANIFEST
    from aerec.data.preprocess import Filters
    from aerec.data.split import SplitParams
    from aerec.data.synthetic import SyntheticConfig, generate

    path = out / "data"
    syn_cfg = SyntheticConfig(users=c.users + 2 * c.heldout_users, items=c.items, interactions=c.interactions, groups=c.groups, groups_per_item=(1, 1), seed=c.seed)
    described = json.loads(json.dumps(dataclasses.asdict(syn_cfg)))
    if (path / MANIFEST).is_file() and json.loads((path / MANIFEST).read_text()).get("synthetic") == described:
        return path
    if (out / "cells").is_dir():  # trained on other data: stale
        shutil.rmtree(out / "cells")
    t0 = time.perf_counter()
    syn = generate(syn_cfg)
    prepared = prepare(syn.interactions, Filters(value_above=None, min_item_users=0, min_user_items=5), SplitParams(heldout_users=c.heldout_users, seed=c.seed), dataset=DATASET, extra={"synthetic": described})
    cols = prepared.items["item_id"].to_numpy(np.int64)
    prepared.extra["planted_groups"] = sp.csr_matrix(syn.item_groups)[cols]  # rows follow the prepared columns
    prepared.save(path, overwrite=True)
    n = prepared.counts()
    say(f"data: {n['train_users']:,} training users x {n['items']:,} items ({n['train_interactions']:,} interactions), {c.groups} planted groups, in {time.perf_counter() - t0:.1f} s")
    return path


def _grouping(c: DemoConfig, data: Path, out: Path) -> dict:
    """Algorithm 1 at the planted K, one group per item; its recovery score, written to ``out/groups.json``."""
    from aerec.data.prepared import PreparedDataset
    from aerec.data.synthetic import group_recovery
    from aerec.structure import learn_groups

    ds = PreparedDataset.load(data)
    t0 = time.perf_counter()
    groups = learn_groups(ds.train, n_groups=c.groups, overlap=1, n_components=min(50, c.groups * 2), seed=c.seed, kmeans_local_search=10 * c.groups)
    seconds = time.perf_counter() - t0
    result = {
        "algorithm": "laplacian",
        "n_groups": c.groups,
        "overlap": 1,
        "recovery": group_recovery(ds.extra["planted_groups"], groups.membership),
        "seconds": round(seconds, 3),
        "timings": groups.timings,
    }
    atomic_write_json(out / "groups.json", result)
    return result
