"""The command line as a user drives it: the main path, --help, and every bad-input path."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from aerec.cli import build_parser, main
from aerec.data.prepared import PreparedDataset
from aerec.metrics import topk_items


def write_ml100k(folder, n_users=60, n_items=40, seed=0, bad_line=None):
    """A tiny MovieLens-100K folder: u.data (tab-separated) and u.item (|-separated)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for u in range(1, n_users + 1):
        for i in rng.choice(np.arange(1, n_items + 1), 12, replace=False):
            lines.append(f"{u}\t{i}\t{rng.choice([2, 4, 5])}\t{880000000 + len(lines)}")
    if bad_line is not None:
        lines.insert(10, bad_line)
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_text("".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|{flags}\n" for i in range(1, n_items + 1)), encoding="latin-1")
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def prepared(tmp_path, capsys):
    raw = write_ml100k(tmp_path / "raw")
    code, out, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", tmp_path / "prep", "--heldout-users", 8)
    assert code == 0, err
    return raw, tmp_path / "prep"


def test_prepare_writes_the_directory_with_a_manifest(prepared):
    raw, prep = prepared
    manifest = json.loads((prep / "manifest.json").read_text())
    src = {r["path"].split("/")[-1]: r for r in manifest["sources"]}
    assert src["u.data"]["sha256"] == hashlib.sha256((raw / "u.data").read_bytes()).hexdigest()
    assert manifest["protocol"]["filters"]["value_above"] == 3.5
    assert manifest["protocol"]["split"] == {"heldout_users": 8, "seed": 98765, "test_prop": 0.2, "min_fold_items": 5}
    data = PreparedDataset.load(prep)
    rows = [line.split("\t") for line in (raw / "u.data").read_text().splitlines()]
    liked = {}
    for u, _, r, _ in rows:
        liked[u] = liked.get(u, 0) + (float(r) > 3.5)
    kept_users = sum(n >= 5 for n in liked.values())
    assert manifest["counts"]["train_users"] == data.train.shape[0] == kept_users - 16
    assert data.validation.n_users == data.test.n_users == 8
    assert set(data.items["title"]).issubset({f"Movie {i} (1995)" for i in range(1, 41)})
    assert not list(prep.parent.glob(".prep.tmp-*"))


def test_train_evaluate_recommend(prepared, tmp_path, capsys):
    _, prep = prepared
    model = tmp_path / "ease"
    code, out, err = run(capsys, "train", "ease", "--data", prep, "--out", model, "--l2-grid", "1,10", "--refine", 0, "--device", "cpu", "-q")
    assert code == 0, err
    assert "validation NDCG@100" in out
    meta = json.loads((model / "model.json").read_text())
    assert meta["config"]["l2_grid"] == [1.0, 10.0] and meta["fit_info"]["l2"] in (1.0, 10.0)

    code, out, err = run(capsys, "evaluate", model, "--data", prep, "--json")
    assert code == 0, err
    record = json.loads(out)
    for split in ("validation", "test"):
        s = record["results"][split]["summary"]
        assert 0 <= s["ndcg@100"]["mean"] <= 1 and s["recall@20"]["se"] >= 0
    assert json.loads((model / "evaluation.json").read_text()) == record

    items = PreparedDataset.load(prep).items["item_id"].astype(str).tolist()
    code, out, err = run(capsys, "recommend", model, "--items", ",".join(items[:3]), "-n", 5, "--json")
    assert code == 0, err
    recs = json.loads(out)
    assert len(recs) == 5 and not {r["item_id"] for r in recs} & set(items[:3])
    assert all(r["title"].startswith("Movie ") for r in recs)
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)


def test_recommend_for_a_user_of_the_split_excludes_their_items(prepared, tmp_path, capsys):
    _, prep = prepared
    assert run(capsys, "train", "popularity", "--data", prep, "--out", tmp_path / "pop", "-q")[0] == 0
    data = PreparedDataset.load(prep)
    user = str(data.test.users[0])
    seen = set(data.items["item_id"].astype(str).to_numpy()[data.test.X_in[0].indices])
    code, out, err = run(capsys, "recommend", tmp_path / "pop", "--user", user, "--data", prep, "-n", 10, "--json")
    assert code == 0, err
    assert not {r["item_id"] for r in json.loads(out)} & seen


