"""SVAE: the sequential variational autoencoder (Sachdeva, Manco, Ritacco & Pudi, "Sequential Variational Autoencoders for Collaborative Filtering", WSDM 2019).

A user's history is a sequence ``x_1, ..., x_T`` of items, oldest first. A
GRU reads it; at every time step a VAE whose posterior depends on the GRU
state predicts the items that come next (Sec. 3 of the paper; the
authors' code github.com/noveens/svae_cf, ``main_svae.ipynb``)::

    e_t           = E[x_t]                                    (embedding, items -> 256)
    h_t           = GRU(h_{t-1}, e_t),  h_0 = 0               (200)
    a_t           = tanh(h_t W_1 + b_1)                       (hidden, 150)
    [μ_t, log σ²_t] = a_t W_2 + b_2                           (2 x latent, 64 each)
    z_t           = μ_t + ε_t ⊙ σ_t,  ε_t ~ N(0, I)  in training;  z_t = μ_t when scoring
    y_t           = tanh(z_t W_3 + b_3) W_4 + b_4             (hidden, then items: logits)
    N_t           = {x_{t+1}, ..., x_{t+k}} ∩ history         (the next k items, k = next_k = 4)
    L_u           = (1/k_u) Σ_{t=1}^{T-1} -Σ_{i∈N_t} log softmax(y_t)_i
                    + β_s · (1/(T-1)) Σ_{t=1}^{T-1} ½ Σ_j (μ_tj² + σ_tj² - log σ²_tj - 1),   k_u = min(k, T-1)
    L             = mean of L_u over the batch's users with T >= 2
    β_s           = min(anneal_cap, s / total_anneal_steps)   (aerec.models.multvae.kl_weight; s = optimiser step)

The likelihood of each step is multinomial over all items (a softmax), its
target the next ``k`` items (the paper's and the code's ``next_k`` loss).
The scores of a user are ``y_T``, the logits after the last item of their
fold-in history (``z = μ``): the distribution of what comes next.

Choices, and where they differ from the authors' code:

* **Order.** The input matrix's values are the positions of the items in the
  user's time-ordered history (:mod:`aerec.data.sequential`'s order
  matrices): a user's items are sorted by value, ties by item index. A binary
  matrix (every value 1) therefore gives item-index order: the model runs,
  but has no time to learn from; use :func:`aerec.data.sequential.inputs_for`.
* **Sequence length.** Only the most recent ``max_len`` items of a history
  are read, in training and in scoring (the code instead drops users with
  more than 1,000 items).
* **Batches.** The code trains on one user per step (it cannot pad); here a
  batch of users is padded on the right and run as a packed sequence, and
  only the real (unpadded) steps are decoded, so a user's scores and loss do
  not depend on the other users of the batch. The loss of a batch is the
  mean of its users' ``L_u``; the code's per-user normalisation is kept (the
  likelihood summed over steps and divided by the number of targets of the
  first step ``k_u``, the KL averaged over steps).
* **Variance.** The code samples with ``σ = exp(s)`` but puts ``s`` into the
  KL as if it were ``log σ²``; here ``s = log σ²`` in both (``σ = exp(s/2)``).
* **Scoring input.** The code feeds the fold-in without its last item when
  evaluating; here the whole fold-in is read.
* **Optimiser.** Adam with learning rate 1e-3 (the code's Adam uses the
  default) and ``weight_decay = 0.01`` (the paper and issue 5; the released
  code has 5e-3); no gradient clipping (commented out in the code). As in
  every aerec model, the weights of the best validation NDCG@100 are kept.
* **Initialisation** as the code's torch defaults: embedding N(0, 1); GRU
  weights and biases uniform in ±1/sqrt(rnn); linear weights Glorot normal
  (``xavier_normal``), biases uniform in ±1/sqrt(fan_in). Drawn on the CPU
  from a generator seeded with ``seed``; ε from the module's own generator
  seeded with ``seed + 1``; nothing touches the global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from aerec.batches import SparseBatch, csr_to_batch
from aerec.checks import at_least, check
from aerec.models.multvae import kl_weight
from aerec.models.torch_base import TorchRecommender
from aerec.training import TrainConfig
from aerec.validate import get_array


@dataclass
class SVAEConfig(TrainConfig):
    """Hyperparameters of SVAE (defaults: Sachdeva et al. 2019 and their code).

    Attributes:
        embedding: dimension of the item embedding read by the GRU.
        rnn: width of the GRU state.
        hidden: width of the tanh layers of the per-step encoder and decoder.
        latent: dimension of z at every time step.
        next_k: how many next items each step predicts.
        max_len: read only the most recent this many items of a history.
        anneal_cap: the largest KL weight β.
        total_anneal_steps: optimiser updates over which β grows linearly from 0 (0: β = anneal_cap throughout).
        weight_decay: Adam's L2 penalty on every parameter (the paper's 0.01).
        batch_size: users per mini-batch (padded, packed sequences).
    """

    embedding: int = 256
    rnn: int = 200
    hidden: int = 150
    latent: int = 64
    next_k: int = 4
    max_len: int = 200
    anneal_cap: float = 0.2
    total_anneal_steps: int = 200_000

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, embedding=at_least(1), rnn=at_least(1), hidden=at_least(1), latent=at_least(1), next_k=at_least(1), max_len=at_least(2),
              anneal_cap=at_least(0.0), total_anneal_steps=at_least(0))  # fmt: skip
    weight_decay: float = 0.01
    batch_size: int = 32


def sequences(x: SparseBatch, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's items ordered by value (ties: item index), the most recent ``max_len`` kept.

    Returns ``items`` (rows, T) int64, right-padded with 0, and ``lengths``
    (rows,) int64, ``T = max(1, max(lengths))``.
    """
    device = x.rows.device
    idx = torch.argsort(x.cols, stable=True)
    idx = idx[torch.argsort(x.vals[idx], stable=True)]
    idx = idx[torch.argsort(x.rows[idx], stable=True)]  # by row, then value, then item
    rows, cols = x.rows[idx], x.cols[idx]  # (nnz,)
    counts = torch.bincount(rows, minlength=x.n_rows)  # (rows,)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(len(rows), device=device) - starts[rows]  # 0-based position within the row
    lengths = counts.clamp(max=max_len)
    skip = counts - lengths  # the oldest items beyond max_len
    keep = pos >= skip[rows]
    T = max(1, int(lengths.max())) if x.n_rows else 1
    items = torch.zeros(x.n_rows, T, dtype=torch.int64, device=device)
    items[rows[keep], (pos - skip[rows])[keep]] = cols[keep]
    return items, lengths


