"""Nothing read from disk crashes or corrupts aerec (issue 15): a damaged prepared or model directory is one line.

Each test damages one file of a copy of a real directory (written by ``aerec synth`` / ``aerec train``) with
:mod:`tests.hostile` and runs the command a user would: it must exit 1 with exactly one stderr line,
``aerec: error: ...``, naming the file (and the array or field), never a traceback, and leave every input
file byte-identical. Damage that used to reach scipy or torch as out-of-range indices (a segfault, or
garbage with exit 0) is run in a separate process, all such cases in one (torch's import costs a second or
two); the rest run in-process. The last tests damage every array of every model's saved state.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aerec.cli import main
from aerec.data.prepared import PreparedDataset
from aerec.data.ratings import RatingsDataset, RatingSplitParams, prepare_ratings
from aerec.errors import ConfigError, DataError
from aerec.models import MODELS
from tests.hostile import (
    GARBAGE,
    checkpoint,
    deleted,
    hostile_copy,
    json_value,
    npz_arrays,
    raw,
    safetensors_arrays,
    snapshot,
    truncated,
)

# -- the real directories every test copies -------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    """A prepared directory and three model directories trained on it: EASE (dense), Sw-DAE (item groups), ItemKNN (CSR)."""
    root = tmp_path_factory.mktemp("hostile")
    dirs = {"prep": root / "prep", "ease": root / "ease", "swdae": root / "swdae", "itemknn": root / "itemknn"}
    assert main(["synth", "--users", "120", "--items", "30", "--interactions", "1500", "--groups", "3", "--out", str(dirs["prep"]), "-q"]) == 0
    prep = str(dirs["prep"])
    assert main(["train", "ease", "--data", prep, "--out", str(dirs["ease"]), "-q"]) == 0
    assert main(["train", "swdae", "--data", prep, "--out", str(dirs["swdae"]), "--n-groups", "6", "--overlap", "2", "--n-components", "4", "--max-epochs", "1", "-q"]) == 0
    assert main(["train", "itemknn", "--data", prep, "--out", str(dirs["itemknn"]), "-q"]) == 0
    return dirs


def items_arg(base) -> str:
    """Two item ids of the vocabulary, for ``recommend --items``."""
    return ",".join(pd.read_parquet(base["prep"] / "items.parquet")["item_id"].astype(str).iloc[:2])


def refused(capsys, argv: list, inputs: list[Path], *names: str) -> str:
    """Run ``aerec argv`` in-process: exit 1, one stderr line ``aerec: error:`` naming ``names``, inputs unchanged."""
    before = snapshot(*inputs)
    code = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    check_refusal(code, err, names)
    assert snapshot(*inputs) == before, "a refused input was changed"
    return err.strip()


def check_refusal(code, err: str, names) -> None:
    assert "Traceback" not in err, err
    assert code == 1, f"exit {code}: {err}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerec: error: "), err
    for name in names:
        assert str(name) in lines[0], f"{name!r} not in {lines[0]!r}"


def evaluate_on(model: Path, prep: Path) -> list:
    return ["evaluate", model, "--data", prep]


# -- cases that used to reach scipy / torch: one subprocess for all of them ------------------------


def _swap_indptr(key="indptr"):
    """indptr decreasing somewhere (two rows' offsets swapped), first and last still 0 and nnz."""

    def fn(a):
        p = a[key].copy()
        i = int(np.flatnonzero(np.diff(p) > 0)[0]) + 1
        p[i], p[i + 1] = p[i + 1] + 1, p[i]
        a[key] = p

    return fn


def _set(key, index, value):
    def fn(a):
        arr = a[key].copy()
        arr[index] = value
        a[key] = arr

    return fn


def _shift(key, index, by):
    def fn(a):
        arr = a[key].copy()
        arr[index] += by
        a[key] = arr

    return fn


def _update(**values):
    """Set arrays to ``values[key](arrays)``."""
    return lambda a: a.update({k.replace("__", "."): f(a) for k, f in values.items()})


N_ITEMS = 30

# Damage to CSR structure (indices, indptr, shape) or item groups: before issue 15 it reached scipy or torch,
# which read or write outside the arrays (a segfault, a corrupted heap, or garbage with exit 0). Run in a child.
# name -> (file of the prepared directory, edit of its arrays, what the error must name); run as `aerec evaluate EASE`.
RISKY_PREPARED = {
    "prepared_negative_index": ("validation_in.npz", _set("indices", 0, -1), ("indices",)),
    "prepared_index_past_the_items": ("test_in.npz", _set("indices", 0, N_ITEMS + 3), ("indices",)),
    "prepared_indptr_decreasing": ("test_out.npz", _swap_indptr(), ("indptr",)),
    "prepared_indptr_wrong_length": ("test_in.npz", _update(indptr=lambda a: a["indptr"][:-1].copy()), ("indptr", "shape")),
    "prepared_indptr_last_below_nnz": ("validation_out.npz", _shift("indptr", -1, -1), ("indptr", "nnz")),
    "prepared_indptr_last_above_nnz": ("validation_out.npz", _shift("indptr", -1, 1), ("indptr", "nnz")),
    "prepared_indptr_not_from_zero": ("validation_in.npz", _update(indptr=lambda a: a["indptr"] + 1), ("indptr",)),
    "prepared_float_indices": ("test_out.npz", _update(indices=lambda a: a["indices"].astype(np.float64)), ("indices", "float64")),
    "prepared_more_columns_than_items": ("test_in.npz", _update(shape=lambda a: a["shape"] + [0, 5]), ("shape", f"{N_ITEMS}")),
    "prepared_fewer_columns_than_items": ("test_in.npz", _update(shape=lambda a: a["shape"] - [0, 5], indices=lambda a: a["indices"] % 25), ("shape", f"{N_ITEMS}")),
    "prepared_float_shape": ("test_in.npz", _update(shape=lambda a: a["shape"].astype(np.float64)), ("shape", "float64")),
    "prepared_negative_shape": ("test_in.npz", _update(shape=lambda a: a["shape"] * [-1, 1]), ("shape",)),
}
# name -> (model directory, edit of its weights, command: "recommend" or "evaluate", what the error must name).
RISKY_MODEL = {
    "csr_negative_index": ("itemknn", _set("S_indices", 0, -1), "recommend", ("S_indices",)),
    "csr_index_past_the_items": ("itemknn", _set("S_indices", 0, N_ITEMS), "recommend", ("S_indices",)),
    "csr_indptr_decreasing": ("itemknn", _swap_indptr("S_indptr"), "evaluate", ("S_indptr",)),
    "csr_indptr_reversed": ("itemknn", _update(S_indptr=lambda a: a["S_indptr"][::-1].copy()), "recommend", ("S_indptr",)),
    "csr_indptr_last_below_nnz": ("itemknn", _shift("S_indptr", -1, -1), "recommend", ("S_indptr", "nnz")),
    "csr_indptr_wrong_length": ("itemknn", _update(S_indptr=lambda a: a["S_indptr"][:-1].copy()), "recommend", ("S_indptr", "shape")),
    "csr_float_indices": ("itemknn", _update(S_indices=lambda a: a["S_indices"].astype(np.float64)), "recommend", ("S_indices", "float64")),
    "csr_not_square": ("itemknn", _update(S_shape=lambda a: np.array([N_ITEMS, N_ITEMS + 1], np.int64)), "evaluate", ("S_shape", "square")),
    "csr_shape_of_other_items": ("itemknn", _update(S_shape=lambda a: np.array([N_ITEMS + 4] * 2, np.int64),
                                                    S_indptr=lambda a: np.append(a["S_indptr"], [a["S_indptr"][-1]] * 4)), "recommend", ("items.parquet", "34")),
    "item_group_negative": ("swdae", _set("item_groups", (0, 0), -1), "recommend", ("item_groups",)),
    "item_group_past_k": ("swdae", _set("item_groups", (0, 1), 6), "recommend", ("item_groups",)),
    "item_groups_of_other_items": ("swdae", _update(item_groups=lambda a: a["item_groups"][:-1].copy()), "evaluate", ("encoder.weight", "(29, 2)")),
}


def _risky_cases(base, root: Path) -> dict[str, tuple[list, list[Path], tuple]]:
    """name -> (argv, input directories, what the error must name)."""
    prep, ease = base["prep"], base["ease"]
    items = items_arg(base)
    cases = {}
    for name, (file, fn, names) in RISKY_PREPARED.items():
        copy = hostile_copy(prep, root / name, {file: npz_arrays(fn)})
        cases[name] = (evaluate_on(ease, copy), [copy, ease], (copy / file, *names))
    copy = hostile_copy(prep, root / "train_negative_index", {"train.npz": npz_arrays(_set("indices", -1, -7))})
    cases["train_negative_index"] = (["train", "ease", "--data", copy, "--out", root / "never-written", "-q"], [copy], (copy / "train.npz", "indices"))
    for name, (model, fn, command, names) in RISKY_MODEL.items():
        copy = hostile_copy(base[model], root / name, {"weights.safetensors": safetensors_arrays(fn)})
        argv = ["recommend", copy, "--items", items] if command == "recommend" else evaluate_on(copy, prep)
        where = () if "items.parquet" in names else (copy / "weights.safetensors",)
        cases[name] = (argv, [copy, prep], (*where, *names))
    return cases


RUNNER = r"""
import contextlib, io, json, sys, traceback
from aerec.cli import main
for name, argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except BaseException:
            code = "exception"
            traceback.print_exc()
    print(json.dumps({"case": name, "code": code, "stderr": err.getvalue()}), flush=True)
"""


@pytest.fixture(scope="module")
def risky(base, tmp_path_factory):
    """Every case of :func:`_risky_cases` run by ``aerec.cli.main`` in one child process: the results by name,
    the child's return code, and whether every input stayed byte-identical."""
    root = tmp_path_factory.mktemp("risky")
    cases = _risky_cases(base, root)
    inputs = sorted({d for _, dirs, _ in cases.values() for d in dirs})
    before = snapshot(*inputs)
    payload = json.dumps([[name, [str(a) for a in argv]] for name, (argv, _, _) in cases.items()])
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=payload, capture_output=True, text=True, timeout=300, check=False)
    results = {r["case"]: r for r in map(json.loads, proc.stdout.splitlines())}
    return {"cases": cases, "results": results, "returncode": proc.returncode, "stderr": proc.stderr,
            "unchanged": snapshot(*inputs) == before, "never_written": not (root / "never-written").exists()}  # fmt: skip


