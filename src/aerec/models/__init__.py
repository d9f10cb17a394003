"""Recommenders. ``MODELS`` maps each CLI name to its class and is the only registry."""

from aerec.models.base import Recommender
from aerec.models.cdae import CDAE
from aerec.models.deep_swdae import DeepSwDAE
from aerec.models.ease import EASE
from aerec.models.fcdae import FCDAE
from aerec.models.fcprune import FCPrune
from aerec.models.fcreg import FCReg
from aerec.models.multvae import MultDAE, MultVAE
from aerec.models.popularity import Popularity
from aerec.models.slim import SLIM
from aerec.models.swdae import SwDAE
from aerec.models.wmf import WMF

MODELS: dict[str, type[Recommender]] = {cls.name: cls for cls in (Popularity, EASE, SwDAE, FCDAE, DeepSwDAE, MultVAE, MultDAE, FCPrune, FCReg, CDAE, WMF, SLIM)}

__all__ = ["CDAE", "EASE", "DeepSwDAE", "FCDAE", "FCPrune", "FCReg", "MODELS", "MultDAE", "MultVAE", "Popularity", "Recommender", "SLIM", "SwDAE", "WMF"]
