"""FC-Reg: FC-DAE with an l1 penalty on the hidden activations (Khawar et al. 2020, Sec. 5.6, Tables 3, 5).

The second contraction approach Sw-DAE is compared with: a sparsely activated
denoising autoencoder (Jiang, Zhang, Zhang & Xiao, "A Novel Sparse
Auto-Encoder for Deep Unsupervised Learning", ICACI 2013; "[9]" of the
paper). The network is FC-DAE's; the objective adds ``λ1`` times the l1 norm
of the hidden layer::

    h = sigmoid(W x~ + b)                      (users, K)
    J = -log p(x | W' dropout(h) + b') + λ1 * mean_u sum_j |h_uj|

Choices the papers leave open, and ours:

* **Which activations.** ``h`` after the sigmoid and before the hidden
  dropout: the penalty is on what the unit computes, not on the noise.
  Sigmoid units are positive, so ``|h| = h``.
* **Scale.** Summed over the ``K`` hidden units and averaged over the users
  of the batch, as the reconstruction loss is summed over items and averaged
  over users; Table 5 sweeps ``λ1`` from 1e-5 to 1e-1 (best 1e-3).
* **Where training starts.** Table 5 "use[s] the best FC-DAE based on the
  validation performance". By default (``base=""``) we read that as FC-DAE's
  best hyperparameters and train with the penalty from the start (the
  penalty shapes the representation, as in Jiang et al.); with ``base`` (a
  saved fc-dae model) training starts from that model's weights instead, and
  its width ``n_hidden`` is taken. With ``λ1 = 0`` and no base, FC-Reg is
  FC-DAE exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from aerec.batches import DeviceCSR, SparseBatch
from aerec.checks import at_least, check
from aerec.data.prepared import Fold
from aerec.models.fcdae import FCDAE, FCDAEConfig, check_base, missing_base
from aerec.models.losses import reconstruction_loss
from aerec.models.torch_base import DAEModule


@dataclass
class FCRegConfig(FCDAEConfig):
    """Hyperparameters of FC-Reg: FC-DAE's plus the activation penalty.

    Attributes:
        activation_l1: λ1, the weight of the l1 penalty on the hidden activations (Table 5: 1e-5 to 1e-1).
        base: a saved fc-dae model directory to start from ("" trains from scratch).
    """

    activation_l1: float = 1e-3
    base: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, activation_l1=at_least(0.0))


def activation_penalty(h: torch.Tensor) -> torch.Tensor:
    """The l1 penalty of hidden activations ``h`` (users, K): ``mean_u sum_j |h_uj|``."""
    return h.abs().sum(1).mean()


class SparseActivationDAE(DAEModule):
    """:class:`DAEModule` whose loss adds ``activation_l1 * mean_u sum_j |h_uj|``."""

    def __init__(self, *args, activation_l1: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.activation_l1 = activation_l1

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        h = self.hidden(batch)  # (users, K), before hidden dropout
        loss = reconstruction_loss(self.output(h), batch.dense(), self.loss_name)
        return loss + self.activation_l1 * activation_penalty(h) if self.activation_l1 else loss


class FCReg(FCDAE):
    """Fully-connected DAE whose hidden layer is made sparsely active by an l1 penalty."""

    name = "fc-reg"
    Config = FCRegConfig
    Module = SparseActivationDAE

    def _module_options(self) -> dict:
        return {"activation_l1": self.config.activation_l1}

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None, base: FCDAE | None = None) -> None:
        """Train with the penalty, from scratch or from ``base``'s weights (the fitted FC-DAE the config's ``base`` names)."""
        cfg = self.config
        if base is None and cfg.base:
            raise missing_base(self.name, cfg.base)
        if base is None:
            super()._fit(X, validation=validation)
        else:
            X = sp.csr_matrix(X, dtype=np.float32)
            self.n_items_ = X.shape[1]
            device = self.device
            self._start_from(check_base(base, self.n_items_, cfg.base or "base"), device)
            self.fit_info_ = {"training": self._train(X, validation, device), "parameters": self.n_parameters()}
        self.fit_info_["mean_activation"] = self.mean_activation(X)

    def mean_activation(self, X: sp.csr_matrix, batch_size: int = 1000) -> float:
        """The mean hidden activation ``h_uj`` over the users of ``X`` and the units (no dropout)."""
        data = DeviceCSR(X, next(self.module_.parameters()).device)
        self.module_.eval()
        with torch.no_grad():
            total = sum(float(self.module_.hidden(b).sum()) for b in data.batches(batch_size, shuffle=False))
        return total / (X.shape[0] * self.config.n_hidden)
