"""The shared plumbing of the torch autoencoders: :class:`TorchRecommender` and the one-hidden-layer :class:`DAEModule`.

Every torch model subclasses :class:`TorchRecommender` (train ``module_`` with
the generic loop of :mod:`aerec.training`, score, save); the denoising
autoencoders of Sec. 5.3-5.4 (Sw-DAE, FC-DAE, FC-Prune, FC-Reg, the first
layer of the deeper Sw-DAE) share :class:`DAEModule`. No model imports
another model's file for its base.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from aerec.batches import SparseBatch, csr_to_batch
from aerec.data.prepared import Fold
from aerec.device import check_memory
from aerec.errors import ConfigError, DataError
from aerec.models.base import Recommender
from aerec.models.layers import BACKENDS, dropout_dense, dropout_sparse, resolve_backend
from aerec.models.losses import LOSSES, popularity_bias, reconstruction_loss
from aerec.models.spectra import spectra_monitor
from aerec.protocol import validation_ndcg
from aerec.training import train
from aerec.validate import check_array


def layer_backend(backend: str, device: torch.device) -> str:
    """The backend a config's ``backend`` names on ``device``; an unknown name is a :class:`ConfigError`."""
    try:
        return resolve_backend(backend, device)
    except ValueError:
        raise ConfigError(f"backend={backend!r}: choose 'auto', {', '.join(map(repr, BACKENDS))}") from None


class DAEModule(nn.Module):
    """The network of Eq. 4: one sigmoid hidden layer between an encoder and a decoder layer.

    The layers are :class:`StructuredLayer` s for Sw-DAE and
    :class:`~aerec.models.layers.DenseLayer` s for FC-DAE; everything else
    (corruption, activations, dropout, loss) is shared, which is what makes
    FC-DAE the control of Sec. 5.3-5.4.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, input_dropout: float, hidden_dropout: float, loss: str, backend: str, seed: int, device: torch.device) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"loss={loss!r}: choose {', '.join(map(repr, LOSSES))}")
        self.encoder, self.decoder = encoder, decoder
        self.input_dropout, self.hidden_dropout = input_dropout, hidden_dropout
        self.loss_name, self.backend = loss, backend
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)

    def hidden(self, x: SparseBatch) -> torch.Tensor:
        """``h = sigmoid(W x~ + b)``, the input corrupted when training: (users, K)."""
        if self.training:
            x = dropout_sparse(x, self.input_dropout, self.generator)
        return torch.sigmoid(self.encoder.encode(x, self.backend))

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder's logits for hidden units ``h`` (dropped out when training): (users, items)."""
        if self.training:
            h = dropout_dense(h, self.hidden_dropout, self.generator)
        return self.decoder.decode(h, self.backend)

    def forward(self, x: SparseBatch) -> torch.Tensor:
        return self.output(self.hidden(x))  # (users, items) logits

    def loss(self, batch: SparseBatch, step: int) -> torch.Tensor:
        return reconstruction_loss(self(batch), batch.dense(), self.loss_name)


def check_training_memory(model, n_rows: int, device: torch.device) -> None:
    """Refuse, before the first step, training that cannot fit: the built ``module_``'s gradients and Adam's two
    moments, and a batch's activations, bounded by the batch times the widest side of every weight matrix."""
    params = list(model.module_.parameters())
    n = sum(p.numel() for p in params)
    widths = sum(max(p.shape) for p in params if p.dim() >= 2) + model.n_items_
    batch = min(model.config.batch_size, n_rows)
    check_memory(4 * 3 * n + 4 * 4 * batch * widths, device, f"{model.name}: training {n:,} parameters in batches of {batch:,}")


class TorchRecommender(Recommender):
    """Shared plumbing of the torch autoencoders: train ``module_`` with the generic loop, score, save.

    A subclass builds ``module_`` in :meth:`_build` from its config (and,
    when loading, from the saved arrays) and may add arrays to the state.
    The default :meth:`fit` builds the module for the training matrix's items
    and trains it; a model that learns something first (Sw-DAE's groups)
    overrides it.
    """

    honours: ClassVar[frozenset[str]] = frozenset({"device", "precision", "checkpoint", "track_spectra"})

    def _fit(self, X: sp.csr_matrix, *, validation: Fold | None = None) -> None:
        device = self.device
        self._check_fit_memory(X.shape[0], device)
        self._build(device)
        self._start_output_bias(X)
        training = self._train(X, validation, device)
        self.fit_info_ = {"training": training, "parameters": self.n_parameters()}

    def _check_fit_memory(self, n_users: int, device: torch.device) -> None:
        """Refuse, from the shapes and before allocating, a model whose training cannot fit on ``device``: the
        parameters (``describe()``'s cost) four times over (weights, gradients, Adam's two moments) and a batch's
        dense ``(batch, items)`` activations a few times over. Models without cost facts are not estimated."""
        cost = self.describe().get("cost")
        if not cost:
            return
        batch = min(self.config.batch_size, n_users)
        need = 16 * cost["parameters"] + 16 * batch * self.n_items_
        check_memory(need, device, f"{self.name}: training {cost['parameters']:,} parameters on {self.n_items_:,} items")

    def _start_output_bias(self, X: sp.csr_matrix) -> None:
        """Set the decoder bias as the config's ``output_bias`` says (models without that field: left as built)."""
        if getattr(self.config, "output_bias", "zero") == "popularity":  # the config checked the field
            bias = self.module_.decoder.bias
            with torch.no_grad():
                bias.copy_(torch.from_numpy(popularity_bias(X, self.config.loss)).to(bias.device))

    def _train(self, X: sp.csr_matrix, validation: Fold | None, device: torch.device) -> dict:
        check_training_memory(self, X.shape[0], device)
        validate = None if validation is None else (lambda: validation_ndcg(self.score, validation))
        result = train(self.module_, X, self.config, device=device, options=self.options_, validate=validate, desc=self.name,
                       monitor=spectra_monitor(self.options_.track_spectra, self.module_, X.shape[0]))  # fmt: skip
        return result.as_dict()

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module_.parameters())

    def _score(self, X_in: sp.csr_matrix) -> np.ndarray:
        self.module_.eval()
        with torch.no_grad():
            logits = self.module_(csr_to_batch(X_in, next(self.module_.parameters()).device))
        return logits.float().cpu().numpy()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}

    def _load_module_state(self, state: dict[str, np.ndarray]) -> None:
        self.module_.load_state_dict(module_arrays(self.module_, state))
        self.module_.eval()


def module_arrays(module: nn.Module, state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """``state`` as tensors for ``module.load_state_dict``, checked against the module just built: exactly its arrays,
    each of its shape, floating (and finite) where the module's is, boolean where it is boolean, integer where integer.
    A misfit is a :class:`~aerec.errors.DataError` naming the array (torch would copy an integer array into a float
    parameter without a word)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise DataError(f"{missing[0]}: missing (the saved state has no such array; the network needs {len(expected)})")
    unknown = [k for k in state if k not in expected]
    if unknown:
        raise DataError(f"{unknown[0]}: not an array of this network (expected {', '.join(list(expected)[:6])}{', ...' if len(expected) > 6 else ''})")
    out = {}
    for key, t in expected.items():
        kind = "f" if t.is_floating_point() else "b" if t.dtype == torch.bool else "i"
        out[key] = torch.from_numpy(np.ascontiguousarray(check_array(state[key], key, kind=kind, shape=tuple(t.shape))))
    return out
