"""Opening input files that may be anything: FIFOs, devices and folders are refused.

``open("fifo")`` blocks until a writer appears and ``/dev/zero`` never ends, so readers
open with ``O_NONBLOCK`` (which makes opening a FIFO return at once), check with
``fstat`` on the open descriptor (no race with a rename) that it is a regular file, and
check its size against their limit before reading a byte.
"""
from __future__ import annotations

import os
import stat

__all__ = ["open_regular"]


def open_regular(path, what: str = "file", max_bytes: int | None = None):
    """Open ``path`` for binary reading if it is a regular file of at most ``max_bytes``.

    Parameters
    ----------
    path : str or path-like
    what : str
        How errors name the file, e.g. ``"WAV file"``.
    max_bytes : int or None
        Largest size accepted.

    Returns
    -------
    file object
        Opened in ``"rb"`` mode; the caller closes it.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If ``path`` is a FIFO, a device, a socket or a folder, or is larger than ``max_bytes``.
    """
    path = os.fspath(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: {what} must be a regular file, not {_kind(st.st_mode)}")
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"{path}: {what} is {st.st_size} bytes, more than the limit of "
                             f"{max_bytes} bytes")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return f"a special file (mode {mode:#o})"
