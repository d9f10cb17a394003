"""Preprocessing of PROTOCOL.md §1: threshold, then item filter, then user filter.

This follows ``filter_triplets`` of Liang et al. (2018, the ``vae_cf``
notebook), which Khawar et al. (2020) reuse: keep an interaction when its
value is strictly above a threshold, then keep items with at least
``min_item_users`` interactions, then users with at least ``min_user_items``
of the remaining interactions. The filters are applied once, in that order
(after the user filter some items may fall below the item threshold; the
protocol accepts that).

One choice of ours: a repeated (user, item) pair is kept once, at its first
occurrence, before counting (``dedupe=True``). The published datasets have no
repeats, so this changes nothing there; on other logs it stops a repeated pair
from counting twice and from entering the binary matrix as a 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aerec.data.interactions import Interactions
from aerec.errors import ConfigError, DataError


@dataclass(frozen=True)
class Filters:
    """The preprocessing parameters of PROTOCOL.md §1.

    Attributes:
        value_above: keep an interaction when ``value > value_above``
            (3.5 for ratings, 0 for play counts); ``None`` keeps every one.
        min_item_users: keep items with at least this many interactions
            (MSD: 200); 0 disables the item filter.
        min_user_items: then keep users with at least this many remaining
            interactions (5; MSD 20).
        dedupe: keep only the first occurrence of a repeated (user, item).
    """

    value_above: float | None = 3.5
    min_item_users: int = 0
    min_user_items: int = 5
    dedupe: bool = True

    def __post_init__(self) -> None:
        if self.value_above is not None and not math.isfinite(self.value_above):
            raise ConfigError(f"value_above={self.value_above}: must be a finite number or None")
        for name in ("min_item_users", "min_user_items"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 0")

    def describe(self) -> str:
        parts = []
        if self.value_above is not None:
            parts.append(f"value > {self.value_above:g}")
        if self.min_item_users > 0:
            parts.append(f"items with >= {self.min_item_users} users")
        if self.min_user_items > 0:
            parts.append(f"users with >= {self.min_user_items} interactions")
        return ", ".join(parts) or "no filters"


def preprocess(data: Interactions, filters: Filters) -> Interactions:
    """Apply the filters of PROTOCOL.md §1, keeping file order.

    Raises :class:`DataError` when the filters leave no interaction.
    """
    keep = np.ones(len(data), dtype=bool)
    if filters.value_above is not None:
        keep &= data.value > filters.value_above
    if filters.dedupe:
        keep &= _first_occurrence(data.user, data.item)
    if filters.min_item_users > 0:
        keep &= _count_at_least(data.item, keep, filters.min_item_users)
    if filters.min_user_items > 0:
        keep &= _count_at_least(data.user, keep, filters.min_user_items)
    if not keep.any():
        raise DataError(f"no interactions remain after preprocessing ({filters.describe()}) of {len(data):,} read")
    return data.take(keep)


def _count_at_least(ids: np.ndarray, keep: np.ndarray, minimum: int) -> np.ndarray:
    """Mask of rows whose id occurs at least ``minimum`` times among the kept rows."""
    kept = ids[keep]
    uniq, inverse, counts = np.unique(kept, return_inverse=True, return_counts=True)
    ok = np.zeros(len(ids), dtype=bool)
    ok[keep] = (counts >= minimum)[inverse]
    return ok


def _first_occurrence(user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Mask that is true at the first row of each distinct (user, item) pair."""
    u = user - user.min() if len(user) else user
    i = item - item.min() if len(item) else item
    span = int(i.max()) + 1 if len(i) else 1
    if len(u) and (int(u.max()) + 1) * span < 2**62:
        _, first = np.unique(u.astype(np.int64) * span + i, return_index=True)
    else:  # ids too large for one int64 key
        _, first = np.unique(np.stack([user, item], axis=1), axis=0, return_index=True)
    mask = np.zeros(len(user), dtype=bool)
    mask[first] = True
    return mask
