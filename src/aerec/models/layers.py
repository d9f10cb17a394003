"""The sparse-and-wide layer of Sw-DAE (Khawar et al. 2020, Sec. 3.2) and dropout with an explicit generator.

The structure is given by item groups: item ``i`` connects to hidden unit
``j`` if and only if ``i`` belongs to group ``j``. Every item belongs to
exactly ``R`` groups, so the structure is an ``items x R`` array of group
indices ``G`` (sorted within each row), and each layer's weights are an
``items x R`` array aligned with it:

* encoder (items -> hidden): ``z[u, G[i, r]] += x[u, i] * E[i, r]``
* decoder (hidden -> items): ``y[u, i] = sum_r D[i, r] * h[u, G[i, r]] + b[i]``

Weights outside the structure do not exist in this representation, so they
are never used and never change; :meth:`StructuredLayer.dense_weight`
materialises the ``hidden x items`` matrix (zeros outside the structure) for
analysis and tests.

The encoder exploits the input's sparsity: it touches only the non-zeros of
the batch, ``nnz(x) * R`` multiply-adds instead of ``users * items * K``. The
decoder must produce every item's score; it exploits the structure's sparsity
(``users * items * R``) through one of three backends, chosen by measurement
(benchmarks/bench_layers.py):

* ``csr``: a CSR sparse-dense product for the output and for the input
  gradient, and a sampled dense-dense product (``torch.sparse.sampled_addmm``)
  for the weight gradient, which therefore lives on the structure only;
* ``dense``: the weights scattered into a dense ``items x K`` matrix, then one
  GEMM (wasteful in FLOPs, but a GEMM; useful where dense tensor cores are
  much faster than sparse kernels).
* ``gemm``: both layers as dense GEMMs in the compute dtype (bfloat16 under
  ``precision = "bf16"``) on a dense ``items x K`` copy of the weights that
  the layer keeps between steps: only the ``items x R`` structured entries are
  rewritten each step (everything else is zero once and stays zero), the
  encoder multiplies the densified batch, and each weight gradient is one
  GEMM followed by a gather of the structured entries. It does ``K / R``
  times the FLOPs the structure needs, all on tensor cores, and moves
  ``items x R`` values per layer and step instead of ``items x K`` twice.

``BACKENDS`` lists them; ``auto`` (the models' default) is ``gemm`` on CUDA
and ``csr`` on the CPU.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from aerec.batches import SparseBatch


BACKENDS = ("csr", "dense", "gemm")


def resolve_backend(backend: str, device: torch.device) -> str:
    """``auto`` -> ``gemm`` on CUDA, ``csr`` elsewhere; any other name must be one of :data:`BACKENDS`."""
    if backend == "auto":
        return "gemm" if device.type == "cuda" else "csr"
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: choose auto, {', '.join(BACKENDS)}")
    return backend


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


class Structure:
    """Fixed connectivity: ``groups[i]`` are the ``R`` hidden units of item ``i`` (sorted)."""

    def __init__(self, groups: np.ndarray | torch.Tensor, n_hidden: int, device: torch.device | str = "cpu") -> None:
        G = torch.as_tensor(np.asarray(groups), dtype=torch.int64)
        if G.ndim != 2:
            raise ValueError("groups must be an items x R array")
        G, _ = torch.sort(G, dim=1)
        if len(G) and (G[:, 1:] == G[:, :-1]).any():
            raise ValueError("an item lists the same group twice")
        if len(G) and (G.min() < 0 or G.max() >= n_hidden):
            raise ValueError(f"group indices must lie in [0, {n_hidden})")
        self.n_items, self.overlap = G.shape
        self.n_hidden = int(n_hidden)
        self.device = torch.device(device)
        self.groups = G.to(self.device)  # (items, R)
        nnz = self.n_items * self.overlap
        # items x hidden CSR (decoder orientation): row i holds G[i, :]
        self.crow = torch.arange(0, nnz + 1, self.overlap, dtype=torch.int64, device=self.device)
        self.col = self.groups.reshape(-1)
        # hidden x items CSR (its transpose): a permutation of the same non-zeros
        flat_item = torch.arange(self.n_items, device=self.device).repeat_interleave(self.overlap)
        order = torch.argsort(self.col * self.n_items + flat_item)
        self.t_perm = order  # value k of the transpose is value t_perm[k] of the original
        counts = torch.bincount(self.col, minlength=self.n_hidden)
        self.t_crow = torch.cat([torch.zeros(1, dtype=torch.int64, device=self.device), torch.cumsum(counts, 0)])
        self.t_col = flat_item[order]

    @property
    def nnz(self) -> int:
        return self.n_items * self.overlap

    def mask(self) -> torch.Tensor:
        """The dense ``hidden x items`` 0/1 mask of the structure."""
        M = torch.zeros(self.n_items, self.n_hidden, device=self.device)
        M.scatter_(1, self.groups, 1.0)
        return M.T


def sparse_batch_mm(x: SparseBatch, weight: torch.Tensor, *, dense: bool | None = None) -> torch.Tensor:
    """``x W`` for a sparse batch: (rows, out) for ``W`` (n, out).

    ``dense`` (the default on CUDA): one GEMM of the densified batch, under
    autocast where it is on. A GPU multiplies a dense 500 x 20,108 batch
    faster than it sorts the batch's non-zeros for a sparse product. Else (the
    default on the CPU) a sparse product that touches only the non-zeros,
    always in float32 with autocast off, since torch has no bfloat16 kernels
    for sparse products.
    """
    if dense if dense is not None else weight.device.type == "cuda":
        return x.dense().to(weight.dtype) @ weight
    weight = _not_half(weight)
    xs = torch.sparse_coo_tensor(torch.stack([x.rows, x.cols]), x.vals.to(weight.dtype), (x.n_rows, x.n_cols), check_invariants=False)
    with torch.autocast(device_type=weight.device.type, enabled=False):
        return torch.sparse.mm(xs, weight)


def _not_half(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is a 16-bit float (bfloat16 or float16), else unchanged (float64 stays)."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


class _StructuredMatmul(torch.autograd.Function):
    """``y = h @ Wᵀ`` with ``W`` (items x hidden) given by its CSR values on a fixed structure.

    Computed in float32 with autocast off (no bfloat16 sparse kernels exist).
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, values: torch.Tensor, structure: Structure) -> torch.Tensor:
        h, values = _not_half(h), _not_half(values)
        ctx.structure = structure
        ctx.save_for_backward(h, values)
        with torch.autocast(device_type=h.device.type, enabled=False):
            W = _csr(structure.crow, structure.col, values, (structure.n_items, structure.n_hidden))
            return (W @ h.T).T  # (users, items)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        h, values = ctx.saved_tensors
        grad_y = grad_y.to(h.dtype)
        s = ctx.structure
        grad_h = grad_values = None
        if ctx.needs_input_grad[0]:
            Wt = _csr(s.t_crow, s.t_col, values[s.t_perm], (s.n_hidden, s.n_items))
            grad_h = (Wt @ grad_y.T.contiguous()).T  # (users, hidden)
        if ctx.needs_input_grad[1]:
            pattern = _csr(s.crow, s.col, torch.zeros_like(values), (s.n_items, s.n_hidden))
            grad_values = torch.sparse.sampled_addmm(pattern, grad_y.T.contiguous(), h.contiguous(), beta=0.0).values()
        return grad_h, grad_values, None


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype a matrix product of ``t`` runs in: autocast's where autocast is on, else ``t``'s own."""
    if torch.is_autocast_enabled(t.device.type):
        return torch.get_autocast_dtype(t.device.type)
    return t.dtype


PAD = 64  # the gemm backend's dense copy has rows and columns padded to a multiple of this


def _padded(n: int) -> int:
    return -(-n // PAD) * PAD


def _pad_cols(t: torch.Tensor, width: int) -> torch.Tensor:
    """``t`` with zero columns appended up to ``width`` (itself when already that wide)."""
    return t if t.shape[1] == width else torch.nn.functional.pad(t, (0, width - t.shape[1]))


class _ScatteredGemm(torch.autograd.Function):
    """``a @ Wᵀ`` (``transpose``) or ``a @ W`` with ``W`` (items x hidden) the layer's dense copy of its structured values.

    The copy lives on the layer (:meth:`StructuredLayer.scattered`) and is
    rewritten in place at every call, so it is saved for backward as it is:
    a second forward before the first one's backward bumps its version and
    torch refuses the stale backward instead of computing a wrong gradient.
    Both of its dimensions are padded to a multiple of :data:`PAD` with
    zeros, and so are the operands: cuBLAS's fastest (TMA/wgmma) kernels need
    every leading dimension 16-byte aligned, which 20,108 bfloat16 items are
    not (measured on an H200: the unpadded products ran on sm80 kernels).
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, values: torch.Tensor, layer: StructuredLayer, transpose: bool) -> torch.Tensor:
        dtype = _compute_dtype(a)
        W = layer.scattered(values, dtype)  # (items_pad, hidden_pad)
        width = a.shape[1]
        a = _pad_cols(a.to(dtype), W.shape[1] if transpose else W.shape[0])
        with torch.autocast(device_type=a.device.type, enabled=False):
            out = a @ W.T if transpose else a @ W
        ctx.save_for_backward(a, W)
        ctx.groups, ctx.transpose, ctx.values_dtype, ctx.width = layer.structure.groups, transpose, values.dtype, width
        n_out = layer.structure.n_items if transpose else layer.structure.n_hidden
        return out if out.shape[1] == n_out else out[:, :n_out].contiguous()

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        a, W = ctx.saved_tensors
        grad_out = _pad_cols(grad_out.to(W.dtype), W.shape[0] if ctx.transpose else W.shape[1])
        grad_a = grad_values = None
        n_items = ctx.groups.shape[0]
        with torch.autocast(device_type=a.device.type, enabled=False):
            if ctx.needs_input_grad[0]:
                grad_a = (grad_out @ W if ctx.transpose else grad_out @ W.T)[:, : ctx.width]
            if ctx.needs_input_grad[1]:
                full = grad_out.T @ a if ctx.transpose else a.T @ grad_out  # (items_pad, hidden_pad)
                grad_values = full[:n_items].gather(1, ctx.groups).to(ctx.values_dtype)
        return grad_a, grad_values, None, None


