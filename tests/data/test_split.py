"""The split must be PROTOCOL.md's bit for bit.

``literal_protocol`` below is an independent, literal transcription of the
protocol's steps (and of Liang et al.'s ``vae_cf`` notebook, which it
describes), written with pandas ``groupby`` and NumPy's global legacy RNG as
the notebook does. The package's vectorised implementation must produce the
same matrices.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from aerec.data.interactions import Interactions
from aerec.data.preprocess import Filters, preprocess
from aerec.data.split import SplitParams, split
from aerec.errors import DataError


def literal_protocol(df: pd.DataFrame, h: int, value_above=3.5, min_uc=5, min_sc=0):
    """PROTOCOL.md §1-2, step for step. ``df`` has columns uid, sid, rating in file order."""
    # §1: threshold, then items, then users
    if value_above is not None:
        df = df[df["rating"] > value_above]
    if min_sc > 0:
        itemcount = df[["sid"]].groupby("sid", as_index=False).size()
        df = df[df["sid"].isin(itemcount["sid"][itemcount["size"] >= min_sc])]
    if min_uc > 0:
        usercount = df[["uid"]].groupby("uid", as_index=False).size()
        df = df[df["uid"].isin(usercount["uid"][usercount["size"] >= min_uc])]
    # §2.1-2.3
    unique_uid = df[["uid"]].groupby("uid").size().index
    np.random.seed(98765)
    unique_uid = unique_uid[np.random.permutation(unique_uid.size)]
    n = unique_uid.size
    tr_users = unique_uid[: n - 2 * h]
    vd_users = unique_uid[n - 2 * h : n - h]
    te_users = unique_uid[n - h :]
    # §2.4
    train_plays = df.loc[df["uid"].isin(tr_users)]
    unique_sid = pd.unique(train_plays["sid"])
    show2id = {sid: i for i, sid in enumerate(unique_sid)}
    profile2id = {pid: i for i, pid in enumerate(unique_uid)}

    # §2.5
    def split_train_test_proportion(data, test_prop=0.2):
        tr_list, te_list = [], []
        np.random.seed(98765)
        for _, group in data.groupby("uid"):
            n_items_u = len(group)
            if n_items_u >= 5:
                idx = np.zeros(n_items_u, dtype="bool")
                idx[np.random.choice(n_items_u, size=int(test_prop * n_items_u), replace=False).astype("int64")] = True
                tr_list.append(group[np.logical_not(idx)])
                te_list.append(group[idx])
            else:
                tr_list.append(group)
        return pd.concat(tr_list), pd.concat(te_list) if te_list else data.iloc[:0]

    def numerize(tp):
        return np.array([profile2id[x] for x in tp["uid"]], dtype=np.int64), np.array([show2id[x] for x in tp["sid"]], dtype=np.int64)

    def matrix(tp, offset, n_rows):
        rows, cols = numerize(tp)
        return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows - offset, cols)), shape=(n_rows, len(unique_sid)))

    out = {"train": matrix(train_plays, 0, len(tr_users)), "item_ids": unique_sid, "train_users": np.asarray(tr_users)}
    for name, users, offset in (("validation", vd_users, n - 2 * h), ("test", te_users, n - h)):
        plays = df.loc[df["uid"].isin(users)]
        plays = plays.loc[plays["sid"].isin(unique_sid)]
        plays_tr, plays_te = split_train_test_proportion(plays)
        # §2.6: rows follow the permuted order within the block (offset = block start)
        out[name] = (matrix(plays_tr, offset, h), matrix(plays_te, offset, h), np.asarray(users))
    return out


def random_log(rng, n_users=300, n_items=120, n=9000, string_ids=False):
    user = rng.integers(0, n_users, n) * 7 + 3  # sparse, unordered ids
    item = (rng.zipf(1.6, n) % n_items) * 11 + 5
    pairs = pd.DataFrame({"uid": user, "sid": item}).drop_duplicates()
    rating = rng.choice([1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0], len(pairs))
    df = pairs.assign(rating=rating).reset_index(drop=True)
    if string_ids:
        df["uid"] = "u" + df["uid"].astype(str)  # lexicographic order differs from numeric
        df["sid"] = "s" + df["sid"].astype(str)
    return df


def to_interactions(df: pd.DataFrame) -> Interactions:
    kw = {}
    cols = {}
    for col, key in (("uid", "user"), ("sid", "item")):
        if not pd.api.types.is_integer_dtype(df[col]):
            codes, vocab = pd.factorize(df[col])
            cols[key] = codes.astype(np.int64)
            kw[f"{key}_ids"] = np.asarray(vocab, dtype=object)
        else:
            cols[key] = df[col].to_numpy(np.int64)
    return Interactions(value=df["rating"].to_numpy(np.float32), **cols, **kw)


def assert_same_csr(a, b):
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("string_ids", [False, True])
@pytest.mark.parametrize("seed,h,min_sc", [(0, 20, 0), (1, 35, 0), (2, 10, 15)])
def test_split_matches_literal_protocol(seed, h, min_sc, string_ids):
    df = random_log(np.random.default_rng(seed), string_ids=string_ids)
    state = np.random.get_state()
    try:
        expected = literal_protocol(df, h, min_sc=min_sc)
    finally:
        np.random.set_state(state)
    kept = preprocess(to_interactions(df), Filters(value_above=3.5, min_item_users=min_sc, min_user_items=5))
    got = split(kept, SplitParams(heldout_users=h))
    assert_same_csr(got.train, expected["train"])
    np.testing.assert_array_equal(got.item_ids, expected["item_ids"])
    np.testing.assert_array_equal(got.train_users, expected["train_users"])
    for name in ("validation", "test"):
        fold = getattr(got, name)
        X_in, X_out, users = expected[name]
        assert_same_csr(fold.X_in, X_in)
        assert_same_csr(fold.X_out, X_out)
        np.testing.assert_array_equal(fold.users, users)
    assert got.validation.X_out.nnz > 0 and got.test.X_out.nnz > 0


def test_split_does_not_touch_global_rng():
    np.random.seed(1)
    before = np.random.get_state()[1].copy()
    df = random_log(np.random.default_rng(0))
    split(preprocess(to_interactions(df), Filters()), SplitParams(heldout_users=10))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_foldout_is_a_fifth_and_disjoint_from_foldin():
    df = random_log(np.random.default_rng(3))
    s = split(preprocess(to_interactions(df), Filters()), SplitParams(heldout_users=30))
    for fold in (s.validation, s.test):
        assert fold.X_in.multiply(fold.X_out).nnz == 0
        n_in = np.diff(fold.X_in.indptr)
        n_out = np.diff(fold.X_out.indptr)
        k = n_in + n_out
        np.testing.assert_array_equal(n_out, np.where(k >= 5, (0.2 * k).astype(int), 0))
    # users never cross blocks
    assert not set(s.train_users) & set(s.validation.users)
    assert not set(s.validation.users) & set(s.test.users)


def test_more_heldout_users_than_users_is_a_clear_error():
    df = random_log(np.random.default_rng(0), n_users=30, n=600)
    kept = preprocess(to_interactions(df), Filters(value_above=None))
    n = len(np.unique(kept.user))
    with pytest.raises(DataError, match=r"--heldout-users .* only \d+ users remain"):
        split(kept, SplitParams(heldout_users=n // 2))


def test_filters_that_empty_the_data_are_a_clear_error():
    df = random_log(np.random.default_rng(0))
    with pytest.raises(DataError, match="no interactions remain after preprocessing"):
        preprocess(to_interactions(df), Filters(value_above=5.0))


def test_preprocess_filters_items_then_users_and_dedupes():
    # user 1 has 3 items, two of them rare; item filter first removes rare items,
    # then user 1 falls below 2 interactions.
    data = Interactions(
        user=np.array([1, 1, 1, 2, 2, 3, 3, 3, 2]),
        item=np.array([10, 20, 30, 10, 30, 10, 30, 40, 10]),  # (2, 10) repeats
        value=np.ones(9, dtype=np.float32),
    )
    kept = preprocess(data, Filters(value_above=None, min_item_users=2, min_user_items=2))
    np.testing.assert_array_equal(kept.user, [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(kept.item, [10, 30, 10, 30, 10, 30])


@pytest.mark.slow
@pytest.mark.parametrize("name,reader,h", [("ml-1m", "read_ml1m", 600), ("ml-100k", "read_ml100k", 100), ("hetrec2011-lastfm-2k", "read_lastfm", 150)])
def test_real_dataset_split_matches_literal_protocol(name, reader, h):
    from aerec.data import load
    from tests.conftest import shared_data

    data = getattr(load, reader)(shared_data(name))
    df = pd.DataFrame({"uid": data.raw_users(), "sid": data.raw_items(), "rating": data.value})
    value_above = 0.0 if name.startswith("hetrec") else 3.5
    state = np.random.get_state()
    try:
        expected = literal_protocol(df, h, value_above=value_above)
    finally:
        np.random.set_state(state)
    got = split(preprocess(data, Filters(value_above=value_above)), SplitParams(heldout_users=h))
    assert_same_csr(got.train, expected["train"])
    np.testing.assert_array_equal(got.item_ids, expected["item_ids"])
    for fold_name in ("validation", "test"):
        X_in, X_out, users = expected[fold_name]
        assert_same_csr(getattr(got, fold_name).X_in, X_in)
        assert_same_csr(getattr(got, fold_name).X_out, X_out)
