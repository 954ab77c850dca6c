"""Atomic file writes: readers see the old file or the new one, never half of one.

Used for everything edgekws saves (models, learned weights, feature caches, reports).
A write replaces the *real* file (a symlinked target stays a symlink), keeps the mode of
the file it replaces, makes the rename durable by syncing the folder, and removes the
temporary files earlier writes of the same target left behind when they were killed.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable, Union

#: A temporary file older than this is stale even if its writer's pid is in use again.
STALE_SECONDS = 24 * 3600


def atomic_write(path, data: Union[bytes, Callable]) -> None:
    """Replace ``path`` by ``data`` (bytes, or a ``writer(file)`` callable).

    The content goes to a temporary file ``.NAME.PID.XXXX.tmp`` next to the real file
    (``path`` with its symlinks resolved), is flushed to disk, given the mode of the file
    it replaces (or the umask's mode for a new file) and renamed over it; then the folder
    is synced. On any error the temporary file is removed and the target is untouched.
    Temporary files of the same target whose writer is gone are removed.
    """
    path = Path(os.path.realpath(path))
    folder = path.parent
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sync_folder(folder)
    remove_stale_temporaries(path)


def _mode_for(path: Path) -> int:
    """The permission bits of the file being replaced, or the umask's for a new one
    (mkstemp makes the file private, 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. a folder we may not read
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - some filesystems refuse directory fsync
        pass
    finally:
        os.close(dfd)


def remove_stale_temporaries(path) -> list[str]:
    """Remove the temporary files :func:`atomic_write` left for ``path`` when its writer
    was killed: those whose writer process is gone, or older than :data:`STALE_SECONDS`
    (also those of older edgekws versions, ``.NAME.XXXXXXXX.tmp`` without a pid). A
    temporary of a live writer (a concurrent save) is kept. Returns the names removed."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"(?:(\d+)\.)?[a-z0-9_]{8}\.tmp\Z")
    removed = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if m is None:
            continue
        tmp = path.parent / name
        try:
            stale = (m.group(1) is not None and not _alive(int(m.group(1)))) or \
                time.time() - os.lstat(tmp).st_mtime > STALE_SECONDS
            if stale:
                os.unlink(tmp)
                removed.append(name)
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True   # another user's process, or a pid beyond the range: keep the file
    return True
