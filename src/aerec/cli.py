"""The ``aerec`` command: thin subcommands over the library.

    aerec prepare ml-1m --data ../shared/data/ml-1m --out runs/ml1m
    aerec prepare ml-1m --data ../shared/data/ml-1m --out runs/ml1m-ratings --protocol ratings
    aerec train i-autorec --data runs/ml1m-ratings --out runs/ml1m-i-autorec
    aerec train ease --data runs/ml1m --out runs/ml1m-ease
    aerec evaluate runs/ml1m-ease --data runs/ml1m [--json]
    aerec recommend runs/ml1m-ease --items 1,2,3 -n 10
    aerec synth --users 116677 --items 20108 --interactions 10000000 --out runs/synth20m
    aerec groups --data runs/ml-1m -k 3000 --algorithm svd --timings-out runs/table6-ml-1m/groupings/svd-1.json
    aerec report runs/search/ml-1m --out runs/report-ml1m
    aerec experiment experiments/table3-ml-1m.toml --out runs/table3-ml-1m
    aerec demo
    aerec genres runs/ml-1m-swdae-k3000-logistic-e200 --out runs/genres-ml-1m

Errors a user can cause print one line (``aerec: error: ...``) and exit 1;
argument errors exit 2 (argparse). Progress bars go to stderr, and only
when it is a terminal and ``--quiet`` is not given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from aerec import __version__
from aerec.errors import AerecError, ConfigError, DataError
from aerec.fit_options import FitOptions
from aerec.options import add_config_options, build_config, config_overrides

HEADLINE = ("ndcg@100", "recall@20", "recall@50")


def main(argv: list[str] | None = None) -> int:
    """Run one command; every error is one line on stderr and a non-zero exit (2: usage, 1: anything else).

    An :class:`~aerec.errors.AerecError` is the error aerec means to give. Anything else reaching here is a
    bug or an unforeseen input: the net prints its type and message in one line and a hint to rerun with
    ``--debug``, which lets the traceback through.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        _check_outputs(args)
        args.run(args)
    except AerecError as e:
        print(f"aerec: error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aerec: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if getattr(args, "debug", False):
            raise
        print("aerec: error: out of memory (the data or the model is too large for this machine; rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    except Exception as e:  # the net: one line, never a traceback unless asked for
        if getattr(args, "debug", False):
            raise
        print(f"aerec: error: unexpected {type(e).__name__}: {one_line(str(e))} (a bug in aerec; rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and other control characters become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``aerec train: error: ... (see aerec train --help)``, exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


#: What each command's ``--out`` is: a directory replaced only with --force (the default), a directory added to
#: and resumed ("run"), or a file ("file"). :func:`_check_outputs` checks it before the command's work starts.
_OUT_KINDS = {"cmd_search": "run", "cmd_experiment": "run", "cmd_demo": "run", "cmd_report": "run", "cmd_recommend": "file", "cmd_groups": "file"}


def _check_outputs(args) -> None:
    """Refuse an output the command could not write, or may not replace, before it reads or computes anything."""
    from aerec.atomic import check_out

    out = getattr(args, "out", None)
    if out is None:
        return
    kind = _OUT_KINDS.get(args.run.__name__, "dir")
    if kind == "file":
        _check_writable_file(out, "--out")
    elif kind == "run":
        check_out(out, resume=True)
    else:
        inputs = [v for k, v in vars(args).items() if k != "out" and isinstance(v, Path)]
        check_out(out, overwrite=getattr(args, "force", False), inputs=inputs)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: one parser per entry of :data:`SUBCOMMANDS`; `aerec train`'s options come from each
    model's config (:func:`aerec.options.add_config_options`), so no hyperparameter is written out here."""
    parser = _Parser(prog="aerec", description="Autoencoder recommenders with learned structure.")
    parser.add_argument("--version", action="version", version=f"aerec {__version__}")
    parser.add_argument("--debug", action="store_true", help="let an unexpected error's traceback through (default: one line)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _add_prepare(sub) -> None:
    """`aerec prepare`."""
    from aerec.data.datasets import DATASETS

    p = sub.add_parser(
        "prepare",
        help="read a dataset, preprocess and split it (PROTOCOL.md) into a prepared directory",
        description="Read a dataset, apply PROTOCOL.md's preprocessing and strong-generalization split, "
        "and write a prepared directory (CSR matrices, vocabularies, manifest). Known datasets: "
        + ", ".join(DATASETS)
        + "; 'table' reads any CSV/TSV/Parquet with named columns.",
    )
    p.add_argument("dataset", help="dataset name (see `aerec datasets`) or 'table'")
    p.add_argument("--data", required=True, type=Path, help="the dataset's folder (or file for 'table')")
    p.add_argument("--out", required=True, type=Path, help="the prepared directory to write")
    g = p.add_argument_group("protocol (defaults: the dataset's row of PROTOCOL.md)")
    g.add_argument("--heldout-users", type=int, help="validation users, and again test users")
    g.add_argument("--value-above", type=_float_or_none, default=_UNSET, help="keep an interaction when its value is above this ('none' keeps all)")
    g.add_argument("--min-user-items", type=int, help="keep users with at least this many interactions")
    g.add_argument("--min-item-users", type=int, help="keep items with at least this many users (applied first)")
    g.add_argument("--protocol", choices=("strong", "ratings", "sequential"), default="strong",
                   help="strong: strong generalization (PROTOCOL.md, the default); ratings: a random split of explicit ratings "
                   "(AutoRec/DeepRec; RMSE, MAE); sequential: strong generalization with time-ordered fold-in/fold-out")  # fmt: skip
    g.add_argument("--seed", type=int, default=98765, help="seed of the split (default: 98765)")
    g.add_argument("--test-prop", type=float, help="strong/sequential: fraction of a held-out user's items in the fold-out (default: 0.2); "
                   "ratings: fraction of all ratings in the test set (default: 0.1)")  # fmt: skip
    g.add_argument("--validation-prop", type=float, help="ratings: fraction of the other ratings held out for validation, 0 for none (default: 0.1)")
    g = p.add_argument_group("reading")
    g.add_argument("--source", choices=("auto", "ratings.dat", "derived"), help="ml-1m only: auto (the default), ratings.dat or derived")
    g.add_argument("--user-col", help="table: the user column")
    g.add_argument("--item-col", help="table: the item column")
    g.add_argument("--value-col", help="table: the rating/count column (omit for implicit data)")
    g.add_argument("--time-col", help="table: the timestamp column")
    g.add_argument("--sep", help="table: the field separator, e.g. ';', '::' or '\\t' for a tab (default: from the extension)")
    _common(p)
    p.set_defaults(run=cmd_prepare)


def _add_train(sub) -> None:
    """`aerec train`."""
    from aerec.models import MODELS

    p = sub.add_parser("train", help="fit a model on a prepared dataset and save it", description="Fit a model on a prepared dataset's training users (validation users for model selection) and save it.")
    models = p.add_subparsers(title="models", metavar="MODEL")
    for name, cls in MODELS.items():
        m = models.add_parser(name, help=(cls.__doc__ or "").strip().splitlines()[0], description=(cls.__module__ and sys.modules[cls.__module__].__doc__))
        m.formatter_class = argparse.RawDescriptionHelpFormatter
        m.add_argument("--data", required=True, type=Path, help="a prepared directory (`aerec prepare`)")
        m.add_argument("--out", required=True, type=Path, help="the model directory to write")
        add_config_options(m, cls.Config)
        add_config_options(m, FitOptions, title="fit options (how the fit runs; aerec.fit_options)", prefix="opt_", only={"device", "seed", *cls.honours})
        for input_name, what in getattr(cls, "input_files", {}).items():
            m.add_argument(f"--{input_name}", type=Path, metavar="FILE", help=what)
        _common(m)
        m.set_defaults(run=cmd_train, model=name)


def _add_evaluate(sub) -> None:
    """`aerec evaluate`."""
    p = sub.add_parser("evaluate", help="validation and test metrics of a saved model", description="Score the validation and test users' fold-in, rank the unseen items and report NDCG@100, Recall@20, Recall@50 (mean ± s.e.) and more. "
                       "A rating model (data prepared with --protocol ratings) reports RMSE and MAE of the held-out ratings instead.")
    p.add_argument("model", type=Path, help="a model directory (`aerec train`)")
    p.add_argument("--data", required=True, type=Path, help="the prepared directory the model was trained on")
    p.add_argument("--split", choices=("validation", "test", "both"), default="both")
    p.add_argument("--ks", default="1,5,10,20,50,100", help="cut-offs, comma-separated (default: 1,5,10,20,50,100)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--buckets", action="store_true", help="also print metrics per cold-start bucket (fold-in size)")
    p.add_argument("--device", help="override the model's device (auto, cpu, cuda)")
    _common(p, force=False)
    p.set_defaults(run=cmd_evaluate)


def _add_recommend(sub) -> None:
    """`aerec recommend`."""
    p = sub.add_parser("recommend", help="top-N items for a history of items, a user of a prepared split, or every user of a log",
                       description="Top-N unseen items, with titles, for a list of item ids or for a user of a prepared split; "
                       "with --histories, for every user of a CSV/TSV/Parquet log (users the model never saw), written to --out "
                       "in long format: user_id, rank, item_id, score.")  # fmt: skip
    p.add_argument("model", type=Path, help="a model directory")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--items", help="comma-separated raw item ids the user has interacted with")
    who.add_argument("--user", help="a raw user id of the prepared split given with --data (its fold-in or training row)")
    who.add_argument("--histories", type=Path, metavar="FILE", help="a log of users' interactions (.csv, .tsv, .txt or .parquet; one row per interaction)")
    p.add_argument("--data", type=Path, help="the prepared directory (with --user)")
    p.add_argument("-n", type=int, default=10, help="how many items (default: 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--device", help="override the model's device")
    g = p.add_argument_group("--histories")
    g.add_argument("--user-col", default="user", help="the user column (default: user)")
    g.add_argument("--item-col", default="item", help="the item column (default: item)")
    g.add_argument("--time-col", help="the timestamp column (integer seconds; orders a sequential model's histories, else file order)")
    g.add_argument("--value-col", help="the rating/count column (with --value-above)")
    g.add_argument("--value-above", type=float, help="keep a row only when its value is above this (e.g. 3.5, as the MovieLens protocol did for training)")
    g.add_argument("--sep", help="the field separator of a text file, e.g. ';' or '\\t' for a tab (default: from the extension)")
    g.add_argument("--unknown", choices=("skip", "error"), default="skip", help="items not in the model's vocabulary: drop and count them (default) or stop with an error")
    g.add_argument("--out", type=Path, help="where to write the recommendations (.csv, .tsv or .parquet), atomically")
    p.set_defaults(run=cmd_recommend)


def _add_synth(sub) -> None:
    """`aerec synth`."""
    p = sub.add_parser("synth", help="generate synthetic data with planted item groups, prepared for training", description="Generate interactions with planted overlapping item groups, power-law item popularity and log-normal user activity, and write them as a prepared directory (plus planted_groups.npz).")
    p.add_argument("--users", type=int, default=5000, help="training users (held-out users are added on top)")
    p.add_argument("--items", type=int, default=2000, help="items, at least 10 and at least --groups (default: 2000)")
    p.add_argument("--interactions", type=int, default=200_000, help="about this many interactions in all; a number the users cannot hold "
                   "(at least 5 each, at most half the items and only those of their groups) is refused")  # fmt: skip
    p.add_argument("--groups", type=int, default=50, help="planted item groups; an item is in 1-3 of them, a user interested in 1-3")
    p.add_argument("--noise", type=float, default=0.1, help="fraction of a user's items drawn outside their groups, in [0, 1]")
    p.add_argument("--heldout-users", type=int, help="validation and test users each (default: min(10000, users/10))")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator, at least 0 (default: 0)")
    p.add_argument("--out", required=True, type=Path)
    _common(p)
    p.set_defaults(run=cmd_synth)


def _add_groups(sub) -> None:
    """`aerec groups`."""
    p = sub.add_parser("groups", help="learn overlapping item groups (Sw-DAE Sec. 3.1) and inspect them", description="Learn K overlapping item groups from the training matrix (Algorithm 1: Laplacian spectrum; Algorithm 2: truncated SVD; then K-means, each item tied to its R nearest centroids), print their sizes, overlap and top items, and optionally save them.")
    p.add_argument("--data", required=True, type=Path, help="a prepared directory")
    p.add_argument("-k", "--n-groups", type=int, default=1000, help="K, the number of groups (default: 1000)")
    p.add_argument("-r", "--overlap", type=int, default=None, help="R, groups per item, at least 1 (default: 0.1 K)")
    p.add_argument("-f", "--n-components", type=int, default=50, help="F, the embedding dimension (default: 50)")
    p.add_argument("--algorithm", choices=("laplacian", "svd"), default="laplacian")
    p.add_argument("--normalize", choices=("l2", "sum", "none"), default="l2", help="row normalisation of the embedding (default: l2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--show", type=int, default=10, help="groups to print (largest first; default: 10)")
    p.add_argument("--top", type=int, default=5, help="items to print per group, most popular first (default: 5)")
    p.add_argument("--out", type=Path, help="save the groups (safetensors) to this file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--timings-out", type=Path, metavar="FILE", help="also write the JSON summary (seconds per stage, overlap, the groups shown, "
                   "the command) to FILE, atomically; `aerec report` shows such files found under its run directory as Table 6")  # fmt: skip
    _common(p, force=False)
    p.set_defaults(run=cmd_groups)


def _add_search(sub) -> None:
    """`aerec search`."""
    p = sub.add_parser(
        "search",
        help="grid or random hyperparameter search, selected on validation, the choice tested once",
        description="Run the hyperparameter search described by a TOML file (model, data, [fixed], [grid]; see aerec.search): "
        "fit every trial on the training users, choose the highest validation NDCG@100, then score the test users once "
        "with the chosen model. Resumes: trials already in OUT/trials.jsonl are skipped.",
    )
    p.add_argument("spec", type=Path, help="the search's TOML file")
    p.add_argument("--out", required=True, type=Path, help="the search directory (trials.jsonl, best/, summary.json)")
    p.add_argument("--data", type=Path, help="a prepared directory (overrides the file's `data`)")
    _common(p, force=False)
    p.set_defaults(run=cmd_search)


def _add_experiment(sub) -> None:
    """`aerec experiment`."""
    p = sub.add_parser(
        "experiment",
        help="datasets x models from a TOML file, each cell a search; resumable, with the environment and git revision",
        description="Run every (dataset, model) cell of an experiment file (see aerec.experiment): each cell is a search "
        "selected on validation whose choice is scored once on test, written to RUN_DIR/cells/DATASET/MODEL/. "
        "RUN_DIR/run.json records the environment, the git revision, and each cell's status, time, choice and metrics. "
        "Finished cells are skipped when run again; a failed cell is recorded, the others still run, and the exit status is 1.",
    )
    p.add_argument("config", type=Path, help="the experiment's TOML file (e.g. experiments/table3-ml-1m.toml)")
    p.add_argument("--out", required=True, type=Path, help="the run directory (config.toml, run.json, cells/)")
    _common(p, force=False)
    p.set_defaults(run=cmd_experiment)


def _add_demo(sub) -> None:
    """`aerec demo`."""
    p = sub.add_parser(
        "demo",
        help="the method end to end on generated data: planted groups, Algorithm 1, four models, a leaderboard",
        description="Generate data with planted item groups, learn the groups with Algorithm 1 and score their recovery, "
        "train Sw-DAE, FC-DAE, Mult-VAE and EASE through the experiment runner, print the leaderboard and write the report. "
        "No data needed; a few minutes on two CPU cores. Running it again reuses what is finished.",
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="where everything goes (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="a tiny configuration that runs in seconds (for tests)")
    _common(p, force=False)
    p.set_defaults(run=cmd_demo)


def _add_leaderboard(sub) -> None:
    """`aerec leaderboard`."""
    p = sub.add_parser("leaderboard", help="a markdown table of finished searches (the paper's Table 3 layout)",
                       description="Print one row per finished search directory: test NDCG@100, Recall@20, Recall@50 (mean ± s.e.), "
                       "the validation NDCG@100 it was chosen by, the chosen values and the number of trials.")  # fmt: skip
    p.add_argument("searches", nargs="+", type=Path, help="search directories (`aerec search --out`)")
    p.add_argument("--trials", action="store_true", help="one row per trial of each sweep (`sweep = true`): validation and test metrics")
    p.set_defaults(run=cmd_leaderboard)


def _add_report(sub) -> None:
    """`aerec report`."""
    p = sub.add_parser("report", help="a static HTML report (tables, figures, the paper's numbers) of the searches under a directory",
                       description="Find every finished search under RUN_DIR (a directory holding summary.json, at any depth), and write "
                       "an HTML page with a leaderboard and a bar chart of test NDCG@100 per dataset, a table and plot per sweep, and the "
                       "paper's published numbers beside ours where it reports the same analysis. Self-contained: index.html and PNG files.")  # fmt: skip
    p.add_argument("run_dir", type=Path, help="a run directory (`aerec experiment`) or a folder of search directories (`aerec search --out`)")
    p.add_argument("--out", type=Path, help="the report's folder (default: RUN_DIR/report); replaced if it holds an earlier report")
    p.set_defaults(run=cmd_report)


def _add_genres(sub) -> None:
    """`aerec genres`."""
    p = sub.add_parser("genres", help="genre composition of a Sw-DAE's hidden units against random groups (Table 8, Figure 8)",
                       description="For each hidden unit of a saved swdae (or deep-swdae's first layer), the share of its items carrying each genre "
                       "(items with several genres count for each); per genre, the mean share among the top units and the units it dominates, "
                       "against random groups of the same sizes (seeded shuffles); with --out, JSON, markdown and one Figure 8 heat map per genre.")  # fmt: skip
    p.add_argument("model", type=Path, help="a swdae or deep-swdae model directory whose items.parquet has genres (ml-1m, ml-100k)")
    p.add_argument("--top", type=int, default=25, help="units per genre (default: 25)")
    p.add_argument("--shuffles", type=int, default=10, help="random-group shuffles for the baseline (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first shuffle (default: 0)")
    p.add_argument("--min-size", type=int, default=1, help="leave out units with fewer items with known genres (default: 1)")
    p.add_argument("--out", type=Path, help="write genres.json, genres.md, summary.png and fig8-GENRE.png here")
    p.add_argument("--json", action="store_true", help="print JSON instead of the markdown table")
    _common(p)
    p.set_defaults(run=cmd_genres)


def _add_datasets(sub) -> None:
    """`aerec datasets`."""
    p = sub.add_parser("datasets", help="list the known datasets, their protocol defaults and sources")
    p.set_defaults(run=cmd_datasets)


#: The subcommands, in the order `aerec --help` lists them; each adds its parser (its arguments and the
#: function it runs) to the subparsers it is given.
SUBCOMMANDS = (_add_prepare, _add_train, _add_evaluate, _add_recommend, _add_synth, _add_groups, _add_search, _add_experiment, _add_demo, _add_leaderboard, _add_report, _add_genres, _add_datasets)


def _common(p: argparse.ArgumentParser, force: bool = True) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="let an unexpected error's traceback through")
    if force:
        p.add_argument("--force", action="store_true", help="replace --out if it exists")


def _check_writable_file(path: Path, option: str) -> None:
    """A file path that can be written: not a directory, its folder made if missing; else a one-line ConfigError."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file path")
    for folder in path.parents:
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{option} {path}: lies under {folder}, which is a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot make its folder ({e.strerror or e})") from None
    from aerec.atomic import probe_writable

    probe_writable(path.parent, f"{option} {path}")


_UNSET = object()  # an option's default when "not given" must differ from every value it can be given ('none' too)


def _float_or_none(s: str) -> float | None:
    return None if s.lower() in ("none", "null") else float(s)


def _progress(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg, file=sys.stderr)


# -- commands -------------------------------------------------------------
def _separator(sep: str | None) -> str | None:
    """``--sep`` as given, the shell-friendly spellings of a tab (``\\t``, ``tab``) turned into one; a bad one refused."""
    sep = "\t" if sep in ("\\t", "tab", "TAB") else sep
    if sep is not None and (sep == "" or any(c in sep for c in '"\r\n')):
        raise ConfigError(f"--sep {sep!r}: give one or more characters, not a quote or a line break (e.g. ';' or '\\t')")
    return sep


def _check_columns(**options: str | None) -> None:
    """Column options (``user_col="u"`` for ``--user-col u``) must name different columns."""
    seen: dict[str, str] = {}
    for name, column in options.items():
        if column is None:
            continue
        option = "--" + name.replace("_", "-")
        if column in seen:
            raise ConfigError(f"{seen[column]} and {option} both name the column {column!r}; each column has one role")
        seen[column] = option


def _check_prepare_options(args) -> None:
    """Refuse, naming the option, what `aerec prepare` could only turn into wrong or silently ignored data."""
    from aerec.data.datasets import get_dataset

    name = "table" if args.dataset == "table" else get_dataset(args.dataset).name  # an unknown name: its error first
    table_only = [o for o in ("user_col", "item_col", "value_col", "time_col", "sep") if getattr(args, o) is not None]
    if name != "table" and table_only:
        raise ConfigError(f"--{table_only[0].replace('_', '-')} applies to 'aerec prepare table' only; {name} has a known format")
    if args.source is not None and name != "ml-1m":
        raise ConfigError(f"--source applies to ml-1m only, not {name}")
    if args.dataset == "table":
        _check_columns(user_col=args.user_col, item_col=args.item_col, value_col=args.value_col, time_col=args.time_col)
        if args.protocol == "ratings" and not args.value_col:
            raise ConfigError("--protocol ratings needs --value-col, the column of ratings (without it every rating would be 1.0)")
    if args.test_prop is not None and not 0.0 < args.test_prop < 1.0:
        raise ConfigError(f"--test-prop {args.test_prop}: must be between 0 and 1 (exclusive)")
    if args.validation_prop is not None:
        if args.protocol != "ratings":
            raise ConfigError(f"--validation-prop applies to --protocol ratings only (the {args.protocol} protocol holds out --heldout-users validation users)")
        if not 0.0 <= args.validation_prop < 1.0:
            raise ConfigError(f"--validation-prop {args.validation_prop}: must be at least 0 and below 1")
    if args.heldout_users is not None:
        if args.protocol == "ratings":
            raise ConfigError("--heldout-users does not apply to --protocol ratings (it splits the ratings, not the users; see --test-prop, --validation-prop)")
        if args.heldout_users < 1:
            raise ConfigError(f"--heldout-users {args.heldout_users}: must be at least 1")
    for option in ("min_user_items", "min_item_users"):
        if getattr(args, option) is not None and getattr(args, option) < 0:
            raise ConfigError(f"--{option.replace('_', '-')} {getattr(args, option)}: must be at least 0")
    if args.value_above not in (_UNSET, None) and not np.isfinite(args.value_above):
        raise ConfigError(f"--value-above {args.value_above}: must be a finite number (or 'none' to keep every value)")
    if not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed {args.seed}: must be in 0..4294967295")


def cmd_prepare(args) -> None:
    import dataclasses

    from aerec.data import load
    from aerec.data.datasets import get_dataset
    from aerec.data.prepare import prepare
    from aerec.data.preprocess import Filters
    from aerec.data.split import SplitParams

    t0 = time.perf_counter()
    args.sep = _separator(args.sep)
    _check_prepare_options(args)
    if args.dataset == "table":
        if not (args.user_col and args.item_col):
            raise ConfigError("prepare table needs --user-col and --item-col")
        data = load.read_table(args.data, user=args.user_col, item=args.item_col, value=args.value_col, timestamp=args.time_col, sep=args.sep)
        filters = Filters(value_above=None, min_item_users=0, min_user_items=5)
        heldout = None
    else:
        spec = get_dataset(args.dataset)
        kwargs = {"source": args.source or "auto"} if spec.name == "ml-1m" else {}
        data = spec.reader(args.data, **kwargs)
        filters, heldout = spec.filters, spec.heldout_users
    changes = {k: getattr(args, k) for k in ("min_user_items", "min_item_users") if getattr(args, k) is not None}
    if args.value_above is not _UNSET:
        changes["value_above"] = args.value_above
    if args.dataset == "table" and changes.get("value_above") is not None and not args.value_col:
        raise ConfigError(f"--value-above {changes['value_above']:g}: needs --value-col, the column whose values it compares")
    if args.protocol == "ratings":
        args.validation_prop = 0.1 if args.validation_prop is None else args.validation_prop
        _prepare_ratings(args, data, changes, t0)
        return
    filters = dataclasses.replace(filters, **changes)
    heldout = args.heldout_users if args.heldout_users is not None else heldout
    if heldout is None:
        raise ConfigError("prepare table needs --heldout-users")
    params = SplitParams(heldout_users=heldout, seed=args.seed, test_prop=0.2 if args.test_prop is None else args.test_prop)
    t_read = time.perf_counter() - t0
    if args.protocol == "sequential":
        from aerec.data.sequential import prepare_sequential

        prepared = prepare_sequential(data, filters, params, dataset=args.dataset)
    else:
        prepared = prepare(data, filters, params, dataset=args.dataset)
    prepared.manifest["seconds"] = {"read": round(t_read, 3), "total": round(time.perf_counter() - t0, 3)}
    prepared.save(args.out, overwrite=args.force)
    c = prepared.counts()
    print(
        f"{args.out}: {c['train_users']:,} training users x {c['items']:,} items ({c['train_interactions']:,} interactions); "
        f"{c['validation_users']:,} validation and {c['test_users']:,} test users"
    )


def cmd_train(args) -> None:
    from aerec.models import MODELS
    from aerec.trial import clear_checkpoint, run_trial, save_trial

    cls = MODELS[args.model]
    model = cls(**config_overrides(args))  # the config and the options check themselves before any data is read
    options = build_config(FitOptions, {**config_overrides(args, "opt_"), "progress": _progress(args)})
    data = _training_data(args, cls)
    files = {k: getattr(args, k) for k in cls.input_files if getattr(args, k, None) is not None} if cls.task == "ranking" else {}
    trial = run_trial(model, data, options=options, files=files, say=lambda m: _say(args, m), where=str(args.data))
    save_trial(trial, args.out, data, where=str(args.data), overwrite=args.force)
    clear_checkpoint(options.checkpoint)
    val = trial.validation
    if cls.task == "rating":
        scores = f"validation RMSE {val.rmse:.4f}  MAE {val.mae:.4f}  (n={val.n:,})" if val.n else "no validation ratings (trained every epoch)"
    else:
        scores = f"validation {_headline(val)}"
    print(f"{args.out}: {model.name} fitted in {trial.fit_seconds:.1f} s; {scores}")


def _training_data(args, cls):
    """The prepared data ``aerec train`` fits on: a ratings directory for a rating model, else a ranking split."""
    kind = _protocol_of(args.data)
    if cls.task == "rating" or kind == "ratings":
        from aerec.data.ratings import RatingsDataset

        if cls.task != "rating":
            raise ConfigError(f"{args.model} is a ranking model but {args.data} holds explicit ratings (--protocol ratings); train {RATING_MODELS_HINT} on it, or prepare the data with --protocol strong")
        if kind != "ratings":
            raise ConfigError(f"{args.model} predicts ratings and needs data prepared with --protocol ratings; {args.data} was prepared with the {kind} protocol")
        return RatingsDataset.load(args.data)
    from aerec.data.prepared import PreparedDataset

    return PreparedDataset.load(args.data)


def cmd_evaluate(args) -> None:
    from aerec.artifacts import load_model
    from aerec.atomic import atomic_write_json
    from aerec.data.prepared import PreparedDataset
    from aerec.data.sequential import inputs_for
    from aerec.evaluate import evaluate

    if _is_rating_run(args):
        _evaluate_rating(args)
        return
    model, items, meta = load_model(args.model, device=args.device)
    data = PreparedDataset.load(args.data)
    if len(items) != data.n_items or not np.array_equal(items["item_id"].astype(str).to_numpy(), data.items["item_id"].astype(str).to_numpy()):
        raise DataError(f"{args.model}: the model's item vocabulary differs from {args.data}'s (was it trained on another dataset?)")
    try:
        ks = tuple(sorted({int(k) for k in args.ks.split(",") if k.strip()}))
    except ValueError:
        raise ConfigError(f"--ks {args.ks!r}: expected comma-separated integers") from None
    if not ks or min(ks) < 1 or max(ks) >= 2**31:
        raise ConfigError(f"--ks {args.ks!r}: cut-offs must lie in [1, 2^31)")
    splits = ("validation", "test") if args.split == "both" else (args.split,)
    _, validation, test = inputs_for(model, data, where=str(args.data))  # order matrices for a sequential model
    results = {}
    for name in splits:
        ev = evaluate(model.score, {"validation": validation, "test": test}[name], ks=ks, progress=_progress(args))
        results[name] = ev.to_json()
        if not args.json:
            print(f"{name:<10} {_headline(ev)}  (n={ev.n_scored})")
            if args.buckets:
                for b in results[name]["buckets"]:
                    print(f"  fold-in {b['label']:>11}: n={b['n']:<6} " + "  ".join(_fmt_bucket(b, m) for m in HEADLINE))
    out = Path(args.model) / "evaluation.json"
    previous = json.loads(out.read_text()) if out.is_file() else {}
    if previous.get("data") == str(args.data):  # keep the other split's results
        results = {**previous.get("results", {}), **results}
    record = {"model": meta["model"], "model_dir": str(args.model), "data": str(args.data), "results": results}
    atomic_write_json(out, record)
    if args.json:
        print(json.dumps({**record, "results": {k: results[k] for k in splits}}, indent=2, default=float))


# -- explicit ratings (--protocol ratings; models with task "rating") --------------
RATING_MODELS_HINT = "i-autorec, u-autorec, deeprec or denoising-autorec"


def _protocol_of(path: Path) -> str:
    """The protocol a prepared directory was written with (``strong`` when it cannot tell)."""
    from aerec.data.prepared import protocol_kind

    try:
        return protocol_kind(json.loads((Path(path) / "manifest.json").read_text()))
    except (OSError, ValueError):
        return "strong"  # not a prepared directory: the loader says so


def _prepare_ratings(args, data, changes: dict, t0: float) -> None:
    import dataclasses

    from aerec.data.ratings import RATING_FILTERS, RatingSplitParams, prepare_ratings

    params = RatingSplitParams(test_prop=0.1 if args.test_prop is None else args.test_prop, validation_prop=args.validation_prop, seed=args.seed)
    prepared = prepare_ratings(data, params, dataset=args.dataset, filters=dataclasses.replace(RATING_FILTERS, **changes))
    prepared.manifest["seconds"] = {"total": round(time.perf_counter() - t0, 3)}
    prepared.save(args.out, overwrite=args.force)
    c = prepared.counts()
    print(
        f"{args.out}: {c['users']:,} users x {c['items']:,} items; {c['train_ratings']:,} training, "
        f"{c['validation_ratings']:,} validation and {c['test_ratings']:,} test ratings"
    )


def _is_rating_run(args) -> bool:
    """Whether ``aerec evaluate`` was given a rating model or a ratings directory."""
    from aerec.models import MODELS

    try:
        meta = json.loads((Path(args.model) / "model.json").read_text())
    except (OSError, ValueError):
        meta = None
    name = meta.get("model") if isinstance(meta, dict) else None
    name = name if isinstance(name, str) else None  # a damaged model.json: load_model says what is wrong
    return (name in MODELS and MODELS[name].task == "rating") or _protocol_of(args.data) == "ratings"


def _evaluate_rating(args) -> None:
    from aerec.artifacts import load_model
    from aerec.atomic import atomic_write_json
    from aerec.data.ratings import RatingsDataset
    from aerec.evaluate import evaluate_ratings

    model, items, meta = load_model(args.model, device=args.device)
    kind = _protocol_of(args.data)
    if model.task != "rating":
        raise ConfigError(f"{args.model}: {model.name} is a ranking model but {args.data} holds explicit ratings (--protocol ratings)")
    if kind != "ratings":
        raise ConfigError(f"{args.model}: {model.name} predicts ratings; evaluate it on the --protocol ratings directory it was trained on, not {args.data} ({kind} protocol)")
    data = RatingsDataset.load(args.data)
    same_items = len(items) == data.n_items and np.array_equal(items["item_id"].astype(str).to_numpy(), data.items["item_id"].astype(str).to_numpy())
    if not same_items or model.n_users_ != data.train.shape[0]:
        raise DataError(f"{args.model}: the model's users or items differ from {args.data}'s (was it trained on another dataset?)")
    splits = ("validation", "test") if args.split == "both" else (args.split,)
    results = {}
    for name in splits:
        ev = evaluate_ratings(model.predict, getattr(data, name))
        results[name] = ev.to_json()
        if not args.json:
            print(f"{name:<10} RMSE {ev.rmse:.4f}  MAE {ev.mae:.4f}  (n={ev.n:,})")
    out = Path(args.model) / "evaluation.json"
    previous = json.loads(out.read_text()) if out.is_file() else {}
    if previous.get("data") == str(args.data):  # keep the other split's results
        results = {**previous.get("results", {}), **results}
    record = {"model": meta["model"], "model_dir": str(args.model), "data": str(args.data), "results": results}
    atomic_write_json(out, record)
    if args.json:
        print(json.dumps({**record, "results": {k: results[k] for k in splits}}, indent=2, default=float))


def cmd_recommend(args) -> None:
    from aerec.artifacts import load_model

    model, items, _ = load_model(args.model, device=args.device)
    if model.task == "rating":
        raise ConfigError(f"{args.model}: {model.name} predicts ratings and does not rank items for a history (use `aerec evaluate`)")
    if args.n < 1:
        raise ConfigError(f"-n {args.n}: must be at least 1")
    ids = items["item_id"].astype(str).to_numpy()
    if args.histories is not None:
        return _recommend_histories(args, model, ids)
    given = [o for o in ("value_col", "value_above", "time_col", "sep") if getattr(args, o) is not None]
    if given:
        raise ConfigError(f"--{given[0].replace('_', '-')} goes with --histories (it describes the log's columns)")
    if args.out is not None:
        raise ConfigError("--out goes with --histories (one user's recommendations are printed)")
    if args.items is not None:
        wanted = [s.strip() for s in args.items.split(",") if s.strip()]
        col = {v: j for j, v in enumerate(ids)}
        missing = [w for w in wanted if w not in col]
        if missing:
            raise ConfigError(f"--items: unknown item id(s) {', '.join(missing[:5])} (not in the model's vocabulary)")
        cols = np.array([col[w] for w in wanted], dtype=np.int64)
        # a sequential model reads the order from the values: the items' positions as given, oldest first
        values = np.arange(1, len(cols) + 1, dtype=np.float32) if getattr(model, "sequential", False) else np.ones(len(cols), np.float32)
        history = sp.csr_matrix((values, (np.zeros(len(cols), np.int64), cols)), shape=(1, len(ids)))
    else:
        history = _user_history(args, model, len(ids))
    top, s = model.recommend(history, args.n)  # (1, n) each; -1 past the user's unseen items
    rows = [{"rank": r + 1, "item_id": ids[j], "title": items["title"].iloc[j], "score": float(v)} for r, (j, v) in enumerate(zip(top[0], s[0], strict=True)) if j >= 0]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:  # ids and titles come from data files: no escape sequence reaches the terminal
            print(f"{row['rank']:>3}  {_printable(row['item_id']):>10}  {row['score']:>10.4f}  {_printable(row['title'])}")


#: Format characters that reorder what a terminal shows (bidirectional overrides and isolates).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(text) -> str:
    """``text`` safe to print as one line of a terminal: control characters shown as ``\\x1b``, ``\\u202e`` escapes.

    Titles and ids come from data files; a raw escape sequence (``\\x1b[2J``) would act on the terminal. Only
    what is printed as text is changed, never what is written to files (JSON output escapes them itself).
    """
    import unicodedata

    out = []
    for c in str(text):
        if unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs") or c in _BIDI_CONTROLS:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": None}


def _recommend_histories(args, model, ids: np.ndarray) -> None:
    """``recommend --histories``: every user of a log, to ``--out`` (checked before anything is read)."""
    from aerec.atomic import atomic_write_bytes
    from aerec.data.load import read_table
    from aerec.data.sequential import is_sequential
    from aerec.serve import histories, recommend_many

    if args.out is None:
        raise ConfigError("--histories needs --out (a .csv, .tsv or .parquet file)")
    suffix = args.out.suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise ConfigError(f"--out {args.out}: give a .csv, .tsv or .parquet file")
    if (args.value_above is None) != (args.value_col is None):
        raise ConfigError("--value-col and --value-above go together")
    if args.value_above is not None and not np.isfinite(args.value_above):
        raise ConfigError(f"--value-above {args.value_above}: must be a finite number")
    if args.json:
        raise ConfigError("--json goes with --items or --user; --histories writes --out")
    _check_columns(user_col=args.user_col, item_col=args.item_col, value_col=args.value_col, time_col=args.time_col)
    sep = _separator(args.sep)
    _check_writable_file(args.out, "--out")
    # ids stay the strings written in the log (00302 is not 302), as the model's vocabulary holds them
    log = read_table(args.histories, user=args.user_col, item=args.item_col, value=args.value_col, timestamp=args.time_col, sep=sep, string_ids=True)
    h = histories(log, ids, sequential=is_sequential(model), unknown=args.unknown, value_above=args.value_above, where=str(args.histories))
    recs = recommend_many(model, h, ids, args.n)
    if suffix == ".parquet":
        data = recs.to_parquet(index=False)
    else:
        data = recs.to_csv(index=False, sep=_TABLE_SUFFIXES[suffix]).encode()
    atomic_write_bytes(args.out, data)
    note = f"{len(h.user_ids)} users, {len(recs)} recommendations -> {args.out}"
    if h.unknown_interactions:
        note += f"; dropped {h.unknown_interactions} interactions with {len(h.unknown_items)} item(s) not in the model's vocabulary"
    if h.empty_users:
        note += f"; {h.empty_users} user(s) had no usable item (unknown or not above --value-above) and were ranked from an empty history"
    print(note, file=sys.stderr)


def _user_history(args, model, n_items: int) -> sp.csr_matrix:
    """The user's row of the prepared split (time positions for a sequential model, as it was trained on)."""
    from aerec.data.prepared import PreparedDataset
    from aerec.data.sequential import inputs_for

    if args.data is None:
        raise ConfigError("--user needs --data (the prepared directory)")
    data = PreparedDataset.load(args.data)
    train, validation, test = inputs_for(model, data, where=str(args.data))
    for matrix, users in ((train, data.train_users), (validation.X_in, validation.users), (test.X_in, test.users)):
        hit = np.flatnonzero(np.asarray(users).astype(str) == args.user)
        if len(hit):
            row = matrix[hit[0]]
            if row.shape[1] != n_items:
                raise DataError(f"{args.data}: has {row.shape[1]} items, the model {n_items}")
            return sp.csr_matrix(row)
    raise ConfigError(f"--user {args.user}: no such user in {args.data}")


def cmd_synth(args) -> None:
    from aerec.data.prepare import prepare
    from aerec.data.preprocess import Filters
    from aerec.data.split import SplitParams
    from aerec.data.synthetic import generate

    for name in ("users", "items", "interactions", "groups"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} {getattr(args, name)}: must be positive")
    heldout = args.heldout_users if args.heldout_users is not None else max(1, min(10_000, args.users // 10))
    cfg = _synth_config(args, heldout)
    t0 = time.perf_counter()
    syn = generate(cfg)
    t_gen = time.perf_counter() - t0
    prepared = prepare(syn.interactions, Filters(value_above=None, min_item_users=0, min_user_items=5), SplitParams(heldout_users=heldout), dataset="synthetic", extra={"synthetic": {**vars(cfg), "groups_per_item": list(cfg.groups_per_item), "groups_per_user": list(cfg.groups_per_user)}})
    cols = prepared.items["item_id"].to_numpy(np.int64)
    prepared.extra["planted_groups"] = sp.csr_matrix(syn.item_groups)[cols]  # rows follow the prepared columns
    prepared.manifest["seconds"] = {"generate": round(t_gen, 3), "total": round(time.perf_counter() - t0, 3)}
    prepared.save(args.out, overwrite=args.force)
    c = prepared.counts()
    print(f"{args.out}: {c['train_users']:,} training users x {c['items']:,} items ({c['train_interactions']:,} interactions), {args.groups} planted groups; generated in {t_gen:.1f} s")


def _synth_config(args, heldout: int):
    """`aerec synth`'s generator config; sizes it cannot honour are refused naming the option, never silently capped."""
    from aerec.data.synthetic import SyntheticConfig, interaction_bounds

    if args.heldout_users is not None and args.heldout_users < 1:
        raise ConfigError(f"--heldout-users {args.heldout_users}: must be at least 1")
    if args.groups > args.items:
        raise ConfigError(f"--groups {args.groups}: more than --items {args.items} (every planted group needs an item of its own)")
    min_items = 5  # SyntheticConfig.min_user_interactions, and the protocol's 5 items per user
    if args.items < 2 * min_items:
        raise ConfigError(f"--items {args.items}: must be at least {2 * min_items} (a user takes at least {min_items} distinct items and at most half of them)")
    if not 0.0 <= args.noise <= 1.0:
        raise ConfigError(f"--noise {args.noise}: must be in [0, 1]")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be at least 0")
    users = args.users + 2 * heldout
    if users * args.items >= 2**62:
        raise ConfigError(f"--users {args.users} x --items {args.items}: too many user-item pairs to index")
    overlap = (1, min(3, args.groups))
    cfg = SyntheticConfig(users=users, items=args.items, interactions=args.interactions, groups=args.groups, groups_per_item=overlap,
                          groups_per_user=overlap, noise=args.noise, seed=args.seed, min_user_interactions=min_items)  # fmt: skip
    fewest, most = interaction_bounds(cfg)
    who = f"{users:,} users ({args.users:,} + 2 x {heldout:,} held out)"
    slack = 0.05  # --interactions is "about this many": a request within 5 % of what fits is met as closely as it can be, and said
    if args.interactions > most * (1 + slack):
        raise ConfigError(f"--interactions {args.interactions:,}: at most {most:,} fit; {who} each hold at most half of the {args.items:,} items "
                          f"and only those of their planted groups (raise --items or --users, or lower --interactions)")  # fmt: skip
    if args.interactions < fewest * (1 - slack):
        raise ConfigError(f"--interactions {args.interactions:,}: too few; {who} need at least {min_items} items each, {fewest:,} in all "
                          f"(lower --users or raise --interactions)")  # fmt: skip
    if not fewest <= args.interactions <= most:
        near = most if args.interactions > most else fewest
        print(f"aerec: note: --interactions {args.interactions:,}: {who} hold {'at most' if near == most else 'at least'} {near:,}; generating that many", file=sys.stderr)
    return cfg


def cmd_groups(args) -> None:
    from aerec.atomic import atomic_write_json
    from aerec.data.prepared import PreparedDataset
    from aerec.structure import learn_groups, save_groups

    data = PreparedDataset.load(args.data)
    if args.timings_out is not None:
        _check_writable_file(args.timings_out, "--timings-out")  # before the grouping, not after it
    if args.overlap is not None and args.overlap < 1:
        raise ConfigError(f"-r {args.overlap}: R, the groups per item, must be at least 1 (leave -r out for 0.1 K)")
    for option in ("show", "top"):
        if getattr(args, option) < 0:
            raise ConfigError(f"--{option} {getattr(args, option)}: must be at least 0")
    R = args.overlap if args.overlap is not None else max(1, round(0.1 * args.n_groups))
    groups = learn_groups(data.train, n_groups=args.n_groups, overlap=R, n_components=args.n_components, algorithm=args.algorithm, normalize=args.normalize, seed=args.seed, device=args.device, progress=_progress(args))
    if args.out is not None:
        save_groups(groups, args.out)
    popularity = np.asarray(data.train.sum(axis=0)).ravel()
    member = groups.membership.tocsc()
    sizes = groups.sizes()
    shown = []
    for g in np.argsort(-sizes, kind="stable")[: max(args.show, 0)]:
        items = member.indices[member.indptr[g] : member.indptr[g + 1]]
        top = items[np.argsort(-popularity[items], kind="stable")[: args.top]]
        shown.append({"group": int(g), "size": int(sizes[g]), "top_items": [{"item_id": str(data.items["item_id"].iloc[j]), "title": str(data.items["title"].iloc[j])} for j in top]})
    summary = {"K": groups.n_groups, "R": groups.overlap_r, "F": args.n_components, "algorithm": args.algorithm, "normalize": args.normalize, "timings": groups.timings, "overlap": groups.overlap(), "groups": shown}
    if args.timings_out is not None:
        import shlex

        import torch

        threads = os.environ.get("OMP_NUM_THREADS")
        argv = ["aerec", "groups", "--data", str(args.data), "-k", str(args.n_groups), "-r", str(R), "-f", str(args.n_components), "--algorithm", args.algorithm,
                "--normalize", args.normalize, "--seed", str(args.seed), "--device", args.device, "--timings-out", str(args.timings_out)]  # fmt: skip
        record = {**summary, "data": str(args.data), "seed": args.seed, "device": groups.params.device, "torch_threads": torch.get_num_threads(),
                  "command": (f"OMP_NUM_THREADS={shlex.quote(threads)} " if threads else "") + shlex.join(argv)}  # fmt: skip
        try:
            atomic_write_json(args.timings_out, record)
        except OSError as e:
            raise ConfigError(f"--timings-out {args.timings_out}: cannot write it ({e.strerror or e})") from None
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    t = groups.timings
    print(f"{groups.n_groups} groups, R={groups.overlap_r}, F={args.n_components} ({args.algorithm}, {args.normalize}) in {t.get('total', 0):.2f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in t.items() if k != "total"))
    o = groups.overlap()
    print(f"items per group: min {o['items_per_group_min']:.0f}, median {o['items_per_group_median']:.0f}, max {o['items_per_group_max']:.0f}; empty groups {o['empty_groups']}; mean shared items per pair {o['mean_shared_items_per_pair']:.2f}")
    for g in shown:
        print(f"group {g['group']:>5} ({g['size']} items): " + "; ".join(_printable(it["title"] or it["item_id"]) for it in g["top_items"]))


def cmd_search(args) -> None:
    import dataclasses

    from aerec.search import SELECT, SearchSpec, run_search

    spec = SearchSpec.from_toml(args.spec)
    if args.data is not None:
        spec = dataclasses.replace(spec, data=str(args.data))
    result = run_search(spec, args.out, progress=_progress(args), say=lambda m: _say(args, m))
    if result.best is None:
        raise ConfigError(f"{args.spec}: every trial failed (see {args.out / 'trials.jsonl'})")
    params = ", ".join(f"{k}={v}" for k, v in result.best["params"].items()) or "(defaults)"
    val = result.best["validation"][SELECT]
    test = result.test["summary"]
    print(
        f"{args.out}: {spec.model} chose {params} on validation ({SELECT} {val['mean']:.4f} ± {val['se']:.4f}); "
        f"test " + "  ".join(f"{k} {test[k]['mean']:.4f} ± {test[k]['se']:.4f}" for k in HEADLINE)
    )


def cmd_experiment(args) -> None:
    from aerec.experiment import ExperimentConfig, failed_cells, run_experiment
    from aerec.search import leaderboard

    config = ExperimentConfig.from_toml(args.config)
    run = run_experiment(config, args.out, progress=_progress(args), say=lambda m: _say(args, m))
    for dataset in dict.fromkeys(c["dataset"] for c in run["cells"]):
        finished = [args.out / c["dir"] for c in run["cells"] if c["dataset"] == dataset and "n_trials" in c]  # the searches that finished
        if finished:
            print(f"{dataset}\n{leaderboard(finished)}\n")
    failed = failed_cells(run)
    print(f"{args.out}: {len(run['cells'])} cells, {len(failed)} failed; details in {args.out / 'run.json'}")
    if failed:
        names = ", ".join(f"{c['dataset']}/{c['model']}" for c in failed)
        raise AerecError(f"{len(failed)} of {len(run['cells'])} cells failed ({names}); their errors are in {args.out / 'run.json'}")


def cmd_demo(args) -> None:
    from aerec.demo import run_demo
    from aerec.experiment import failed_cells

    run = run_demo(args.out, quick=args.quick, progress=_progress(args), say=lambda m: _say(args, m))
    failed = failed_cells(run)
    if failed:
        raise AerecError(f"demo: {len(failed)} model(s) failed; their errors are in {args.out / 'run.json'}")


def cmd_leaderboard(args) -> None:
    from aerec.search import leaderboard, sweep_table

    print("\n\n".join(sweep_table(s) for s in args.searches) if args.trials else leaderboard(args.searches))


def cmd_report(args) -> None:
    from aerec.report import write_report

    print(write_report(args.run_dir, args.out))


def cmd_genres(args) -> None:
    import shlex

    from aerec.analysis.genres import analyse, load_structure, markdown, write_outputs

    item_groups, n_units, items, _ = load_structure(args.model)
    result = analyse(item_groups, n_units, items["genres"], top=args.top, shuffles=args.shuffles, seed=args.seed, min_size=args.min_size)
    command = shlex.join(["aerec", "genres", str(args.model), "--top", str(args.top), "--shuffles", str(args.shuffles), "--seed", str(args.seed), "--min-size", str(args.min_size)] + (["--out", str(args.out)] if args.out else []))
    if args.out is not None:
        write_outputs(result, args.out, command=command, overwrite=args.force)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
    else:
        print("\n".join(_printable(line) for line in markdown(result).split("\n")), end="")  # genre names from the data: no escapes to the terminal
    if args.out is not None:
        _say(args, f"wrote {args.out}")


def cmd_datasets(args) -> None:
    from aerec.data.datasets import DATASETS

    for spec in DATASETS.values():
        print(f"{spec.describe()}\n    {spec.source}")


# -- formatting -------------------------------------------------------------
def _headline(ev) -> str:
    s = ev.summary()
    names = {"ndcg@100": "NDCG@100", "recall@20": "Recall@20", "recall@50": "Recall@50"}
    return "  ".join(f"{names[m]} {s[m]['mean']:.4f} ± {s[m]['se']:.4f}" for m in HEADLINE if m in s)


def _fmt_bucket(b: dict, metric: str) -> str:
    v = b["metrics"].get(metric) or {}
    if v.get("mean") is None:
        return f"{metric} -"
    return f"{metric} {v['mean']:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
