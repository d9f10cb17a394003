"""Choosing the torch device and dtype from a config string; moving scipy matrices to torch."""

from __future__ import annotations

import torch

from aerec.errors import ConfigError

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` is CUDA where present, else the CPU; ``"cuda"`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: not a torch device (use auto, cpu or cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return device


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device`` (the CPU: the kernel's MemAvailable), or None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def is_allocation_error(e: BaseException) -> bool:
    """Whether ``e`` is an allocator's refusal (numpy's MemoryError; torch's "can't allocate memory", "CUDA out of memory")."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and ("allocate" in str(e) or "out of memory" in str(e)))


def check_memory(need: float, device: torch.device, what: str) -> None:
    """Refuse, before allocating, a request of ``need`` bytes that ``device`` cannot hold: a one-line ConfigError."""
    have = available_memory(device)
    if have is not None and need > have:
        raise ConfigError(f"{what} needs about {need / 2**30:,.1f} GiB, more than the {have / 2**30:,.1f} GiB available on {device}")


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ConfigError(f"--dtype {name!r}: choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def torch_csr(M, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A torch sparse CSR copy of the scipy matrix ``M`` on ``device``."""
    import warnings

    import numpy as np
    import scipy.sparse as sp

    M = sp.csr_matrix(M)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(M.indptr.astype(np.int64)),
            torch.from_numpy(M.indices.astype(np.int64)),
            torch.from_numpy(M.data).to(dtype),
            size=M.shape,
            check_invariants=False,
        ).to(device)
