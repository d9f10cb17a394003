"""Reconstruction likelihoods of the autoencoders, as negative log-likelihoods per user.

* multinomial (Liang et al. 2018, Eq. 2): ``-sum_i x_i log softmax(y)_i``;
* logistic (Bernoulli; Khawar et al. 2020, Eq. 4-5 with sigmoid outputs):
  ``-sum_i [x_i log s(y_i) + (1 - x_i) log(1 - s(y_i))]``.

Both are summed over items and averaged over the users of the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("multinomial", "logistic")


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """The mean over users of the negative log-likelihood of ``target`` under ``logits`` (users x items)."""
    if kind == "multinomial":
        return -(F.log_softmax(logits, dim=1) * target).sum(1).mean()
    if kind == "logistic":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1).mean()
    raise ValueError(f"unknown loss {kind!r}: choose {' or '.join(LOSSES)}")
