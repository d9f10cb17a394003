"""Sw-DAE: the sparse-and-wide denoising autoencoder (Khawar, Poon & Zhang, WWW 2020).

Structure (Sec. 3.1-3.2): item groups are learned from the co-occurrence
graph (:func:`aerec.structure.learn_groups`, Algorithm 1 or 2); each of the
``K`` groups becomes one hidden unit, connected to exactly the items of its
group, in the encoder and, transposed with its own weights, in the decoder.
Every item belongs to ``R`` groups, so each layer has ``items * R`` weights.

Model (Sec. 3.3, Eq. 4-5; setup of Sec. 4.3)::

    x~ = dropout(x, 0.6)                         (corruption C(x~|x))
    h  = dropout(sigmoid(W x~ + b), 0.2)         (encoder, structure of the groups)
    y  = W' h + b'                               (decoder, transposed structure)
    J  = -log p(x | y)

Choices the paper leaves open, and ours:

* **The output likelihood.** Eq. 4 puts a sigmoid on the output, which with
  Eq. 5 is the logistic (Bernoulli) likelihood ``loss="logistic"``; the
  baselines it compares with (Mult-DAE/VAE) use the multinomial likelihood
  (softmax), ``loss="multinomial"``. Both are offered; the default is chosen
  on validation (docs/RESULTS.md records both).
* **Dropout** is inverted dropout (kept values scaled by ``1/(1-p)``, as
  ``torch.nn.Dropout``), on the input's non-zeros and on the hidden units.
* **Initialisation** is uniform in ``±1/sqrt(fan_in)`` over the existing
  connections, biases zero (the paper does not say). ``output_bias =
  "popularity"`` starts the decoder bias at the item popularity instead
  (:func:`aerec.models.losses.popularity_bias`), a departure measured in
  docs/RESULTS.md.
* **Training length.** The paper trains for 100 epochs; we budget by epochs,
  steps and patience on validation NDCG@100, keeping the best weights
  (ML-1M has about 10 batches per epoch, ML-20M about 234).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from aerec.checks import at_least, check, fraction, one_of
from aerec.data.prepared import Fold
from aerec.device import resolve_device
from aerec.errors import ConfigError, DataError
from aerec.fit_options import FitOptions
from aerec.models.layers import BACKENDS, Structure, StructuredLayer
from aerec.models.losses import LOSSES, OUTPUT_BIASES
from aerec.models.torch_base import DAEModule, TorchRecommender, layer_backend
from aerec.structure.groups import ItemGroups
from aerec.training import TrainConfig
from aerec.validate import get_array


@dataclass
class SwDAEConfig(TrainConfig):
    """Hyperparameters of Sw-DAE (defaults: Sec. 4.3 of the paper).

    Attributes:
        n_groups: K, the number of item groups = hidden units.
        overlap: R, the groups per item; 0 derives it from ``overlap_ratio``.
        overlap_ratio: R/K when ``overlap`` is 0 (the paper: 0.1, i.e. a tenth of full connectivity).
        n_components: F, the embedding dimension of the grouping.
        grouping: ``laplacian`` (Algorithm 1) or ``svd`` (Algorithm 2).
        normalize: row normalisation of the embedding: ``l2`` or ``sum``.
        input_dropout: the corruption: dropout on the input.
        hidden_dropout: dropout on the hidden units during training.
        loss: ``multinomial`` (softmax) or ``logistic`` (sigmoid outputs, Eq. 4).
        backend: the layers' kernels (:mod:`aerec.models.layers`): ``auto`` (``gemm`` on CUDA, ``csr`` on the CPU),
            ``csr``, ``dense`` or ``gemm``.
        output_bias: the decoder bias at the start: ``zero`` (as the weights' init, faithful) or ``popularity``.
        match_model: Sw-DAE-P (Sec. 5.2): ``mult-vae`` or ``mult-dae`` sets K so that
            the parameters match that model's on these items ("" keeps ``n_groups``).
        match_parameters: Sw-DAE-P with an explicit parameter budget (0: off).
    """

    n_groups: int = 1000
    overlap: int = 0
    overlap_ratio: float = 0.1
    n_components: int = 50
    grouping: str = "laplacian"
    normalize: str = "l2"
    input_dropout: float = 0.6
    hidden_dropout: float = 0.2
    loss: str = "multinomial"
    backend: str = "auto"
    output_bias: str = "zero"
    match_model: str = ""
    match_parameters: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, n_groups=at_least(2), overlap=at_least(0), overlap_ratio=(lambda v: 0 < v < 1, "must lie in (0, 1)"),
              n_components=at_least(1), grouping=one_of("laplacian", "svd"), normalize=one_of("l2", "sum", "none"),
              input_dropout=fraction(), hidden_dropout=fraction(), loss=one_of(*LOSSES), backend=one_of("auto", *BACKENDS),
              output_bias=one_of(*OUTPUT_BIASES), match_model=one_of("", "mult-vae", "mult-dae"), match_parameters=at_least(0))  # fmt: skip


class SwDAE(TorchRecommender):
    """Sparse-and-wide denoising autoencoder with learned item-group structure."""

    name = "swdae"
    Config = SwDAEConfig

    #: What ``fit`` takes besides the data: ``aerec train swdae --groups FILE`` loads it (``aerec groups --out``).
    input_files = {"groups": "item groups written by `aerec groups --out FILE` (safetensors), used instead of learning them"}

    def grouping(self, n_items: int, options: FitOptions | None = None) -> dict:
        """The :func:`~aerec.structure.learn_groups` arguments this config asks for on ``n_items`` items
        under ``options`` (their seed and device; default: ``options_``).

        Two configs with the same grouping learn the same groups (one seed, one
        device), so a search over, say, ``lr`` learns them once and passes them
        to every trial's ``fit(X, groups=...)``.
        """
        self.n_items_ = n_items
        self._match_parameters()
        cfg, options = self.config, options or self.options_
        return {"n_groups": cfg.n_groups, "overlap": self.overlap, "n_components": cfg.n_components, "algorithm": cfg.grouping,
                "normalize": cfg.normalize, "seed": options.seed, "device": str(resolve_device(options.device))}  # fmt: skip

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None, groups: ItemGroups | None = None) -> None:
        """Learn the item groups (unless ``groups``, learned with this config's grouping, are given), then train the network."""
        from aerec.structure import learn_groups

        wanted = self.grouping(X.shape[1])
        device = self.device
        self._check_fit_memory(X.shape[0], device)
        if groups is None:
            groups = learn_groups(X, **wanted, progress=self.options_.progress)
            source = "learned"
        else:
            self._check_groups(groups, wanted)
            source = "given"
        self.groups_ = groups
        self._build(np.asarray(groups.item_groups), device)
        self._start_output_bias(X)
        training = self._train(X, validation, device)
        self.fit_info_ = {
            **self.fit_info_,
            "groups": {"source": source, "timings": groups.timings, "diagnostics": groups.diagnostics, **groups.overlap()},
            "training": training,
            "parameters": self.n_parameters(),
        }

    def _check_groups(self, groups: ItemGroups, wanted: dict) -> None:
        """Given groups must be this config's: the same items, K and R (else a clear error, not a silently other model)."""
        got = {"items": groups.n_items, "n_groups": groups.n_groups, "overlap": groups.overlap_r}
        need = {"items": self.n_items_, "n_groups": wanted["n_groups"], "overlap": wanted["overlap"]}
        if got != need:
            diff = ", ".join(f"{k} {got[k]} (the model needs {need[k]})" for k in got if got[k] != need[k])
            raise ConfigError(f"swdae: the given item groups do not fit this config: {diff}")

    def describe(self) -> dict:
        from aerec.cost import swdae_cost

        cfg, facts = self.config, super().describe()
        if cfg.match_model or cfg.match_parameters:
            facts["variant"] = "swdae-p"
        facts.update(architecture=f"K = {cfg.n_groups}, R = {self.overlap}", width={"field": "n_groups", "value": cfg.n_groups},
                     structure={"groups": "item_groups", "width_bias": "encoder.bias"})  # fmt: skip
        if "items" in facts:
            facts["cost"] = swdae_cost(facts["items"], cfg.n_groups, self.overlap)
        return facts

    def _match_parameters(self) -> None:
        """Sw-DAE-P: replace ``n_groups`` by the width that matches the parameter budget."""
        from dataclasses import replace

        from aerec.cost import multdae_cost, multvae_cost, swdae_p_groups

        cfg, m = self.config, self.n_items_
        budgets = {"": 0, "mult-vae": multvae_cost(m)["parameters"], "mult-dae": multdae_cost(m)["parameters"]}
        budget = cfg.match_parameters or budgets[cfg.match_model]
        if budget:
            k = swdae_p_groups(budget, m, cfg.overlap_ratio)
            self.config = replace(cfg, n_groups=k, overlap=0)
            self.fit_info_["parameter_budget"] = budget

    @property
    def overlap(self) -> int:
        cfg = self.config
        R = cfg.overlap or max(1, int(round(cfg.overlap_ratio * cfg.n_groups)))
        if not 1 <= R < cfg.n_groups:
            raise ConfigError(f"swdae: overlap R={R} must satisfy 1 <= R < n_groups={cfg.n_groups}")
        return R

    def _build(self, item_groups: np.ndarray, device: torch.device) -> None:
        cfg = self.config
        structure = Structure(item_groups, cfg.n_groups, device)
        backend = layer_backend(cfg.backend, device)
        seed = self.options_.seed
        init = torch.Generator().manual_seed(seed)
        encoder = StructuredLayer(structure, bias_size=structure.n_hidden, generator=init)
        decoder = StructuredLayer(structure, bias_size=structure.n_items, generator=init)
        self.module_ = DAEModule(encoder, decoder, input_dropout=cfg.input_dropout, hidden_dropout=cfg.hidden_dropout, loss=cfg.loss, backend=backend, seed=seed, device=device)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {**super().state_dict(), "item_groups": self.module_.encoder.structure.groups.cpu().numpy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        K = get_array(state, "encoder.bias", ndim=1).shape[0]
        if K != self.config.n_groups:
            raise DataError(f"encoder.bias: has {K} entries (expected n_groups = {self.config.n_groups}, the config's)")
        groups = get_array(state, "item_groups", kind="i", ndim=2, low=0, high=K)  # (items, R)
        self.n_items_ = groups.shape[0]
        try:
            self._build(groups, self.device)
        except ValueError as e:  # Structure's checks: an item listing a group twice
            raise DataError(f"item_groups: {e}") from None
        self._load_module_state({k: v for k, v in state.items() if k != "item_groups"})
