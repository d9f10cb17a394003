"""Careless or hostile use of the command line: --force, outputs, the net, diverging fits, searches (issue 15).

Every case: a non-zero exit, one line on stderr naming what is wrong, no traceback, inputs unchanged.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from aerec.cli import main
from aerec.errors import DataError


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its sha256: equal before and after means nothing changed."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "syn"
    assert main(["synth", "--users", "120", "--items", "30", "--interactions", "1500", "--groups", "3", "--out", str(out), "-q"]) == 0
    return out


# -- --force never deletes an input, nor what aerec did not write --------------------------------------------


def test_force_never_replaces_the_folder_that_holds_the_input_table(tmp_path, capsys):
    folder = tmp_path / "D"
    folder.mkdir()
    log = folder / "log.csv"
    log.write_text("user,item\n" + "".join(f"{u},{i}\n" for u in range(30) for i in range(u % 7, u % 7 + 6)))
    before = digest(folder)
    code, _, err = run(capsys, "prepare", "table", "--data", log, "--out", folder, "--user-col", "user", "--item-col", "item", "--heldout-users", 3, "--force", "-q")
    assert code == 1
    one_error_line(err, str(folder))
    assert digest(folder) == before


def test_force_never_replaces_the_prepared_data_with_a_model(prepared, capsys):
    before = digest(prepared)
    code, _, err = run(capsys, "train", "popularity", "--data", prepared, "--out", prepared, "--force", "-q")
    assert code == 1
    one_error_line(err, "holds an input of this command", "--force would delete it")
    assert digest(prepared) == before


def test_force_replaces_only_a_directory_aerec_wrote(prepared, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    code, _, err = run(capsys, "train", "popularity", "--data", prepared, "--out", mine, "--force", "-q")
    assert code == 1
    one_error_line(err, "not a directory aerec wrote", "--force replaces only aerec's output")
    assert (mine / "thesis.tex").read_text() == "years of work"
    model = tmp_path / "model"
    assert run(capsys, "train", "popularity", "--data", prepared, "--out", model, "-q")[0] == 0
    assert (model / ".aerec").is_file()
    assert run(capsys, "train", "popularity", "--data", prepared, "--out", model, "--force", "-q")[0] == 0  # aerec's own: replaced


def test_an_output_that_cannot_be_written_is_refused_before_any_work(prepared, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    fitted = []
    monkeypatch.setattr("aerec.trial.run_trial", lambda *a, **k: fitted.append(1))
    for out, needle in ((a_file, "exists and is not a directory"), (a_file / "m", "lies under"), ("/proc/aerec-test/m", "cannot write in")):
        code, _, err = run(capsys, "train", "fc-dae", "--data", prepared, "--out", out, "--max-epochs", 1, "-q")
        assert code == 1
        one_error_line(err, needle)
    assert not fitted  # refused before training, not after it


def test_a_killed_writers_temporary_directory_is_removed_by_the_next_write(prepared, tmp_path, capsys):
    out = tmp_path / "m"
    dead = tmp_path / f".m.tmp-{2**22 + 12345}-abc"  # no process has this id
    dead.mkdir()
    (dead / "weights.safetensors").write_bytes(b"half")
    live = tmp_path / f".m.tmp-{os.getpid()}-xyz"  # a running process's: left alone
    live.mkdir()
    assert run(capsys, "train", "popularity", "--data", prepared, "--out", out, "-q")[0] == 0
    assert not dead.exists() and live.exists()


# -- the net ----------------------------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(prepared, monkeypatch, capsys):
    def broken(*a, **k):
        raise ValueError("something nobody foresaw\nsecond line")

    monkeypatch.setattr("aerec.trial.run_trial", broken)
    code, _, err = run(capsys, "train", "popularity", "--data", prepared, "--out", prepared.parent / "net", "-q")
    assert code == 1
    one_error_line(err, "unexpected ValueError: something nobody foresaw second line", "--debug")
    with pytest.raises(ValueError, match="nobody foresaw"):
        main(["train", "popularity", "--data", str(prepared), "--out", str(prepared.parent / "net"), "--debug", "-q"])


def test_a_usage_error_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train", "swdae", "--lr", "fast"])
    assert exit.value.code == 2
    one_error_line(capsys.readouterr().err, "argument --lr: invalid float value: 'fast'", "aerec train swdae --help")


@pytest.mark.parametrize("argv,needle", [
    (["--lr", "nan"], "lr=nan: must be a finite number"),
    (["--lr", "inf"], "lr=inf: must be a finite number"),
    (["--lr", "-1"], "lr=-1.0: must be at least 0"),
    (["--patience", "-1"], "patience=-1: must be at least 0"),
    (["--max-steps", "-5"], "max_steps=-5: must be at least 0"),
    (["--eval-every", "0"], "eval_every=0: must be at least 1"),
    (["--n-hidden", "0"], "n_hidden=0: must be at least 1"),
    (["--seed", "-3"], "seed=-3: must lie in [0, "),
    (["--n-hidden", "4000000000"], "n_hidden=4000000000: must lie within ±2,147,483,647"),
    (["--device", "tpu"], "device='tpu': choose 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    (["--n-hidden", "1000000000"], "needs about"),  # refused from the shapes, before allocating
])
def test_a_bad_numeric_option_names_the_field(prepared, tmp_path, capsys, argv, needle):
    code, _, err = run(capsys, "train", "fc-dae", "--data", prepared, "--out", tmp_path / "m", "--max-epochs", 1, *argv, "-q")
    assert code == 1
    one_error_line(err, needle)
    assert not (tmp_path / "m").exists()


# -- diverging fits ----------------------------------------------------------------------------------------


class Diverging(torch.nn.Module):
    """A loss that is finite for ``good`` epochs' worth of steps, then NaN."""

    def __init__(self, good_steps: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.good_steps = good_steps

    def loss(self, batch, step):
        value = (self.w - 1.0).pow(2).sum()
        return value if step < self.good_steps else value * float("nan")


def test_a_nan_loss_before_any_validation_is_a_clear_error():
    from aerec.training import TrainConfig, train

    X = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(np.eye(4, dtype=np.float32))
    with pytest.raises(DataError, match="swdae: training diverged: the loss became nan in epoch 1"):
        train(Diverging(0), X, TrainConfig(batch_size=4, max_epochs=3), device=torch.device("cpu"), desc="swdae")


def test_a_nan_loss_stops_training_and_keeps_the_best_weights():
    from aerec.training import TrainConfig, train

    X = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(np.eye(4, dtype=np.float32))
    module = Diverging(2)  # one step per epoch: epochs 1 and 2 are fine, epoch 3 diverges
    seen = []
    result = train(module, X, TrainConfig(batch_size=4, max_epochs=6, lr=0.1), device=torch.device("cpu"), validate=lambda: seen.append(module.w.detach().clone()) or float(len(seen)))
    assert result.stopped == "the loss became nan in epoch 3" and result.epochs == 3
    assert torch.isfinite(module.w).all()
    torch.testing.assert_close(module.w.detach(), seen[-1])  # the weights validated last (the best)


# -- searches ----------------------------------------------------------------------------------------------


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path, capsys, monkeypatch):
    import aerec.models.ease as ease

    data = tmp_path / "syn"
    assert main(["synth", "--users", "100", "--items", "25", "--interactions", "1200", "--groups", "3", "--out", str(data), "-q"]) == 0
    real = ease.ease_weights

    def singular(G, l2):
        if l2 == 0.5:
            raise torch.linalg.LinAlgError("linalg.cholesky: The factorization could not be completed because the input is not positive-definite")
        return real(G, l2)

    monkeypatch.setattr(ease, "ease_weights", singular)
    spec = tmp_path / "s.toml"
    spec.write_text(f'model = "ease"\ndata = "{data}"\n[grid]\nl2 = [0.5, 30.0]\n')
    code, _, err = run(capsys, "search", spec, "--out", tmp_path / "out", "-q")
    assert code == 0, err
    trials = [json.loads(line) for line in (tmp_path / "out" / "trials.jsonl").read_text().splitlines()]
    assert [t["status"] for t in trials] == ["failed", "ok"]
    assert "LinAlgError: linalg.cholesky" in trials[0]["error"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["best"]["params"] == {"l2": 30.0}


def test_a_search_refuses_to_resume_on_other_data(tmp_path, capsys):
    for name, seed in (("a", 1), ("b", 2)):
        assert main(["synth", "--users", "100", "--items", "25", "--interactions", "1200", "--groups", "3", "--seed", str(seed), "--out", str(tmp_path / name), "-q"]) == 0
    spec = tmp_path / "s.toml"
    spec.write_text(f'model = "ease"\ndata = "{tmp_path / "a"}"\n[grid]\nl2 = [30.0]\n')
    assert run(capsys, "search", spec, "--out", tmp_path / "out", "-q")[0] == 0
    before = digest(tmp_path / "out")
    spec.write_text(f'model = "ease"\ndata = "{tmp_path / "b"}"\n[grid]\nl2 = [30.0]\n')
    code, _, err = run(capsys, "search", spec, "--out", tmp_path / "out", "-q")
    assert code == 1
    one_error_line(err, "its trials ran on other data", str(tmp_path / "b"))
    assert digest(tmp_path / "out") == before


def test_a_search_refuses_to_add_to_a_folder_that_is_not_aerecs(prepared, tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep")
    spec = tmp_path / "s.toml"
    spec.write_text(f'model = "popularity"\ndata = "{prepared}"\n')
    code, _, err = run(capsys, "search", spec, "--out", folder, "-q")
    assert code == 1
    one_error_line(err, "is not an aerec directory")
    assert os.listdir(folder) == ["todo.txt"]


def test_a_toml_value_of_the_wrong_type_or_not_finite_names_the_field(prepared, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    cases = (('[fixed]\nlr = "fast"', "[fixed] lr='fast': expected a number"), ("[fixed]\nlr = inf", "[fixed] lr=inf: must be a finite number"),
             ("[grid]\nn_hidden = [8, 2.5]", "[grid] n_hidden=2.5: expected an integer"), ("[options]\nseed = 1.5", "[options] seed=1.5: expected an integer"))
    for table, needle in cases:
        spec.write_text(f'model = "fc-dae"\ndata = "{prepared}"\n{table}\n')
        code, _, err = run(capsys, "search", spec, "--out", tmp_path / "out", "-q")
        assert code == 1
        one_error_line(err, str(spec), needle)
        assert not (tmp_path / "out").exists()  # refused before any trial
