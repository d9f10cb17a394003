"""FC-DAE: Sw-DAE's network with full connectivity (Khawar et al. 2020, Sec. 5.3-5.4).

The control for the structure: the same width ``K``, sigmoid hidden units,
input dropout (corruption), hidden dropout and loss as :mod:`aerec.models.swdae`,
but every item is connected to every hidden unit. Comparing the two at the
same ``K`` separates the effect of the learned structure from the effect of
width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aerec.device import resolve_device
from aerec.models.layers import DenseLayer
from aerec.models.swdae import DAEModule, TorchRecommender
from aerec.training import TrainConfig


@dataclass
class FCDAEConfig(TrainConfig):
    """Hyperparameters of FC-DAE (the Sw-DAE defaults of Sec. 4.3).

    Attributes:
        n_hidden: K, the number of hidden units (the width).
        input_dropout: the corruption: dropout on the input.
        hidden_dropout: dropout on the hidden units during training.
        loss: ``multinomial`` (softmax) or ``logistic`` (sigmoid outputs).
        device: ``auto`` (CUDA where present), ``cpu`` or ``cuda``.
    """

    n_hidden: int = 1000
    input_dropout: float = 0.6
    hidden_dropout: float = 0.2
    loss: str = "multinomial"
    device: str = "auto"


class FCDAE(TorchRecommender):
    """Fully-connected denoising autoencoder with one sigmoid hidden layer."""

    name = "fc-dae"
    Config = FCDAEConfig

    def _build(self, device: torch.device) -> None:
        cfg, m = self.config, self.n_items_
        init = torch.Generator().manual_seed(cfg.seed)
        encoder = DenseLayer(m, cfg.n_hidden, bias_size=cfg.n_hidden, fan_in=m, generator=init, device=device)
        decoder = DenseLayer(m, cfg.n_hidden, bias_size=m, fan_in=cfg.n_hidden, generator=init, device=device)
        self.module_ = DAEModule(encoder, decoder, input_dropout=cfg.input_dropout, hidden_dropout=cfg.hidden_dropout, loss=cfg.loss, backend="dense", seed=cfg.seed, device=device)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.n_items_ = state["decoder.bias"].shape[0]
        self._build(resolve_device(self.config.device))
        self._load_module_state(state)