def test_the_child_process_ended_normally_and_left_every_input_unchanged(risky):
    assert risky["returncode"] == 0, f"return code {risky['returncode']} (negative: killed by a signal): {risky['stderr'][-2000:]}"
    assert risky["unchanged"] and risky["never_written"]


@pytest.mark.parametrize("case", [*RISKY_PREPARED, "train_negative_index", *RISKY_MODEL])
def test_damaged_csr_or_item_groups(risky, case):
    """One named case per damage (the test id), run in the child process."""
    result = risky["results"].get(case)
    assert result is not None, f"the child process died before finishing {case!r} (return code {risky['returncode']}; negative: a signal): {risky['stderr'][-2000:]}"
    check_refusal(result["code"], result["stderr"], risky["cases"][case][2])


def test_the_installed_entry_point_exits_1_on_an_out_of_range_index(base, tmp_path):
    """The real process (``python -m aerec.cli``), not a signal: return code 1 and one line."""
    copy = hostile_copy(base["prep"], tmp_path / "prep", {"test_in.npz": npz_arrays(_set("indices", 0, 10**6))})
    before = snapshot(copy, base["ease"])
    proc = subprocess.run([sys.executable, "-m", "aerec.cli", *map(str, evaluate_on(base["ease"], copy))], capture_output=True, text=True, timeout=120, check=False)
    check_refusal(proc.returncode, proc.stderr, (copy / "test_in.npz", "indices"))
    assert snapshot(copy, base["ease"]) == before


