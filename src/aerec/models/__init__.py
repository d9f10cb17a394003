"""Recommenders. ``MODELS`` maps each CLI name to its class and is the only registry."""

from aerec.models.base import Recommender

MODELS: dict[str, type[Recommender]] = {}

__all__ = ["MODELS", "Recommender"]
