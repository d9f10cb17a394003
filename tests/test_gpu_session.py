"""benchmarks/gpu_session.sh in its smoke mode: every stage of the GPU run, on the CPU at tiny sizes.

The script is run for real on a lent GPU only now and then; this keeps it from rotting in between: the
same stages, the same scripts and CLI commands, the same logs and summary, with ``DEVICE=cpu`` and a
small synthetic dataset.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"
STAGES = ("setup", "tests", "swdae", "multvae", "grouping", "ease", "layers", "train")


def run_session(tmp_path: Path, *stages: str, **env: str) -> subprocess.CompletedProcess:
    smoke = {
        "PY": sys.executable,
        "DEVICE": "cpu",
        "OUT": str(tmp_path / "out"),
        "DATA": str(tmp_path / "data"),
        "MODEL_DIR": str(tmp_path / "model"),
        "SYNTH": "--users 300 --items 200 --interactions 6000",
        "GROUPS_K": "30",
        "GROUPS_R": "3",
        "BATCH": "100",
        "EPOCHS": "1",
        "SWDAE_EPOCHS": "2",
        "EVAL_EVERY": "1",
        "EASE_L2": "50",
        "SWDAE_ROWS": "--backend gemm,dense --precision bf16,fp32",
        "TEST_ARGS": "-k cuda_layers_match",  # the nested pytest: collect everything, run one (skipped) test
        "OMP_NUM_THREADS": "1",
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), *stages], cwd=ROOT, env={**os.environ, **smoke}, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_every_stage_runs_and_logs_in_smoke_mode(tmp_path):
    run = run_session(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "out"
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(f"{n}.txt" for n in ("setup", "tests", "epoch", "grouping", "ease", "layers", "train", "summary"))
    summary = (out / "summary.txt").read_text()
    for stage in STAGES:
        assert any(line.split()[:3] == [stage, "exit", "0"] for line in summary.splitlines()), summary
    epoch = (out / "epoch.txt").read_text()
    for row in ("swdae     gemm       cpu    bf16", "swdae     dense      cpu    fp32", "mult-vae             cpu    fp32"):
        assert row in epoch, epoch
    assert "FAILED" not in epoch
    assert "run 3: gram" in (out / "ease.txt").read_text()
    layers = (out / "layers.txt").read_text()
    assert "gemm/bf16" in layers and "profile of one gemm/bf16 step" in layers
    train = (out / "train.txt").read_text()
    assert "2 epochs, bf16, backend auto" in train and "test       NDCG@100" in train
    assert '"kmeans"' in (out / "grouping.txt").read_text()
    assert run.stdout.rstrip().splitlines()[-1].startswith("total ")  # the summary is what the output ends with


def test_an_unknown_stage_is_refused_before_anything_runs(tmp_path):
    run = run_session(tmp_path, "setup", "nope")
    assert run.returncode == 2 and "unknown stage nope" in run.stderr
    assert not (tmp_path / "out" / "setup.txt").exists()


def test_a_failing_stage_is_logged_and_the_next_still_runs(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    run = run_session(tmp_path, "setup", "ease", "layers", DATA=str(blocked / "data"))  # synth cannot write there
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert run.returncode == 0  # the session itself completes; each stage's status is in the summary
    assert any(line.startswith("ease") and "exit 0" not in line for line in summary.splitlines()), summary
    assert any(line.split()[:3] == ["layers", "exit", "0"] for line in summary.splitlines()), summary