# -- prepared directories, in-process ------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "edit", "names"),
    [
        ("test_in.npz", npz_arrays(_set("data", 0, np.nan)), ("data", "NaN")),
        ("validation_in.npz", npz_arrays(lambda a: a.update(data=a["data"].astype(bool))), ("data", "bool")),
        ("train.npz", npz_arrays(lambda a: a.pop("indptr")), ("indptr",)),
        ("train.npz", npz_arrays(lambda a: a.update(format=np.array("coo"))), ("format",)),
        ("train.npz", truncated(0.5), ("cannot read",)),
        ("validation_in.npz", raw(b""), ("cannot read",)),
        ("test_in.npz", raw(GARBAGE), ("cannot read",)),
        ("test_out.npz", deleted(), ("missing",)),
        ("items.parquet", raw(GARBAGE), ("parquet",)),
        ("items.parquet", truncated(0.7), ("parquet",)),
        ("items.parquet", deleted(), ("missing",)),
        ("users.parquet", raw(b"PAR1" + GARBAGE + b"PAR1"), ("parquet",)),
    ],
    ids=["nan_data", "bool_data", "missing_array", "not_csr", "truncated_npz", "empty_npz",
         "garbage_npz", "missing_npz", "garbage_items_parquet", "truncated_items_parquet", "missing_items_parquet",
         "garbage_users_parquet"],
)
def test_damaged_prepared_file(base, tmp_path, capsys, file, edit, names):
    copy = hostile_copy(base["prep"], tmp_path / "prep", {file: edit})
    refused(capsys, evaluate_on(base["ease"], copy), [copy, base["ease"]], copy / file, *names)


