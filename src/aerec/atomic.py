"""Write files and directories so that a failure leaves nothing half-written, and never replace what aerec did not write.

Everything aerec writes goes first to a temporary sibling path
(``.NAME.tmp-PID-XXXX``) and is renamed into place only once complete (a
rename within one filesystem is atomic). A temporary path left by a killed
process (its PID no longer runs) is removed by the next write to the same
place.

Every directory :func:`atomic_dir` writes holds a marker file, ``.aerec``.
Replacing an existing directory (``--force``) is allowed only when it holds
that marker (or, for directories written before the marker existed, one of
aerec's own top-level files: ``model.json``, ``manifest.json``,
``index.html``, ``genres.json``), and never when it is or holds an input of
the same command: ``aerec prepare table --data D/log.csv --out D --force``
and ``aerec train popularity --data P --out P --force`` are refused.
:func:`check_out` makes these checks, and that the location can be written
at all, before a command starts its work.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from aerec.errors import ConfigError

#: The file in every directory aerec writes (JSON: what wrote it).
MARKER = ".aerec"
#: Top-level files of directories aerec wrote before the marker existed.
_LEGACY_MARKERS = ("model.json", "manifest.json", "index.html", "genres.json", "per_user.parquet", "spec.json", "run.json")


def check_out(out: str | os.PathLike, *, overwrite: bool = False, resume: bool = False, inputs: Iterable[str | os.PathLike | None] = (), option: str = "--out") -> Path:
    """Refuse, before any work, an output directory that cannot or may not be written; return it as a Path.

    * ``out`` is an existing file, lies under a file, or its nearest existing folder is not writable;
    * ``resume`` (a search or run directory, added to and never replaced): ``out`` is non-empty and not aerec's;
    * ``out`` is a non-empty directory and ``overwrite`` is false;
    * ``overwrite`` would replace a directory aerec did not write (no marker);
    * ``overwrite`` would replace a directory that is, or holds, one of ``inputs``.
    """
    out = Path(out)
    label = f"{option} {out}" if option else str(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{label}: exists and is not a directory")
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{label}: lies under {parent}, which is a file")
    probe_writable(out.parent if out.exists() else parent, label)
    if out.is_dir() and _non_empty(out):
        if resume:
            if not written_by_aerec(out):
                raise ConfigError(f"{label}: exists, is not empty and is not an aerec directory; choose another {option or 'output'}")
            return out
        if not overwrite:
            raise ConfigError(f"{label}: directory exists and is not empty (pass --force to replace it)")
        if not written_by_aerec(out):
            raise ConfigError(f"{label}: not a directory aerec wrote (no {MARKER}); --force replaces only aerec's output, choose another {option or 'output'}")
        here = out.resolve()
        for path in inputs:
            if path is None:
                continue
            p = Path(path).resolve()
            if p == here or here in p.parents:
                raise ConfigError(f"{label}: holds an input of this command ({path}); --force would delete it, choose another {option or 'output'}")
    return out


def probe_writable(folder: Path, label: str) -> None:
    """Write and remove a file in ``folder`` (permission bits say nothing for root or on a read-only or special filesystem)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".aerec-probe-{os.getpid()}-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise ConfigError(f"{label}: cannot write in {folder} ({e.strerror or e})") from None


def written_by_aerec(path: str | os.PathLike) -> bool:
    """Whether the directory ``path`` holds aerec's marker (or a top-level file of aerec's own, from before the marker)."""
    path = Path(path)
    return any((path / name).is_file() for name in (MARKER, *_LEGACY_MARKERS))


def _non_empty(path: Path) -> bool:
    try:
        return any(path.iterdir())
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None


def remove_stale(target: str | os.PathLike) -> None:
    """Remove the temporary siblings of ``target`` (``.NAME.tmp-PID-*``, ``.NAME.old-PID``) whose process has ended."""
    target = Path(target)
    folder = target.parent
    if not folder.is_dir():
        return
    for prefix in (f".{target.name}.tmp-", f".{target.name}.old-"):
        for path in folder.glob(f"{glob.escape(prefix)}*"):
            pid = path.name[len(prefix):].split("-")[0]
            if pid.isdigit() and _alive(int(pid)):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``out`` on success.

    If the body raises, the temporary directory is removed and ``out`` is left
    exactly as it was. An existing non-empty ``out`` is an error unless
    ``overwrite`` is true, in which case it is replaced only after the new
    directory is complete, and only if aerec wrote it (:func:`check_out`; the
    caller checks its inputs there before its work). The new directory holds
    the marker :data:`MARKER`.
    """
    out = check_out(out, overwrite=overwrite, option="")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
    try:
        yield tmp
        (tmp / MARKER).write_text(json.dumps({"written_by": "aerec"}) + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
