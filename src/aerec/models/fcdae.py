"""FC-DAE: Sw-DAE's network with full connectivity (Khawar et al. 2020, Sec. 5.3-5.4).

The control for the structure: the same width ``K``, sigmoid hidden units,
input dropout (corruption), hidden dropout and loss as :mod:`aerec.models.swdae`,
but every item is connected to every hidden unit. Comparing the two at the
same ``K`` separates the effect of the learned structure from the effect of
width.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from aerec.checks import at_least, check, fraction, one_of
from aerec.errors import ConfigError
from aerec.models.layers import DenseLayer
from aerec.models.losses import LOSSES, OUTPUT_BIASES
from aerec.models.torch_base import DAEModule, TorchRecommender
from aerec.training import TrainConfig
from aerec.validate import get_array


@dataclass
class FCDAEConfig(TrainConfig):
    """Hyperparameters of FC-DAE (the Sw-DAE defaults of Sec. 4.3).

    Attributes:
        n_hidden: K, the number of hidden units (the width).
        input_dropout: the corruption: dropout on the input.
        hidden_dropout: dropout on the hidden units during training.
        loss: ``multinomial`` (softmax) or ``logistic`` (sigmoid outputs).
        output_bias: the decoder bias at the start: ``zero`` (faithful) or ``popularity``.
    """

    n_hidden: int = 1000
    input_dropout: float = 0.6
    hidden_dropout: float = 0.2
    loss: str = "multinomial"
    output_bias: str = "zero"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, n_hidden=at_least(1), input_dropout=fraction(), hidden_dropout=fraction(), loss=one_of(*LOSSES), output_bias=one_of(*OUTPUT_BIASES))


class FCDAE(TorchRecommender):
    """Fully-connected denoising autoencoder with one sigmoid hidden layer.

    FC-Prune and FC-Reg subclass it, changing the ``Layer`` or the ``Module``.
    """

    name = "fc-dae"

    def describe(self) -> dict:
        from aerec.cost import fcdae_cost

        facts = super().describe()
        k = self.config.n_hidden
        facts.update(architecture=f"K = {k}", width={"field": "n_hidden", "value": k})
        if "items" in facts:
            facts["cost"] = fcdae_cost(facts["items"], k)
        return facts
    Config = FCDAEConfig
    Layer: ClassVar[type[DenseLayer]] = DenseLayer
    Module: ClassVar[type[DAEModule]] = DAEModule

    def _build(self, device: torch.device) -> None:
        cfg, m = self.config, self.n_items_
        init = torch.Generator().manual_seed(self.options_.seed)
        encoder = self.Layer(m, cfg.n_hidden, bias_size=cfg.n_hidden, fan_in=m, generator=init, device=device)
        decoder = self.Layer(m, cfg.n_hidden, bias_size=m, fan_in=cfg.n_hidden, generator=init, device=device)
        options = dict(input_dropout=cfg.input_dropout, hidden_dropout=cfg.hidden_dropout, loss=cfg.loss, backend="dense", seed=self.options_.seed, device=device)
        self.module_ = self.Module(encoder, decoder, **options, **self._module_options())

    def _module_options(self) -> dict:
        """Keyword arguments a subclass's ``Module`` adds (none here)."""
        return {}

    def _start_from(self, base: FCDAE, device: torch.device) -> None:
        """Take ``base``'s width and weights (the start of FC-Prune and FC-Reg): build, then copy."""
        self.config = dataclasses.replace(self.config, n_hidden=base.config.n_hidden)
        self._build(device)
        own = dict(self.module_.named_parameters())
        with torch.no_grad():
            for name, value in base.module_.named_parameters():
                own[name].copy_(value)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.n_items_ = get_array(state, "decoder.bias", ndim=1).shape[0]  # the rest is checked against the network built
        self._build(self.device)
        self._load_module_state(state)


def check_base(base: FCDAE, n_items: int, where: str = "base") -> FCDAE:
    """``base``, the fitted FC-DAE that FC-Prune or FC-Reg starts from, checked against the training data.

    The model is an argument, never read here: :func:`aerec.artifacts.fit_inputs` loads the directory a
    config's ``base`` names, so that models never read model directories themselves.
    """
    if getattr(base, "name", None) != "fc-dae":
        raise ConfigError(f"{where}: is a {getattr(base, 'name', type(base).__name__)} model; FC-Prune and FC-Reg start from an fc-dae model")
    if base.n_items != n_items:
        raise ConfigError(f"{where}: has {base.n_items} items, the training data has {n_items}")
    return base


def missing_base(name: str, path: str) -> ConfigError:
    """The error for a config that names a base directory but a ``fit`` that was given no base model."""
    return ConfigError(f"{name}: base = {path!r} names a saved FC-DAE; pass the loaded model, fit(X, base=...) "
                       "(aerec.artifacts.fit_inputs(model) loads it)")