def test_users_parquet_rows_that_do_not_number_the_matrix_rows(base, tmp_path, capsys):
    def shuffle(path):
        users = pd.read_parquet(path)
        users.loc[users["split"] == "test", "row"] = 0  # every test user claims row 0
        users.to_parquet(path, index=False)

    copy = hostile_copy(base["prep"], tmp_path / "prep", {"users.parquet": shuffle})
    refused(capsys, evaluate_on(base["ease"], copy), [copy, base["ease"]], copy / "users.parquet", "test users")


def test_users_parquet_with_fewer_test_users_than_matrix_rows(base, tmp_path, capsys):
    def drop(path):
        users = pd.read_parquet(path)
        users.drop(index=users.index[users["split"] == "test"][-1:]).to_parquet(path, index=False)

    copy = hostile_copy(base["prep"], tmp_path / "prep", {"users.parquet": drop})
    refused(capsys, evaluate_on(base["ease"], copy), [copy, base["ease"]], copy / "test_in.npz", "shape")


@pytest.mark.parametrize(
    ("value", "names"),
    [(lambda m: [m], ("manifest.json", "JSON object")), (lambda m: {**m, "extra": ["../train"]}, ("extra",)), (lambda m: {**m, "extra": "planted_groups"}, ("extra",))],
    ids=["manifest_a_list", "extra_leaving_the_directory", "extra_not_a_list"],
)
def test_damaged_manifest(base, tmp_path, capsys, value, names):
    copy = hostile_copy(base["prep"], tmp_path / "prep", {"manifest.json": json_value(value)})
    refused(capsys, ["recommend", base["ease"], "--user", "0", "--data", copy], [copy, base["ease"]], copy / "manifest.json", *names)


def test_planted_groups_of_other_items(base, tmp_path):
    copy = hostile_copy(base["prep"], tmp_path / "prep", {"planted_groups.npz": npz_arrays(lambda a: a.update(shape=a["shape"] + [1, 0], indptr=np.append(a["indptr"], a["indptr"][-1])))})
    with pytest.raises(DataError, match=r"planted_groups\.npz: has shape \(31, 3\) \(expected \(30, any\)"):
        PreparedDataset.load(copy)


def test_the_undamaged_directory_loads(base):
    data = PreparedDataset.load(base["prep"])
    assert data.n_items == N_ITEMS and data.train.shape[0] == len(data.train_users)


# -- ratings directories --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ratings_dir(tmp_path_factory) -> Path:
    from aerec.data.interactions import Interactions

    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((40, 25)) < 0.5)
    log = Interactions(u + 1, i + 1, rng.integers(1, 6, len(u)).astype(np.float32))
    return prepare_ratings(log, RatingSplitParams(seed=0), dataset="toy").save(tmp_path_factory.mktemp("ratings") / "r")


@pytest.mark.parametrize(
    ("file", "edit", "match"),
    [
        ("train.npz", npz_arrays(_set("indices", 0, -1)), r"train\.npz: indices: values from -1"),
        ("test.npz", npz_arrays(_set("indices", 0, 25)), r"test\.npz: indices: values from .* to 25 \(expected values in \[0, 25\)\)"),
        ("validation.npz", npz_arrays(_set("data", 0, np.inf)), r"validation\.npz: data: holds NaN or infinite"),
        ("users.parquet", lambda p: pd.read_parquet(p).iloc[:-1].to_parquet(p, index=False), r"train\.npz: has shape \(40, 25\) \(expected \(39, 25\)"),
        ("items.parquet", raw(GARBAGE), r"items\.parquet: cannot read it as parquet"),
    ],
    ids=["negative_index", "index_past_the_items", "infinite_rating", "users_fewer_than_rows", "garbage_items"],
)
def test_damaged_ratings_directory(ratings_dir, tmp_path, file, edit, match):
    copy = hostile_copy(ratings_dir, tmp_path / "r", {file: edit})
    with pytest.raises(DataError, match=match):
        RatingsDataset.load(copy)


