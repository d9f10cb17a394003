"""CDAE (Wu, DuBois, Zheng & Ester, "Collaborative Denoising Auto-Encoders for Top-N Recommender Systems", WSDM 2016).

A denoising autoencoder over a user's row ``x_u`` (users x items) whose
hidden layer also receives a vector ``V_u`` of the user's own (Sec. 3.1, the
"user node")::

    x~_u = dropout(x_u, input_dropout)                       (corruption, Sec. 2.2 / 3.1)
    h_u  = sigmoid(W x~_u + V_u + b)                         (hidden)
    y_u  = W' h_u + b'                                       (items: logits)
    L    = (1/|B|) Σ_{u∈B} [ ℓ(x_u, y_u) + λ ||V_u||² ] + λ (||W||²_F + ||W'||²_F)

with the pointwise losses of Sec. 2.1, summed over items, where ``t_ui =
1[x_ui > 0]`` and ``c_ui = 1`` where ``t_ui = 1``, ``negative_weight``
elsewhere:

* ``weighted_square``: ``ℓ = Σ_i c_ui (t_ui - sigmoid(y_ui))²``;
* ``logistic``: ``ℓ = -Σ_i c_ui [t_ui log sigmoid(y_ui) + (1 - t_ui) log(1 - sigmoid(y_ui))]``.

Scores are the logits ``y_u``: both losses put a sigmoid on them, which is
monotone, so rankings are the same; scoring uses no corruption (Sec. 3.3).

**Fold-in of unseen users.** The paper recommends to the users it trained on,
reading their learned ``V_u``. Under strong generalization the users we score
were never trained on, so :meth:`CDAE.score` first fits a fresh vector ``v``
for each fold-in row, with the network frozen and no corruption, by
minimising that user's term of ``L``, ``ℓ(x_u, y_u(v)) + λ ||v||²``, from
``v = 0`` with ``foldin_steps`` steps of Adam (learning rate ``foldin_lr``)
on the sum over the rows. Adam acts elementwise, so each row's vector depends
on its own row only, whatever else is in the batch. ``foldin_steps = 0``
scores with ``v = 0``. The training users' vectors are never read or changed
when scoring; they are saved with the network.

Choices the papers leave open, and ours:

* **Loss and settings.** Khawar et al. (WWW 2020, Sec. 4.2) train CDAE with
  "the settings of [Liang et al. 2018] ... the weighted square loss and Adam
  with a batch size of 500": ``loss = weighted_square``, Adam with learning
  rate 1e-3, 500 users per batch (the :class:`~aerec.training.TrainConfig`
  defaults), and ``hidden = 200`` as Liang et al.'s comparison. Wu et al.'s
  logistic loss is ``loss = logistic``.
* **Unobserved entries.** Wu et al. sample negatives (Sec. 3.2); we use every
  unobserved entry with weight ``negative_weight``, which is the expected
  value of sampling each one with that probability. The default 0.1 is Hu et
  al.'s (ICDM 2008) confidence ``1 + α t_ui`` with ``α = 9``, divided by ``1 +
  α``; neither paper gives a number, so choose it on validation.
* **Target** ``t_ui = 1[x_ui > 0]`` (the paper's preferences are binary);
  the input is the raw row.
* **Corruption** is inverted dropout on the input's non-zeros (kept values
  scaled by ``1/(1-p)``, Wu et al.'s unbiased "drop-out" corruption), from
  the module's own ``torch.Generator`` seeded with ``seed + 1``; the encoder
  multiplies the sparse batch, no dense input is formed.
* **Penalty.** Wu et al. penalise every parameter, biases included; we
  penalise ``W``, ``W'`` (per batch, as Mult-DAE, not rescaled by the batch
  size) and each batch user's ``V_u`` beside its own data term, so that the
  fold-in solves exactly a training user's problem for ``V_u``. Default
  ``λ = 1e-5``.
* **User vectors** start at zero, as fold-in does; ``W`` and ``W'`` are
  uniform in ``±1/sqrt(fan_in)`` (as FC-DAE). The optimiser is dense, so
  Adam's momentum keeps moving a training user's vector for a while after
  its batch (Wu et al. use SGD/AdaGrad on the sampled entries).
* **Fold-in** (above) is ours: the paper does not fold in users; the
  defaults ``foldin_steps = 50``, ``foldin_lr = 0.1`` are not tuned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from aerec.batches import SparseBatch, csr_to_batch
from aerec.checks import above, at_least, check, fraction, one_of
from aerec.data.prepared import Fold
from aerec.models.layers import DenseLayer, dropout_sparse
from aerec.models.torch_base import TorchRecommender
from aerec.training import TrainConfig
from aerec.validate import get_array

CDAE_LOSSES = ("weighted_square", "logistic")


@dataclass
class CDAEConfig(TrainConfig):
    """Hyperparameters of CDAE (defaults: Khawar et al. 2020, Sec. 4.2, after Liang et al. 2018).

    Attributes:
        hidden: width of the sigmoid hidden layer and of each user vector.
        input_dropout: the corruption: dropout on the input's non-zeros.
        loss: ``weighted_square`` (squared error of the sigmoid outputs) or ``logistic``.
        negative_weight: weight of an unobserved entry in the loss (an observed one weighs 1).
        l2_penalty: λ on ||W||² + ||W'||² per batch and on each batch user's ||V_u||².
        foldin_steps: Adam steps fitting an unseen user's vector when scoring (0: a zero vector).
        foldin_lr: the learning rate of those steps.
    """

    hidden: int = 200
    input_dropout: float = 0.5
    loss: str = "weighted_square"
    negative_weight: float = 0.1
    l2_penalty: float = 1e-5
    foldin_steps: int = 50
    foldin_lr: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, hidden=at_least(1), input_dropout=fraction(), loss=one_of(*CDAE_LOSSES), negative_weight=(lambda v: 0 < v <= 1, "must lie in (0, 1]"),
              l2_penalty=at_least(0.0), foldin_steps=at_least(0), foldin_lr=above(0.0))  # fmt: skip


class CDAEModule(nn.Module):
    """The network of Sec. 3.1 with one vector per training user (``user_vectors``, users x hidden)."""

    def __init__(self, n_items: int, n_users: int, hidden: int, *, input_dropout: float, loss: str, negative_weight: float, l2_penalty: float, seed: int, device: torch.device) -> None:
        super().__init__()
        init = torch.Generator().manual_seed(seed)
        self.encoder = DenseLayer(n_items, hidden, bias_size=hidden, fan_in=n_items, generator=init, device=device)
        self.decoder = DenseLayer(n_items, hidden, bias_size=n_items, fan_in=hidden, generator=init, device=device)
        self.user_vectors = nn.Parameter(torch.zeros(n_users, hidden, device=device))  # (train users, hidden)
        self.input_dropout, self.loss_name = input_dropout, loss
        self.negative_weight, self.l2_penalty = negative_weight, l2_penalty
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def decode(self, a: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Logits (users, items) from the encoder's output ``a = W x + b`` and user vectors ``v`` (users, hidden)."""
        return self.decoder.decode(torch.sigmoid(a + v))

    def user_losses(self, logits: torch.Tensor, x: SparseBatch, v: torch.Tensor) -> torch.Tensor:
        """Each user's ``ℓ(x_u, y_u) + λ ||v_u||²``: (users,)."""
        t = torch.zeros_like(logits)
        t[x.rows, x.cols] = 1.0  # (users, items) t_ui = 1[x_ui > 0] (the batch holds non-zeros only)
        c = self.negative_weight + (1.0 - self.negative_weight) * t  # (users, items)
        if self.loss_name == "weighted_square":
            err = c * (t - torch.sigmoid(logits)) ** 2
        else:
            err = c * F.binary_cross_entropy_with_logits(logits, t, reduction="none")
        return err.sum(1) + self.l2_penalty * (v * v).sum(1)

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        if batch.ids is None:
            raise ValueError("CDAE trains on batches of training users (batch.ids)")
        x = dropout_sparse(batch, self.input_dropout, self.generator) if self.training else batch
        v = self.user_vectors[batch.ids]  # (users, hidden)
        logits = self.decode(self.encoder.encode(x), v)  # (users, items)
        loss = self.user_losses(logits, batch, v).mean()
        if self.l2_penalty:
            loss = loss + self.l2_penalty * ((self.encoder.weight**2).sum() + (self.decoder.weight**2).sum())
        return loss

    def fold_in(self, x: SparseBatch, steps: int, lr: float) -> torch.Tensor:
        """User vectors (users, hidden) for unseen users' rows ``x``, the network frozen and uncorrupted."""
        with torch.no_grad():
            a = self.encoder.encode(x)  # (users, hidden)
        v = torch.zeros_like(a, requires_grad=True)
        if steps > 0:
            opt = torch.optim.Adam([v], lr=lr)
            with torch.enable_grad():
                for _ in range(steps):
                    total = self.user_losses(self.decode(a, v), x, v).sum()  # a sum: no row's gradient reads another
                    (v.grad,) = torch.autograd.grad(total, v)  # the network's .grad are never touched
                    opt.step()
        return v.detach()


class CDAE(TorchRecommender):
    """Collaborative denoising autoencoder; unseen users get a user vector fitted on their fold-in."""

    name = "cdae"
    Config = CDAEConfig

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        self.n_users_ = X.shape[0]
        super()._fit(X, validation=validation)

    def _build(self, device: torch.device) -> None:
        cfg = self.config
        self.module_ = CDAEModule(self.n_items_, self.n_users_, cfg.hidden, input_dropout=cfg.input_dropout, loss=cfg.loss, negative_weight=cfg.negative_weight, l2_penalty=cfg.l2_penalty, seed=self.options_.seed, device=device)

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        module = self.module_.eval()
        x = csr_to_batch(X_in, module.user_vectors.device)
        v = module.fold_in(x, self.config.foldin_steps, self.config.foldin_lr)  # (users, hidden)
        with torch.no_grad():
            logits = module.decode(module.encoder.encode(x), v)  # (users, items)
        return logits.float().cpu().numpy()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.n_users_ = get_array(state, "user_vectors", ndim=2).shape[0]
        self.n_items_ = get_array(state, "decoder.bias", ndim=1).shape[0]  # the rest is checked against the network built
        self._build(self.device)
        self._load_module_state(state)
