"""The hostile-input corpus (issue 15): hypothesis generates malformed files, option values and corrupt directories.

Every generated case runs the real command line (``aerec.cli.main``, in-process) and must end in one of two
ways: success (exit 0; a mutation can leave a file valid), or a specific one-line error (exit 1 or 2, one
line on stderr, not the CLI's net for unexpected errors). Never a traceback, a native crash (it would kill
the test run) or a change to any input file.

The cases are generated from real small inputs: a synthetic prepared split and models trained on it,
files in each published format, and every option of every subcommand. The default setting runs
``AEREC_FUZZ_EXAMPLES`` (default 1,100) cases in about two minutes on a 2-core machine, derandomized so
that CI is repeatable; docs/RELIABILITY.md gives the larger setting::

    AEREC_FUZZ_EXAMPLES=20000 AEREC_FUZZ_RANDOM=1 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aerec.cli import build_parser, main

TOTAL = int(os.environ.get("AEREC_FUZZ_EXAMPLES", "1100"))
#: How the corpus is split between its four families (fractions of TOTAL).
SHARE = {"files": 0.36, "options": 0.36, "directories": 0.22, "checkpoints": 0.06}
SLOW = 20  # seconds: a case still running is one that accepted a large but valid request (recorded, not failed)

pytestmark = pytest.mark.filterwarnings("ignore")


def examples(family: str) -> settings:
    return settings(
        max_examples=max(1, int(TOTAL * SHARE[family])),
        deadline=None,
        derandomize=not os.environ.get("AEREC_FUZZ_RANDOM"),
        suppress_health_check=list(HealthCheck),
        database=None,
    )


class TooSlow(BaseException):
    """Raised by the alarm inside a case that runs past SLOW seconds (a BaseException: the CLI's net lets it through)."""


def digest(*paths: Path) -> dict[str, str]:
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.name != "evaluation.json") if root.is_dir() else []  # evaluate's own record
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def check_case(argv: list[str], inputs: list[Path]) -> int:
    """Run ``aerec ARGV``; assert the contract; return the exit code (or -1 when it ran past SLOW)."""
    before = digest(*inputs)
    if os.environ.get("AEREC_FUZZ_TRACE"):  # one line per case, to find a case that kills the run
        with open(os.environ["AEREC_FUZZ_TRACE"], "a") as trace:
            trace.write(repr([str(a) for a in argv]) + "\n")
    err, out = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise TooSlow

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(SLOW)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as e:  # argparse: usage errors (2), --help (0)
                code = e.code if isinstance(e.code, int) else 1
    except TooSlow:
        code = -1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    if code not in (0, -1):
        lines = [line for line in text.splitlines() if line.strip()]
        assert code in (1, 2), (argv, code, text)
        assert len(lines) == 1, (argv, text)
        assert "a bug in aerec" not in lines[0], (argv, lines[0])  # the net caught it: a family without its own error
    assert digest(*inputs) == before, (argv, "an input changed")
    return code


