"""The synthetic generator plants what it says it plants, and group_recovery scores known answers."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import skew

from aerec.data.synthetic import Synthetic, SyntheticConfig, _draw_round, _finish_exactly, generate, group_recovery
from aerec.errors import ConfigError

SMALL = SyntheticConfig(users=1000, items=400, interactions=20_000, groups=10, seed=7)


@pytest.fixture(scope="module")
def small() -> Synthetic:
    return generate(SMALL)


def _make(**overrides) -> Synthetic:
    return generate(dataclasses.replace(SMALL, **overrides))


def _in_group_rate(s: Synthetic) -> float:
    """Fraction of interactions whose item shares a group with its user."""
    x = s.interactions
    shared = s.user_groups[x.user].multiply(s.item_groups[x.item]).sum(axis=1)
    return float((np.asarray(shared).ravel() > 0).mean())


# -- the log ------------------------------------------------------------------


def test_shapes_types_and_counts(small):
    x = small.interactions
    assert x.user.dtype == np.int64 and x.item.dtype == np.int64
    assert x.value.dtype == np.float32 and np.all(x.value == 1.0)
    assert x.timestamp is not None and x.timestamp.dtype == np.int64
    assert abs(len(x) - SMALL.interactions) <= 0.05 * SMALL.interactions
    per_user = np.bincount(x.user, minlength=SMALL.users)
    per_item = np.bincount(x.item, minlength=SMALL.items)
    assert len(per_user) == SMALL.users and len(per_item) == SMALL.items
    assert per_user.min() >= SMALL.min_user_interactions
    assert per_item.min() >= 1
    assert len(np.unique(x.user * SMALL.items + x.item)) == len(x)
    assert small.item_groups.shape == (SMALL.items, SMALL.groups)
    assert small.user_groups.shape == (SMALL.users, SMALL.groups)


def test_ordered_by_user_then_strictly_increasing_time(small):
    x = small.interactions
    du, dt = np.diff(x.user), np.diff(x.timestamp)
    assert np.all(du >= 0)
    assert np.all(dt[du == 0] > 0)


def test_item_metadata_names_the_planted_groups(small):
    items = small.interactions.items
    assert list(items.index) == list(range(SMALL.items))
    for i in (0, 17, SMALL.items - 1):
        groups = small.item_groups[i].indices
        assert items.loc[i, "genres"] == "|".join(f"g{g}" for g in groups)
        assert items.loc[i, "title"] == f"item {i} (groups {','.join(map(str, groups))})"


def test_same_seed_same_output_other_seed_differs(small):
    again = generate(SMALL)
    for name in ("user", "item", "value", "timestamp"):
        np.testing.assert_array_equal(getattr(again.interactions, name), getattr(small.interactions, name))
    assert (again.item_groups != small.item_groups).nnz == 0
    assert (again.user_groups != small.user_groups).nnz == 0
    other = _make(seed=8)
    assert (other.item_groups != small.item_groups).nnz > 0
    assert len(other.interactions) != len(small.interactions) or np.any(other.interactions.item != small.interactions.item)


def test_every_user_reaches_the_minimum_even_with_tiny_groups_and_no_noise():
    s = _make(
        users=200, items=40, interactions=2000, groups=20,
        groups_per_item=(1, 1), groups_per_user=(1, 1), noise=0.0, min_user_interactions=5,
    )
    assert np.bincount(s.interactions.user).min() >= 5


# -- the planted distributions -------------------------------------------------


def test_item_popularity_follows_a_power_law(small):
    pop = np.sort(np.bincount(small.interactions.item))[::-1]
    top = pop[: max(1, len(pop) // 100)].mean()
    assert top > 5 * np.median(pop)
    flat = np.sort(np.bincount(_make(popularity_exponent=0.0).interactions.item))[::-1]
    assert flat[: len(flat) // 100].mean() < 3 * np.median(flat)


def test_user_activity_is_log_normal(small):
    counts = np.bincount(small.interactions.user)
    assert skew(counts) > 1.0  # heavy right tail
    assert abs(skew(np.log(counts))) < 1.0  # roughly symmetric on the log scale
    even = np.bincount(_make(activity_sigma=0.0).interactions.user)
    assert even.max() - even.min() <= 0.05 * np.median(even) + 2  # only coverage items differ


def test_groups_overlap_within_bounds_and_none_is_empty(small):
    per_item = np.diff(small.item_groups.indptr)
    per_user = np.diff(small.user_groups.indptr)
    assert per_item.min() >= SMALL.groups_per_item[0] and per_item.max() <= SMALL.groups_per_item[1]
    assert per_user.min() >= SMALL.groups_per_user[0] and per_user.max() <= SMALL.groups_per_user[1]
    assert set(np.unique(per_item)) == {1, 2, 3}  # the bounds are reached: real overlap
    assert np.diff(small.item_groups.tocsc().indptr).min() >= 1
    assert set(np.unique(small.item_groups.data)) == {1.0}


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.4])
def test_users_items_fall_in_their_groups_at_rate_one_minus_noise(noise):
    s = _make(noise=noise)
    rate = _in_group_rate(s)
    # Group items are all in; a noise item lands in the user's groups by chance, at most about the
    # share of items those groups hold (less: noise draws skip the group items the user already has).
    union = (s.user_groups @ s.item_groups.T).tocsr()
    chance = float(np.mean(np.diff(union.indptr)[s.interactions.user]) / SMALL.items)
    assert 1 - noise - 0.01 <= rate <= 1 - noise + noise * chance + 0.01


def test_groups_show_in_co_occurrence():
    s = _make(groups_per_item=(1, 1))
    x = s.interactions
    X = sp.csr_matrix((np.ones(len(x)), (x.user, x.item)), shape=(SMALL.users, SMALL.items))
    co = (X.T @ X).toarray()
    np.fill_diagonal(co, 0)
    same = (s.item_groups @ s.item_groups.T).toarray() > 0
    np.fill_diagonal(same, False)
    off = ~same
    np.fill_diagonal(off, False)
    assert co[same].mean() > 5 * co[off].mean()


def test_both_ways_of_drawing_distinct_items_match_successive_sampling():
    # The generator's two samplers (rounds of draws with replacement, and the exact finish) must both
    # give a weighted sample without replacement: compare inclusion rates with the enumerated truth.
    p = np.array([8, 4, 2, 1, 1, 1]) / 17
    n_users, k = 20_000, 3
    truth = np.zeros(len(p))
    for seq in itertools.permutations(range(len(p)), k):
        prob, left = 1.0, 1.0
        for i in seq:
            prob, left = prob * p[i] / left, left - p[i]
        truth[list(seq)] += prob
    rng = np.random.default_rng(0)
    want = np.full(n_users, k)
    size = np.full(n_users, 10**9)

    drawn: list[np.ndarray] = []
    have = np.zeros(n_users, dtype=np.int64)
    for r in range(12):
        _draw_round(lambda u: rng.choice(len(p), size=len(u), p=p), want, have, 1.25 * 2**r, size, len(p), drawn)
    exact: list[np.ndarray] = []
    have_exact = np.zeros(n_users, dtype=np.int64)
    rows = lambda u: sp.csr_matrix(np.broadcast_to(p, (len(u), len(p))))  # noqa: E731
    _finish_exactly(rng, rows, want, have_exact, np.full(n_users, len(p)), len(p), exact)

    for kept, have_now in ((drawn, have), (exact, have_exact)):
        np.testing.assert_array_equal(have_now, want)
        key = np.concatenate(kept)
        assert len(np.unique(key)) == len(key) == n_users * k
        rate = np.bincount(key % len(p), minlength=len(p)) / n_users
        np.testing.assert_allclose(rate, truth, atol=0.015)


@pytest.mark.parametrize(
    "overrides",
    [
        {"items": 5, "groups": 10},
        {"groups_per_item": (2, 1)},
        {"groups_per_user": (1, 11)},
        {"noise": 1.5},
        {"min_user_interactions": 300},
    ],
)
def test_bad_config_is_refused(overrides):
    with pytest.raises(ConfigError):
        dataclasses.replace(SMALL, **overrides)


# -- group_recovery -----------------------------------------------------------


def _groups(sets: list[set[int]], n_items: int) -> sp.csr_matrix:
    rows = [i for s in sets for i in sorted(s)]
    cols = [g for g, s in enumerate(sets) for _ in s]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_items, len(sets)))


def test_group_recovery_identical_and_permuted_score_one(small):
    truth = small.item_groups
    assert group_recovery(truth, truth) == pytest.approx(1.0)
    perm = np.random.default_rng(0).permutation(truth.shape[1])
    assert group_recovery(truth, truth[:, perm]) == pytest.approx(1.0)


def test_group_recovery_disjoint_scores_zero():
    assert group_recovery(_groups([{0, 1}, {2, 3}], 8), _groups([{4, 5}, {6, 7}, {4}], 8)) == 0.0


def test_group_recovery_hand_computed():
    truth = _groups([{0, 1, 2}, {3, 4, 5}], 6)
    found = _groups([{0, 1}, {2, 3, 4, 5}, {5}], 6)
    # J(A,X)=2/3, J(B,Y)=3/4 is the best matching (vs 1/6+0, 2/3+1/3, 0+3/4): (2/3 + 3/4) / 2
    assert group_recovery(truth, found) == pytest.approx(17 / 24)
    # One found group: A matches X, B is unmatched and counts 0.
    assert group_recovery(truth, _groups([{0, 1}], 6)) == pytest.approx(1 / 3)


def test_group_recovery_overlapping_groups():
    truth = _groups([{0, 1, 2}, {2, 3}], 4)  # item 2 in both
    found = _groups([{2, 3}, {0, 1}], 4)
    # {0,1,2} vs {0,1}: 2/3; {2,3} vs {2,3}: 1
    assert group_recovery(truth, found) == pytest.approx((2 / 3 + 1) / 2)


def test_group_recovery_needs_the_same_items():
    with pytest.raises(ValueError):
        group_recovery(_groups([{0}], 3), _groups([{0}], 4))
