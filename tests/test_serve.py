"""Batch recommendations for users the model never saw (aerec.serve, `aerec recommend --histories`)."""

import json

import numpy as np
import pandas as pd
import pytest

from aerec.data.interactions import Interactions
from aerec.errors import ConfigError, DataError
from aerec.metrics import topk_items
from aerec.models.ease import EASE
from aerec.serve import histories, recommend_many
from tests.conftest import block_data
from tests.test_cli import run, write_ml100k

VOCAB = np.array(["a", "b", "c", "d", "e"])


def log(users, items, times=None):
    """An Interactions log with string ids, factorised as read_table does."""
    u_codes, u_ids = pd.factorize(np.asarray(users))
    i_codes, i_ids = pd.factorize(np.asarray(items))
    t = None if times is None else np.asarray(times, np.int64)
    return Interactions(u_codes, i_codes, np.ones(len(users), np.float32), t, user_ids=np.asarray(u_ids), item_ids=np.asarray(i_ids))


def test_histories_map_ids_merge_repeats_and_count_unknown_items():
    h = histories(log(["u2", "u1", "u2", "u2", "u3", "u1"], ["c", "a", "zz", "c", "yy", "e"]), VOCAB)
    assert h.user_ids.tolist() == ["u2", "u1", "u3"]  # order of first appearance
    expected = np.array([[0, 0, 1, 0, 0], [1, 0, 0, 0, 1], [0, 0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(h.X.toarray(), expected)  # the repeated c is one interaction
    assert h.unknown_interactions == 2 and h.unknown_items == ("zz", "yy") and h.empty_users == 1


def test_integer_ids_match_the_vocabulary_as_written():
    data = Interactions(np.array([7, 7, 9]), np.array([10, 30, 20]), np.ones(3, np.float32))
    h = histories(data, np.array(["10", "20", "30"]))
    assert h.user_ids.tolist() == ["7", "9"]
    np.testing.assert_array_equal(h.X.toarray(), [[1, 0, 1], [0, 1, 0]])


def test_value_above_keeps_the_liked_rows_and_every_user():
    data = log(["u", "u", "u", "v"], ["a", "b", "c", "d"])
    data.value = np.array([5, 3, 4, 2], np.float32)
    h = histories(data, VOCAB, value_above=3.5)
    assert h.user_ids.tolist() == ["u", "v"]  # v rated nothing above 3.5 and is still served
    np.testing.assert_array_equal(h.X.toarray(), [[1, 0, 1, 0, 0], [0, 0, 0, 0, 0]])
    assert h.empty_users == 1 and h.unknown_interactions == 0


def test_unknown_items_can_be_an_error_that_names_them():
    with pytest.raises(DataError, match=r"log.csv: 1 item id\(s\) not in the model's vocabulary: zz"):
        histories(log(["u", "u"], ["a", "zz"]), VOCAB, unknown="error", where="log.csv")
    with pytest.raises(ConfigError, match="unknown='drop'"):
        histories(log(["u"], ["a"]), VOCAB, unknown="drop")
    with pytest.raises(DataError, match="no interactions"):
        histories(log([], []), VOCAB)


def test_sequential_histories_are_positions_in_time_order_first_occurrence_kept():
    data = log(["u", "u", "u", "u", "v", "v"], ["c", "a", "c", "e", "b", "d"], times=[30, 10, 5, 20, 1, 1])
    h = histories(data, VOCAB, sequential=True)
    # u in time order: c@5, a@10, e@20, c@30 (a repeat) -> c=1, a=2, e=3; v: equal times keep file order: b=1, d=2
    np.testing.assert_array_equal(h.X.toarray(), [[2, 0, 1, 0, 3], [0, 1, 0, 2, 0]])
    no_time = histories(log(["u", "u", "u"], ["e", "a", "e"]), VOCAB, sequential=True)
    np.testing.assert_array_equal(no_time.X.toarray(), [[2, 0, 0, 0, 1]])  # file order


@pytest.fixture(scope="module")
def ease():
    X, _, _ = block_data(n_users=120, n_items=40)
    return EASE(l2=10.0).fit(X)


def test_recommend_many_matches_one_user_at_a_time_in_any_chunking(ease):
    rng = np.random.default_rng(0)
    vocab = np.array([f"i{j}" for j in range(40)])
    users = np.repeat([f"u{k}" for k in range(25)], 6)
    items = vocab[rng.integers(0, 40, len(users))]
    h = histories(log(users, items), vocab)
    recs = recommend_many(ease, h, vocab, 7)
    for chunk_bytes in (1, 8 * 40 * 4):  # one user per chunk, four users per chunk
        pd.testing.assert_frame_equal(recommend_many(ease, h, vocab, 7, chunk_bytes=chunk_bytes), recs)
    assert recs.columns.tolist() == ["user_id", "rank", "item_id", "score"] and len(recs) == 25 * 7
    for k, user in enumerate(h.user_ids):
        row = h.X[k]
        mine = recs[recs.user_id == user]
        ref = topk_items(ease.score(row), 7, exclude=row)[0]  # the single-user path of `aerec recommend --items`
        assert mine["item_id"].tolist() == vocab[ref].tolist()
        assert mine["rank"].tolist() == list(range(1, 8))
        assert not set(mine["item_id"]) & set(vocab[row.indices])
        np.testing.assert_allclose(mine["score"], np.asarray(ease.score(row))[0, ref], rtol=1e-6)


def test_a_user_with_fewer_unseen_items_than_n_gets_only_those(ease):
    vocab = np.array([f"i{j}" for j in range(40)])
    h = histories(log(["full"] * 38 + ["one"], list(vocab[:38]) + ["i0"]), vocab)
    recs = recommend_many(ease, h, vocab, 5)
    assert sorted(recs[recs.user_id == "full"]["item_id"]) == ["i38", "i39"]
    assert len(recs[recs.user_id == "one"]) == 5
    with pytest.raises(ConfigError, match="n=0"):
        recommend_many(ease, h, vocab, 0)


@pytest.fixture
def prep(tmp_path, capsys):
    """A tiny prepared ml-100k directory with a popularity model beside it (tmp_path / "pop")."""
    out = tmp_path / "prep"
    assert run(capsys, "prepare", "ml-100k", "--data", write_ml100k(tmp_path / "raw"), "--out", out, "--heldout-users", 8)[0] == 0
    assert run(capsys, "train", "popularity", "--data", out, "--out", tmp_path / "pop", "-q")[0] == 0
    return out


def test_cli_writes_every_users_recommendations_like_the_single_user_path(prep, tmp_path, capsys):
    ids = pd.read_parquet(prep / "items.parquet")["item_id"].astype(str).tolist()
    pd.DataFrame({"who": ["x", "x", "y", "x", "z"], "what": [ids[0], ids[1], ids[2], "99999", "88888"]}).to_csv(tmp_path / "log.csv", index=False)
    out = tmp_path / "recs" / "recs.csv"
    code, _, err = run(capsys, "recommend", tmp_path / "pop", "--histories", tmp_path / "log.csv", "--user-col", "who", "--item-col", "what", "-n", 4, "--out", out)
    assert code == 0, err
    assert "3 users, 12 recommendations" in err and "dropped 2 interactions with 2 item(s)" in err and "1 user(s) had no usable item" in err
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    code, single, _ = run(capsys, "recommend", tmp_path / "pop", "--items", f"{ids[0]},{ids[1]}", "-n", 4, "--json")
    assert recs[recs.user_id == "x"]["item_id"].tolist() == [r["item_id"] for r in json.loads(single)]
    assert not list(out.parent.glob(".recs.csv.tmp-*"))

    liked = [r["item_id"] for r in json.loads(run(capsys, "recommend", tmp_path / "pop", "--items", ids[0], "-n", 4, "--json")[1])]
    rated = tmp_path / "rated.tsv"  # the low rating is on the item the liked history ranks first: it must not count as seen
    rated.write_text(f"who\twhat\tstars\nx\t{ids[0]}\t5\nx\t{liked[0]}\t2\n")
    code, _, err = run(capsys, "recommend", tmp_path / "pop", "--histories", rated, "--user-col", "who", "--item-col", "what",
                       "--value-col", "stars", "--value-above", 3.5, "-n", 4, "--out", tmp_path / "liked.csv")  # fmt: skip
    assert code == 0, err
    assert pd.read_csv(tmp_path / "liked.csv", dtype={"item_id": str})["item_id"].tolist() == liked

    parquet = tmp_path / "recs.parquet"
    assert run(capsys, "recommend", tmp_path / "pop", "--histories", tmp_path / "log.csv", "--user-col", "who", "--item-col", "what", "-n", 4, "--out", parquet)[0] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), recs, check_dtype=False)


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "--histories needs --out"),
        (["--out", "recs.json"], "give a .csv, .tsv or .parquet file"),
        (["--out", "recs.csv", "--item-col", "nope"], "no column 'nope' in the header"),
        (["--out", "recs.csv", "--unknown", "error"], "1 item id(s) not in the model's vocabulary: 99999"),
        (["--out", "recs.csv", "--value-above", "3.5"], "--value-col and --value-above go together"),
        (["--out", "recs.csv", "--json"], "--json goes with --items or --user"),
    ],
)
def test_cli_bad_histories_are_one_line_errors_and_write_nothing(prep, tmp_path, capsys, monkeypatch, extra, message):
    ids = pd.read_parquet(prep / "items.parquet")["item_id"].astype(str).tolist()
    (tmp_path / "log.csv").write_text(f"user,item\nx,{ids[0]}\nx,99999\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "recommend", tmp_path / "pop", "--histories", "log.csv", *extra)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("recs*")) and not list(tmp_path.glob(".recs*"))


def test_out_without_histories_is_refused(prep, tmp_path, capsys):
    ids = pd.read_parquet(prep / "items.parquet")["item_id"].astype(str).tolist()
    code, _, err = run(capsys, "recommend", tmp_path / "pop", "--items", ids[0], "--out", tmp_path / "r.csv")
    assert code == 1 and "--out goes with --histories" in err