# -- model directories, in-process ----------------------------------------------------------------


def _grow(key):
    return lambda a: a.update({key: np.concatenate([a[key], a[key][:1]])})


@pytest.mark.parametrize(
    ("model", "edit", "names"),
    [
        ("ease", _set("B", (0, 1), np.nan), ("B", "NaN")),
        ("swdae", _set("encoder.weight", (1, 0), np.inf), ("encoder.weight", "NaN or infinite")),
        ("ease", lambda a: a.update(B=a["B"].astype(np.int32)), ("B", "int32")),
        ("swdae", lambda a: a.update({"encoder.weight": a["encoder.weight"].astype(np.int64)}), ("encoder.weight", "int64")),
        ("swdae", lambda a: a.update({"decoder.bias": a["decoder.bias"] > 0}), ("decoder.bias", "bool")),
        ("swdae", lambda a: a.update(item_groups=a["item_groups"].astype(np.float32)), ("item_groups", "float32")),
        ("swdae", lambda a: a["item_groups"].__setitem__((0, 1), a["item_groups"][0, 0]), ("item_groups", "twice")),
        ("ease", lambda a: a.update(B=a["B"][:, :-1].copy()), ("B", "square")),
        ("swdae", _grow("decoder.bias"), ("decoder.bias", "(31,)", "(30,)")),
        ("swdae", _grow("encoder.bias"), ("encoder.bias", "n_groups")),
        ("swdae", lambda a: a.update({"encoder.weight": a["encoder.weight"][:, :1].copy()}), ("encoder.weight", "shape")),
        ("swdae", lambda a: a.pop("encoder.bias"), ("encoder.bias", "missing")),
        ("swdae", lambda a: a.update(stowaway=np.zeros(3, np.float32)), ("stowaway", "not an array of this network")),
        ("ease", lambda a: a.pop("l2"), ("l2", "missing")),
        ("itemknn", lambda a: a.pop("S_shape"), ("S_shape", "missing")),
        ("itemknn", _set("S_data", 0, np.nan), ("S_data", "NaN")),
    ],
    ids=["nan_weight", "inf_weight", "int_weights_dense", "int_weights_torch", "bool_weights", "float_item_groups", "item_group_twice",
         "not_square", "bias_of_other_length", "groups_other_than_config", "weight_of_other_shape", "missing_array",
         "unknown_array", "missing_scalar", "missing_csr_part", "csr_nan_data"],
)
def test_damaged_weights(base, tmp_path, capsys, model, edit, names):
    copy = hostile_copy(base[model], tmp_path / model, {"weights.safetensors": safetensors_arrays(edit)})
    refused(capsys, ["recommend", copy, "--items", items_arg(base)], [copy], copy / "weights.safetensors", *names)


@pytest.mark.parametrize(
    ("file", "edit", "names"),
    [
        ("weights.safetensors", truncated(0.6), ("cannot read",)),
        ("weights.safetensors", raw(b""), ("cannot read",)),
        ("weights.safetensors", raw(GARBAGE), ("cannot read",)),
        ("weights.safetensors", deleted(), ("missing",)),
        ("items.parquet", deleted(), ("missing",)),
        ("items.parquet", raw(GARBAGE), ("parquet",)),
        ("items.parquet", lambda p: pd.read_parquet(p).iloc[:-1].to_parquet(p, index=False), ("29 rows", "expected 30")),
        ("items.parquet", lambda p: pd.read_parquet(p).drop(columns="item_id").to_parquet(p, index=False), ("item_id",)),
        ("items.parquet", lambda p: pd.read_parquet(p).assign(item_id=0).to_parquet(p, index=False), ("item_id", "repeats")),
        ("model.json", json_value(lambda m: [m]), ("array", "JSON object")),
        ("model.json", json_value(lambda m: {**m, "config": ["l2", 1]}), ("config", "an array")),
        ("model.json", json_value(lambda m: {k: v for k, v in m.items() if k != "config"}), ("config", "missing")),
        ("model.json", json_value(lambda m: {**m, "model": 7}), ("model", "string")),
        ("model.json", json_value(lambda m: {**m, "options": "cpu"}), ("options", "a string")),
        ("model.json", json_value(lambda m: {**m, "fit_info": 3}), ("fit_info", "a number")),
        ("model.json", json_value(lambda m: {**m, "format_version": "1"}), ("format_version", "integer")),
        ("model.json", json_value(lambda m: {**m, "format_version": 2}), ("format_version 2", "newer aerec")),
        ("model.json", json_value(lambda m: {**m, "config": {**m["config"], "l2_grid": "big"}}), ("config", "l2_grid")),
        ("model.json", raw(b"{not json"), ("JSON",)),
        ("model.json", raw(GARBAGE), ("JSON",)),
    ],
    ids=["truncated_weights", "empty_weights", "garbage_weights", "missing_weights", "missing_items", "garbage_items",
         "items_one_row_short", "items_without_item_id", "items_repeating_an_id", "model_json_a_list", "config_a_list",
         "config_missing", "model_name_not_a_string", "options_a_string", "fit_info_a_number", "format_version_a_string",
         "future_format_version", "config_value_of_the_wrong_type", "model_json_not_json", "model_json_garbage"],
)
def test_damaged_model_file(base, tmp_path, capsys, file, edit, names):
    copy = hostile_copy(base["ease"], tmp_path / "ease", {file: edit})
    refused(capsys, ["recommend", copy, "--items", items_arg(base)], [copy], copy / file, *names)


