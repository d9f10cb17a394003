"""Recommenders. ``MODELS`` maps each CLI name to its class and is the only registry."""

from aerec.models.base import Recommender
from aerec.models.deep_swdae import DeepSwDAE
from aerec.models.ease import EASE
from aerec.models.fcdae import FCDAE
from aerec.models.multvae import MultDAE, MultVAE
from aerec.models.popularity import Popularity
from aerec.models.swdae import SwDAE

MODELS: dict[str, type[Recommender]] = {cls.name: cls for cls in (Popularity, EASE, SwDAE, FCDAE, DeepSwDAE, MultVAE, MultDAE)}

__all__ = ["EASE", "DeepSwDAE", "FCDAE", "MODELS", "MultDAE", "MultVAE", "Popularity", "Recommender", "SwDAE"]
