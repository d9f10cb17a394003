"""Time ``aerec prepare``, phase by phase, on MovieLens-1M and on a synthetic ML-20M-shaped log.

What it measures, each phase repeated ``--repeat`` times (min and median
seconds, peak RSS of the process while the phase ran and its growth over the
RSS before it):

ml-1m (the published files under ``--ml1m``, default ``../shared/data/ml-1m``):

* ``read``: the dataset's reader (:func:`aerec.data.load.read_ml1m`);
* ``preprocess + split``: :func:`aerec.data.prepare.prepare` with the
  protocol's defaults (it also hashes the input files for the manifest; that
  share is shown on its own line);
* ``save``: :meth:`PreparedDataset.save` (compressed ``.npz``, Parquet, JSON);
* ``aerec prepare (CLI, end to end)``: the command in a subprocess, startup
  and imports included (peak RSS is the child's).

Synthetic, ML-20M-shaped (``--users 136677 --items 20108 --interactions
10000000``: 116,677 training users plus 2 x 10,000 held out, as ``aerec synth
--users 116677`` makes):

* ``generate`` (once): :func:`aerec.data.synthetic.generate`;
* ``read`` of the log written as a CSV (``user,item,value,timestamp``) with
  :func:`aerec.data.load.read_table`, what ``aerec prepare table`` does;
* ``preprocess + split`` and ``save`` of the generated log, as above, with
  ``--heldout-users`` (10,000, ML-20M's) validation and test users;
* ``aerec prepare table (CLI, end to end)`` on the CSV.

Floors, measured in the same run on the same files, tell how far each phase
is from what the hardware and a plain library do: reading the bytes,
``pandas.read_csv`` (C engine, and pyarrow's where installed) for ``read``,
and ``scipy.sparse.save_npz(compressed=False)`` of the same five matrices for
``save``. A floor does less work (no validation of every field, no
vocabularies, no compression), so it bounds a phase from below; it is not a
peer doing the same job.

Run from the repository root, in the project's virtual environment::

    python benchmarks/bench_prepare.py                 # both data sets, 3 repeats
    python benchmarks/bench_prepare.py --skip-synth    # ml-1m only (seconds)
    python benchmarks/bench_prepare.py --skip-ml1m --repeat 1

Tables go to stdout, progress to stderr. Temporary outputs (the CSV, about
250 MB at ML-20M's size, and the prepared directories) go under ``--tmp`` and
are removed at the end.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common import GiB, TABLE_HEAD, Timing, footer, machine_header, measure, say

from aerec.data.datasets import get_dataset
from aerec.data.prepare import file_record, prepare
from aerec.data.preprocess import Filters
from aerec.data.split import SplitParams
from aerec.data import load


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ml1m", type=Path, default=Path("../shared/data/ml-1m"), help="the MovieLens-1M folder (default ../shared/data/ml-1m)")
    p.add_argument("--repeat", type=int, default=3, help="repeats of every phase (default 3)")
    p.add_argument("--skip-ml1m", action="store_true", help="leave out MovieLens-1M")
    p.add_argument("--skip-synth", action="store_true", help="leave out the synthetic ML-20M-shaped log")
    p.add_argument("--skip-cli", action="store_true", help="leave out the end-to-end CLI runs")
    p.add_argument("--users", type=int, default=136_677, help="synthetic users, held-out ones included (default 136677)")
    p.add_argument("--items", type=int, default=20_108, help="synthetic items (default 20108)")
    p.add_argument("--interactions", type=int, default=10_000_000, help="synthetic interactions (default 10,000,000)")
    p.add_argument("--heldout-users", type=int, default=10_000, help="validation and test users each, synthetic (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic generator (default 0)")
    p.add_argument("--tmp", type=Path, default=None, help="folder for temporary outputs (default: the system's)")
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if not args.skip_ml1m and not args.ml1m.is_dir():
        p.error(f"--ml1m {args.ml1m}: no such folder (the MovieLens-1M files; or pass --skip-ml1m)")

    print(machine_header("bench_prepare: aerec prepare, phase by phase"))
    with tempfile.TemporaryDirectory(prefix="aerec-bench-", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        if not args.skip_ml1m:
            bench_ml1m(args, tmp)
        if not args.skip_synth:
            bench_synth(args, tmp)
    print(footer())
    return 0


def bench_ml1m(args, tmp: Path) -> None:
    spec = get_dataset("ml-1m")
    params = SplitParams(heldout_users=spec.heldout_users)
    rows: list[Timing] = []
    say("ml-1m: read")
    t, data = measure("read (aerec read_ml1m)", lambda: spec.reader(args.ml1m), args.repeat)
    rows.append(t)
    ratings = data.sources[0]
    rows += read_floors(ratings, args.repeat)
    say("ml-1m: preprocess + split")
    t, prepared = measure("preprocess + split (prepare)", lambda: prepare(data, spec.filters, params, dataset="ml-1m"), args.repeat)
    rows.append(t)
    rows.append(measure("  of which: sha256 of the input files", lambda: [file_record(s) for s in data.sources], args.repeat)[0])
    say("ml-1m: save")
    rows.append(measure("save (PreparedDataset.save)", lambda: prepared.save(tmp / "ml1m", overwrite=True), args.repeat)[0])
    rows.append(save_floor(prepared, tmp / "ml1m-floor", args.repeat))
    if not args.skip_cli:
        say("ml-1m: CLI end to end")
        rows.append(cli("aerec prepare ml-1m (CLI, end to end)", ["prepare", "ml-1m", "--data", str(args.ml1m), "--out", str(tmp / "ml1m-cli"), "--force", "-q"], args.repeat))
    c = prepared.counts()
    print(f"\n-- ml-1m ({ratings}, {ratings.stat().st_size / 2**20:.1f} MiB): {len(data):,} ratings read; "
          f"{c['train_users']:,} training users x {c['items']:,} items, {c['train_interactions']:,} training interactions")
    print_table(rows)


def bench_synth(args, tmp: Path) -> None:
    from aerec.data.synthetic import SyntheticConfig, generate

    cfg = SyntheticConfig(users=args.users, items=args.items, interactions=args.interactions, seed=args.seed)
    say(f"synthetic: generating {cfg.users:,} users x {cfg.items:,} items, {cfg.interactions:,} interactions (once)")
    rows: list[Timing] = []
    t, syn = measure("generate (once; not part of prepare)", lambda: generate(cfg), 1)
    rows.append(t)
    data = syn.interactions
    del syn

    say("synthetic: writing the log as CSV (untimed)")
    csv = tmp / "synthetic.csv"
    write_csv(data, csv)
    say("synthetic: read")
    rows.append(measure("read (aerec read_table, CSV)", lambda: load.read_table(csv, user="user", item="item", value="value", timestamp="timestamp"), args.repeat)[0])
    rows += read_floors(csv, args.repeat)

    filters = Filters(value_above=None, min_item_users=0, min_user_items=5)
    params = SplitParams(heldout_users=args.heldout_users)
    say("synthetic: preprocess + split")
    t, prepared = measure("preprocess + split (prepare)", lambda: prepare(data, filters, params, dataset="synthetic"), args.repeat)
    rows.append(t)
    say("synthetic: save")
    rows.append(measure("save (PreparedDataset.save)", lambda: prepared.save(tmp / "synth", overwrite=True), args.repeat)[0])
    rows.append(save_floor(prepared, tmp / "synth-floor", args.repeat))
    if not args.skip_cli:
        say("synthetic: CLI end to end (prepare table on the CSV)")
        argv = ["prepare", "table", "--data", str(csv), "--user-col", "user", "--item-col", "item", "--time-col", "timestamp",
                "--heldout-users", str(args.heldout_users), "--out", str(tmp / "synth-cli"), "--force", "-q"]  # fmt: skip
        rows.append(cli("aerec prepare table (CLI, end to end)", argv, args.repeat))
    c = prepared.counts()
    print(f"\n-- synthetic ML-20M shape ({csv.stat().st_size / 2**20:.0f} MiB as CSV): {len(data):,} interactions generated; "
          f"{c['train_users']:,} training users x {c['items']:,} items, {c['train_interactions']:,} training interactions")
    print_table(rows)


# -- floors and helpers ---------------------------------------------------
def read_floors(path: Path, repeat: int) -> list[Timing]:
    """Reading the same file with less work: its bytes, and pandas.read_csv."""
    rows = [measure("  floor: read the bytes", lambda: path.read_bytes(), repeat)[0]]
    if path.suffix == ".csv":
        rows.append(measure("  floor: pandas.read_csv (C engine)", lambda: pd.read_csv(path), repeat)[0])
        try:
            import pyarrow  # noqa: F401

            rows.append(measure("  floor: pandas.read_csv (pyarrow engine)", lambda: pd.read_csv(path, engine="pyarrow"), repeat)[0])
        except ImportError:
            pass
    else:  # ratings.dat: "::" separated; ':' with every other column is the C engine's fast path
        rows.append(measure("  floor: pandas.read_csv (C engine, sep ':')", lambda: pd.read_csv(path, sep=":", header=None, usecols=[0, 2, 4, 6]), repeat)[0])
    return rows


def save_floor(prepared, out: Path, repeat: int) -> Timing:
    """The five matrices written uncompressed: the I/O a save cannot avoid."""
    mats = {"train": prepared.train, "validation_in": prepared.validation.X_in, "validation_out": prepared.validation.X_out,
            "test_in": prepared.test.X_in, "test_out": prepared.test.X_out}  # fmt: skip

    def write() -> None:
        out.mkdir(parents=True, exist_ok=True)
        for name, m in mats.items():
            sp.save_npz(out / f"{name}.npz", m, compressed=False)

    return measure("  floor: save_npz uncompressed, 5 matrices", write, repeat)[0]


def write_csv(data, path: Path) -> None:
    frame = pd.DataFrame({"user": data.user, "item": data.item, "value": data.value.astype(np.int8), "timestamp": data.timestamp})
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path, pacsv.WriteOptions(quoting_style="none"))
    except ImportError:
        frame.to_csv(path, index=False)


def cli(name: str, argv: list[str], repeat: int) -> Timing:
    """Wall time of ``aerec ARGV`` in a subprocess; peak RSS is the largest child's so far."""
    exe = Path(sys.executable).with_name("aerec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from aerec.cli import main; sys.exit(main())"]
    t = Timing(name)
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(cmd + argv, capture_output=True, text=True)
        t.seconds.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd + argv)} failed:\n{done.stderr}")
    t.peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return t


def print_table(rows: list[Timing]) -> None:
    print(TABLE_HEAD)
    for t in rows:
        print(t.row())
    print(f"(peak: sampled RSS of this process during the phase, the CLI rows the child's; Δ: growth over the RSS before it; 1 GiB = {GiB:,} bytes)")


if __name__ == "__main__":
    sys.exit(main())