def test_missing_model_json(base, tmp_path, capsys):
    copy = hostile_copy(base["ease"], tmp_path / "ease", {"model.json": deleted()})
    refused(capsys, ["recommend", copy, "--items", items_arg(base)], [copy], copy, "not a model directory")


def test_evaluate_with_damaged_weights_writes_no_evaluation(base, tmp_path, capsys):
    copy = hostile_copy(base["swdae"], tmp_path / "swdae", {"weights.safetensors": safetensors_arrays(_set("decoder.weight", (0, 0), np.nan))})
    refused(capsys, evaluate_on(copy, base["prep"]), [copy, base["prep"]], copy / "weights.safetensors", "decoder.weight")
    assert not (copy / "evaluation.json").exists()


# -- training checkpoints -------------------------------------------------------------------------

FC_ARGV = ["--n-hidden", "8", "--max-epochs", "1", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def fc_checkpoint(base, tmp_path_factory) -> Path:
    """The checkpoint ``aerec train fc-dae FC_ARGV`` resumes from: written by the training loop with the same setting."""
    from aerec.fit_options import FitOptions
    from aerec.models import FCDAE
    from aerec.training import train

    data = PreparedDataset.load(base["prep"])
    model = FCDAE(n_hidden=8, max_epochs=1)
    model.n_items_ = data.n_items
    model._build(torch.device("cpu"))
    path = tmp_path_factory.mktemp("ckpt") / "fc.ckpt"
    train(model.module_, data.train, model.config, device=torch.device("cpu"), validate=lambda: 0.0, options=FitOptions(checkpoint=str(path)))
    return path


def _weight_of_other_shape(s):
    s["module"]["encoder.weight"] = s["module"]["encoder.weight"][:, :3].clone()


def _nan_best(s):
    s["best_module"]["decoder.bias"] = torch.full_like(s["best_module"]["decoder.bias"], float("nan"))


def _other_moments(s):
    for slot in s["optimizer"]["state"].values():
        slot["exp_avg"] = slot["exp_avg"].reshape(-1)[:1].clone()


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (raw(GARBAGE), ("not a readable aerec checkpoint",)),
        (raw(b""), ("not a readable aerec checkpoint",)),
        (truncated(0.5), ("not a readable aerec checkpoint",)),
        (checkpoint(lambda s: s.pop("optimizer")), ("damaged", "optimizer")),
        (checkpoint(lambda s: s.pop("best_module")), ("damaged", "best_module")),
        (checkpoint(lambda s: s.pop("module_generator")), ("damaged", "module_generator")),
        (checkpoint(lambda s: s["module"].pop("decoder.bias")), ("damaged", "module")),
        (checkpoint(_weight_of_other_shape), ("damaged", "encoder.weight")),
        (checkpoint(_nan_best), ("damaged", "decoder.bias", "NaN")),
        (checkpoint(_other_moments), ("damaged", "exp_avg")),
        (checkpoint(lambda s: s.update(generator=torch.zeros(3))), ("damaged",)),
        (checkpoint(lambda s: s.update(result=[1, 2])), ("damaged",)),
    ],
    ids=["garbage", "empty", "truncated", "no_optimizer", "no_best_weights", "no_dropout_generator", "missing_weight", "weight_of_other_shape",
         "nan_best_weights", "optimizer_moments_of_other_shape", "bad_generator_state", "result_a_list"],
)
def test_damaged_checkpoint(base, fc_checkpoint, tmp_path, capsys, edit, names):
    ckpt = tmp_path / "fc.ckpt"
    ckpt.write_bytes(fc_checkpoint.read_bytes())
    edit(ckpt)
    out = tmp_path / "m"
    refused(capsys, ["train", "fc-dae", "--data", base["prep"], "--out", out, "--checkpoint", ckpt, *FC_ARGV], [base["prep"], tmp_path], ckpt, *names)
    assert not out.exists()


