"""Denoising AutoRec: a deep user-based AutoRec trained to undo dropped ratings.

The variant of the lecture "Autoencoders for recommendation"
(../shared/seeds/autoencoders-for-recommendation-lecture.md, "Denoising
Autoencoders"): a user's rating vector ``r_u`` is corrupted by dropping some
of its *observed* ratings, and the network learns to reconstruct the clean
vector. With encoder widths ``hidden = (h_1, ..., h_L)`` and a ``latent``
code::

    r~_u = r_u ⊙ m,  m_i ~ Bernoulli(1 − corruption) for observed i (unobserved stay 0)
    z    = selu(... selu(r~_u W_1 + b_1) ...) W_{L+1} + b_{L+1}      (latent, linear)
    f    = selu(... selu(z W'_1 + b'_1) ...) W'_{L+1} + b'_{L+1}     (items, linear)
    L    = Σ_{(u,i) observed} (r_ui − f_i)² / #observed               (over the batch's clean ratings)

Choices:

* **Corruption** drops each observed rating with probability
  ``corruption`` (the lecture's 0.3) and does *not* rescale the kept ones
  (the lecture multiplies by the mask). Unobserved entries are zeros and
  cannot be dropped. No corruption when predicting.
* **Loss.** The lecture writes the denoising objective ``||r − f(r~)||²``;
  for ratings we take it over the observed entries of the clean vector
  (dropped ones included: those are the ratings the network must restore),
  averaged over them, as AutoRec's masked loss (the lecture's
  ``autorec_loss``).
* **Depth and widths** are configurable; the defaults are the lecture's
  ``hidden_dims = [512, 256]``, ``latent_dim = 128``. SELU after every
  hidden layer (the lecture: "SELU for self-normalizing property"), a
  linear code and a linear output.
* **Initialisation** as ``torch.nn.Linear`` (the lecture's layers): weights
  and biases uniform in ``±1/sqrt(fan_in)``, drawn from a generator seeded
  with ``seed``; corruption masks from the module's generator (``seed + 1``).
* **Training**: Adam, learning rate 1e-3 (the :class:`~aerec.training.TrainConfig`
  defaults; the lecture does not fix them), early stopping on validation RMSE.
* **Prediction** clipped to the training rating range, the training mean for
  unseen users or items (:mod:`aerec.models.rating_base`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aerec.batches import SparseBatch
from aerec.checks import at_least, check, fraction
from aerec.errors import ConfigError
from aerec.models.rating_base import TorchRatingRecommender, first_layer, uniform_weight
from aerec.training import TrainConfig


@dataclass
class DenoisingAutoRecConfig(TrainConfig):
    """Hyperparameters of Denoising AutoRec (defaults: the lecture's).

    Attributes:
        hidden: widths of the SELU encoder layers (the decoder mirrors them); their number is the depth.
        latent: width of the linear code.
        corruption: probability of dropping each observed rating of the input in training.
    """

    hidden: tuple[int, ...] = (512, 256)
    latent: int = 128
    corruption: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, hidden=(lambda v: min(v, default=1) >= 1, "every width must be at least 1"), latent=at_least(1), corruption=fraction())


class DenoisingAutoRecModule(nn.Module):
    """``n-h_1-...-h_L-latent-h_L-...-h_1-n`` with SELU hidden layers, linear code and output."""

    def __init__(self, n: int, hidden: tuple[int, ...], latent: int, *, corruption: float, seed: int, device: torch.device) -> None:
        super().__init__()
        if min((*hidden, latent), default=1) < 1:
            raise ConfigError("denoising-autorec: hidden and latent: every width must be at least 1")
        if not 0.0 <= corruption < 1.0:
            raise ConfigError(f"denoising-autorec: corruption={corruption}: must lie in [0, 1)")
        g = torch.Generator().manual_seed(seed)
        sizes = [n, *hidden, latent, *reversed(hidden), n]
        self.weights = nn.ParameterList(uniform_weight(a, b, 1.0 / math.sqrt(a), g, device) for a, b in zip(sizes, sizes[1:]))  # (in, out)
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(b).uniform_(-1.0 / math.sqrt(a), 1.0 / math.sqrt(a), generator=g).to(device)) for a, b in zip(sizes, sizes[1:]))
        self.linear = {len(hidden), len(sizes) - 2}  # the code and the output layer
        self.corruption = corruption
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def forward(self, x: SparseBatch | torch.Tensor) -> torch.Tensor:
        if self.training and isinstance(x, SparseBatch) and self.corruption > 0:
            keep = torch.rand(x.vals.shape, generator=self.generator, device=x.vals.device) >= self.corruption
            x = SparseBatch(x.rows[keep], x.cols[keep], x.vals[keep], x.n_rows, x.n_cols, ids=x.ids)  # drop, no rescaling
        h = x
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = first_layer(h, w, b) if layer == 0 else h @ w + b  # (rows, width)
            if layer not in self.linear:
                h = F.selu(h)
        return h  # (rows, n)

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        y = self(batch)  # (rows, n), from the corrupted input
        return ((y[batch.rows, batch.cols] - batch.vals) ** 2).sum() / max(len(batch.vals), 1)


class DenoisingAutoRec(TorchRatingRecommender):
    """Denoising AutoRec: a deep SELU autoencoder of users' ratings, trained on dropped observed ratings."""

    name = "denoising-autorec"
    Config = DenoisingAutoRecConfig
    rows = "users"

    def _build(self, shape: tuple[int, int], mean: float, device: torch.device) -> None:
        cfg = self.config
        self.module_ = DenoisingAutoRecModule(shape[1], tuple(cfg.hidden), cfg.latent, corruption=cfg.corruption, seed=self.options_.seed, device=device)
