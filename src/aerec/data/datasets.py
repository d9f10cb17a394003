"""The datasets aerec knows: reader, protocol defaults and where to obtain each.

Defaults are PROTOCOL.md §1's table. Every value can be overridden (``aerec
prepare --help``). The held-out sizes of the last five rows are this
project's choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aerec.data import load
from aerec.data.interactions import Interactions
from aerec.data.preprocess import Filters
from aerec.errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    """A known dataset: how to read it and its protocol defaults."""

    name: str
    reader: Callable[..., Interactions]
    filters: Filters
    heldout_users: int
    source: str  # where a user obtains it

    def describe(self) -> str:
        return f"{self.name}: {self.filters.describe()}; {self.heldout_users:,} validation and test users each"


_RATINGS = Filters(value_above=3.5, min_item_users=0, min_user_items=5)
_COUNTS = Filters(value_above=0.0, min_item_users=0, min_user_items=5)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("ml-20m", load.read_movielens_csv, _RATINGS, 10_000, "https://grouplens.org/datasets/movielens/20m/"),
        DatasetSpec("netflix", load.read_netflix, _RATINGS, 40_000, "Netflix Prize data (e.g. the Kaggle 'netflix-prize-data' copy)"),
        DatasetSpec(
            "msd",
            load.read_msd,
            Filters(value_above=0.0, min_item_users=200, min_user_items=20),
            50_000,
            "http://millionsongdataset.com/tasteprofile/ (train_triplets.txt)",
        ),
        DatasetSpec("ml-1m", load.read_ml1m, _RATINGS, 600, "https://grouplens.org/datasets/movielens/1m/"),
        DatasetSpec("ml-100k", load.read_ml100k, _RATINGS, 100, "https://grouplens.org/datasets/movielens/100k/"),
        DatasetSpec("ml-latest-small", load.read_movielens_csv, _RATINGS, 50, "https://grouplens.org/datasets/movielens/latest/"),
        DatasetSpec(
            "citeulike-a",
            load.read_citeulike,
            Filters(value_above=None, min_item_users=0, min_user_items=5),
            500,
            "https://github.com/js05212/citeulike-a (Wang, Chen & Li, IJCAI 2013)",
        ),
        DatasetSpec("lastfm-2k", load.read_lastfm, _COUNTS, 150, "https://grouplens.org/datasets/hetrec-2011/ (hetrec2011-lastfm-2k)"),
    ]
}
# The folder name under ../shared/data is accepted too.
ALIASES = {"hetrec2011-lastfm-2k": "lastfm-2k", "ml-20m": "ml-20m", "ml20m": "ml-20m", "ml1m": "ml-1m", "ml100k": "ml-100k"}


def get_dataset(name: str) -> DatasetSpec:
    """The spec of a known dataset, or a one-line error listing the known names."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, table (any CSV/TSV/Parquet)")
    return DATASETS[key]