def test_the_undamaged_checkpoint_resumes(base, fc_checkpoint, tmp_path, capsys):
    ckpt = tmp_path / "fc.ckpt"
    ckpt.write_bytes(fc_checkpoint.read_bytes())
    assert main(["train", "fc-dae", "--data", str(base["prep"]), "--out", str(tmp_path / "m"), "--checkpoint", str(ckpt), *FC_ARGV]) == 0, capsys.readouterr().err


# -- every array of every model's state -----------------------------------------------------------


def _tiny(name: str) -> dict:
    """Quick settings: the contract suites' fast ones, one epoch / iteration."""
    from tests.models import test_contract, test_rating_contract

    settings = dict({**test_contract.FAST, **test_rating_contract.FAST}.get(name, {}))
    fields = {f.name for f in dataclasses.fields(MODELS[name].Config)}
    settings.update({k: 1 for k in ("max_epochs", "pretrain_epochs", "iterations") if k in fields})
    return settings


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted_state(request):
    """Each model fitted once on toy data: its name, config and saved arrays."""
    from tests.conftest import block_data, split_rows

    name = request.param
    model = MODELS[name](**_tiny(name))
    if model.task == "rating":
        rng = np.random.default_rng(0)
        u, i = np.nonzero(rng.random((30, 20)) < 0.5)
        from aerec.data.interactions import Interactions

        data = prepare_ratings(Interactions(u + 1, i + 1, rng.integers(1, 6, len(u)).astype(np.float32)), RatingSplitParams(seed=0), dataset="toy")
        model.fit(data.train)
    else:
        train, _ = split_rows(block_data(n_users=60, n_items=20, n_blocks=4, per_user=4)[0], 40)
        model.fit(train)
    return name, model.config, {k: np.array(v) for k, v in model.state_dict().items()}


def _mutations(state: dict[str, np.ndarray]):
    """(label, mutated state, must it be refused?) for every array: removed, NaN, integer, out of range, grown."""
    for key, a in state.items():
        yield f"{key} removed", {k: v for k, v in state.items() if k != key}, True
        flat = a.reshape(-1)
        if a.dtype.kind == "f" and a.size:
            bad = flat.copy()
            bad[0] = np.nan
            yield f"{key} NaN", {**state, key: bad.reshape(a.shape)}, True
            yield f"{key} as integers", {**state, key: a.astype(np.int32)}, True
        if a.dtype.kind in "iu" and a.size:
            bad = flat.astype(np.int64)
            bad[0] = -1
            yield f"{key} with -1", {**state, key: bad.reshape(a.shape)}, True
        if a.dtype.kind == "b" and a.size:
            yield f"{key} with 2", {**state, key: np.full(a.shape, 2, np.int64)}, True
        grown = np.concatenate([a, a[:1]]) if a.ndim else np.stack([a, a])
        yield f"{key} grown", {**state, key: grown}, False  # may be consistent by itself: then n_items or n_users must change


def test_every_array_of_every_saved_state_is_checked(fitted_state):
    name, config, state = fitted_state
    for label, mutated, must_refuse in _mutations(state):
        model = MODELS[name](config)
        try:
            model.load_state_dict(mutated)
        except DataError as e:
            assert "\n" not in str(e), f"{name}: {label}: {e}"
            continue
        except ConfigError as e:  # a model may find a state that contradicts its config
            assert "\n" not in str(e), f"{name}: {label}: {e}"
            continue
        assert not must_refuse, f"{name}: {label}: accepted"
        original = MODELS[name](config)
        original.load_state_dict(state)
        assert (model.n_items, getattr(model, "n_users_", None)) != (original.n_items, getattr(original, "n_users_", None)), f"{name}: {label}: accepted unnoticed"
