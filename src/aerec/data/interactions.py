"""The raw interaction log every loader returns, before any preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Interactions:
    """An interaction log in file order, as read from a published format.

    Attributes:
        user: one int64 per interaction: the raw user id itself where
            ``user_ids`` is ``None`` (formats with integer ids), else a code
            into ``user_ids`` (formats with string ids, factorised while
            reading so that a large file never holds one Python string per
            row).
        item: the same for items, with ``item_ids``.
        value: the rating, play count or 1.0 for implicit pairs (float32).
        timestamp: seconds since the epoch (int64), or ``None`` where the
            format has no time.
        items: item metadata indexed by raw item id, with columns ``title``
            and ``genres`` (genres joined by ``|``; empty string if unknown),
            or ``None`` where the dataset has none. It may list items that
            have no interaction.
        sources: the files read, in reading order (their sha256 goes in the
            prepared dataset's manifest).

    The row order is the order of the source files, which the protocol relies
    on ("in order of first appearance", "in file order").
    """

    user: np.ndarray
    item: np.ndarray
    value: np.ndarray
    timestamp: np.ndarray | None = None
    items: pd.DataFrame | None = None
    sources: list[Path] = field(default_factory=list)
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.user)
        if len(self.item) != n or len(self.value) != n:
            raise ValueError("user, item and value must have the same length")
        if self.timestamp is not None and len(self.timestamp) != n:
            raise ValueError("timestamp must have the same length as user")

    def __len__(self) -> int:
        return len(self.user)

    def take(self, mask_or_index: np.ndarray) -> Interactions:
        """The interactions selected by a boolean mask or an index array, order kept."""
        return Interactions(
            user=self.user[mask_or_index],
            item=self.item[mask_or_index],
            value=self.value[mask_or_index],
            timestamp=None if self.timestamp is None else self.timestamp[mask_or_index],
            items=self.items,
            sources=list(self.sources),
            user_ids=self.user_ids,
            item_ids=self.item_ids,
        )

    def raw_users(self) -> np.ndarray:
        """The raw user id of every interaction."""
        return self.user if self.user_ids is None else self.user_ids[self.user]

    def raw_items(self) -> np.ndarray:
        """The raw item id of every interaction."""
        return self.item if self.item_ids is None else self.item_ids[self.item]