class SVAEModule(nn.Module):
    """Embedding, GRU and the per-step VAE; the loss of the formula in the module docstring."""

    def __init__(self, n_items: int, *, embedding: int, rnn: int, hidden: int, latent: int, next_k: int, max_len: int, anneal_cap: float, total_anneal_steps: int, seed: int, device: torch.device) -> None:
        super().__init__()
        self.latent, self.next_k, self.max_len = latent, next_k, max_len
        self.anneal_cap, self.total_anneal_steps = anneal_cap, total_anneal_steps
        meta = torch.device("meta")  # shapes only: the values are drawn below from our own generator
        self.item_embedding = nn.Embedding(n_items, embedding, device=meta)
        self.gru = nn.GRU(embedding, rnn, batch_first=True, device=meta)
        self.encoder = nn.Linear(rnn, hidden, device=meta)  # h_t -> a_t
        self.posterior = nn.Linear(hidden, 2 * latent, device=meta)  # a_t -> [μ_t, log σ²_t]
        self.decoder_hidden = nn.Linear(latent, hidden, device=meta)
        self.decoder_output = nn.Linear(hidden, n_items, device=meta)
        self.to_empty(device=device)
        self._initialise(torch.Generator().manual_seed(seed), rnn)
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def _initialise(self, init: torch.Generator, rnn: int) -> None:
        def fill(p: torch.Tensor, values: torch.Tensor) -> None:
            p.copy_(values.to(p.device))

        with torch.no_grad():
            w = self.item_embedding.weight
            fill(w, torch.randn(w.shape, generator=init))
            bound = 1.0 / math.sqrt(rnn)
            for p in self.gru.parameters():
                fill(p, torch.empty(p.shape).uniform_(-bound, bound, generator=init))
            for layer in (self.encoder, self.posterior, self.decoder_hidden, self.decoder_output):
                fan_out, fan_in = layer.weight.shape
                fill(layer.weight, torch.randn(layer.weight.shape, generator=init) * math.sqrt(2.0 / (fan_in + fan_out)))
                b = 1.0 / math.sqrt(fan_in)
                fill(layer.bias, torch.empty(layer.bias.shape).uniform_(-b, b, generator=init))
        self.gru.flatten_parameters()

    def states(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """GRU states ``h_t`` after each item: (rows, T, rnn), zeros at padded steps."""
        rows, T = items.shape
        out = torch.zeros(rows, T, self.gru.hidden_size, device=items.device, dtype=self.item_embedding.weight.dtype)
        nonempty = torch.nonzero(lengths > 0).flatten()
        if len(nonempty):
            e = self.item_embedding(items[nonempty])  # (rows', T, embedding)
            packed = pack_padded_sequence(e, lengths[nonempty].cpu(), batch_first=True, enforce_sorted=False)
            h, _ = self.gru(packed)
            out[nonempty] = pad_packed_sequence(h, batch_first=True, total_length=T)[0]  # (rows', T, rnn)
        return out

    def posterior_params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² (n, latent) for GRU states ``h`` (n, rnn)."""
        out = self.posterior(torch.tanh(self.encoder(h)))  # (n, 2 * latent)
        return out[:, : self.latent], out[:, self.latent :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits over the items (n, items) for latent codes ``z`` (n, latent)."""
        return self.decoder_output(torch.tanh(self.decoder_hidden(z)))

    def forward(self, x: SparseBatch) -> torch.Tensor:
        """Scores (rows, items): the logits after each row's last item (``h_0 = 0`` for an empty row), ``z = μ``."""
        items, lengths = sequences(x, self.max_len)
        h = self.states(items, lengths)  # (rows, T, rnn)
        last = h[torch.arange(x.n_rows, device=h.device), (lengths - 1).clamp(min=0)]  # (rows, rnn)
        last = last * (lengths > 0).unsqueeze(1)  # an empty history reads h_0 = 0
        mu, _ = self.posterior_params(last)
        return self.decode(mu)

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        items, lengths = sequences(batch, self.max_len)  # (B, T), (B,)
        B, T = items.shape
        h = self.states(items, lengths)  # (B, T, rnn)
        t = torch.arange(T, device=items.device)
        steps = (lengths - 1).clamp(min=0)  # (B,) steps with at least one next item
        valid = t.unsqueeze(0) < steps.unsqueeze(1)  # (B, T)
        if not bool(valid.any()):
            return sum(p.sum() for p in self.parameters()) * 0.0  # nothing to predict in this batch
        mu, logvar = self.posterior_params(h[valid])  # (n, latent) each, n = Σ steps
        if self.training:
            eps = torch.randn(mu.shape, generator=self.generator, device=mu.device, dtype=mu.dtype)
            z = mu + eps * torch.exp(0.5 * logvar)
        else:
            z = mu
        logp = F.log_softmax(self.decode(z), dim=1)  # (n, items)
        ahead = torch.arange(1, self.next_k + 1, device=items.device)  # (k,)
        padded = torch.cat([items, items.new_zeros(B, self.next_k)], dim=1)  # (B, T + k)
        targets = torch.stack([padded[:, j : j + T] for j in range(1, self.next_k + 1)], dim=2)  # (B, T, k)
        present = (t.view(1, T, 1) + ahead.view(1, 1, -1)) < lengths.view(B, 1, 1)  # (B, T, k)
        nll = -(logp.gather(1, targets[valid]) * present[valid]).sum(1)  # (n,)
        kl = 0.5 * (mu * mu + torch.exp(logvar) - logvar - 1.0).sum(1)  # (n,)
        user = torch.arange(B, device=items.device).unsqueeze(1).expand(B, T)[valid]  # (n,) the step's user
        nll_u = torch.zeros(B, device=nll.device, dtype=nll.dtype).index_add(0, user, nll)  # (B,)
        kl_u = torch.zeros(B, device=kl.device, dtype=kl.dtype).index_add(0, user, kl)
        used = steps > 0
        n_steps = steps[used].to(nll.dtype)
        k_u = n_steps.clamp(max=self.next_k)
        beta = kl_weight(step, self.anneal_cap, self.total_anneal_steps)
        return (nll_u[used] / k_u + beta * kl_u[used] / n_steps).mean()


class SVAE(TorchRecommender):
    """Sequential VAE: a GRU over the time-ordered history, a VAE per step predicting the next items."""

    name = "svae"
    Config = SVAEConfig
    sequential = True  # reads time-ordered histories: aerec.data.sequential.inputs_for gives it the order matrices

    def _build(self, device: torch.device) -> None:
        cfg = self.config
        self.module_ = SVAEModule(
            self.n_items_,
            embedding=cfg.embedding,
            rnn=cfg.rnn,
            hidden=cfg.hidden,
            latent=cfg.latent,
            next_k=cfg.next_k,
            max_len=cfg.max_len,
            anneal_cap=cfg.anneal_cap,
            total_anneal_steps=cfg.total_anneal_steps,
            seed=self.options_.seed,
            device=device,
        )

    def _score(self, X_in) -> np.ndarray:
        """Logits of the next items after each row's fold-in sequence (values = positions in time order)."""
        module = self.module_.eval()
        with torch.no_grad():
            logits = module(csr_to_batch(X_in, module.item_embedding.weight.device))  # (users, items)
        return logits.float().cpu().numpy()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.n_items_ = get_array(state, "item_embedding.weight", ndim=2).shape[0]  # the rest is checked against the network built
        self._build(self.device)
        self._load_module_state(state)
