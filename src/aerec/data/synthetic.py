"""Synthetic interactions with planted overlapping item groups, and a score for recovering them.

The generative story (all draws from one ``np.random.default_rng(seed)``):

1. **Item groups.** Each of ``K = groups`` groups gets items: every item has a
   *primary* group (a shuffled round robin, so every group is non-empty and
   sizes differ by at most one) and ``c - 1`` further distinct groups drawn
   uniformly, ``c ~ U{lo..hi}`` of ``groups_per_item``. This is the overlap
   Sw-DAE's §3.1 learns: an item belongs to several groups.
2. **User interests.** Each user gets ``c ~ U{lo..hi}`` of ``groups_per_user``
   distinct groups the same way (primary round robin, so with
   ``users >= groups`` every group has an interested user).
3. **Popularity.** Item ``i`` has weight ``w_i = rank_i ** -popularity_exponent``
   with ``rank`` a random permutation of ``1..items`` (popularity independent
   of group membership).
4. **Activity.** User ``u`` wants ``n_u = clip(round(s * a_u),
   min_user_interactions, cap_u)`` distinct items, with ``a_u ~
   LogNormal(0, activity_sigma)``, ``cap_u = max(min(items // 2, |items in
   u's groups|), min_user_interactions)`` and ``s`` found by bisection so that
   ``sum_u n_u`` is ``interactions`` (exactly, up to rounding, unless the
   clipping makes that impossible).
5. **Group and noise items.** Of user ``u``'s ``n_u`` items,
   ``Binomial(n_u, noise)`` are *noise*, drawn by global popularity
   ``w_i / sum_j w_j``; the rest are *group* items, each draw taking one of
   the user's groups uniformly and an item of that group with probability
   ``w_i / sum_{j in g} w_j``. Fixing the split per user (rather than mixing
   per draw) keeps the fraction of a user's items inside their groups at
   about ``1 - noise`` (a bit above: noise items may fall in the groups too);
   a per-draw mixture would fall well below it (0.79 for noise 0.1 with the
   defaults), because deduplication removes more of the concentrated group
   draws than of the spread-out noise draws.
6. **Distinct items.** A user's group items are the first distinct items of
   their stream of group draws (successive sampling: a popularity-weighted
   sample without replacement); then their noise items the same way from a
   stream of popularity draws that skips the items they already have, until
   they hold ``n_u`` (so noise also fills in for groups too small to give
   their share, which only happens when ``min_user_interactions`` exceeds a
   group's size). Streams are drawn in rounds with replacement and
   deduplicated on the key ``user * items + item``: the first round draws
   ``1.25x`` what a user lacks, each later round twice as many as the last.
   A user whose next round would need more draws than they have candidate
   items (those of their groups, or all items for noise), and every user
   still short after ``_ROUNDS`` rounds, gets the rest of their stream at once
   by :func:`_finish_exactly` (Efraimidis-Spirakis keys over the candidates
   they lack; the same distribution, at a cost of one key per candidate).
   Every user therefore ends with exactly ``n_u`` items; nobody is left short.
7. **Coverage.** An item nobody drew is given to a random user interested in
   one of its groups (a random user if that group has none), so every item
   occurs and the training vocabulary keeps all items. This adds one
   interaction per uncovered item (none at ML-20M's size with the defaults; a
   few on small, steep data), and such a user may end slightly above
   ``cap_u``.
8. **Time.** A user's items are put in random order; the user starts at a
   random second of 2015-2019 and their items follow at exponential gaps of
   mean one hour (at least one second), so timestamps increase strictly per
   user. Time carries no signal beyond that order.

The interactions are ordered by user, then by timestamp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

from aerec.data.interactions import Interactions
from aerec.errors import ConfigError

_ROUNDS = 12  # at most this many rounds of draws with replacement in step 6, before the exact finish
_CHUNK = 1 << 23  # (user, item) candidates held at once by the exact finish
_T0 = 1_420_070_400  # 2015-01-01T00:00:00Z
_SPAN = 5 * 365 * 86_400  # users start within five years of _T0
_MEAN_GAP = 3_600.0  # seconds between a user's consecutive interactions, on average


@dataclass
class SyntheticConfig:
    """Parameters of :func:`generate`.

    Attributes:
        users: number of users (ids ``0..users-1``).
        items: number of items (ids ``0..items-1``); at least ``groups``.
        interactions: target number of distinct user-item pairs; the result
            is this plus one pair per item nobody drew (module docstring,
            steps 4 and 7), unless ``users * min_user_interactions`` or the
            caps make it unreachable.
        groups: number of planted item groups ``K*``.
        groups_per_item: ``(lo, hi)``: each item belongs to ``lo..hi``
            groups, uniformly; ``hi > 1`` makes the groups overlap.
        groups_per_user: ``(lo, hi)``: each user is interested in ``lo..hi``
            groups, uniformly.
        popularity_exponent: ``a`` in the Zipf-like item weight
            ``rank ** -a``; ``0`` makes items equally popular.
        activity_sigma: standard deviation of ``log`` user activity (a
            log-normal, scaled to hit ``interactions``); ``0`` gives every
            user the same number of items.
        min_user_interactions: every user has at least this many distinct
            items; at most ``items // 2``.
        noise: probability that a draw ignores the user's groups and takes an
            item by global popularity; ``0`` is pure group structure, ``1``
            none.
        seed: seed of the one ``np.random.default_rng`` every draw comes from.
    """

    users: int = 5000
    items: int = 2000
    interactions: int = 200_000
    groups: int = 50
    groups_per_item: tuple[int, int] = (1, 3)
    groups_per_user: tuple[int, int] = (1, 3)
    popularity_exponent: float = 1.0
    activity_sigma: float = 1.0
    min_user_interactions: int = 5
    noise: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.users < 1 or self.items < 1 or self.groups < 1:
            raise ConfigError("synthetic: users, items and groups must be positive")
        if self.items < self.groups:
            raise ConfigError(f"synthetic: items ({self.items}) must be at least groups ({self.groups}) so no group is empty")
        for name in ("groups_per_item", "groups_per_user"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi <= self.groups:
                raise ConfigError(f"synthetic: {name} must satisfy 1 <= lo <= hi <= groups, got ({lo}, {hi})")
        if not 1 <= self.min_user_interactions <= self.items // 2:
            raise ConfigError(f"synthetic: min_user_interactions must be in 1..items // 2, got {self.min_user_interactions}")
        if self.interactions < 0:
            raise ConfigError("synthetic: interactions must be non-negative")
        if not 0.0 <= self.noise <= 1.0:
            raise ConfigError(f"synthetic: noise must be in [0, 1], got {self.noise}")
        if self.popularity_exponent < 0 or self.activity_sigma < 0:
            raise ConfigError("synthetic: popularity_exponent and activity_sigma must be non-negative")


@dataclass
class Synthetic:
    """A generated data set and the structure planted in it.

    Attributes:
        interactions: the log: user and item ids ``0..n-1`` (int64), value
            1.0 (float32), timestamp (int64 seconds, increasing per user);
            ``items`` indexed by item id with ``title`` like
            ``"item 17 (groups 3,41)"`` and ``genres`` like ``"g3|g41"``.
        item_groups: items x groups CSR, 1.0 where the item is in the group.
        user_groups: users x groups CSR, 1.0 where the user is interested.
    """

    interactions: Interactions
    item_groups: sp.csr_matrix
    user_groups: sp.csr_matrix


def generate(config: SyntheticConfig) -> Synthetic:
    """Generate interactions with planted overlapping item groups (module docstring)."""
    c = config
    rng = np.random.default_rng(c.seed)
    n_users, n_items, k = c.users, c.items, c.groups

    item_groups = _memberships(rng, n_items, k, c.groups_per_item)  # items x K
    user_groups = _memberships(rng, n_users, k, c.groups_per_user)  # users x K

    # Step 3: popularity weights, and per-group cumulative weights over members.
    weight = np.arange(1, n_items + 1, dtype=np.float64)[rng.permutation(n_items)] ** -c.popularity_exponent
    by_group = item_groups.T.tocsr()  # K x items; members of group g: indices[indptr[g]:indptr[g+1]]
    members = by_group.indices.astype(np.int64)
    cum = np.cumsum(weight[members])  # running over groups one after another
    group_end = cum[by_group.indptr[1:] - 1]
    group_start = np.concatenate([[0.0], group_end[:-1]])
    global_cum = np.cumsum(weight)
    ug_list, ug_count = _padded_rows(user_groups)  # users x hi, count per user

    def draw_group(user: np.ndarray) -> np.ndarray:
        n = len(user)
        g = ug_list[user, (rng.random(n) * ug_count[user]).astype(np.int64)]
        x = group_start[g] + rng.random(n) * (group_end[g] - group_start[g])
        pos = np.searchsorted(cum, x, side="right")
        pos = np.clip(pos, by_group.indptr[g], by_group.indptr[g + 1] - 1)  # float round-off at the edges
        return members[pos]

    def draw_popular(user: np.ndarray) -> np.ndarray:
        x = rng.random(len(user)) * global_cum[-1]
        return np.minimum(np.searchsorted(global_cum, x, side="right"), n_items - 1)

    group_weight = sp.csr_matrix(  # K x items: P(item | group) = w_i / sum_{j in g} w_j
        (weight[members] / np.repeat(group_end - group_start, np.diff(by_group.indptr)), members, by_group.indptr),
        shape=by_group.shape,
    )

    def group_weights(user: np.ndarray) -> sp.csr_matrix:  # P(item | user's group stream)
        return sp.csr_matrix(sp.diags(1.0 / ug_count[user]) @ user_groups[user] @ group_weight)

    def popular_weights(user: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(np.broadcast_to(weight, (len(user), n_items)))

    # Step 4: how many distinct items each user wants, and how many of them are noise.
    available, cap = _user_caps(c, user_groups, by_group)
    activity = np.exp(c.activity_sigma * rng.standard_normal(n_users))
    want = _scale_to_total(activity, c.min_user_interactions, cap, c.interactions)
    want_noise = rng.binomial(want, c.noise)

    # Steps 5-6: streams of draws, deduplicated, in rounds.
    kept: list[np.ndarray] = []  # sorted keys user * n_items + item, one array per round
    have = np.zeros(n_users, dtype=np.int64)
    for draw, weights, target, row_size in (
        (draw_group, group_weights, want - want_noise, available),
        (draw_popular, popular_weights, want, np.full(n_users, n_items)),
    ):
        for r in range(_ROUNDS):
            _draw_round(draw, target, have, 1.25 * 2**r, row_size, n_items, kept)
        _finish_exactly(rng, weights, target, have, row_size, n_items, kept)

    key = np.concatenate(kept)
    user = key // n_items
    item = key % n_items

    # Step 7: coverage.
    missing = np.flatnonzero(np.bincount(item, minlength=n_items) == 0)
    if len(missing):
        ig_list, ig_count = _padded_rows(item_groups)
        g = ig_list[missing, (rng.random(len(missing)) * ig_count[missing]).astype(np.int64)]
        fans = user_groups.T.tocsr()  # K x users
        n_fans = np.diff(fans.indptr)[g]
        pick = fans.indptr[g] + (rng.random(len(missing)) * np.maximum(n_fans, 1)).astype(np.int64)
        anyone = rng.integers(0, n_users, size=len(missing))
        taker = np.where(n_fans > 0, fans.indices[np.minimum(pick, len(fans.indices) - 1)], anyone)
        user = np.concatenate([user, taker.astype(np.int64)])
        item = np.concatenate([item, missing.astype(np.int64)])

    # Step 8: a random order within each user; timestamps increase along it.
    order = np.argsort((user << 32) | rng.integers(0, 2**32, size=len(user)), kind="stable")
    user, item = user[order], item[order]
    counts = np.bincount(user, minlength=n_users)
    gaps = 1 + np.floor(rng.exponential(_MEAN_GAP, size=len(user))).astype(np.int64)
    elapsed = np.cumsum(gaps)
    first = np.cumsum(counts) - counts  # index of each user's first interaction
    start = _T0 + rng.integers(0, _SPAN, size=n_users)
    timestamp = start[user] + elapsed - elapsed[first[user]]

    interactions = Interactions(
        user=user,
        item=item,
        value=np.ones(len(user), dtype=np.float32),
        timestamp=timestamp,
        items=_item_frame(item_groups),
    )
    return Synthetic(interactions=interactions, item_groups=item_groups, user_groups=user_groups)


def interaction_bounds(config: SyntheticConfig) -> tuple[int, int]:
    """The fewest and the most interactions :func:`generate` can give ``config``'s users (before step 7's coverage).

    Fewest: every user at ``min_user_interactions``; most: every user at their
    cap ``cap_u`` of step 4, which depends on the groups drawn in steps 1-2
    (drawn here exactly as :func:`generate` draws them). An ``interactions``
    outside these bounds cannot be met: :func:`generate` then clips every user
    to their bound and gives fewer (or more) than asked.
    """
    rng = np.random.default_rng(config.seed)
    item_groups = _memberships(rng, config.items, config.groups, config.groups_per_item)
    user_groups = _memberships(rng, config.users, config.groups, config.groups_per_user)
    _, cap = _user_caps(config, user_groups, item_groups.T.tocsr())
    return config.users * config.min_user_interactions, int(cap.sum())


def _user_caps(c: SyntheticConfig, user_groups: sp.csr_matrix, by_group: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: the items in each user's groups, and ``cap_u = max(min(items // 2, those), min_user_interactions)``."""
    available = _union_sizes(user_groups, by_group)
    return available, np.maximum(np.minimum(c.items // 2, available), c.min_user_interactions)


def group_recovery(true_groups: sp.spmatrix, found_groups: sp.spmatrix) -> float:
    """How well ``found_groups`` recovers ``true_groups``: a score in [0, 1].

    Both are items x groups membership matrices (any non-zero is membership;
    groups may overlap). With ``T_a`` the item set of true group ``a`` and
    ``F_b`` that of found group ``b``,

        J(a, b) = |T_a ∩ F_b| / |T_a ∪ F_b|          (0 where both are empty)

        score = (1 / K*) * max_π Σ_a J(a, π(a))

    where ``π`` ranges over one-to-one matchings of true groups to found groups
    (:func:`scipy.optimize.linear_sum_assignment`); with fewer found than true
    groups the unmatched true groups count 0. Identical groupings, in any
    order, score 1; groupings with no shared item score 0.
    """
    if true_groups.shape[0] != found_groups.shape[0]:
        raise ValueError(f"true groups cover {true_groups.shape[0]} items, found groups {found_groups.shape[0]}")
    t = (sp.csc_matrix(true_groups) != 0).astype(np.float64)
    f = (sp.csc_matrix(found_groups) != 0).astype(np.float64)
    n_true = t.shape[1]
    if n_true == 0:
        raise ValueError("true_groups has no group")
    if f.shape[1] == 0:
        return 0.0
    inter = np.asarray((t.T @ f).todense())  # K* x K
    size_t = np.asarray(t.sum(axis=0)).ravel()
    size_f = np.asarray(f.sum(axis=0)).ravel()
    union = size_t[:, None] + size_f[None, :] - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    rows, cols = linear_sum_assignment(jaccard, maximize=True)
    return float(jaccard[rows, cols].sum() / n_true)


# -- helpers ------------------------------------------------------------------


def _memberships(rng: np.random.Generator, n: int, k: int, bounds: tuple[int, int]) -> sp.csr_matrix:
    """n x k binary CSR: row r in ``U{lo..hi}`` distinct groups, its first by shuffled round robin.

    Distinct groups are drawn one column at a time: a uniform index among the
    ``k - j`` groups not yet chosen, shifted past the chosen ones in ascending
    order (sequential sampling without replacement, vectorised over rows).
    """
    lo, hi = bounds
    count = rng.integers(lo, hi + 1, size=n)
    chosen = np.empty((n, hi), dtype=np.int64)
    chosen[:, 0] = rng.permutation(n) % k
    for j in range(1, hi):
        v = rng.integers(0, k - j, size=n)
        for s in np.sort(chosen[:, :j], axis=1).T:  # ascending chosen values
            v += v >= s
        chosen[:, j] = v
    mask = np.arange(hi)[None, :] < count[:, None]
    rows = np.repeat(np.arange(n), count)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, chosen[mask])), shape=(n, k))
    m.sort_indices()
    return m


