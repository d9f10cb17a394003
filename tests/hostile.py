"""Hostile copies of aerec's directories, for tests that what is read from disk never crashes aerec.

``hostile_copy(src, dst, {"weights.safetensors": set_arrays(...)})`` copies the directory ``src`` to ``dst``
and applies each edit to the named file of the copy; the original is never touched. An edit is a function of
the file's path; the makers below cover the formats aerec reads:

* ``npz_arrays(fn)``: a ``scipy.sparse.save_npz`` / ``np.savez`` file; ``fn(arrays)`` edits the dict in place;
* ``safetensors_arrays(fn)``: the same for ``weights.safetensors``;
* ``json_value(fn)``: ``fn(value) -> new value`` for ``model.json`` / ``manifest.json``;
* ``checkpoint(fn)``: ``fn(state)`` edits a ``torch.save`` checkpoint in place;
* ``raw(data)``, ``truncated(fraction)``, ``deleted()``: bytes, a cut file, no file.

``snapshot(*dirs)`` gives every file's bytes, to check that a refused input is left as it was.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

Edit = Callable[[Path], None]


def hostile_copy(src: str | Path, dst: str | Path, edits: dict[str, Edit] | None = None) -> Path:
    """A copy of the directory ``src`` at ``dst``, with ``edits[name](dst / name)`` applied."""
    dst = Path(dst)
    shutil.copytree(src, dst)
    for name, edit in (edits or {}).items():
        edit(dst / name)
    return dst


def snapshot(*dirs: str | Path) -> dict[str, bytes]:
    """Every file under ``dirs`` by path, with its bytes."""
    return {str(p): p.read_bytes() for d in dirs for p in sorted(Path(d).rglob("*")) if p.is_file()}


def npz_arrays(fn: Callable[[dict[str, np.ndarray]], None]) -> Edit:
    """Rewrite an ``.npz`` file after ``fn`` edited its arrays (a dict, in place)."""

    def edit(path: Path) -> None:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        fn(arrays)
        with open(path, "wb") as out:
            np.savez(out, **arrays)

    return edit


def safetensors_arrays(fn: Callable[[dict[str, np.ndarray]], None]) -> Edit:
    """Rewrite a safetensors file after ``fn`` edited its arrays (a dict, in place)."""

    def edit(path: Path) -> None:
        from safetensors.numpy import load_file, save_file

        arrays = load_file(str(path))
        fn(arrays)
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))

    return edit


def json_value(fn: Callable) -> Edit:
    """Rewrite a JSON file as ``fn(its value)``."""

    def edit(path: Path) -> None:
        path.write_text(json.dumps(fn(json.loads(path.read_text()))))

    return edit


def checkpoint(fn: Callable[[dict], None]) -> Edit:
    """Rewrite a ``torch.save`` checkpoint after ``fn`` edited its state (a dict, in place)."""

    def edit(path: Path) -> None:
        import torch

        state = torch.load(path, weights_only=True)
        fn(state)
        torch.save(state, path)

    return edit


def raw(data: bytes) -> Edit:
    """Replace the file by ``data`` (``b""``: an empty file)."""
    return lambda path: path.write_bytes(data)


def truncated(fraction: float = 0.5) -> Edit:
    """Keep the first ``fraction`` of the file's bytes."""
    return lambda path: path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])


def deleted() -> Edit:
    """Remove the file."""
    return lambda path: path.unlink()


GARBAGE = bytes(range(256)) * 8  # no format's magic number, every byte value
