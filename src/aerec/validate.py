"""Checks of arrays read from disk: dtypes, shapes, finiteness, index bounds (STYLE.md §Distilled 14).

A prepared directory or a model directory may come from anywhere. Before an
array read from one reaches scipy, numpy or torch, it passes through these
functions; what does not fit is a one-line :class:`~aerec.errors.DataError`
naming ``where`` (a file, and the array in it: ``runs/x/weights.safetensors:
encoder.weight``), what is wrong, and what was expected. Out-of-range CSR
indices in particular never reach scipy, where they read or write outside
the arrays.

The ``kind`` of an array is one of

* ``"f"``: floating point (float16/32/64);
* ``"i"``: integer, signed or unsigned (not bool);
* ``"n"``: a number, integer or floating (not bool);
* ``"b"``: boolean, or an integer array of 0 and 1 only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from aerec.errors import DataError

__all__ = ["KINDS", "check_array", "check_csr", "check_shape", "checked_csr", "get_array", "shape_text"]

#: ``kind`` -> (numpy dtype kinds accepted, the words used in messages).
KINDS: dict[str, tuple[str, str]] = {
    "f": ("f", "floating-point"),
    "i": ("iu", "integer"),
    "n": ("iuf", "numeric"),
    "b": ("biu", "boolean"),
}


def check_array(
    a,
    where: str,
    *,
    kind: str = "f",
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """``a`` as a numpy array after checking it; a misfit is a :class:`DataError` naming ``where``.

    ``shape`` may hold ``None`` for a free axis (and fixes ``ndim``); values
    must lie in ``[low, high)`` (either bound optional), floating values be
    finite unless ``finite=False``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: choose {', '.join(map(repr, KINDS))}")
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as e:
            raise DataError(f"{where}: not an array ({e})") from None
    kinds, words = KINDS[kind]
    if a.dtype.kind not in kinds:
        raise DataError(f"{where}: has dtype {a.dtype} (expected {words} values)")
    if a.dtype.kind == "f" and a.dtype not in (np.float32, np.float64):
        raise DataError(f"{where}: has dtype {a.dtype} (expected float32 or float64, as aerec writes)")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None and a.ndim != ndim:
        raise DataError(f"{where}: has {a.ndim} dimension(s), shape {a.shape} (expected {ndim})")
    if shape is not None and any(want is not None and got != want for got, want in zip(a.shape, shape, strict=True)):
        raise DataError(f"{where}: has shape {a.shape} (expected {shape_text(shape)})")
    if a.size == 0:
        return a
    if a.dtype.kind == "f" and finite and not _all_finite(a):
        raise DataError(f"{where}: holds NaN or infinite values (expected finite numbers)")
    if kind == "b" and a.dtype.kind != "b" and ((a != 0) & (a != 1)).any():
        raise DataError(f"{where}: holds values other than 0 and 1 (expected booleans)")
    if low is not None or high is not None:
        lo, hi = a.min(), a.max()
        if (low is not None and lo < low) or (high is not None and hi >= high):
            span = f"[{'-inf' if low is None else _num(low)}, {'inf' if high is None else _num(high)})"
            raise DataError(f"{where}: values from {_num(lo)} to {_num(hi)} (expected values in {span})")
    return a


def get_array(state: Mapping[str, np.ndarray], key: str, where: str = "", **checks) -> np.ndarray:
    """``state[key]`` checked with :func:`check_array` (``checks``); a missing key is a :class:`DataError`.

    Messages name ``{where}{key}``: ``where`` is a prefix such as ``"file: "`` or ``""``.
    """
    if key not in state:
        raise DataError(f"{where}{key}: missing (the saved state has no such array)")
    return check_array(state[key], f"{where}{key}", **checks)


def check_shape(shape, where: str) -> tuple[int, int]:
    """A matrix shape: two non-negative integers (an array or a sequence), as a tuple of ``int``."""
    s = check_array(shape, where, kind="i", shape=(2,), low=0, high=np.iinfo(np.int64).max)
    return int(s[0]), int(s[1])


def check_csr(indptr, indices, data, shape, where: str, *, prefix: str = "", data_kind: str = "n") -> tuple[int, int]:
    """Check CSR arrays before scipy sees them; the shape as a tuple.

    ``indptr``: 1-D integers, ``rows + 1`` of them, from 0 to ``nnz``, never
    decreasing; ``indices``: 1-D integers in ``[0, cols)``, ``nnz`` of them;
    ``data``: 1-D, finite, of ``data_kind``, ``nnz`` of them. Messages name
    ``{where}: {prefix}indptr`` and so on.
    """
    name = f"{where}: {prefix}" if where else prefix
    rows, cols = check_shape(shape, f"{name}shape")
    indptr = check_array(indptr, f"{name}indptr", kind="i", shape=(rows + 1,))
    indices = check_array(indices, f"{name}indices", kind="i", ndim=1)
    nnz = len(indices)
    check_array(data, f"{name}data", kind=data_kind, shape=(nnz,))
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise DataError(f"{name}indptr: runs from {_num(indptr[0])} to {_num(indptr[-1])} (expected 0 to nnz = {nnz}, the length of {prefix}indices)")
    if rows and (np.diff(indptr) < 0).any():
        raise DataError(f"{name}indptr: decreases (expected non-decreasing row offsets)")
    check_array(indices, f"{name}indices", kind="i", low=0, high=cols)
    return rows, cols


def checked_csr(indptr, indices, data, shape, where: str, *, prefix: str = "", data_kind: str = "n", dtype=None) -> sp.csr_matrix:
    """:func:`check_csr`, then the ``scipy.sparse.csr_matrix`` (``data`` cast to ``dtype`` when given)."""
    rows, cols = check_csr(indptr, indices, data, shape, where, prefix=prefix, data_kind=data_kind)
    data = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
    index = np.int32 if max(rows, cols, len(data)) < np.iinfo(np.int32).max else np.int64
    return sp.csr_matrix((data, np.asarray(indices, dtype=index), np.asarray(indptr, dtype=index)), shape=(rows, cols))


def shape_text(shape: Sequence[int | None]) -> str:
    """A shape as numpy writes it, ``None`` (a free axis) as ``any``: ``(30,)``, ``(12, any)``."""
    parts = ["any" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _all_finite(a: np.ndarray, chunk: int = 1 << 24) -> bool:
    """Whether every value is finite, in chunks (no temporary the size of a large array)."""
    flat = a.reshape(-1)
    return all(np.isfinite(flat[i : i + chunk]).all() for i in range(0, flat.size, chunk))


def _num(v) -> str:
    """A number for a message: integers as integers."""
    v = v.item() if isinstance(v, np.generic) else v
    return str(int(v)) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else str(v)