# -- the real small inputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synthetic prepared split, models trained on it, a ratings split and raw files in each format."""
    root = tmp_path_factory.mktemp("fuzz")
    prep = root / "prep"
    assert main(["synth", "--users", "90", "--items", "24", "--interactions", "1100", "--groups", "3", "--out", str(prep), "-q"]) == 0
    models = {}
    for name, extra in (("ease", []), ("itemknn", ["--neighbours", "5"]), ("swdae", ["--n-groups", "6", "--overlap", "2", "--n-components", "4", "--max-epochs", "1"]),
                        ("mult-vae", ["--hidden", "8", "--latent", "4", "--max-epochs", "1"]), ("popularity", [])):  # fmt: skip
        models[name] = root / f"model-{name}"
        assert main(["train", name, "--data", str(prep), "--out", str(models[name]), "-q", *extra]) == 0, name
    raw = root / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    rows = [(u, i, int(rng.integers(1, 6)), 978300000 + k) for k, (u, i) in enumerate((u, i) for u in range(1, 41) for i in rng.choice(np.arange(1, 31), 8, replace=False))]
    files = {
        "ml-100k": ("u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows)),
        "ml-1m": ("ratings.dat", "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows)),
        "ml-latest-small": ("ratings.csv", "userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},{r}.0,{t}\n" for u, i, r, t in rows)),
        "table": ("log.csv", "user,item,rating,time\n" + "".join(f"u{u},{i:05d},{r},{t}\n" for u, i, r, t in rows)),
    }
    for name, (fname, text) in files.items():
        (raw / name).mkdir()
        (raw / name / fname).write_text(text)
    history = raw / "histories.csv"
    import pandas as pd

    ids = pd.read_parquet(models["ease"] / "items.parquet")["item_id"].astype(str).tolist()
    history.write_text("user,item\n" + "".join(f"v{u},{ids[(u * 3 + k) % len(ids)]}\n" for u in range(6) for k in range(4)))
    return World(root=root, prep=prep, models=models, raw=raw, files=files, histories=history, ids=ids)


class World(dict):
    """The fixture's inputs; a short repr, so that hypothesis's report of a failing case stays readable."""

    def __repr__(self) -> str:
        return f"<fuzz inputs in {self['root']}>"


def workdir(world) -> Path:
    return Path(tempfile.mkdtemp(dir=world["root"]))


# -- family 1: malformed files for every loader --------------------------------------------------------------

HOSTILE_TOKENS = ["", " ", "nan", "NaN", "inf", "-inf", "-1", "0", "1e308", "-1e308", "1e400", "18446744073709551616", "9223372036854775808",
                  "0x1F", "1,5", '"', '"unterminated', "'", "\x00", "\x1b[2J", "\xff\xfe", "null", "None", "true", "::", "\t", "\r", "💥", "1" * 400]  # fmt: skip


@st.composite
def mutated_text(draw, text: str) -> bytes:
    data = bytearray(text.encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["token", "truncate", "delete_line", "duplicate_line", "bytes", "quote", "separator", "header"]))
        lines = bytes(data).split(b"\n")
        if kind == "token":
            at = draw(st.integers(0, max(0, len(lines) - 1)))
            fields = lines[at].replace(b"::", b"\x01").replace(b"\t", b"\x01").replace(b",", b"\x01").split(b"\x01")
            sep = b"::" if b"::" in lines[at] else (b"\t" if b"\t" in lines[at] else b",")
            j = draw(st.integers(0, max(0, len(fields) - 1)))
            fields[j] = draw(st.sampled_from(HOSTILE_TOKENS)).encode("utf-8", "surrogateescape")
            lines[at] = sep.join(fields)
            data = bytearray(b"\n".join(lines))
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "delete_line" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
            data = bytearray(b"\n".join(lines))
        elif kind == "duplicate_line" and lines:
            at = draw(st.integers(0, len(lines) - 1))
            lines.insert(at, lines[at])
            data = bytearray(b"\n".join(lines))
        elif kind == "bytes":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "quote":
            at = draw(st.integers(0, len(data)))
            data[at:at] = b'"'
        elif kind == "separator":
            data = data.replace(*draw(st.sampled_from([(b",", b";"), (b"\t", b" "), (b"::", b":"), (b"\n", b"\r\n"), (b"\n", b"\r")])))
        elif kind == "header" and lines:
            lines[0] = draw(st.sampled_from([b"", b"a,b,c", b"\x00\x01\x02", b"userId,userId,rating,timestamp", b"user,item"]))
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@given(data=st.data())
@examples("files")
def test_every_loader_survives_malformed_files(world, data):
    dataset = data.draw(st.sampled_from(sorted(world["files"])), label="format")
    fname, text = world["files"][dataset]
    work = workdir(world)
    folder = work / "in"
    folder.mkdir()
    (folder / fname).write_bytes(data.draw(mutated_text(text), label="file"))
    if dataset == "table":
        cols = data.draw(st.sampled_from([["--user-col", "user", "--item-col", "item"], ["--user-col", "user", "--item-col", "item", "--value-col", "rating", "--value-above", "3"],
                                          ["--user-col", "user", "--item-col", "item", "--time-col", "time", "--protocol", "sequential"],
                                          ["--user-col", "user", "--item-col", "user"], ["--user-col", "nope", "--item-col", "item"]]), label="columns")  # fmt: skip
        argv = ["prepare", "table", "--data", folder / fname, *cols]
    else:
        argv = ["prepare", dataset, "--data", folder]
    argv += ["--out", work / "out", "--heldout-users", "4", "-q"]
    check_case(argv, [folder])
    if data.draw(st.booleans(), label="as histories"):  # the same malformed log, read as users' histories by recommend
        check_case(["recommend", world["models"]["ease"], "--histories", folder / fname, "--out", work / "recs.csv", "--user-col", "user", "--item-col", "item"], [folder, world["models"]["ease"]])
    shutil.rmtree(work, ignore_errors=True)


