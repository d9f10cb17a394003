"""The explicit-rating protocol: a seeded random split of the ratings, saved and read back."""

import numpy as np
import pytest
import scipy.sparse as sp

from aerec.data.interactions import Interactions
from aerec.data.ratings import RatingSplitParams, RatingsDataset, prepare_ratings, split_ratings
from aerec.errors import DataError


def rating_log(n_users=50, n_items=30, per_user=12, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(1, n_users + 1), per_user)
    items = np.concatenate([rng.choice(np.arange(100, 100 + n_items), per_user, replace=False) for _ in range(n_users)])
    values = rng.integers(1, 6, len(users)).astype(np.float32)
    return Interactions(users, items, values)


def test_the_split_is_disjoint_and_covers_every_rating_once():
    s = split_ratings(1000, RatingSplitParams(seed=3))
    everything = np.concatenate([s.train, s.validation, s.test])
    np.testing.assert_array_equal(np.sort(everything), np.arange(1000))  # each index exactly once
    assert len(s.test) == 100 and len(s.validation) == 90 and len(s.train) == 810


def test_the_split_is_reproducible_with_its_seed_and_differs_with_another():
    a, b = split_ratings(500, RatingSplitParams(seed=1)), split_ratings(500, RatingSplitParams(seed=1))
    c = split_ratings(500, RatingSplitParams(seed=2))
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)


def test_prepared_matrices_hold_each_rating_in_exactly_one_part_with_its_value(tmp_path):
    log = rating_log()
    log = Interactions(np.append(log.user, log.user[0]), np.append(log.item, log.item[0]), np.append(log.value, 1.0))  # a repeated pair
    data = prepare_ratings(log, RatingSplitParams(seed=5), dataset="toy")
    parts = [data.train, data.validation, data.test]
    total = sum(parts)
    assert total.nnz == sum(p.nnz for p in parts) == len(log) - 1  # disjoint; the repeat kept once
    users, items = data.users, data.items["item_id"].to_numpy()
    for u, i, r in zip(log.user[:-1], log.item[:-1], log.value[:-1]):
        assert total[np.searchsorted(users, u), np.searchsorted(items, i)] == r
    assert data.manifest["protocol"]["kind"] == "ratings"

    data.save(tmp_path / "r")
    back = RatingsDataset.load(tmp_path / "r")
    for name in ("train", "validation", "test"):
        assert (getattr(back, name) != getattr(data, name)).nnz == 0
    np.testing.assert_array_equal(back.users, data.users)
    assert back.manifest["counts"]["test_ratings"] == data.test.nnz
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_rating_of_zero_and_a_strong_generalization_directory_are_clear_errors(tmp_path):
    log = rating_log()
    log.value[3] = 0
    with pytest.raises(DataError, match="rating of 0"):
        prepare_ratings(log, RatingSplitParams(), dataset="toy")
    (tmp_path / "strong").mkdir()
    (tmp_path / "strong" / "manifest.json").write_text('{"protocol": {"filters": {}, "split": {}}}')
    with pytest.raises(DataError, match="strong protocol"):
        RatingsDataset.load(tmp_path / "strong")


def test_test_ratings_values_do_not_change_the_training_and_validation_parts():
    log = rating_log()
    a = prepare_ratings(log, RatingSplitParams(seed=7), dataset="toy")
    s = split_ratings(len(log), RatingSplitParams(seed=7))
    changed = Interactions(log.user, log.item, log.value.copy())
    changed.value[s.test] = 6 - changed.value[s.test]
    b = prepare_ratings(changed, RatingSplitParams(seed=7), dataset="toy")
    assert (a.train != b.train).nnz == 0 and (a.validation != b.validation).nnz == 0
    assert (a.test != b.test).nnz > 0
    assert isinstance(a.train, sp.csr_matrix)


def test_without_validation_the_training_set_absorbs_it_and_the_test_set_is_unchanged():
    log = rating_log()
    a = prepare_ratings(log, RatingSplitParams(seed=4), dataset="toy")
    b = prepare_ratings(log, RatingSplitParams(seed=4, validation_prop=0.0), dataset="toy")
    assert b.validation.nnz == 0 and (b.test != a.test).nnz == 0
    assert (b.train != a.train + a.validation).nnz == 0