def _padded_rows(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The column indices of each row of ``m``, padded to a dense array, and the count per row."""
    count = np.diff(m.indptr)
    width = max(int(count.max(initial=0)), 1)
    out = np.zeros((m.shape[0], width), dtype=np.int64)
    out[np.arange(width)[None, :] < count[:, None]] = m.indices
    return out, count


def _union_sizes(user_groups: sp.csr_matrix, by_group: sp.csr_matrix) -> np.ndarray:
    """The number of items in the union of each user's groups, computed once per distinct set of groups."""
    padded, count = _padded_rows(user_groups)
    padded[np.arange(padded.shape[1])[None, :] >= count[:, None]] = -1
    sets, which = np.unique(padded, axis=0, return_inverse=True)
    present = sets >= 0
    rows = np.repeat(np.arange(len(sets)), present.sum(axis=1))
    s = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, sets[present])), shape=(len(sets), by_group.shape[0]))
    return np.diff((s @ by_group).indptr)[which.ravel()]


def _scale_to_total(activity: np.ndarray, low: int, cap: np.ndarray, total: int) -> np.ndarray:
    """Integers ``clip(round(s * activity), low, cap)`` with ``s`` bisected so that they sum to about ``total``."""

    def counts(log_s: float) -> np.ndarray:
        return np.clip(np.rint(np.exp(log_s) * activity), low, cap).astype(np.int64)

    lo_s, hi_s = -50.0, 50.0  # activity is exp(sigma * normal): far inside these bounds
    for _ in range(100):
        mid = 0.5 * (lo_s + hi_s)
        if counts(mid).sum() < total:
            lo_s = mid
        else:
            hi_s = mid
    return counts(hi_s)