# -- family 2: malformed values for every option of every subcommand -----------------------------------------

HOSTILE_VALUES = ["nan", "inf", "-inf", "-1", "0", "-0", "1e308", "1e-320", "99999999999999999999", "2147483648", "3.5", "", " ", "abc", "none", "true",
                  "1,2", ",", "0x10", "\x1b[2J", "💥", "/", "/dev/null", "/proc/aerec/x", "../nope"]  # fmt: skip
#: Options whose value is not fuzzed: they choose the input or output paths (fuzzed as files and directories above).
PATH_OPTIONS = {"--data", "--out", "--histories", "--timings-out", "--groups", "--checkpoint"}


def commands(world) -> dict[str, list]:
    """Per command: a valid argv on the small inputs (with small budgets), and the options that may be fuzzed."""
    prep, models = world["prep"], world["models"]
    budget = ["--max-epochs", "1", "--max-steps", "2"]
    base = {
        "evaluate": ["evaluate", models["ease"], "--data", prep],
        "recommend-items": ["recommend", models["swdae"], "--items", ",".join(world["ids"][:3])],
        "recommend-user": ["recommend", models["mult-vae"], "--user", "1", "--data", prep],
        "recommend-histories": ["recommend", models["itemknn"], "--histories", world["histories"], "--user-col", "user", "--item-col", "item", "--out", "OUT/recs.csv"],
        "groups": ["groups", "--data", prep, "-k", "4", "-r", "1", "-f", "3", "--show", "1"],
        "synth": ["synth", "--users", "40", "--items", "12", "--interactions", "300", "--groups", "2", "--out", "OUT/syn"],
        "genres": ["genres", models["swdae"], "--shuffles", "2"],
    }
    from aerec.models import MODELS

    for name, cls in MODELS.items():
        if cls.task == "rating":
            continue
        small = {"swdae": ["--n-groups", "6", "--overlap", "2", "--n-components", "4"], "deep-swdae": ["--n-groups", "6,3", "--n-components", "3", "--pretrain-epochs", "1"],
                 "fc-prune": ["--n-hidden", "6"], "fc-reg": ["--n-hidden", "6"], "fc-dae": ["--n-hidden", "6"], "mult-vae": ["--hidden", "8", "--latent", "4"],
                 "mult-dae": ["--hidden", "8"], "cdae": ["--hidden", "6", "--foldin-steps", "2"], "wmf": ["--factors", "3", "--iterations", "2", "--num-threads", "1"],
                 "slim": ["--max-iter", "20"], "svae": ["--embedding", "4", "--rnn", "4", "--hidden", "4", "--latent", "2"]}.get(name, [])  # fmt: skip
        if name == "svae":
            continue  # sequential: needs a time-ordered split (its errors are covered by tests/test_cli.py)
        fields = {f.name for f in __import__("dataclasses").fields(cls.Config)}
        base[f"train-{name}"] = ["train", name, "--data", prep, "--out", "OUT/m", *small, *(budget if "max_epochs" in fields else [])]
    return base