@pytest.mark.parametrize(
    "argv,message",
    [
        (["prepare", "ml-2m", "--data", "{raw}", "--out", "{out}"], "unknown dataset 'ml-2m'"),
        (["prepare", "ml-100k", "--data", "{tmp}/nowhere", "--out", "{out}"], "no such file"),
        (["prepare", "ml-100k", "--data", "{raw}", "--out", "{out}", "--heldout-users", "40"], "--heldout-users 40"),
        (["prepare", "ml-100k", "--data", "{raw}", "--out", "{out}", "--value-above", "5"], "no interactions remain"),
        (["prepare", "table", "--data", "{raw}/u.data", "--out", "{out}"], "--user-col"),
    ],
)
def test_bad_input_is_one_line_and_non_zero_and_writes_nothing(tmp_path, capsys, argv, message):
    raw = write_ml100k(tmp_path / "raw")
    out = tmp_path / "out"
    argv = [a.format(raw=raw, out=out, tmp=tmp_path) for a in argv]
    code, stdout, err = run(capsys, *argv)
    assert code == 1
    assert message in err
    assert err.count("\n") == 1 and err.startswith("aerec: error: ")
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


@pytest.mark.parametrize("bad,message", [("7\tx\t4\t1", "u.data:11"), ("7\t3\tfive\t1", "u.data:11"), ("7\t3", "u.data:11")])
def test_malformed_line_names_file_and_line(tmp_path, capsys, bad, message):
    raw = write_ml100k(tmp_path / "raw", bad_line=bad)
    code, _, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", tmp_path / "out")
    assert code == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_force(prepared, capsys):
    raw, prep = prepared
    before = (prep / "manifest.json").read_text()
    code, _, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", prep, "--heldout-users", 8)
    assert code == 1 and "--force" in err
    assert (prep / "manifest.json").read_text() == before
    code, _, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", prep, "--heldout-users", 5, "--force")
    assert code == 0, err
    assert json.loads((prep / "manifest.json").read_text())["counts"]["test_users"] == 5


def test_evaluate_refuses_a_model_from_another_dataset(prepared, tmp_path, capsys):
    raw, prep = prepared
    other = write_ml100k(tmp_path / "raw2", n_items=50, seed=3)
    assert run(capsys, "prepare", "ml-100k", "--data", other, "--out", tmp_path / "prep2", "--heldout-users", 8)[0] == 0
    assert run(capsys, "train", "popularity", "--data", tmp_path / "prep2", "--out", tmp_path / "pop2", "-q")[0] == 0
    code, _, err = run(capsys, "evaluate", tmp_path / "pop2", "--data", prep)
    assert code == 1 and "vocabulary differs" in err


def test_unknown_item_in_recommend_is_a_clear_error(prepared, tmp_path, capsys):
    _, prep = prepared
    run(capsys, "train", "popularity", "--data", prep, "--out", tmp_path / "pop", "-q")
    code, _, err = run(capsys, "recommend", tmp_path / "pop", "--items", "99999")
    assert code == 1 and "unknown item id(s) 99999" in err


def test_synth_writes_a_prepared_directory_with_planted_groups(tmp_path, capsys):
    code, out, err = run(capsys, "synth", "--users", 300, "--items", 120, "--interactions", 6000, "--groups", 6, "--out", tmp_path / "syn", "-q")
    assert code == 0, err
    data = PreparedDataset.load(tmp_path / "syn")
    assert data.train.shape[0] == 300 and data.validation.n_users == 30
    planted = data.extra["planted_groups"]
    assert planted.shape == (data.n_items, 6)
    # rows follow the prepared columns: item j's planted groups are in its genres
    for j in range(5):
        groups = {f"g{g}" for g in planted[j].indices}
        assert groups == set(data.items["genres"].iloc[j].split("|"))


def _subcommands(parser):
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            yield [name]
            if sub._subparsers is not None:
                for rest in _subcommands(sub):
                    yield [name, *rest]


@pytest.mark.parametrize("path", list(_subcommands(build_parser())), ids=" ".join)
def test_every_subcommand_has_help(path, capsys):
    with pytest.raises(SystemExit) as e:
        main([*path, "--help"])
    assert e.value.code == 0
    assert "usage: aerec" in capsys.readouterr().out


