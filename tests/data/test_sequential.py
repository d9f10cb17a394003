"""The sequential protocol: the strong split's users, each held-out history split by time."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from aerec.data.interactions import Interactions
from aerec.data.prepare import prepare
from aerec.data.prepared import PreparedDataset
from aerec.data.preprocess import Filters, preprocess
from aerec.data.sequential import inputs_for, prepare_sequential, time_positions
from aerec.data.split import SplitParams
from aerec.errors import DataError
from tests.data.test_split import random_log

FILTERS = Filters(value_above=3.5, min_item_users=0, min_user_items=5)


def timed_log(seed=0, string_ids=False, n=9000):
    """A random rating log with timestamps drawn from few values (many ties), not in file order."""
    rng = np.random.default_rng(seed)
    df = random_log(rng, n=n, string_ids=string_ids)
    df["time"] = rng.integers(0, 40, len(df)) * 1000
    kw = {}
    cols = {}
    for col, key in (("uid", "user"), ("sid", "item")):
        if pd.api.types.is_integer_dtype(df[col]):
            cols[key] = df[col].to_numpy(np.int64)
        else:
            codes, vocab = pd.factorize(df[col])
            cols[key] = codes.astype(np.int64)
            kw[f"{key}_ids"] = np.asarray(vocab, dtype=object)
    data = Interactions(value=df["rating"].to_numpy(np.float32), timestamp=df["time"].to_numpy(np.int64), **cols, **kw)
    return data


def histories(data: Interactions, prepared: PreparedDataset):
    """``{(raw user, column): (timestamp, file index)}`` of the preprocessed interactions."""
    kept = preprocess(data, FILTERS)
    items = prepared.items["item_id"].to_numpy()
    col = pd.Index(items if np.issubdtype(items.dtype, np.integer) else items.astype(str))
    raw_items = kept.raw_items()
    cols = col.get_indexer(raw_items if np.issubdtype(np.asarray(raw_items).dtype, np.integer) else np.asarray(raw_items).astype(str))
    file_index = np.flatnonzero(preprocess_mask(data))
    return {(u, c): (t, i) for u, c, t, i in zip(kept.raw_users().tolist(), cols.tolist(), kept.timestamp.tolist(), file_index.tolist()) if c >= 0}


def preprocess_mask(data: Interactions) -> np.ndarray:
    """Which rows of ``data`` survive preprocessing (marked through a timestamp-free copy)."""
    tagged = Interactions(data.user, data.item, data.value, np.arange(len(data)), user_ids=data.user_ids, item_ids=data.item_ids)
    mask = np.zeros(len(data), dtype=bool)
    mask[preprocess(tagged, FILTERS).timestamp] = True
    return mask


@pytest.fixture(scope="module", params=[False, True], ids=["int-ids", "string-ids"])
def both(request):
    data = timed_log(seed=3, string_ids=request.param)
    params = SplitParams(heldout_users=30)
    return data, prepare(data, FILTERS, params, dataset="toy"), prepare_sequential(data, FILTERS, params, dataset="toy")


def test_users_items_and_training_matrix_are_the_strong_splits(both):
    _, strong, seq = both
    assert (strong.train != seq.train).nnz == 0
    np.testing.assert_array_equal(strong.train_users, seq.train_users)
    pd.testing.assert_frame_equal(strong.items, seq.items)
    for name in ("validation", "test"):
        s, q = getattr(strong, name), getattr(seq, name)
        np.testing.assert_array_equal(s.users, q.users)
        # the same interactions and the same fold-out sizes; only which ones are held out differs
        assert ((s.X_in + s.X_out) != (q.X_in + q.X_out)).nnz == 0
        np.testing.assert_array_equal(np.diff(s.X_out.indptr), np.diff(q.X_out.indptr))
    assert seq.manifest["protocol"]["kind"] == "sequential"
    assert seq.manifest["protocol"]["fold_in_prop"] == 0.8
    assert seq.manifest["protocol"]["split"] == strong.manifest["protocol"]["split"]


def test_fold_out_is_the_latest_fifth_rounded_down(both):
    _, _, seq = both
    for fold in (seq.validation, seq.test):
        assert fold.X_in.multiply(fold.X_out).nnz == 0
        n_in, n_out = np.diff(fold.X_in.indptr), np.diff(fold.X_out.indptr)
        k = n_in + n_out
        np.testing.assert_array_equal(n_out, np.where(k >= 5, k // 5, 0))
        assert (n_out > 0).sum() > 20


def test_fold_out_is_strictly_later_than_fold_in(both):
    """Later by (timestamp, file order); by timestamp alone never earlier (ties may meet at the cut)."""
    data, _, seq = both
    when = histories(data, seq)
    ties = 0
    for fold in (seq.validation, seq.test):
        for r, user in enumerate(fold.users.tolist()):
            fin = [when[(user, c)] for c in fold.X_in[r].indices.tolist()]
            fout = [when[(user, c)] for c in fold.X_out[r].indices.tolist()]
            if not fout:
                continue
            assert max(fin) < min(fout)  # tuples: time, then file order
            assert max(t for t, _ in fin) <= min(t for t, _ in fout)
            ties += max(t for t, _ in fin) == min(t for t, _ in fout)
    assert ties > 0, "the toy data should exercise equal timestamps at the cut"


def test_order_matrices_hold_positions_in_time_order(both):
    data, _, seq = both
    when = histories(data, seq)
    pairs = (("train_order", seq.train, seq.train_users), ("validation_in_order", seq.validation.X_in, seq.validation.users), ("test_in_order", seq.test.X_in, seq.test.users))
    for name, binary, users in pairs:
        order = seq.extra[name]
        assert order.dtype == np.float32
        np.testing.assert_array_equal(order.indptr, binary.indptr)
        np.testing.assert_array_equal(order.indices, binary.indices)
        for r in range(order.shape[0]):
            a, b = order.indptr[r], order.indptr[r + 1]
            pos = order.data[a:b]
            np.testing.assert_array_equal(np.sort(pos), np.arange(1, b - a + 1))
            by_time = sorted(order.indices[a:b].tolist(), key=lambda c: when[(users[r], c)])
            assert [int(order[r, c]) for c in by_time] == list(range(1, b - a + 1))


def test_time_positions_break_ties_by_file_order():
    user = np.array([7, 3, 7, 7, 3, 7])
    time = np.array([5, 1, 2, 5, 1, 0])
    np.testing.assert_array_equal(time_positions(user, time), [3, 1, 2, 4, 2, 1])


def test_data_without_timestamps_is_a_clear_error(tmp_path):
    from aerec.data.load import read_ml1m

    folder = tmp_path / "ml-1m" / "derived"
    folder.mkdir(parents=True)
    rows = [f"{u},{i},{i},5" for u in range(1, 30) for i in range(1, 8)]
    (folder / "ratings_without_timestamps.csv").write_text("UserID,ItemIndex,MovieID,Rating\n" + "\n".join(rows) + "\n")
    data = read_ml1m(tmp_path / "ml-1m")
    assert data.timestamp is None
    with pytest.raises(DataError, match=r"^ml-1m: the sequential protocol needs timestamps; .*none \(ml-100k and ml-latest-small have them\)$"):
        prepare_sequential(data, FILTERS, SplitParams(heldout_users=5), dataset="ml-1m")


class Sequential:
    name = "seq-model"
    sequential = True


class Bag:
    name = "bag-model"


def test_inputs_for_gives_order_matrices_only_to_sequential_models(both, tmp_path):
    _, strong, seq = both
    seq = PreparedDataset.load(seq.save(tmp_path / "seq"))  # the order matrices survive a save
    train, validation, test = inputs_for(Sequential, seq)
    assert train is seq.extra["train_order"]
    assert validation.X_in is seq.extra["validation_in_order"] and validation.X_out is seq.validation.X_out
    assert test.X_in is seq.extra["test_in_order"] and test.X_out is seq.test.X_out
    np.testing.assert_array_equal(test.users, seq.test.users)
    train, validation, test = inputs_for(Bag(), seq)
    assert train is seq.train and validation is seq.validation and test is seq.test
    assert set(np.unique(train.data)) == {1.0}
    with pytest.raises(DataError, match=r"^runs/x: seq-model needs time-ordered histories, .*--protocol sequential"):
        inputs_for(Sequential, strong, where="runs/x")


@pytest.mark.slow
def test_ml100k_sequential_split():
    from aerec.data.datasets import get_dataset
    from tests.conftest import shared_data

    spec = get_dataset("ml-100k")
    data = spec.reader(shared_data("ml-100k"))
    params = SplitParams(heldout_users=spec.heldout_users)
    strong = prepare(data, spec.filters, params, dataset="ml-100k")
    seq = prepare_sequential(data, spec.filters, params, dataset="ml-100k")
    assert (strong.train != seq.train).nnz == 0
    kept = preprocess(data, spec.filters)
    when = {(u, i): t for u, i, t in zip(kept.raw_users().tolist(), kept.raw_items().tolist(), kept.timestamp.tolist())}
    items = seq.items["item_id"].to_numpy()
    for s, q in ((strong.validation, seq.validation), (strong.test, seq.test)):
        np.testing.assert_array_equal(s.users, q.users)
        np.testing.assert_array_equal(np.diff(s.X_out.indptr), np.diff(q.X_out.indptr))
        for r, user in enumerate(q.users.tolist()):
            t_in = [when[(user, items[c])] for c in q.X_in[r].indices.tolist()]
            t_out = [when[(user, items[c])] for c in q.X_out[r].indices.tolist()]
            if t_out:
                assert max(t_in) <= min(t_out)
    assert seq.test.n_users == 100 and sp.issparse(seq.extra["test_in_order"])
