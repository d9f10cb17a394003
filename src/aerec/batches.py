"""Mini-batches of user rows taken from a CSR matrix that lives on the device.

The training matrix is copied to the device once (indptr, indices, data);
each batch is gathered there as COO triplets (row within the batch, item,
value), so no batch is ever densified on the CPU. A model densifies on the
device only if its layers need a dense input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


@dataclass
class SparseBatch:
    """A batch of ``n_rows`` users in COO form on the device.

    ``rows[k]``, ``cols[k]``, ``vals[k]``: the k-th non-zero (row within the batch, item, value).
    ``ids``: for a batch of training users, their row numbers in the training
    matrix (models with per-user parameters, e.g. CDAE, look them up); ``None``
    for fold-in rows of unseen users.
    """

    rows: torch.Tensor  # (nnz,) int64
    cols: torch.Tensor  # (nnz,) int64
    vals: torch.Tensor  # (nnz,) float32
    n_rows: int
    n_cols: int
    ids: torch.Tensor | None = None  # (n_rows,) int64 training-row numbers, or None

    def dense(self) -> torch.Tensor:
        """The batch as a dense (n_rows, n_cols) tensor on the device."""
        out = torch.zeros(self.n_rows, self.n_cols, dtype=self.vals.dtype, device=self.vals.device)
        out[self.rows, self.cols] = self.vals
        return out

    def row_nnz(self) -> torch.Tensor:
        return torch.bincount(self.rows, minlength=self.n_rows)


class DeviceCSR:
    """A users x items CSR matrix held on ``device``, sliced into row batches there."""

    def __init__(self, X: sp.csr_matrix, device: torch.device | str = "cpu") -> None:
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
        self.shape = X.shape
        self.device = torch.device(device)
        self.indptr = torch.from_numpy(X.indptr.astype(np.int64)).to(self.device)
        self.indices = torch.from_numpy(X.indices.astype(np.int64)).to(self.device)
        self.data = torch.from_numpy(X.data).to(self.device)

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    def batch(self, row_ids: torch.Tensor) -> SparseBatch:
        """The rows ``row_ids`` (a 1-D int64 tensor on the device), in that order."""
        starts = self.indptr[row_ids]
        counts = self.indptr[row_ids + 1] - starts  # (B,)
        rows = torch.repeat_interleave(torch.arange(len(row_ids), device=self.device), counts)
        offsets = torch.cumsum(counts, 0) - counts  # first position of each row in the batch
        pos = torch.arange(len(rows), device=self.device) - offsets[rows] + starts[rows]
        return SparseBatch(rows, self.indices[pos], self.data[pos], len(row_ids), self.shape[1], ids=row_ids)

    def batches(self, batch_size: int, *, generator: torch.Generator | None = None, shuffle: bool = True):
        """Yield :class:`SparseBatch` es covering every row once (shuffled with ``generator``)."""
        n = self.n_rows
        order = torch.randperm(n, generator=generator).to(self.device) if shuffle else torch.arange(n, device=self.device)
        for start in range(0, n, batch_size):
            yield self.batch(order[start : start + batch_size])


def csr_to_batch(X: sp.csr_matrix, device: torch.device | str = "cpu") -> SparseBatch:
    """All rows of a (small) CSR matrix as one :class:`SparseBatch`, e.g. fold-in rows to score."""
    X = sp.csr_matrix(X, dtype=np.float32)
    coo = X.tocoo()
    device = torch.device(device)
    return SparseBatch(
        torch.from_numpy(coo.row.astype(np.int64)).to(device),
        torch.from_numpy(coo.col.astype(np.int64)).to(device),
        torch.from_numpy(coo.data).to(device),
        X.shape[0],
        X.shape[1],
    )