def test_the_installed_command_runs(tmp_path):
    """As a user runs it: a separate process, no terminal, so no progress bar."""
    raw = write_ml100k(tmp_path / "raw")
    p = subprocess.run([sys.executable, "-m", "aerec.cli", "prepare", "ml-100k", "--data", str(raw), "--out", str(tmp_path / "p"), "--heldout-users", "5"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert "training users" in p.stdout


def test_groups_learns_prints_and_saves(tmp_path, capsys):
    from safetensors import safe_open

    from aerec.structure import ItemGroups

    assert run(capsys, "synth", "--users", 300, "--items", 120, "--interactions", 6000, "--groups", 6, "--out", tmp_path / "syn", "-q")[0] == 0
    code, out, err = run(capsys, "groups", "--data", tmp_path / "syn", "-k", 6, "-r", 1, "-f", 6, "--out", tmp_path / "g.safetensors", "--json", "--device", "cpu")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["K"] == 6 and summary["R"] == 1
    assert sum(g["size"] for g in summary["groups"]) == 120  # R = 1: a partition, all six shown
    with safe_open(str(tmp_path / "g.safetensors"), "np") as f:
        groups = ItemGroups.from_arrays({k: f.get_tensor(k) for k in f.keys()}, f.metadata())
    assert groups.item_groups.shape == (120, 1)
    code, _, err = run(capsys, "groups", "--data", tmp_path / "syn", "-k", 500)
    assert code == 1 and "K=500" in err or "500" in err


def test_train_help_documents_inherited_training_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "swdae", "--help"])
    out = capsys.readouterr().out
    assert "the optimiser's learning rate" in out and "groups per item" in out


def test_swdae_trains_evaluates_and_recommends_from_the_cli(tmp_path, capsys):
    assert run(capsys, "synth", "--users", 300, "--items", 120, "--interactions", 6000, "--groups", 6, "--out", tmp_path / "syn", "-q")[0] == 0
    code, out, err = run(capsys, "train", "swdae", "--data", tmp_path / "syn", "--out", tmp_path / "sw", "--n-groups", 12, "--overlap", 2, "--n-components", 6, "--max-epochs", 3, "--loss", "logistic", "--device", "cpu", "-q")
    assert code == 0, err
    meta = json.loads((tmp_path / "sw" / "model.json").read_text())
    assert meta["config"]["loss"] == "logistic" and meta["fit_info"]["parameters"] == 2 * 120 * 2 + 12 + 120
    code, out, err = run(capsys, "evaluate", tmp_path / "sw", "--data", tmp_path / "syn", "--json")
    assert code == 0, err
    assert json.loads(out)["results"]["test"]["summary"]["ndcg@100"]["mean"] > 0
    items = PreparedDataset.load(tmp_path / "syn").items["item_id"].astype(str).tolist()
    code, out, err = run(capsys, "recommend", tmp_path / "sw", "--items", ",".join(items[:4]), "-n", 3, "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 3


def test_train_resumes_from_its_checkpoint_after_an_interruption(tmp_path, capsys, monkeypatch):
    """Interrupted after two validations, the same command resumes and gives the uninterrupted model's scores."""
    import aerec.training
    from aerec.artifacts import load_model

    assert run(capsys, "synth", "--users", 200, "--items", 60, "--interactions", 3000, "--groups", 4, "--out", tmp_path / "syn", "-q")[0] == 0
    argv = ["train", "fc-dae", "--data", tmp_path / "syn", "--n-hidden", 8, "--max-epochs", 5, "--patience", 0, "--device", "cpu", "-q"]
    assert run(capsys, *argv, "--out", tmp_path / "clean")[0] == 0

    real_save = aerec.training._save_checkpoint
    saves = []

    def save_then_stop(*a, **k):
        real_save(*a, **k)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(aerec.training, "_save_checkpoint", save_then_stop)
    ckpt = tmp_path / "fc.ckpt"
    code, _, err = run(capsys, *argv, "--out", tmp_path / "resumed", "--checkpoint", ckpt)
    assert code == 130 and ckpt.is_file() and not (tmp_path / "resumed").exists()
    monkeypatch.setattr(aerec.training, "_save_checkpoint", real_save)
    code, _, err = run(capsys, *argv, "--out", tmp_path / "resumed", "--checkpoint", ckpt)
    assert code == 0, err
    assert not ckpt.exists(), "the checkpoint is deleted once the model is saved"
    data = PreparedDataset.load(tmp_path / "syn")
    clean, resumed = load_model(tmp_path / "clean")[0], load_model(tmp_path / "resumed")[0]
    np.testing.assert_array_equal(clean.score(data.test.X_in), resumed.score(data.test.X_in))
    assert len(resumed.fit_info_["training"]["history"]) == 5


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path, capsys):
    assert run(capsys, "synth", "--users", 200, "--items", 60, "--interactions", 3000, "--groups", 4, "--out", tmp_path / "syn", "-q")[0] == 0
    from aerec.data.prepared import PreparedDataset as P
    from aerec.fit_options import FitOptions
    from aerec.models import FCDAE
    from aerec.training import train

    data = P.load(tmp_path / "syn")
    model = FCDAE(n_hidden=8, max_epochs=1)
    model.n_items_ = data.n_items
    model._build(__import__("torch").device("cpu"))
    train(model.module_, data.train, model.config, device=__import__("torch").device("cpu"), validate=lambda: 0.0, options=FitOptions(checkpoint=str(tmp_path / "c.ckpt")))
    code, _, err = run(capsys, "train", "fc-dae", "--data", tmp_path / "syn", "--out", tmp_path / "m", "--n-hidden", 16, "--device", "cpu", "--checkpoint", tmp_path / "c.ckpt", "-q")
    assert code == 1 and "another configuration" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit:  # EASE does not train iteratively: no --checkpoint
        main(["train", "ease", "--data", str(tmp_path / "syn"), "--out", str(tmp_path / "e"), "--checkpoint", str(tmp_path / "x")])
    assert exit.value.code == 2