def option_strings(argv: list) -> list[str]:
    """The optional arguments the parser of ``argv``'s (sub)command accepts."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = action.choices[argv[0]]
    if argv[0] == "train":
        sub = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices[argv[1]]
    return sorted(s for a in sub._actions for s in a.option_strings if s.startswith("--") and s not in ("--help", "--debug") and s not in PATH_OPTIONS)


@given(data=st.data())
@examples("options")
def test_every_option_refuses_bad_values_in_one_line(world, data):
    table = commands(world)
    name = data.draw(st.sampled_from(sorted(table)), label="command")
    argv = list(table[name])
    option = data.draw(st.sampled_from(option_strings([str(a) for a in argv])), label="option")
    value = data.draw(st.one_of(st.sampled_from(HOSTILE_VALUES), st.integers(-(2**70), 2**70).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr)), label="value")
    work = workdir(world)
    argv = [str(a).replace("OUT/", f"{work}/") for a in argv]
    if argv[0] == "train":
        argv.insert(2, "-q")
    check_case([*argv, f"{option}={value}" if value.startswith("-") else option, *([] if value.startswith("-") else [value])], [world["prep"], *world["models"].values(), world["histories"]])
    shutil.rmtree(work, ignore_errors=True)


# -- family 3: corrupt model and prepared directories ------------------------------------------------------


@st.composite
def corrupted_copy(draw, source: Path, dest: Path) -> str:
    """Copy ``source`` to ``dest`` and corrupt one of its files; return what was done."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("evaluation.json"))  # evaluate's record comes and goes
    files = sorted(p for p in dest.rglob("*") if p.is_file() and p.name != ".aerec")
    target = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(["truncate", "garbage", "empty", "delete", "array", "array", "array", "json"] if target.suffix in (".safetensors", ".npz", ".json") else ["truncate", "garbage", "empty", "delete"]))
    if kind == "truncate":
        raw = target.read_bytes()
        target.write_bytes(raw[: draw(st.integers(0, max(0, len(raw) - 1)))])
    elif kind == "garbage":
        target.write_bytes(draw(st.binary(min_size=1, max_size=64)))
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "delete":
        target.unlink()
    elif kind == "json" or target.suffix == ".json":
        return f"{target.name}: " + mutate_json(draw, target)
    else:
        return f"{target.name}: " + mutate_arrays(draw, target)
    return f"{target.name}: {kind}"


def mutate_json(draw, path: Path) -> str:
    try:
        obj = json.loads(path.read_text())
    except ValueError:
        obj = None
    if not isinstance(obj, dict) or not obj:
        path.write_text(json.dumps(draw(st.sampled_from([[], "x", 3, None]))))
        return "not an object"
    key = draw(st.sampled_from(sorted(obj)))
    how = draw(st.sampled_from(["delete", "null", "string", "list", "number", "nested"]))
    if how == "delete":
        del obj[key]
    elif how == "nested" and isinstance(obj[key], dict) and obj[key]:
        inner = draw(st.sampled_from(sorted(obj[key])))
        obj[key][inner] = draw(st.sampled_from([None, "x", -1, 1e308, [], {}]))
    else:
        obj[key] = {"null": None, "string": "x", "list": [1, 2], "number": -7, "nested": {"a": 1}}[how]
    path.write_text(json.dumps(obj))
    return f"{key} {how}"


def mutate_arrays(draw, path: Path) -> str:
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file, save_file

        arrays = load_file(str(path))
        save = lambda a: save_file(a, str(path))  # noqa: E731
    else:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        save = lambda a: np.savez(path, **a)  # noqa: E731
    if not arrays:
        return "no arrays"
    numeric = sorted(k for k, v in arrays.items() if np.asarray(v).dtype.kind in "biuf")  # not npz's b"csr" format tag
    key = draw(st.sampled_from(numeric or sorted(arrays)))
    a = np.array(arrays[key])
    if a.dtype.kind not in "biuf":
        del arrays[key]
        save(arrays)
        return f"{key} drop"
    how = draw(st.sampled_from(["negative", "huge", "nan", "dtype-int", "dtype-bool", "dtype-f16", "shape", "drop", "scalar", "shuffle"]))
    if a.size and how in ("negative", "huge", "nan", "shuffle"):
        flat = a.reshape(-1).copy()
        i = draw(st.integers(0, flat.size - 1))
        if how == "negative":
            flat[i] = -1 if flat.dtype.kind in "iuf" else flat[i]
        elif how == "huge":
            flat[i] = np.iinfo(flat.dtype).max if flat.dtype.kind in "iu" else (1e30 if flat.dtype.kind == "f" else flat[i])
        elif how == "nan" and flat.dtype.kind == "f":
            flat[i] = np.nan
        elif how == "shuffle":
            flat = flat[::-1].copy()
        a = flat.reshape(a.shape)
    elif how == "dtype-int":
        a = a.astype(np.int64) if a.dtype.kind != "b" else a
    elif how == "dtype-bool":
        a = a.astype(bool)
    elif how == "dtype-f16":
        a = a.astype(np.float16)
    elif how == "shape":
        a = a.reshape(-1)[: max(0, a.size - 1)]
    elif how == "scalar":
        a = np.array(7, dtype=a.dtype)
    if how == "drop":
        del arrays[key]
    else:
        arrays[key] = np.ascontiguousarray(a)
    save(arrays)
    return f"{key} {how}"


