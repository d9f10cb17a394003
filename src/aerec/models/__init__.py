"""Recommenders. ``MODELS`` maps each CLI name to its class and is the only registry."""

from aerec.models.base import Recommender
from aerec.models.ease import EASE
from aerec.models.popularity import Popularity

MODELS: dict[str, type[Recommender]] = {cls.name: cls for cls in (Popularity, EASE)}

__all__ = ["EASE", "MODELS", "Popularity", "Recommender"]