def test_sequential_protocol_from_prepare_to_search(tmp_path, capsys):
    """prepare --protocol sequential; SVAE trains, evaluates and is searched on the order matrices."""
    raw = write_ml100k(tmp_path / "raw", n_users=80)
    prep = tmp_path / "seq"
    code, out, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", prep, "--heldout-users", 8, "--protocol", "sequential")
    assert code == 0, err
    data = PreparedDataset.load(prep)
    assert data.manifest["protocol"]["kind"] == "sequential" and data.manifest["protocol"]["fold_in_prop"] == 0.8
    assert {"train_order", "validation_in_order", "test_in_order"} <= set(data.extra)
    tiny = ["--embedding", 8, "--rnn", 8, "--hidden", 8, "--latent", 4, "--max-epochs", 3, "--device", "cpu", "-q"]
    code, out, err = run(capsys, "train", "svae", "--data", prep, "--out", tmp_path / "svae", *tiny)
    assert code == 0, err
    code, out, err = run(capsys, "evaluate", tmp_path / "svae", "--data", prep, "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["results"]["test"]["summary"]["ndcg@100"]["mean"] >= 0
    # the saved model, scored on the order matrices, gives evaluate's numbers
    from aerec.artifacts import load_model
    from aerec.data.sequential import inputs_for
    from aerec.evaluate import evaluate

    model = load_model(tmp_path / "svae")[0]
    _, _, test = inputs_for(model, data)
    expected = evaluate(model.score, test, ks=(20, 50, 100)).summary()["ndcg@100"]["mean"]
    assert record["results"]["test"]["summary"]["ndcg@100"]["mean"] == pytest.approx(expected)
    # recommend reads a sequential model's histories in time order: a user's row of the order matrix, and --items as given
    user = str(data.test.users[0])
    code, out, err = run(capsys, "recommend", tmp_path / "svae", "--user", user, "--data", prep, "-n", 5, "--json")
    assert code == 0, err
    row = test.X_in[0]
    want = topk_items(model.score(row), 5, exclude=row)[0]
    ids = data.items["item_id"].astype(str).to_numpy()
    assert [r["item_id"] for r in json.loads(out)] == [ids[j] for j in want]
    order = row.indices[np.argsort(row.data)]  # the user's items, oldest first
    forward = run(capsys, "recommend", tmp_path / "svae", "--items", ",".join(ids[order]), "-n", 5, "--json")[1]
    backward = run(capsys, "recommend", tmp_path / "svae", "--items", ",".join(ids[order[::-1]]), "-n", 5, "--json")[1]
    assert [r["item_id"] for r in json.loads(forward)] == [ids[j] for j in want], "--items in time order equals the user's history"
    assert json.loads(forward) != json.loads(backward), "the order given to --items matters to a sequential model"
    # a bag-of-items model runs unchanged on the binary matrices of the same directory
    assert run(capsys, "train", "popularity", "--data", prep, "--out", tmp_path / "pop", "-q")[0] == 0
    spec = tmp_path / "svae.toml"
    spec.write_text(f'model = "svae"\ndata = "{prep}"\n[fixed]\nembedding = 8\nrnn = 8\nhidden = 8\nlatent = 4\nmax_epochs = 2\n[grid]\nlr = [0.001, 0.01]\n')
    code, out, err = run(capsys, "search", spec, "--out", tmp_path / "search", "-q")
    assert code == 0, err
    assert "svae chose lr=" in out and len((tmp_path / "search" / "trials.jsonl").read_text().splitlines()) == 2


def test_sequential_protocol_errors_are_one_line(prepared, tmp_path, capsys):
    _, strong = prepared
    code, _, err = run(capsys, "train", "svae", "--data", strong, "--out", tmp_path / "m", "--max-epochs", 1, "-q")
    assert code == 1 and err.count("\n") == 1
    assert "svae needs time-ordered histories" in err and "--protocol sequential" in err
    assert not (tmp_path / "m").exists()
    derived = tmp_path / "ml-1m" / "derived"
    derived.mkdir(parents=True)
    (derived / "ratings_without_timestamps.csv").write_text("UserID,ItemIndex,MovieID,Rating\n" + "".join(f"{u},{i},{i},5\n" for u in range(1, 40) for i in range(1, 8)))
    code, _, err = run(capsys, "prepare", "ml-1m", "--data", tmp_path / "ml-1m", "--out", tmp_path / "o", "--heldout-users", 5, "--protocol", "sequential")
    assert code == 1 and err.count("\n") == 1
    assert "ml-1m: the sequential protocol needs timestamps" in err
    assert not (tmp_path / "o").exists()


# -- explicit ratings (--protocol ratings) -----------------------------------------
@pytest.fixture
def prepared_ratings(tmp_path, capsys):
    raw = write_ml100k(tmp_path / "raw")
    code, out, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", tmp_path / "ratings", "--protocol", "ratings")
    assert code == 0, err
    assert "training" in out and "test ratings" in out
    return raw, tmp_path / "ratings"


def test_ratings_prepare_train_evaluate(prepared_ratings, tmp_path, capsys):
    raw, prep = prepared_ratings
    manifest = json.loads((prep / "manifest.json").read_text())
    assert manifest["protocol"]["kind"] == "ratings" and manifest["protocol"]["filters"]["value_above"] is None
    c = manifest["counts"]
    assert c["train_ratings"] + c["validation_ratings"] + c["test_ratings"] == len((raw / "u.data").read_text().splitlines())  # every rating kept
    model = tmp_path / "u-autorec"
    code, out, err = run(capsys, "train", "u-autorec", "--data", prep, "--out", model, "--hidden", 8, "--max-epochs", 2, "--device", "cpu", "-q")
    assert code == 0, err
    assert "validation RMSE" in out and "MAE" in out
    meta = json.loads((model / "model.json").read_text())
    assert meta["fit_info"]["training"]["epochs"] == 2 and meta["validation"]["n"] == c["validation_ratings"]

    code, out, err = run(capsys, "evaluate", model, "--data", prep, "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["results"]["test"]["n"] == c["test_ratings"]
    for split in ("validation", "test"):
        r = record["results"][split]
        assert 0 < r["mae"] <= r["rmse"] < 4
    code, out, err = run(capsys, "evaluate", model, "--data", prep, "--split", "test")
    assert code == 0 and out.startswith("test       RMSE ")


def test_rating_and_ranking_mismatches_are_one_line_errors(prepared, prepared_ratings, tmp_path, capsys):
    _, strong = prepared
    _, ratings = prepared_ratings
    code, _, err = run(capsys, "train", "i-autorec", "--data", strong, "--out", tmp_path / "a", "--max-epochs", 1, "-q")
    assert code == 1 and err.count("\n") == 1 and "needs data prepared with --protocol ratings" in err
    code, _, err = run(capsys, "train", "ease", "--data", ratings, "--out", tmp_path / "b", "-q")
    assert code == 1 and err.count("\n") == 1 and "ease is a ranking model" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

    rating_model, ranking_model = tmp_path / "ra", tmp_path / "rk"
    assert run(capsys, "train", "i-autorec", "--data", ratings, "--out", rating_model, "--hidden", 4, "--max-epochs", 1, "--device", "cpu", "-q")[0] == 0
    assert run(capsys, "train", "popularity", "--data", strong, "--out", ranking_model, "-q")[0] == 0
    for model, data, message in ((rating_model, strong, "predicts ratings"), (ranking_model, ratings, "is a ranking model")):
        code, _, err = run(capsys, "evaluate", model, "--data", data)
        assert code == 1 and err.count("\n") == 1 and message in err
    code, _, err = run(capsys, "recommend", rating_model, "--items", "1,2")
    assert code == 1 and "predicts ratings" in err


def test_groups_refuses_r_below_one(prepared, capsys):
    _, prep = prepared
    code, _, err = run(capsys, "groups", "--data", prep, "-k", 6, "-r", 0, "-q")
    assert code != 0 and "-r 0: R, the groups per item, must be at least 1" in err


def test_value_above_without_value_col_names_the_missing_option(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("user,item,rating\n" + "".join(f"{u},{i},4\n" for u in range(30) for i in range(6)))
    code, _, err = run(capsys, "prepare", "table", "--data", log, "--user-col", "user", "--item-col", "item", "--value-above", 3.5, "--out", tmp_path / "p", "--heldout-users", 3)
    assert code != 0 and "--value-above 3.5: needs --value-col" in err
    assert not (tmp_path / "p").exists()


def test_value_above_none_given_to_main_keeps_every_rating(tmp_path, capsys):
    """`main([..., "--value-above", "none"])` must turn the dataset's filter off, whatever sys.argv holds."""
    raw = write_ml100k(tmp_path / "raw")
    code, _, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", tmp_path / "all", "--heldout-users", 8, "--value-above", "none")
    assert code == 0, err
    code, _, err = run(capsys, "prepare", "ml-100k", "--data", raw, "--out", tmp_path / "liked", "--heldout-users", 8)
    assert code == 0, err
    read = lambda d: json.loads((tmp_path / d / "manifest.json").read_text())  # noqa: E731
    assert read("all")["protocol"]["filters"]["value_above"] is None and read("liked")["protocol"]["filters"]["value_above"] == 3.5
    assert read("all")["counts"]["train_interactions"] > read("liked")["counts"]["train_interactions"]


def test_train_swdae_uses_the_groups_aerec_groups_wrote(prepared, tmp_path, capsys):
    _, prep = prepared
    opts = ["-q", "--n-groups", 6, "--overlap", 2, "--n-components", 4, "--max-epochs", 2, "--device", "cpu"]
    assert run(capsys, "groups", "--data", prep, "-k", 6, "-r", 2, "-f", 4, "--device", "cpu", "--out", tmp_path / "g.safetensors", "-q")[0] == 0
    code, _, err = run(capsys, "train", "swdae", "--data", prep, "--out", tmp_path / "given", "--groups", tmp_path / "g.safetensors", *opts)
    assert code == 0, err
    assert run(capsys, "train", "swdae", "--data", prep, "--out", tmp_path / "own", *opts)[0] == 0
    given, own = (json.loads((tmp_path / d / "model.json").read_text()) for d in ("given", "own"))
    assert given["fit_info"]["groups"]["source"] == "given" and own["fit_info"]["groups"]["source"] == "learned"
    assert given["validation"] == own["validation"]
    code, _, err = run(capsys, "train", "swdae", "--data", prep, "--out", tmp_path / "x", "--groups", tmp_path / "g.safetensors", *opts[:-4], "--n-groups", 5)
    assert code != 0 and "do not fit this config" in err