@given(data=st.data())
@examples("directories")
def test_corrupt_model_and_prepared_directories_give_one_line_errors(world, data):
    work = workdir(world)
    which = data.draw(st.sampled_from(["prepared", *sorted(world["models"])]), label="directory")
    if which == "prepared":
        what = data.draw(corrupted_copy(world["prep"], work / "prep"), label="corruption")
        command = data.draw(st.sampled_from(["train", "evaluate", "groups", "recommend"]), label="command")
        argv = {"train": ["train", "popularity", "--data", work / "prep", "--out", work / "m", "-q"], "evaluate": ["evaluate", world["models"]["ease"], "--data", work / "prep"],
                "groups": ["groups", "--data", work / "prep", "-k", "3", "-r", "1", "-f", "2", "-q"], "recommend": ["recommend", world["models"]["ease"], "--user", "1", "--data", work / "prep"]}[command]  # fmt: skip
    else:
        what = data.draw(corrupted_copy(world["models"][which], work / "model"), label="corruption")
        command = data.draw(st.sampled_from(["evaluate", "recommend", "genres"] if which == "swdae" else ["evaluate", "recommend"]), label="command")
        argv = {"evaluate": ["evaluate", work / "model", "--data", world["prep"]], "recommend": ["recommend", work / "model", "--items", ",".join(world["ids"][:3])],
                "genres": ["genres", work / "model", "--shuffles", "1"]}[command]  # fmt: skip
    check_case(argv, [work / "prep" if which == "prepared" else work / "model", world["prep"]])
    del what
    shutil.rmtree(work, ignore_errors=True)


# -- family 4: corrupt checkpoints ---------------------------------------------------------------------------


@given(data=st.data())
@examples("checkpoints")
def test_a_corrupt_checkpoint_is_refused_in_one_line(world, data):
    work = workdir(world)
    ckpt = work / "c.ckpt"
    model = data.draw(st.sampled_from(["fc-dae", "mult-dae"]), label="model")
    size = ["--n-hidden", "6"] if model == "fc-dae" else ["--hidden", "6"]
    argv = ["train", model, "--data", world["prep"], "--out", work / "m", "--max-epochs", "1", *size, "--checkpoint", ckpt, "-q"]
    # a real checkpoint of an interrupted run: the loop saves it after every validation; keep it by failing the save step
    import torch

    import aerec.trial as trial

    real_clear = trial.clear_checkpoint
    trial.clear_checkpoint = lambda path: None
    try:
        assert main([str(a) for a in argv]) == 0
    finally:
        trial.clear_checkpoint = real_clear
    shutil.rmtree(work / "m")
    how = data.draw(st.sampled_from(["truncate", "garbage", "empty", "foreign", "missing-key", "wrong-shape"]), label="corruption")
    raw = ckpt.read_bytes()
    if how == "truncate":
        ckpt.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    elif how == "garbage":
        ckpt.write_bytes(data.draw(st.binary(min_size=1, max_size=256)))
    elif how == "empty":
        ckpt.write_bytes(b"")
    else:
        state = torch.load(ckpt, weights_only=True)
        if how == "foreign":
            state = {"weights": torch.zeros(3)}
        elif how == "missing-key":
            del state[data.draw(st.sampled_from(sorted(k for k in state if k != "config")))]
        else:
            key = data.draw(st.sampled_from(sorted(state["module"])))
            state["module"][key] = torch.zeros(2, 2, 2)
        torch.save(state, ckpt)
    check_case(argv, [ckpt, world["prep"]])
    shutil.rmtree(work, ignore_errors=True)
