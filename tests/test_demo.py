"""`aerec demo --quick` end to end: planted groups recovered, four models on a leaderboard, a run directory."""

import json

from aerec.cli import main
from aerec.demo import MODELS


def test_demo_quick_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "-q"]) == 0
    stdout = capsys.readouterr().out
    (recovery,) = [line for line in stdout.splitlines() if "recovery of the planted groups" in line]
    assert 0.0 <= float(recovery.split("groups ")[-1].split()[0]) <= 1.0
    rows = [line for line in stdout.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert sorted(r.split("|")[1].strip() for r in rows) == sorted(MODELS)
    assert "report: " in stdout
    run = json.loads((out / "run.json").read_text())
    assert [c["status"] for c in run["cells"]] == ["ok"] * 4
    assert json.loads((out / "groups.json").read_text())["n_groups"] == 6
    assert (out / "data" / "planted_groups.npz").is_file()

    assert main(["demo", "--quick", "--out", str(out), "-q"]) == 0, "a second run reuses the data and the cells"
    assert all(c["reused"] for c in json.loads((out / "run.json").read_text())["cells"])
