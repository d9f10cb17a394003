"""Recommenders. ``MODELS`` maps each CLI name to its class and is the only registry.

Each class has ``task``: ``"ranking"`` (:class:`Recommender`, top-k for unseen users) or
``"rating"`` (:class:`RatingRecommender`, the explicit-rating protocol).
"""

from aerec.models.autorec import IAutoRec, UAutoRec
from aerec.models.base import Recommender
from aerec.models.cdae import CDAE
from aerec.models.deep_swdae import DeepSwDAE
from aerec.models.deeprec import DeepRec
from aerec.models.denoising_autorec import DenoisingAutoRec
from aerec.models.ease import EASE
from aerec.models.fcdae import FCDAE
from aerec.models.fcprune import FCPrune
from aerec.models.fcreg import FCReg
from aerec.models.itemknn import ItemKNN
from aerec.models.multvae import MultDAE, MultVAE
from aerec.models.popularity import Popularity
from aerec.models.rating_base import RatingRecommender
from aerec.models.slim import SLIM
from aerec.models.svae import SVAE
from aerec.models.swdae import SwDAE
from aerec.models.wmf import WMF

MODELS: dict[str, type[Recommender] | type[RatingRecommender]] = {cls.name: cls for cls in (Popularity, EASE, ItemKNN, SwDAE, FCDAE, DeepSwDAE, MultVAE, MultDAE, FCPrune, FCReg, CDAE, WMF, SLIM, SVAE)}
MODELS.update({cls.name: cls for cls in (IAutoRec, UAutoRec, DeepRec, DenoisingAutoRec)})  # explicit ratings

__all__ = ["MODELS", "RatingRecommender", "Recommender", *sorted({cls.__name__ for cls in MODELS.values()})]
