"""Reconstruction likelihoods of the autoencoders, as negative log-likelihoods per user.

* multinomial (Liang et al. 2018, Eq. 2): ``-sum_i x_i log softmax(y)_i``;
* logistic (Bernoulli; Khawar et al. 2020, Eq. 4-5 with sigmoid outputs):
  ``-sum_i [x_i log s(y_i) + (1 - x_i) log(1 - s(y_i))]``.

Both are summed over items and averaged over the users of the batch.
"""

from __future__ import annotations

import numpy as np
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


OUTPUT_BIASES = ("zero", "popularity")


def popularity_bias(X, kind: str) -> np.ndarray:
    """The output bias under which a network whose hidden units say nothing predicts item popularity.

    With ``p_i`` the smoothed share of training users who have item ``i``, ``(n_i + 0.5) / (users + 1)``:
    the logistic likelihood's bias is ``logit(p_i)`` (each output's marginal), the multinomial's is
    ``log(n_i + 0.5)`` (softmax is shift-invariant, so this is the popularity distribution). Starting there,
    training need not spend its first updates learning that almost every output is a zero; the paper does
    not say how the decoder bias starts (``output_bias = "zero"`` is the faithful default).
    """
    counts = np.asarray((X > 0).sum(axis=0), dtype=np.float64).ravel()
    if kind == "logistic":
        p = (counts + 0.5) / (X.shape[0] + 1.0)
        return np.log(p / (1.0 - p)).astype(np.float32)
    if kind == "multinomial":
        return np.log(counts + 0.5).astype(np.float32)
    raise ValueError(f"unknown loss {kind!r}: choose {' or '.join(LOSSES)}")
