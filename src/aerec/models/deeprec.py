"""DeepRec (Kuchaiev & Ginsburg, "Training Deep AutoEncoders for Collaborative Filtering", arXiv:1708.01715, 2017).

A deep user-based autoencoder of explicit ratings (Sec. 2, Fig. 1). A user's
vector of training ratings ``x ∈ R^n`` (zeros where unrated) passes through
three SELU encoder layers, dropout on the code, and three decoder layers;
the paper's best model (Sec. 3) is ``n-512-512-1024-512-512-n`` with dropout
0.8 on the 1024-unit code::

    e_1 = selu(x W_1 + b_1)              (512)
    e_2 = selu(e_1 W_2 + b_2)            (512)
    z   = dropout(selu(e_2 W_3 + b_3))   (1024, drop probability 0.8 in training)
    d_1 = selu(z W_4 + b_4)              (512)
    d_2 = selu(d_1 W_5 + b_5)            (512)
    f(x) = selu(d_2 W_6 + b_6)           (n; ``linear_output`` drops this selu)

**Masked MSE** (Sec. 2.1): ``MMSE = Σ_i m_i (r_i − y_i)² / Σ_i m_i`` with
``m_i = 1`` where ``r_i`` is observed, averaged over the observed ratings
of the batch.

**Dense re-feeding** (Sec. 2.2). Every optimisation step on a batch of
sparse rows ``x`` (forward, MMSE, backward, update) is followed by
``refeed_steps`` further steps on the same batch: the dense output ``f(x)``
of the first forward pass is a new, fully observed input whose target is
itself, ``MMSE(f(f(x)), f(x))`` with ``f(x)`` held fixed (detached), then
backward and update; with more than one re-feeding step the output of
each becomes the next input. The generic loop makes the first update; the
module's :meth:`DeepRecModule.after_step` hook makes the re-feeding ones.

Choices (the paper, Sec. 3, and the authors' code github.com/NVIDIA/DeepRecommender):

* **Optimiser.** SGD with momentum 0.9 and learning rate 0.005 (the paper's
  best setting), 128 users per batch (the code's ``--batch_size 128``), no
  weight decay. The code also halves the learning rate at epochs 24, 36,
  48, 66 and 72 (``MultiStepLR``); the generic loop has no schedule and we
  keep the rate constant.
* **Output layer.** The paper keeps the last layer linear only when the
  activation's range is smaller than the data's; SELU's range
  ``(−1.76, ∞)`` covers ratings, and the authors' command applies it
  (``last_layer_activations`` on), so the default output is SELU.
* **Untied decoder.** The code can tie decoder weights to the encoder's
  (``--constrained``); the published command does not, nor do we.
* **Dropout** is inverted dropout (kept units scaled by ``1/(1 − p)``, as
  ``torch.nn.Dropout``), on the code layer only, in both the first and the
  re-feeding passes; masks come from the module's own generator seeded
  with ``seed + 1``.
* **Initialisation** as the code: weights Xavier-uniform
  (``±sqrt(6 / (fan_in + fan_out))``), biases 0, drawn on the CPU from a
  generator seeded with ``seed``.
* **Training length.** The paper trains 102 epochs on Netflix; we train at
  most ``max_epochs``, stop after ``patience`` validations without a better
  validation RMSE and keep the best weights.
* **Prediction** of ``r_ui`` is ``f(x_u)_i`` from ``u``'s training ratings,
  clipped to the training rating range (the training mean for unseen users
  or items), see :mod:`aerec.models.rating_base`.
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
from aerec.models.layers import dropout_dense
from aerec.models.rating_base import TorchRatingRecommender, first_layer, uniform_weight
from aerec.training import TrainConfig


@dataclass
class DeepRecConfig(TrainConfig):
    """Hyperparameters of DeepRec (defaults: Kuchaiev & Ginsburg 2017, Sec. 3, and their code).

    Attributes:
        hidden: widths of the encoder layers, the last one the code (the decoder mirrors them).
        dropout: drop probability on the code layer during training.
        refeed_steps: dense re-feeding steps after each optimisation step (0 turns re-feeding off).
        linear_output: no SELU on the output layer.
    """

    hidden: tuple[int, ...] = (512, 512, 1024)
    dropout: float = 0.8
    refeed_steps: int = 1
    linear_output: bool = False
    optimizer: str = "sgd"
    lr: float = 0.005
    momentum: float = 0.9
    batch_size: int = 128
    max_epochs: int = 102
    patience: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, hidden=(lambda v: len(v) > 0 and min(v) >= 1, "give at least one width, each at least 1"), dropout=fraction(), refeed_steps=at_least(0))


class DeepRecModule(nn.Module):
    """The SELU autoencoder ``n-h_1-...-h_L-...-h_1-n`` with dropout on the code and dense re-feeding."""

    def __init__(self, n: int, hidden: tuple[int, ...], *, dropout: float, refeed_steps: int, linear_output: bool, seed: int, device: torch.device) -> None:
        super().__init__()
        if not hidden or min(hidden) < 1:
            raise ConfigError(f"deeprec: hidden={hidden}: give at least one width, each at least 1")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"deeprec: dropout={dropout}: must lie in [0, 1)")
        g = torch.Generator().manual_seed(seed)
        sizes = [n, *hidden, *reversed(hidden[:-1]), n]
        self.weights = nn.ParameterList(uniform_weight(a, b, math.sqrt(6.0 / (a + b)), g, device) for a, b in zip(sizes, sizes[1:]))  # (in, out) each
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(b, device=device)) for b in sizes[1:])
        self.n_encoder = len(hidden)
        self.dropout, self.refeed_steps, self.linear_output = dropout, refeed_steps, linear_output
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)
        self._refeed: torch.Tensor | None = None

    def forward(self, x: SparseBatch | torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        h = x
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = first_layer(h, w, b) if layer == 0 else h @ w + b  # (rows, width)
            if layer < last or not self.linear_output:
                h = F.selu(h)
            if layer == self.n_encoder - 1 and self.training:
                h = dropout_dense(h, self.dropout, self.generator)  # the code layer
        return h  # (rows, n)

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        y = self(batch)  # (rows, n)
        self._refeed = y.detach()  # f(x): the next input and target of the re-feeding steps
        return ((y[batch.rows, batch.cols] - batch.vals) ** 2).sum() / max(len(batch.vals), 1)  # MMSE

    def after_step(self, batch: SparseBatch, step: int, optimizer: torch.optim.Optimizer) -> None:
        """Dense re-feeding (Sec. 2.2): update on ``MMSE(f(f(x)), f(x))``, every entry observed."""
        x, self._refeed = self._refeed, None
        for _ in range(self.refeed_steps if x is not None else 0):
            y = self(x)  # (rows, n)
            loss = ((y - x) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            x = y.detach()


class DeepRec(TorchRatingRecommender):
    """DeepRec: a deep SELU autoencoder of users' ratings with dense re-feeding (Kuchaiev & Ginsburg 2017)."""

    name = "deeprec"
    Config = DeepRecConfig
    rows = "users"

    def _build(self, shape: tuple[int, int], mean: float, device: torch.device) -> None:
        cfg = self.config
        self.module_ = DeepRecModule(shape[1], tuple(cfg.hidden), dropout=cfg.dropout, refeed_steps=cfg.refeed_steps, linear_output=cfg.linear_output, seed=self.options_.seed, device=device)