class StructuredLayer(nn.Module):
    """Weights ``(items, R)`` on a :class:`Structure`, used as encoder or decoder."""

    def __init__(self, structure: Structure, *, bias_size: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.structure = structure
        fan_in = structure.overlap  # each hidden unit sees about items*R/K items; each item R units
        bound = 1.0 / np.sqrt(max(fan_in, 1))
        w = torch.empty(structure.n_items, structure.overlap)
        w.uniform_(-bound, bound, generator=generator)
        self.weight = nn.Parameter(w.to(structure.device))  # (items, R)
        self.bias = nn.Parameter(torch.zeros(bias_size, device=structure.device))
        self._scattered: torch.Tensor | None = None  # the gemm backend's dense copy; never saved

    def scattered(self, values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The ``items x hidden`` matrix of ``values`` (``items x R``) in ``dtype``, in the layer's reused buffer.

        The buffer is made (zero) on first use or when the dtype or device
        changes, with both dimensions padded to a multiple of :data:`PAD`;
        afterwards only the structured entries are written, so the padding
        and everything outside the structure stay exactly zero.
        """
        s = self.structure
        buf = self._scattered
        if buf is None or buf.dtype != dtype or buf.device != values.device:
            self._scattered = None  # free the old copy before making the new one
            buf = self._scattered = torch.zeros(_padded(s.n_items), _padded(s.n_hidden), dtype=dtype, device=values.device)
        with torch.no_grad():
            buf[: s.n_items].scatter_(1, s.groups, values.detach().reshape(s.n_items, s.overlap).to(dtype))
        return buf

    def dense_weight(self) -> torch.Tensor:
        """The ``hidden x items`` weight matrix, exactly zero outside the structure."""
        s = self.structure
        W = torch.zeros(s.n_items, s.n_hidden, device=self.weight.device, dtype=self.weight.dtype)
        W.scatter_(1, s.groups, self.weight.detach())
        return W.T

    def encode(self, x: SparseBatch, backend: str = "csr") -> torch.Tensor:
        """``z = x Wᵀ + b`` for a sparse batch: (users, hidden).

        ``gemm``: one dense GEMM of the densified batch; any other backend
        touches only the batch's non-zeros (a gather and an ``index_add``).
        """
        if backend == "gemm":
            return _ScatteredGemm.apply(x.dense(), self.weight, self, False) + self.bias
        s = self.structure
        contrib = x.vals[:, None] * self.weight[x.cols]  # (nnz, R)
        target = x.rows[:, None] * s.n_hidden + s.groups[x.cols]  # (nnz, R) flat (user, hidden)
        z = torch.zeros(x.n_rows * s.n_hidden, device=contrib.device, dtype=contrib.dtype)
        z = z.index_add(0, target.reshape(-1), contrib.reshape(-1))
        return z.view(x.n_rows, s.n_hidden) + self.bias

    def decode(self, h: torch.Tensor, backend: str = "csr") -> torch.Tensor:
        """``y = h Dᵀ + b`` over all items: (users, items)."""
        s = self.structure
        if backend == "csr":
            y = _StructuredMatmul.apply(h, self.weight.reshape(-1), s)
        elif backend == "dense":
            W = torch.zeros(s.n_items, s.n_hidden, device=h.device, dtype=h.dtype).scatter(1, s.groups, self.weight.to(h.dtype))
            y = h @ W.T
        elif backend == "gemm":
            y = _ScatteredGemm.apply(h, self.weight, self, True)
        else:
            raise ValueError(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)}")
        return y + self.bias


def dropout_sparse(x: SparseBatch, p: float, generator: torch.Generator | None) -> SparseBatch:
    """Inverted dropout on the non-zeros of a sparse batch: each kept value is scaled by 1/(1-p)."""
    if p <= 0:
        return x
    keep = torch.rand(x.vals.shape, generator=generator, device=x.vals.device) >= p
    return SparseBatch(x.rows[keep], x.cols[keep], x.vals[keep] / (1.0 - p), x.n_rows, x.n_cols, ids=x.ids)


def dropout_dense(h: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout with an explicit generator."""
    if p <= 0:
        return h
    keep = torch.rand(h.shape, generator=generator, device=h.device) >= p
    return h * keep / (1.0 - p)


class DenseLayer(nn.Module):
    """A fully-connected layer with the same ``encode``/``decode`` interface (FC-DAE, Sec. 5.3).

    ``weight`` is ``items x hidden``; the encoder multiplies the sparse batch
    by it (input sparsity still exploited), the decoder is one GEMM.
    """

    def __init__(self, n_items: int, n_hidden: int, *, bias_size: int, fan_in: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> None:
        super().__init__()
        bound = 1.0 / np.sqrt(max(fan_in, 1))
        w = torch.empty(n_items, n_hidden).uniform_(-bound, bound, generator=generator)
        self.weight = nn.Parameter(w.to(device))  # (items, hidden)
        self.bias = nn.Parameter(torch.zeros(bias_size, device=device))

    def effective_weight(self) -> torch.Tensor:
        """The ``items x hidden`` weights the layer computes with (a subclass may mask them)."""
        return self.weight

    def dense_weight(self) -> torch.Tensor:
        """The ``hidden x items`` weight matrix."""
        return self.effective_weight().detach().T

    def encode(self, x: SparseBatch, backend: str = "dense") -> torch.Tensor:
        return sparse_batch_mm(x, self.effective_weight()) + self.bias  # (users, hidden)

    def decode(self, h: torch.Tensor, backend: str = "dense") -> torch.Tensor:
        return h @ self.effective_weight().T + self.bias  # (users, items)
