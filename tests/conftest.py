"""Shared fixtures: tiny known-answer data and the location of ../shared/data."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

from aerec.data.prepared import Fold

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """The folder of a real dataset, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} not found: the real datasets live in ../shared/data beside the repository")
    return path


def block_data(n_users=120, n_items=40, n_blocks=4, per_user=6, seed=0):
    """Users who each interact only within one block of items (a checkerboard).

    The right answer is known: a good model ranks a user's own block first.
    Returns (X, block_of_user, block_of_item).
    """
    rng = np.random.default_rng(seed)
    size = n_items // n_blocks
    block_of_item = np.arange(n_items) // size
    block_of_user = rng.integers(0, n_blocks, n_users)
    rows, cols = [], []
    for u, b in enumerate(block_of_user):
        items = rng.choice(np.arange(b * size, (b + 1) * size), per_user, replace=False)
        rows += [u] * per_user
        cols += list(items)
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    return X, block_of_user, block_of_item


def split_rows(X, n_train, seed=0):
    """First ``n_train`` rows train; the rest become a fold with half of each row held out."""
    rng = np.random.default_rng(seed)
    train = X[:n_train]
    rest = sp.lil_matrix(X[n_train:])
    X_in = sp.lil_matrix(rest.shape, dtype=np.float32)
    X_out = sp.lil_matrix(rest.shape, dtype=np.float32)
    for r in range(rest.shape[0]):
        cols = np.array(rest.rows[r])
        rng.shuffle(cols)
        h = len(cols) // 2
        X_out[r, cols[:h]] = 1
        X_in[r, cols[h:]] = 1
    fold = Fold(sp.csr_matrix(X_in), sp.csr_matrix(X_out), np.arange(rest.shape[0]))
    return sp.csr_matrix(train), fold


@pytest.fixture
def blocks():
    X, bu, bi = block_data()
    train, fold = split_rows(X, 80)
    return train, fold, bu[80:], bi


# One CPU thread (torch's, and the BLAS under numpy and scipy) for every test:
# the test matrices are small, so thread pools only add synchronisation, which
# stalls on a machine whose two cores are shared (a 700 x 700 by 700 x 25
# matmul took 16 ms with two threads, 1.4 ms with one). Session-scoped, so
# that module-scoped fixtures (the contract suite fits) run under it too.
@pytest.fixture(autouse=True, scope="session")
def one_cpu_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    blas = threadpool_limits(limits=1) if threadpool_limits is not None else contextlib.nullcontext()
    with blas:
        yield
    torch.set_num_threads(n)
