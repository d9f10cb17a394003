"""Mult-VAE and Mult-DAE (Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative Filtering", WWW 2018).

Both read a user's interaction row ``x_u`` (users x items, rows are users),
normalise it to unit L2 norm, corrupt it with dropout, and put a multinomial
likelihood on the items through a softmax over the output logits (Sec. 2 of the paper).

**Mult-VAE** (the paper's architecture ``I-600-200-600-I``)::

    x~_u          = dropout(x_u / ||x_u||_2, input_dropout)          (items)
    [μ_u, log σ²_u] = tanh(x~_u W_1 + b_1) W_2 + b_2                  (hidden, then 2 x latent)
    z_u           = μ_u + ε_u ⊙ σ_u,  ε_u ~ N(0, I)  in training;  z_u = μ_u when scoring
    y_u           = tanh(z_u W_3 + b_3) W_4 + b_4                     (hidden, then items: logits)
    L             = (1/|B|) Σ_{u∈B} [ -Σ_i x_ui log softmax(y_u)_i
                                     + β_t · ½ Σ_k (μ_uk² + σ_uk² - log σ_uk² - 1) ]
                    + λ Σ_l ||W_l||²_F
    β_t           = min(anneal_cap, t / total_anneal_steps)  (anneal_cap when total_anneal_steps is 0)

The second term is ``KL(q(z|x_u) || N(0, I))``; ``L`` is the negative of
the paper's β-weighted ELBO ``L_β`` with β annealed (the per-batch
objective of the authors' notebook). ``t`` is
the global optimiser step of :func:`aerec.training.train` (the updates made
before this one: 0 for the first), which never resets between epochs and is
restored on resume.

**Mult-DAE** (``I-200-I``)::

    x~_u = dropout(x_u / ||x_u||_2, input_dropout)
    y_u  = tanh(x~_u W_1 + b_1) W_2 + b_2                             (logits)
    L    = (1/|B|) Σ_{u∈B} -Σ_i x_ui log softmax(y_u)_i + λ (||W_1||²_F + ||W_2||²_F)

Scores are the logits ``y_u`` (the softmax is monotone, so rankings are the
same); scoring uses no dropout and, for Mult-VAE, ``z = μ``.

Choices, following the authors' notebook (github.com/dawenl/vae_cf) where the
paper is silent:

* **Normalisation and corruption.** ``x / sqrt(max(Σ x², 1e-12))`` as
  ``tf.nn.l2_normalize``, then inverted dropout (kept values scaled by
  ``1/(1-p)``, as ``tf.nn.dropout``) with ``input_dropout = 0.5``. Both act on
  the batch's non-zeros only (dropping or scaling a zero leaves a zero), and
  the first layer multiplies the sparse batch by ``W_1``; no dense input is
  formed. The likelihood's target is the raw row ``x_u``, not the normalised one.
* **Averaging.** The log-likelihood and the KL are summed over items / latent
  dimensions and averaged over the users of the batch.
* **Annealing.** The paper anneals β upward and keeps the β of the best
  validation NDCG; the notebook (and our default) caps it at
  ``anneal_cap = 0.2`` after ``total_anneal_steps = 200,000`` updates.
* **Weight penalty** ``λ Σ ||W||²`` on the weight matrices only (not the
  biases), added to the batch loss: the notebook's ``neg_ll + 2 *
  l2_regularizer(lam)(W)`` with TensorFlow's ``l2_regularizer(lam)(W) =
  lam · ||W||² / 2``. Mult-DAE uses ``lam = 0.01 / batch_size`` with
  ``batch_size = 500``, so ``l2_penalty = 2e-5`` (a fixed number here: it
  does not rescale when ``batch_size`` changes); Mult-VAE uses 0. It is not
  :attr:`~aerec.training.TrainConfig.weight_decay`: Adam's ``weight_decay``
  (still available, default 0, and added on top) decays every parameter,
  biases included, and its ``wd`` corresponds to ``(wd/2) ||θ||²``.
* **Initialisation** as the notebook's ``tf.contrib.layers.xavier_initializer``
  (whose default is the *uniform* Glorot law): weights uniform in
  ``±sqrt(6 / (fan_in + fan_out))``; biases ``tf.truncated_normal_initializer
  (stddev=0.001)``: normal with standard deviation 0.001 truncated at two
  standard deviations. Drawn on the CPU from a generator seeded with ``seed``.
* **Randomness.** Dropout masks and ``ε`` come from the module's own
  ``torch.Generator`` seeded with ``seed + 1`` (saved and restored with the
  training loop's checkpoints), never from the global RNG.
* **Training.** Adam, learning rate 1e-3, 500 users per batch, at most 200
  epochs (the :class:`~aerec.training.TrainConfig` defaults), keeping the
  weights of the best validation NDCG@100 as the notebook does; unlike the
  notebook, the generic loop also stops after ``patience`` validations without
  improvement (``patience = 0`` trains all epochs).
* **Widths.** One hidden layer on each side, ``hidden`` wide (the paper's
  ``[600]`` for Mult-VAE, ``[200]`` for Mult-DAE, whose code is its hidden
  layer); :func:`aerec.cost.multvae_cost` / ``multdae_cost`` count the
  same parameters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aerec.batches import SparseBatch
from aerec.checks import at_least, check, fraction
from aerec.errors import ConfigError, DataError
from aerec.models.layers import dropout_sparse, sparse_batch_mm
from aerec.models.torch_base import TorchRecommender
from aerec.training import TrainConfig
from aerec.validate import get_array


@dataclass
class MultVAEConfig(TrainConfig):
    """Hyperparameters of Mult-VAE (defaults: Liang et al. 2018 and their notebook).

    Attributes:
        hidden: width of the tanh hidden layer of the encoder and of the decoder.
        latent: dimension of z (the encoder outputs its mean and log-variance).
        input_dropout: dropout rate on the L2-normalised input.
        anneal_cap: the largest KL weight β.
        total_anneal_steps: optimiser updates over which β grows linearly from 0 (0: β = anneal_cap throughout).
        l2_penalty: λ in λ·Σ||W||² added to the batch loss (weight matrices only, not biases).
    """

    hidden: int = 600
    latent: int = 200
    input_dropout: float = 0.5
    anneal_cap: float = 0.2
    total_anneal_steps: int = 200_000
    l2_penalty: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, hidden=at_least(1), latent=at_least(1), input_dropout=fraction(), anneal_cap=at_least(0.0),
              total_anneal_steps=at_least(0), l2_penalty=at_least(0.0))  # fmt: skip


@dataclass
class MultDAEConfig(TrainConfig):
    """Hyperparameters of Mult-DAE (defaults: Liang et al. 2018 and their notebook).

    Attributes:
        hidden: width of the tanh hidden layer (the code).
        input_dropout: dropout rate on the L2-normalised input.
        l2_penalty: λ in λ·Σ||W||² added to the batch loss (weight matrices only, not biases;
            the notebook's 0.01 / 500).
    """

    hidden: int = 200
    input_dropout: float = 0.5
    l2_penalty: float = 0.01 / 500

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, hidden=at_least(1), input_dropout=fraction(), l2_penalty=at_least(0.0))


def kl_weight(step: int, anneal_cap: float, total_anneal_steps: int) -> float:
    """β for the update made after ``step`` earlier updates: ``min(anneal_cap, step / total_anneal_steps)``."""
    if total_anneal_steps <= 0:
        return float(anneal_cap)
    return min(float(anneal_cap), step / total_anneal_steps)


def l2_normalize_rows(x: SparseBatch, eps: float = 1e-12) -> SparseBatch:
    """Each row divided by its L2 norm, ``x / sqrt(max(Σ x², eps))`` (``tf.nn.l2_normalize``), on the non-zeros."""
    sq = torch.zeros(x.n_rows, dtype=x.vals.dtype, device=x.vals.device)
    sq = sq.index_add(0, x.rows, x.vals * x.vals)  # (users,) Σ_i x_ui²
    norm = sq.clamp_min(eps).sqrt()  # (users,)
    return SparseBatch(x.rows, x.cols, x.vals / norm[x.rows], x.n_rows, x.n_cols, ids=x.ids)


class MultModule(nn.Module):
    """Fully-connected layers of the given ``(fan_in, fan_out)`` shapes with tanh between them.

    ``weights[l]`` is ``shapes[l]`` and ``y = h W + b`` (Liang's orientation).
    The first layer multiplies the sparse, normalised and dropped-out input.
    With ``latent > 0`` (Mult-VAE) the output of layer ``n_encoder - 1`` is
    ``[μ, log σ²]`` (``2 * latent`` wide) and layer ``n_encoder`` reads ``z``
    (``latent`` wide) instead of a tanh of it.
    """

    def __init__(self, shapes: list[tuple[int, int]], *, latent: int, n_encoder: int, input_dropout: float, anneal_cap: float, total_anneal_steps: int, l2_penalty: float, seed: int, device: torch.device) -> None:
        super().__init__()
        self.latent, self.n_encoder = latent, n_encoder
        self.input_dropout, self.l2_penalty = input_dropout, l2_penalty
        self.anneal_cap, self.total_anneal_steps = anneal_cap, total_anneal_steps
        init = torch.Generator().manual_seed(seed)
        weights, biases = [], []
        for d_in, d_out in shapes:
            bound = math.sqrt(6.0 / (d_in + d_out))  # Glorot uniform
            w = torch.empty(d_in, d_out).uniform_(-bound, bound, generator=init)
            b = nn.init.trunc_normal_(torch.empty(d_out), std=1e-3, a=-2e-3, b=2e-3, generator=init)
            weights.append(nn.Parameter(w.to(device)))  # (d_in, d_out)
            biases.append(nn.Parameter(b.to(device)))  # (d_out,)
        self.weights, self.biases = nn.ParameterList(weights), nn.ParameterList(biases)
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    @property
    def variational(self) -> bool:
        return self.latent > 0

    def encode_input(self, x: SparseBatch) -> torch.Tensor:
        """The first layer on the normalised (and, in training, dropped-out) sparse input: (users, fan_out)."""
        x = l2_normalize_rows(x)
        if self.training:
            x = dropout_sparse(x, self.input_dropout, self.generator)
        return sparse_batch_mm(x, self.weights[0]) + self.biases[0]  # (users, fan_out)

    def forward_terms(self, x: SparseBatch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Logits (users, items) and, for Mult-VAE, μ and log σ² (users, latent); z = μ outside training."""
        h = self.encode_input(x)  # (users, fan_out of layer 0)
        mu = logvar = None
        for i in range(1, len(self.weights)):
            if self.variational and i == self.n_encoder:
                mu, logvar = h[:, : self.latent], h[:, self.latent :]  # (users, latent) each
                if self.training:
                    eps = torch.randn(mu.shape, generator=self.generator, device=mu.device, dtype=mu.dtype)
                    h = mu + eps * torch.exp(0.5 * logvar)  # (users, latent)
                else:
                    h = mu
            else:
                h = torch.tanh(h)  # (users, fan_in of layer i)
            h = h @ self.weights[i] + self.biases[i]  # (users, fan_out of layer i)
        return h, mu, logvar

    def forward(self, x: SparseBatch) -> torch.Tensor:
        return self.forward_terms(x)[0]  # (users, items) logits

    def kl_weight(self, step: int) -> float:
        return kl_weight(step, self.anneal_cap, self.total_anneal_steps)

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        logits, mu, logvar = self.forward_terms(batch)  # (users, items), (users, latent) x 2
        target = batch.dense()  # (users, items), the raw row
        loss = -(F.log_softmax(logits, dim=1) * target).sum(1).mean()
        if self.variational:
            kl = 0.5 * (mu * mu + torch.exp(logvar) - logvar - 1.0).sum(1).mean()
            loss = loss + self.kl_weight(step) * kl
        if self.l2_penalty:
            loss = loss + self.l2_penalty * sum((w * w).sum() for w in self.weights)
        return loss


class _MultModel(TorchRecommender):
    """Shared fit / build / load of Mult-VAE and Mult-DAE."""

    def _module(self, shapes: list[tuple[int, int]], device: torch.device, *, latent: int = 0, n_encoder: int = 1, anneal_cap: float = 0.0, total_anneal_steps: int = 0) -> MultModule:
        cfg = self.config
        return MultModule(shapes, latent=latent, n_encoder=n_encoder, input_dropout=cfg.input_dropout, anneal_cap=anneal_cap, total_anneal_steps=total_anneal_steps, l2_penalty=cfg.l2_penalty, seed=self.options_.seed, device=device)

    def _build(self, device: torch.device) -> None:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        layers = [int(m.group(1)) for k in state if (m := re.fullmatch(r"biases\.(\d+)", k))]
        if not layers:
            raise DataError("biases.<n>: missing (the saved state has no layer biases)")
        self.n_items_ = get_array(state, f"biases.{max(layers)}", ndim=1).shape[0]  # the rest is checked against the network built
        self._build(self.device)
        self._load_module_state(state)


class MultVAE(_MultModel):
    """Variational autoencoder with a multinomial likelihood and an annealed KL term."""

    name = "mult-vae"

    def describe(self) -> dict:
        from aerec.cost import multvae_cost

        facts, cfg = super().describe(), self.config
        facts.update(architecture=f"I-{cfg.hidden}-{cfg.latent}-{cfg.hidden}-I", width={"field": "hidden", "value": cfg.hidden})
        if "items" in facts:
            facts["cost"] = multvae_cost(facts["items"], cfg.hidden, cfg.latent)
        return facts
    Config = MultVAEConfig

    def _build(self, device: torch.device) -> None:
        cfg, m = self.config, self.n_items_
        if cfg.latent < 1:
            raise ConfigError(f"{self.name}: --latent {cfg.latent} must be at least 1")
        if cfg.anneal_cap < 0 or cfg.total_anneal_steps < 0:
            raise ConfigError(f"{self.name}: --anneal-cap and --total-anneal-steps must be at least 0")
        h, k = cfg.hidden, cfg.latent
        shapes = [(m, h), (h, 2 * k), (k, h), (h, m)]  # encoder m→h→[μ, log σ²]; decoder z→h→m
        self.module_ = self._module(shapes, device, latent=k, n_encoder=2, anneal_cap=cfg.anneal_cap, total_anneal_steps=cfg.total_anneal_steps)


class MultDAE(_MultModel):
    """Denoising autoencoder with a multinomial likelihood and an L2 weight penalty."""

    name = "mult-dae"

    def describe(self) -> dict:
        from aerec.cost import multdae_cost

        facts, cfg = super().describe(), self.config
        facts.update(architecture=f"I-{cfg.hidden}-I", width={"field": "hidden", "value": cfg.hidden})
        if "items" in facts:
            facts["cost"] = multdae_cost(facts["items"], cfg.hidden)
        return facts
    Config = MultDAEConfig

    def _build(self, device: torch.device) -> None:
        cfg, m = self.config, self.n_items_
        self.module_ = self._module([(m, cfg.hidden), (cfg.hidden, m)], device)