def _draw_round(
    draw: Callable[[np.ndarray], np.ndarray],
    want: np.ndarray,
    have: np.ndarray,
    factor: float,
    limit: np.ndarray,
    n_items: int,
    kept: list[np.ndarray],
) -> None:
    """One round of draws for the users with ``have < want``: appends their new keys to ``kept``, updates ``have``.

    A user short by ``d`` draws ``ceil(d * factor) + 1`` items, drops those
    already kept, and keeps the first ``d`` distinct ones in draw order. A
    user whose draws would exceed ``limit`` (their candidates in
    :func:`_finish_exactly`, which is then cheaper) is left to it.
    """
    need = want - have
    n_draws = np.ceil(need * factor).astype(np.int64) + 1
    short = np.flatnonzero((need > 0) & (n_draws <= limit))
    if not len(short):
        return
    n_draws = n_draws[short]
    user = np.repeat(short, n_draws)  # draws grouped by user, in stream order
    key = user * n_items + draw(user)
    for previous in kept:  # drop items the user already has
        if len(previous):
            pos = np.minimum(np.searchsorted(previous, key), len(previous) - 1)
            key = key[previous[pos] != key]
    uniq, first = np.unique(key, return_index=True)  # sorted keys, first occurrence in the stream
    by_time = np.argsort(first, kind="stable")
    owner = uniq[by_time] // n_items  # grouped by user, in stream order
    n_new = np.bincount(owner, minlength=len(want))
    start = np.cumsum(n_new) - n_new
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[by_time] = np.arange(len(uniq)) - start[owner]
    owner = uniq // n_items
    keep = rank < want[owner] - have[owner]
    kept.append(uniq[keep])
    have += np.bincount(owner[keep], minlength=len(want))


