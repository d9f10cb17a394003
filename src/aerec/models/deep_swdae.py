"""Deep Sw-DAE: stacked sparse-and-wide denoising autoencoders (Khawar, Poon & Zhang, WWW 2020, Sec. 3.4).

Greedy layer-wise construction and pretraining, then fine-tuning of the stack.
With ``n_groups = (K_1, ..., K_d)`` and ``K_0 = m`` items:

1. **Layer 1** is a Sw-DAE (:mod:`aerec.models.swdae`): ``K_1`` groups of the
   items learned from ``X`` (Algorithm 1 or 2), encoder and decoder
   :class:`~aerec.models.layers.StructuredLayer` s on that structure,
   pretrained with the Sw-DAE objective (Eq. 5; input dropout, hidden
   dropout, the configured output likelihood).
2. **Hidden units become observed variables**: every training user is passed
   through the pretrained encoder (no dropout), giving ``H_1 = σ(W^1 x + b^1)``
   (``n x K_1``, dense, in (0, 1)). Layer ``l`` groups the ``K_{l-1}`` columns
   of ``H_{l-1}`` into ``K_l`` groups with the same grouping, builds a
   ``K_{l-1} -> K_l -> K_{l-1}`` structured autoencoder and pretrains it to
   reconstruct ``H_{l-1}``; its codes ``H_l`` feed layer ``l + 1``.
3. **Stacking** (Eq. 6-7)::

       a^0 = dropout(x, input_dropout)                    (corruption)
       a^l = σ(W^l a^{l-1} + b^l),          l = 1 .. d    (encoders, Eq. 6)
       h   = dropout(a^d, hidden_dropout)
       a^{d+l} = σ(W'^{d-l+1} a^{d+l-1} + b'^{d-l+1}), l = 1 .. d-1   (decoders, Eq. 7)
       y   = W'^1 a^{2d-1} + b'^1                         (output logits)
       J   = -log p(x | y)                                (Eq. 5, as Sw-DAE)

   The pretrained weights are copied into the stack, which is then fine-tuned
   on ``X`` with the generic loop (:func:`aerec.training.train`), keeping the
   weights of the best validation NDCG@100.

Choices the paper leaves open, and ours:

* **Grouping hidden units.** The grouping (:func:`aerec.structure.learn_groups`)
  takes a non-negative sparse matrix; ``H_{l-1}`` is dense and positive, so it
  is passed as ``scipy.sparse.csr_matrix(H_{l-1})`` with every entry stored.
  Algorithm 1's ``Δ = D^-1/2 HᵀH D^-1/2`` is then a dense ``K_{l-1} x K_{l-1}``
  matrix; the eigensolver never forms it but works on ``Z = H D^-1/2``, about
  ``12 n K_{l-1}`` bytes (ML-20M, ``K_1 = 1000``: 1.4 GB), fine for ``K`` in
  the thousands. Every layer uses the same ``n_components`` (``F``), which
  must therefore be below every ``K_{l-1}``; ``R_l = max(1, round(overlap_ratio · K_l))``.
* **Likelihood of the hidden layers.** The paper pretrains each layer by
  "learning the parameters (section 3.3)" without saying which likelihood a
  hidden layer's reconstruction uses. Its targets lie in (0, 1), so we use the
  Bernoulli (logistic) cross-entropy on the sigmoid outputs, ``-Σ_j [h_j log ĥ_j
  + (1 - h_j) log(1 - ĥ_j)]`` per user, the natural choice for such targets
  (and Eq. 4's sigmoid output). Layer 1 uses ``loss`` like Sw-DAE.
* **Corruption of the hidden layers in pretraining.** Layer ``l >= 2`` is
  denoising too: inverted dropout with rate ``hidden_dropout`` on its input
  ``H_{l-1}`` (the rate the units of ``H_{l-1}`` were dropped at while layer
  ``l - 1`` was pretrained) and on its own code; the target is the clean
  ``H_{l-1}``.
* **Dropout in the stack.** As in Sw-DAE: ``input_dropout`` on the input's
  non-zeros and ``hidden_dropout`` on the innermost code ``a^d`` only; the
  other hidden layers are not dropped. The decoders' hidden layers are
  sigmoid (Eq. 7); the output is the Sw-DAE output (softmax or sigmoid).
* **Pretraining length.** Each layer is pretrained for ``pretrain_epochs``
  without validation and without early stopping (greedy and unsupervised);
  the last weights are kept. ``pretrain_epochs = 0`` skips pretraining: the
  layers keep their random initialisation (the structures of layers ``>= 2``
  are then learned from the codes of untrained layers), an ablation of the
  pretraining. Layer ``l`` (0-based) initialises and pretrains with seed
  ``seed + l``, so layer 1 is exactly the Sw-DAE of the same config and seed.
  Fine-tuning shuffles and drops out with ``seed`` as Sw-DAE does, so one
  layer without pretraining is exactly that Sw-DAE, and after pretraining the
  fine-tuning of layer 1 replays its pretraining's shuffles and masks (a
  fresh optimiser, weights already trained).
* **Kernels.** The output decoder uses ``backend`` (as Sw-DAE). Hidden-to-hidden
  layers multiply by the dense ``K_{l-1} x K_l`` matrix scattered from the
  ``K_{l-1} x R_l`` structured weights (small next to ``m x R_1``); only the
  structured weights exist, so the structure still holds exactly.
* **Initialisation** as Sw-DAE: uniform in ``±1/sqrt(R_l)`` over the existing
  connections, biases zero.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from aerec.batches import DeviceCSR, SparseBatch
from aerec.checks import at_least, check, fraction, one_of
from aerec.data.prepared import Fold
from aerec.errors import ConfigError, DataError
from aerec.models.layers import BACKENDS, Structure, StructuredLayer, dropout_dense, dropout_sparse
from aerec.models.losses import LOSSES, reconstruction_loss
from aerec.models.torch_base import DAEModule, TorchRecommender, layer_backend
from aerec.training import TrainConfig, train
from aerec.validate import get_array


@dataclass
class DeepSwDAEConfig(TrainConfig):
    """Hyperparameters of the deep Sw-DAE (Sec. 3.4; Sw-DAE defaults of Sec. 4.3 per layer).

    Attributes:
        n_groups: K_1, ..., K_d: the hidden units of each encoder layer, outermost first (strictly decreasing).
        overlap_ratio: R_l / K_l, the groups per input variable of layer l (R_l = max(1, round(ratio * K_l))).
        n_components: F, the embedding dimension of the grouping of every layer (below every K_{l-1}).
        grouping: ``laplacian`` (Algorithm 1) or ``svd`` (Algorithm 2), for every layer.
        normalize: row normalisation of the grouping's embedding: ``l2``, ``sum`` or ``none``.
        input_dropout: the corruption: dropout on the input items (pretraining layer 1 and fine-tuning).
        hidden_dropout: dropout on the innermost code; also the corruption of hidden layers in pretraining.
        loss: output likelihood: ``multinomial`` (softmax) or ``logistic`` (sigmoid outputs, Eq. 4).
        pretrain_epochs: epochs of greedy pretraining per layer (0: no pretraining, random initialisation).
        backend: the item layers' kernels: ``auto``, ``csr``, ``dense`` or ``gemm`` (as Sw-DAE).
    """

    n_groups: tuple[int, ...] = (1000, 250)
    overlap_ratio: float = 0.1
    n_components: int = 50
    grouping: str = "laplacian"
    normalize: str = "l2"
    input_dropout: float = 0.6
    hidden_dropout: float = 0.2
    loss: str = "multinomial"
    pretrain_epochs: int = 20
    backend: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, n_groups=(lambda v: len(v) > 0 and all(int(a) > int(b) >= 2 for a, b in zip(v, v[1:])) and int(v[-1]) >= 2,
                              "needs at least one width, each at least 2, decreasing layer by layer"),
              overlap_ratio=(lambda v: 0 < v < 1, "must lie in (0, 1)"), n_components=at_least(1), grouping=one_of("laplacian", "svd"),
              normalize=one_of("l2", "sum", "none"), input_dropout=fraction(), hidden_dropout=fraction(), loss=one_of(*LOSSES),
              pretrain_epochs=at_least(0), backend=one_of("auto", *BACKENDS))  # fmt: skip


def encode_dense(layer: StructuredLayer, a: torch.Tensor) -> torch.Tensor:
    """``z = a Wᵀ + b`` for a dense input ``a`` (users, items_l): (users, K_l).

    ``W`` (K_l x items_l) is scattered from the structured weights, so it is
    exactly zero outside the structure and gradients reach only the
    structured weights.
    """
    s = layer.structure
    W = torch.zeros(s.n_items, s.n_hidden, device=a.device, dtype=a.dtype).scatter(1, s.groups, layer.weight.to(a.dtype))  # (items_l, K_l)
    return a @ W + layer.bias


class HiddenDAEModule(nn.Module):
    """Pretraining of layer ``l >= 2``: a structured autoencoder ``K_{l-1} -> K_l -> K_{l-1}`` on the codes ``H_{l-1}``.

    The batch holds rows of ``H_{l-1}`` (stored as a CSR with every entry);
    the loss is the Bernoulli cross-entropy of the clean rows under the
    sigmoid outputs, summed over units and averaged over users.
    """

    def __init__(self, encoder: StructuredLayer, decoder: StructuredLayer, *, dropout: float, seed: int, device: torch.device) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.dropout = dropout
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if self.training:
            a = dropout_dense(a, self.dropout, self.generator)
        h = torch.sigmoid(encode_dense(self.encoder, a))  # (users, K_l)
        if self.training:
            h = dropout_dense(h, self.dropout, self.generator)
        return self.decoder.decode(h, "dense")  # (users, K_{l-1}) logits

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        target = batch.dense()  # (users, K_{l-1}) in (0, 1)
        return reconstruction_loss(self(target), target, "logistic")


class StackedSwDAEModule(nn.Module):
    """The stack of Eq. 6-7: ``encoders[l]`` maps layer ``l``'s inputs to its ``K_l`` units, ``decoders[l]`` back.

    ``encoders[0]`` reads the sparse items; ``decoders[0]`` writes the item
    logits with the Sw-DAE loss. With one layer this is :class:`DAEModule`
    exactly (same random draws, same kernels).
    """

    def __init__(self, encoders: list[StructuredLayer], decoders: list[StructuredLayer], *, input_dropout: float, hidden_dropout: float, loss: str, backend: str, seed: int, device: torch.device) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"loss={loss!r}: choose {', '.join(map(repr, LOSSES))}")
        self.encoders, self.decoders = nn.ModuleList(encoders), nn.ModuleList(decoders)
        self.input_dropout, self.hidden_dropout = input_dropout, hidden_dropout
        self.loss_name, self.backend = loss, backend
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def forward(self, x: SparseBatch) -> torch.Tensor:
        if self.training:
            x = dropout_sparse(x, self.input_dropout, self.generator)
        a = torch.sigmoid(self.encoders[0].encode(x, self.backend))  # (users, K_1)
        for enc in self.encoders[1:]:
            a = torch.sigmoid(encode_dense(enc, a))  # (users, K_l)
        if self.training:
            a = dropout_dense(a, self.hidden_dropout, self.generator)  # h = a^d
        for dec in reversed(self.decoders[1:]):
            a = torch.sigmoid(dec.decode(a, "dense"))  # (users, K_{l-1})
        return self.decoders[0].decode(a, self.backend)  # (users, items) logits

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        return reconstruction_loss(self(batch), batch.dense(), self.loss_name)


class DeepSwDAE(TorchRecommender):
    """Stacked Sw-DAE: greedy layer-wise structure learning and pretraining, then fine-tuning (Sec. 3.4)."""

    name = "deep-swdae"

    def describe(self) -> dict:
        facts = super().describe()
        facts.update(architecture="K = " + "-".join(str(k) for k in self.config.n_groups),
                     structure={"groups": "layer0.item_groups", "width_bias": "encoders.0.bias"})  # fmt: skip
        return facts
    Config = DeepSwDAEConfig

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        """Build and pretrain the layers greedily (:meth:`pretrain`), then fine-tune the stack on ``X``."""
        self.pretrain(X)
        training = self._train(X, validation, self.device_)
        self.fit_info_ = {**self.fit_info_, "training": training, "parameters": self.n_parameters()}

    def pretrain(self, X: sp.csr_matrix) -> DeepSwDAE:
        """Steps 1-3 of the module docstring without fine-tuning: ``module_`` is the pretrained stack
        (run under ``options_``; layer ``l`` uses the seed ``seed + l``)."""
        from aerec.structure import learn_groups

        X = sp.csr_matrix(X, dtype=np.float32)
        cfg = self.config
        self.n_items_ = X.shape[1]
        self._check_config()
        device = self.device_ = self.device
        encoders, decoders, info = [], [], []
        H: sp.csr_matrix = X  # the observed variables of the current layer
        for level, K in enumerate(cfg.n_groups):
            try:
                groups = learn_groups(
                    H,
                    n_groups=K,
                    overlap=self._overlap(K),
                    n_components=cfg.n_components,
                    algorithm=cfg.grouping,
                    normalize=cfg.normalize,
                    seed=self.options_.seed + level,
                    device=str(device),
                    progress=self.options_.progress,
                )
            except ConfigError as e:
                raise ConfigError(f"deep-swdae layer {level + 1}: {e}") from None
            enc, dec = self._layer(groups.item_groups, K, level, device)
            losses = self._pretrain_layer(enc, dec, H, level, device)
            encoders.append(enc)
            decoders.append(dec)
            info.append({"groups": {"timings": groups.timings, "diagnostics": groups.diagnostics, **groups.overlap()}, "pretraining_loss": losses})
            if level + 1 < len(cfg.n_groups):
                H = self._codes(enc, H, level, device)
        self.module_ = self._stack(encoders, decoders, device)
        self.fit_info_ = {"layers": info}
        return self

    # -- building ---------------------------------------------------------
    def _check_config(self) -> None:
        """What the config cannot check alone (its ``__post_init__`` checks the rest): the widths below the items."""
        ks = tuple(int(k) for k in self.config.n_groups)
        if ks[0] >= self.n_items_:
            raise ConfigError(f"deep-swdae: n_groups={ks}: must decrease layer by layer and stay below the {self.n_items_} items")

    def _overlap(self, K: int) -> int:
        R = max(1, int(round(self.config.overlap_ratio * K)))
        if not 1 <= R < K:
            raise ConfigError(f"deep-swdae: overlap R={R} must satisfy 1 <= R < K={K} (lower --overlap-ratio)")
        return R

    def _backend(self, device: torch.device) -> str:
        return layer_backend(self.config.backend, device)

    def _layer(self, item_groups: np.ndarray, K: int, level: int, device: torch.device) -> tuple[StructuredLayer, StructuredLayer]:
        """Encoder and decoder of layer ``level`` (0-based), initialised as Sw-DAE with seed ``seed + level``."""
        structure = Structure(item_groups, K, device)
        init = torch.Generator().manual_seed(self.options_.seed + level)
        encoder = StructuredLayer(structure, bias_size=structure.n_hidden, generator=init)
        decoder = StructuredLayer(structure, bias_size=structure.n_items, generator=init)
        return encoder, decoder

    def _stack(self, encoders, decoders, device: torch.device) -> StackedSwDAEModule:
        cfg = self.config
        return StackedSwDAEModule(encoders, decoders, input_dropout=cfg.input_dropout, hidden_dropout=cfg.hidden_dropout, loss=cfg.loss, backend=self._backend(device), seed=self.options_.seed, device=device)

    # -- greedy pretraining -----------------------------------------------
    def _pretrain_layer(self, enc, dec, H: sp.csr_matrix, level: int, device: torch.device) -> list[float]:
        """Train layer ``level`` alone on its inputs ``H`` for ``pretrain_epochs``; the per-epoch losses."""
        cfg = self.config
        if cfg.pretrain_epochs == 0:
            return []
        seed = self.options_.seed + level
        if level == 0:  # a Sw-DAE: the same module, objective and random draws
            module = DAEModule(enc, dec, input_dropout=cfg.input_dropout, hidden_dropout=cfg.hidden_dropout, loss=cfg.loss, backend=self._backend(device), seed=seed, device=device)
        else:
            module = HiddenDAEModule(enc, dec, dropout=cfg.hidden_dropout, seed=seed, device=device)
        schedule = dataclasses.replace(cfg, max_epochs=cfg.pretrain_epochs, max_steps=0)
        options = dataclasses.replace(self.options_, seed=seed, checkpoint=None, track_spectra=False)  # the fine-tuning alone is checkpointed
        result = train(module, H, schedule, device=device, options=options, desc=f"{self.name} pretrain layer {level + 1}")
        return [round(r["loss"], 6) for r in result.history]

    @staticmethod
    def _codes(enc: StructuredLayer, H: sp.csr_matrix, level: int, device: torch.device, batch_size: int = 1024) -> sp.csr_matrix:
        """``σ(W H + b)`` for every row of ``H`` (no dropout), as a CSR with every entry stored: (users, K_l)."""
        data = DeviceCSR(H, device)
        out = []
        with torch.no_grad():
            for batch in data.batches(batch_size, shuffle=False):
                z = enc.encode(batch) if level == 0 else encode_dense(enc, batch.dense())
                out.append(torch.sigmoid(z).float().cpu().numpy())
        return sp.csr_matrix(np.vstack(out))

    # -- persistence --------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        for level, enc in enumerate(self.module_.encoders):
            state[f"layer{level}.item_groups"] = enc.structure.groups.cpu().numpy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        levels = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"layer(\d+)\.item_groups", k)))
        widths = tuple(int(k) for k in self.config.n_groups)
        if levels != list(range(len(widths))):
            raise DataError(f"layer<l>.item_groups: found layers {levels} (expected layer0 to layer{len(widths) - 1}, one per width of n_groups = {widths})")
        device = self.device
        encoders, decoders = [], []
        n_in = None  # the width below the layer: its items
        for level in levels:
            K = get_array(state, f"encoders.{level}.bias", ndim=1).shape[0]
            if K != widths[level]:
                raise DataError(f"encoders.{level}.bias: has {K} entries (expected {widths[level]}, layer {level}'s width in the config's n_groups)")
            groups = get_array(state, f"layer{level}.item_groups", kind="i", ndim=2, low=0, high=K)  # (n_in, R)
            if n_in is not None and groups.shape[0] != n_in:
                raise DataError(f"layer{level}.item_groups: has {groups.shape[0]} rows (expected {n_in}, the width of layer {level - 1})")
            try:
                enc, dec = self._layer(groups, K, level, device)
            except ValueError as e:  # Structure's checks: a unit listing a group twice
                raise DataError(f"layer{level}.item_groups: {e}") from None
            encoders.append(enc)
            decoders.append(dec)
            n_in = K
        self.n_items_ = state["layer0.item_groups"].shape[0]
        self.device_ = device
        self.module_ = self._stack(encoders, decoders, device)
        self._load_module_state({k: v for k, v in state.items() if not k.endswith(".item_groups")})
