"""AutoRec (Sedhain, Menon, Sanner & Xie, "AutoRec: Autoencoders Meet Collaborative Filtering", WWW 2015 Companion).

Item-based AutoRec (**I-AutoRec**) reconstructs each item's vector of ratings
by all ``m`` users, ``r^(i) ∈ R^m``; user-based AutoRec (**U-AutoRec**) each
user's ratings of all ``n`` items. With ``k`` hidden units (Sec. 2; the
objective is its Eq. 2)::

    h(r; θ) = f(W · g(V r + μ) + b),   g = sigmoid, f = identity   (V: k x m, W: m x k)
    min_θ  Σ_i ||r^(i) − h(r^(i); θ)||²_O  +  (λ/2) (||W||²_F + ||V||²_F)
    R̂_ui  = h(r^(i); θ̂)_u                                         (I-AutoRec; U-AutoRec: h(r^(u))_i)

``||·||²_O`` sums over observed ratings only: unobserved entries of ``r``
are zeros at the input and contribute nothing to the error (only the
weights of observed inputs are updated for a row, Fig. 1). The
identity-output / sigmoid-hidden pair is the paper's best (Table 1b, RMSE
0.831 on ML-1M) and ``k = 500`` its default (Sec. 3).

Choices, and where we depart from the paper:

* **Optimiser.** The paper learns θ with full-batch gradient methods
  (resilient propagation, Rprop, and L-BFGS, Sec. 2). We use Adam through
  the generic mini-batch loop (:func:`aerec.training.train`): each batch of
  ``B`` rows contributes ``Σ_{i∈B} ||r^(i) − h(r^(i))||²_O + (B/N)(λ/2)(||W||²
  + ||V||²)``, with ``N`` the number of rows, so that one epoch sums to the
  paper's objective. The penalty is on the weight matrices only (not μ, b),
  as in Eq. 2, and is not :attr:`~aerec.training.TrainConfig.weight_decay`
  (left at 0).
* **λ.** The paper tunes λ ∈ {0.001, 0.01, 0.1, 1, 100, 1000} on 10 % of the
  training ratings (Sec. 3) and does not report the value chosen; our
  default ``l2_penalty`` was chosen on the validation ratings of ML-1M
  (docs/RESULTS.md, "Explicit ratings").
* **Training length.** At most ``max_epochs`` epochs, stopping after
  ``patience`` validations without a better validation RMSE and keeping the
  best weights (the paper does not say how long it trained).
* **Initialisation** (the paper is silent): weights uniform in
  ``±1/sqrt(fan_in)``, drawn on the CPU from a generator seeded with
  ``seed``; μ = 0 and b = the training mean rating, so training starts from
  the global-mean predictor rather than from 0.
* **Prediction.** ``R̂_ui`` clipped to the training rating range; the
  training global mean for a user or item without training ratings (the
  paper: 3), see :mod:`aerec.models.rating_base`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from aerec.batches import SparseBatch
from aerec.checks import at_least, check
from aerec.models.rating_base import TorchRatingRecommender, first_layer, uniform_weight
from aerec.training import TrainConfig


@dataclass
class AutoRecConfig(TrainConfig):
    """Hyperparameters of AutoRec (defaults: Sedhain et al. 2015, Sec. 3, and our validation on ML-1M).

    Attributes:
        hidden: k, the sigmoid hidden units.
        l2_penalty: λ in (λ/2)(||W||² + ||V||²), the weight penalty of Eq. 2 (per epoch).
    """

    hidden: int = 500
    l2_penalty: float = 100.0
    batch_size: int = 256
    max_epochs: int = 500
    patience: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, hidden=at_least(1))


class AutoRecModule(nn.Module):
    """``h(r) = W sigmoid(V r + μ) + b`` for rows of length ``n``, with the masked loss of Eq. 2."""

    def __init__(self, n_rows: int, n: int, hidden: int, *, l2_penalty: float, mean: float, seed: int, device: torch.device) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.V = uniform_weight(n, hidden, 1.0 / math.sqrt(n), g, device)  # (n, k): encoder, x V
        self.mu = nn.Parameter(torch.zeros(hidden, device=device))  # (k,)
        self.W = uniform_weight(hidden, n, 1.0 / math.sqrt(hidden), g, device)  # (k, n): decoder
        self.b = nn.Parameter(torch.full((n,), float(mean), device=device))  # (n,)
        self.n_rows, self.l2_penalty = n_rows, l2_penalty

    def forward(self, x: SparseBatch | torch.Tensor) -> torch.Tensor:
        h = torch.sigmoid(first_layer(x, self.V, self.mu))  # (rows, k)
        return h @ self.W + self.b  # (rows, n)

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        y = self(batch)  # (rows, n)
        sse = ((y[batch.rows, batch.cols] - batch.vals) ** 2).sum()  # observed entries only
        penalty = 0.5 * self.l2_penalty * (self.V.pow(2).sum() + self.W.pow(2).sum())
        return sse + (batch.n_rows / self.n_rows) * penalty


class _AutoRec(TorchRatingRecommender):
    Config = AutoRecConfig

    def _build(self, shape: tuple[int, int], mean: float, device: torch.device) -> None:
        cfg = self.config
        self.module_ = AutoRecModule(shape[0], shape[1], cfg.hidden, l2_penalty=cfg.l2_penalty, mean=mean, seed=self.options_.seed, device=device)


class IAutoRec(_AutoRec):
    """I-AutoRec: reconstructs each item's ratings by all users (Sedhain et al. 2015)."""

    name = "i-autorec"
    rows = "items"


class UAutoRec(_AutoRec):
    """U-AutoRec: reconstructs each user's ratings of all items (Sedhain et al. 2015)."""

    name = "u-autorec"
    rows = "users"