def _finish_exactly(
    rng: np.random.Generator,
    weights: Callable[[np.ndarray], sp.csr_matrix],
    want: np.ndarray,
    have: np.ndarray,
    row_size: np.ndarray,
    n_items: int,
    kept: list[np.ndarray],
) -> None:
    """Give every user with ``have < want`` their missing items in one exact step.

    Continuing a user's stream of draws until it has shown ``d`` new items is
    the same as drawing ``d`` items without replacement, one after another,
    with probability proportional to ``weights`` among the items they do not
    have; Efraimidis and Spirakis' keys ``E_i / p_i`` (``E_i`` exponential)
    give that sample at once: the ``d`` smallest keys. It costs one key per
    candidate item, so it is kept for the few users the rounds left short,
    ``_CHUNK`` candidates (``row_size`` each) at a time. A user with fewer
    candidates than ``d`` gets them all.
    """
    short = np.flatnonzero(have < want)
    if not len(short):
        return
    ends = np.cumsum(row_size[short])
    cuts = np.unique(np.searchsorted(ends, np.arange(_CHUNK, ends[-1], _CHUNK), side="right"))
    for users in np.split(short, cuts):
        if not len(users):
            continue
        w = weights(users)  # len(users) x items
        w.eliminate_zeros()
        w.sort_indices()
        row = np.repeat(np.arange(len(users)), np.diff(w.indptr))
        key = users[row] * n_items + w.indices  # ascending: users ascend, columns ascend within a row
        fresh = np.ones(len(key), dtype=bool)
        for previous in kept:  # sorted; only the part in this chunk's key range matters
            part = previous[np.searchsorted(previous, key[0]) : np.searchsorted(previous, key[-1], side="right")]
            if len(part):
                pos = np.minimum(np.searchsorted(part, key), len(part) - 1)  # sorted queries: fast
                fresh &= part[pos] != key
        row, key = row[fresh], key[fresh]
        priority = (rng.exponential(size=len(key)) / w.data[fresh]).astype(np.float32)
        # Positive float32 bits order like the floats: sort by row, then priority, as one int64.
        order = np.argsort((row.astype(np.int64) << 32) | priority.view(np.uint32), kind="stable")
        row, key = row[order], key[order]
        n_rows = np.bincount(row, minlength=len(users))
        rank = np.arange(len(row)) - (np.cumsum(n_rows) - n_rows)[row]
        keep = rank < (want - have)[users][row]
        kept.append(np.sort(key[keep]))
        have[users] += np.bincount(row[keep], minlength=len(users))


def _item_frame(item_groups: sp.csr_matrix) -> pd.DataFrame:
    """Item metadata: ``title`` "item 17 (groups 3,41)" and ``genres`` "g3|g41", indexed by item id."""
    ptr, idx = item_groups.indptr, item_groups.indices
    groups = [idx[ptr[i] : ptr[i + 1]].tolist() for i in range(item_groups.shape[0])]
    title = [f"item {i} (groups {','.join(map(str, g))})" for i, g in enumerate(groups)]
    genres = ["|".join(f"g{x}" for x in g) for g in groups]
    return pd.DataFrame({"title": title, "genres": genres}, index=pd.RangeIndex(len(groups), name="item"))
