"""Reader for the Free Spoken Digit Dataset (real recordings of the digits 0-9).

Files are ``{digit}_{speaker}_{index}.wav``, 8 kHz mono 16-bit PCM, trimmed. They are read
resampled to 16 kHz (polyphase, see :mod:`edgekws.data.wavio`) and padded with zeros to one
second, the word centred by default (``align='start'`` pads at the end only, like
``decode_wav``); the rare recording longer than a second is cropped around its centre.

The recordings are never copied into the repository. They are looked up in, in order:
the ``root`` argument, the ``EDGEKWS_FSDD`` environment variable (the ``recordings`` folder
or the dataset folder holding it), then ``../shared/data/fsdd/recordings`` next to the
repository root.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from .wavio import read_wav

__all__ = ["DIGIT_WORDS", "FsddSample", "fsdd_root", "list_fsdd", "load_fsdd", "fit_clip"]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ENV_VAR = "EDGEKWS_FSDD"
CLIP = 16000
_NAME_RE = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>\d+)\.wav$")


@dataclasses.dataclass(frozen=True)
class FsddSample:
    """One FSDD recording."""

    path: str
    digit: int
    speaker: str
    index: int

    @property
    def word(self) -> str:
        return DIGIT_WORDS[self.digit]


def _default_root() -> Path:
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "data" / "fsdd" / "recordings"


def fsdd_root(root=None) -> Path:
    """The FSDD ``recordings`` folder (see the module docstring for the search order).

    Raises
    ------
    FileNotFoundError
        If the folder does not exist, with a message telling where it was looked for.
    """
    if root is None:
        root = os.environ.get(ENV_VAR) or _default_root()
    path = Path(root)
    if (path / "recordings").is_dir():
        path = path / "recordings"
    if not path.is_dir():
        raise FileNotFoundError(
            f"FSDD recordings not found at {os.fspath(path)!r}; clone "
            f"Jakobovski/free-spoken-digit-dataset and set {ENV_VAR} to its recordings folder")
    return path


def list_fsdd(root=None, speakers=None, digits=None) -> list:
    """All recordings (sorted by speaker, digit, index), optionally filtered.

    Parameters
    ----------
    root : path-like, optional
        Recordings folder (default: see :func:`fsdd_root`).
    speakers : iterable of str, optional
        Keep only these speakers.
    digits : iterable of int, optional
        Keep only these digits.
    """
    folder = fsdd_root(root)
    out = []
    for p in folder.iterdir():
        m = _NAME_RE.match(p.name)
        if m:
            out.append(FsddSample(str(p), int(m["digit"]), m["speaker"], int(m["index"])))
    if speakers is not None:
        speakers = set(speakers)
        known = {s.speaker for s in out}
        unknown = sorted(speakers - known)
        if unknown:
            raise ValueError(f"unknown FSDD speakers {unknown!r}; present: {sorted(known)!r}")
        out = [s for s in out if s.speaker in speakers]
    if digits is not None:
        digits = set(digits)
        bad = sorted(d for d in digits if d not in range(10))
        if bad:
            raise ValueError(f"digits must be 0-9, not {bad!r}")
        out = [s for s in out if s.digit in digits]
    if not out:
        raise ValueError(f"no FSDD recordings matched in {os.fspath(folder)!r}")
    return sorted(out, key=lambda s: (s.speaker, s.digit, s.index))


def fit_clip(audio, length: int = CLIP, align: str = "center") -> np.ndarray:
    """Zero-pad or crop ``audio`` to ``length`` samples, centred or from the start."""
    if align not in ("center", "start"):
        raise ValueError(f"align must be 'center' or 'start', not {align!r}")
    audio = np.asarray(audio, dtype=np.float32)
    out = np.zeros(length, dtype=np.float32)
    n = audio.size
    if n >= length:
        s = (n - length) // 2 if align == "center" else 0
        out[:] = audio[s:s + length]
    else:
        s = (length - n) // 2 if align == "center" else 0
        out[s:s + n] = audio
    return out


def load_fsdd(samples=None, root=None, align: str = "center", **filters):
    """Waveforms, words and speakers of FSDD recordings.

    Parameters
    ----------
    samples : list of FsddSample, optional
        Which recordings; default :func:`list_fsdd` ``(root, **filters)``.
    align : {'center', 'start'}
        Where the recording goes in the one-second clip.

    Returns
    -------
    waves : numpy.ndarray
        float32 ``(n, 16000)`` at 16 kHz.
    words : list of str
        ``'zero'`` ... ``'nine'``.
    speakers : list of str
    """
    if samples is None:
        samples = list_fsdd(root, **filters)
    waves = np.stack([fit_clip(read_wav(s.path), CLIP, align) for s in samples])
    return waves, [s.word for s in samples], [s.speaker for s in samples]
