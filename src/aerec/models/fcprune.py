"""FC-Prune: FC-DAE pruned by weight magnitude, then retrained (Khawar et al. 2020, Sec. 5.6, Tables 3-4).

The contraction approach to structure learning that Sw-DAE is compared with:
Han, Pool, Tran & Dally, "Learning both Weights and Connections for Efficient
Neural Networks", NIPS 2015. Three steps:

1. train the fully-connected network (an :class:`~aerec.models.fcdae.FCDAE`,
   trained here with this config's FC-DAE fields, or loaded from ``base``);
2. remove the connections with the smallest weight magnitudes, a fraction
   ``sparsity`` of them (biases are never pruned);
3. retrain the remaining connections, the removed ones fixed at zero.

Choices the papers leave open, and ours:

* **How much is removed.** Han et al. prune weights below a threshold
  (a multiple of each layer's standard deviation); Table 4 of Khawar et al.
  names its models by the fraction removed (Prune-50 ... Prune-90), so we
  remove exactly ``round(sparsity * size)`` weights, the smallest ``|w|``
  (ties broken by position), in each weight matrix separately
  (``prune_scope="layer"``, as Han et al. prune layer by layer) or over
  both matrices together (``"global"``).
* **One round.** Han et al. iterate prune-retrain; we prune once to the
  target, as Table 4 describes ("pruned it following [5] and then retrained").
* **Retraining** is the generic loop with this config's ``lr``, epochs,
  patience, dropout and loss, from the base's weights and a fresh optimiser.
  Dropout is not rescaled for the pruned layer (Han et al. shrink it).
* **Keeping removed weights at zero.** Each layer holds a boolean ``mask``
  buffer (items x hidden, saved with the weights) and computes with
  ``weight * mask``, so a removed weight gets no gradient; it is also zeroed
  in the stored weight at pruning and again after retraining, so it is exactly
  zero whatever the optimiser (weight decay included).
* **Width.** With ``base`` the width ``n_hidden`` is the base's (the config
  records it); the other fields are this config's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import scipy.sparse as sp
import torch

from aerec.checks import check, fraction, one_of
from aerec.data.prepared import Fold
from aerec.models.fcdae import FCDAE, FCDAEConfig, check_base, missing_base
from aerec.models.layers import DenseLayer
from aerec.protocol import validation_ndcg

SCOPES = ("layer", "global")


@dataclass
class FCPruneConfig(FCDAEConfig):
    """Hyperparameters of FC-Prune: FC-DAE's, for the base and the retraining, plus the pruning.

    Attributes:
        sparsity: the fraction of the weights removed (Table 4: 0.5 to 0.9).
        base: a saved fc-dae model directory to prune ("" trains one with this config first).
        prune_scope: ``layer`` (each weight matrix to the sparsity) or ``global`` (both together).
    """

    sparsity: float = 0.5
    base: str = ""
    prune_scope: str = "layer"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self, sparsity=fraction(), prune_scope=one_of(*SCOPES))


class MaskedDenseLayer(DenseLayer):
    """A :class:`DenseLayer` whose connections outside the boolean ``mask`` (items x hidden) are removed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.bool))  # (items, hidden)

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def prune(self, mask: torch.Tensor) -> None:
        """Keep only the connections where ``mask`` is true; the others become exactly zero."""
        self.mask.copy_(mask)
        with torch.no_grad():
            self.weight.mul_(self.mask)


def magnitude_masks(weights: list[torch.Tensor], sparsity: float, scope: str) -> list[torch.Tensor]:
    """Boolean masks removing the ``round(sparsity * size)`` smallest ``|w|``, per matrix or over all of them."""
    groups = [[w] for w in weights] if scope == "layer" else [weights]
    masks = []
    for group in groups:
        flat = torch.cat([w.detach().abs().reshape(-1) for w in group])
        keep = torch.ones_like(flat, dtype=torch.bool)
        keep[torch.argsort(flat, stable=True)[: int(round(sparsity * flat.numel()))]] = False
        masks += [m.view_as(w) for m, w in zip(keep.split([w.numel() for w in group]), group, strict=True)]
    return masks


class FCPrune(FCDAE):
    """FC-DAE with its smallest-magnitude connections removed and the rest retrained."""

    name = "fc-prune"
    Config = FCPruneConfig
    Layer = MaskedDenseLayer

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None, base: FCDAE | None = None) -> None:
        """Train the FC-DAE (or start from ``base``, the fitted one the config's ``base`` names), prune it,
        retrain the remaining connections."""
        cfg = self.config
        device = self.device
        if base is not None:
            base = check_base(base, self.n_items_, cfg.base or "base")
        elif cfg.base:
            raise missing_base(self.name, cfg.base)
        else:
            fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(FCDAEConfig)}
            base = FCDAE(FCDAEConfig(**fields))
            checkpoint = self.options_.checkpoint
            base.fit(X, validation=validation, options=dataclasses.replace(self.options_, checkpoint=None if checkpoint is None else f"{checkpoint}.base"))
        self._start_from(base, device)
        layers = (self.module_.encoder, self.module_.decoder)
        for layer, mask in zip(layers, magnitude_masks([layer.weight for layer in layers], cfg.sparsity, cfg.prune_scope), strict=True):
            layer.prune(mask)
        training = self._train(X, validation, device)
        for layer in layers:
            layer.prune(layer.mask)  # removed weights exactly zero whatever the optimiser did
        self.fit_info_ = {
            "base": {
                "path": cfg.base,
                "validation_ndcg@100": None if validation is None else validation_ndcg(base.score, validation),
                **({} if cfg.base else {"training": base.fit_info_.get("training")}),
            },
            "sparsity": self.sparsity(),
            "training": training,
            "parameters": self.n_parameters(),
            "kept_parameters": self.n_parameters() - sum(int((~layer.mask).sum()) for layer in layers),
        }

    def sparsity(self) -> dict[str, float]:
        """The fraction of weights removed: per layer and overall."""
        masks = {"encoder": self.module_.encoder.mask, "decoder": self.module_.decoder.mask}
        out = {k: 1.0 - float(m.float().mean()) for k, m in masks.items()}
        out["overall"] = 1.0 - sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
        return out
