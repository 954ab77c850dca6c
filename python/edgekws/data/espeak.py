"""In-process eSpeak NG through ctypes (library and data from the ``espeakng-loader`` wheel).

eSpeak NG keeps global state, so there is one :class:`Espeak` per process (use
:func:`get_espeak`); worker processes each make their own.

Custom voice variants (formant scaling, pitch, flutter, roughness, breath...) are plain
text files. eSpeak only looks for variants in ``<data>/voices/!v/``, so
:func:`make_data_dir` builds a private data folder: symbolic links to the wheel's data
plus a real ``voices/!v`` holding the stock variants and the generated ones.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["Espeak", "get_espeak", "make_data_dir", "stock_data_dir", "available"]

# espeak_AUDIO_OUTPUT
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
_CHARS_UTF8 = 1
_EE_OK = 0

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


def _loader():
    try:
        import espeakng_loader
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("speech synthesis needs the 'espeakng-loader' package: "
                          "pip install espeakng-loader==0.2.4") from None
    return espeakng_loader


def available() -> bool:
    """True if the ``espeakng-loader`` wheel (library + data) is installed."""
    try:
        _loader()
    except ImportError:
        return False
    return True


def stock_data_dir() -> Path:
    """The ``espeak-ng-data`` folder shipped in the wheel."""
    return Path(_loader().get_data_path())


def make_data_dir(variants: dict, parent=None) -> Path:
    """A private ``espeak-ng-data`` with extra voice variants.

    Parameters
    ----------
    variants : dict
        ``{name: file text}`` written to ``voices/!v/<name>``; use them as ``"en-us+name"``.
        A stock variant of the same name is replaced (in the private folder only).
    parent : path-like, optional
        Where to create the folder (default: a new temporary folder). The caller removes it.

    Returns
    -------
    pathlib.Path
        The new ``espeak-ng-data`` folder.
    """
    stock = stock_data_dir()
    base = Path(tempfile.mkdtemp(prefix="edgekws-espeak-", dir=parent))
    data = base / "espeak-ng-data"
    data.mkdir()
    for entry in stock.iterdir():
        if entry.name != "voices":
            os.symlink(entry, data / entry.name)
    vdir = data / "voices" / "!v"
    vdir.mkdir(parents=True)
    for entry in (stock / "voices" / "!v").iterdir():
        os.symlink(entry, vdir / entry.name)
    for name, text in variants.items():
        if not name.isidentifier():
            raise ValueError(f"voice variant name must be an identifier, not {name!r}")
        target = vdir / name
        if target.is_symlink():  # replacing a stock variant: never write through the link
            target.unlink()
        target.write_text(text, encoding="utf-8")
    return data


class Espeak:
    """eSpeak NG in synchronous mode, returning int16 numpy arrays.

    Parameters
    ----------
    data_dir : path-like, optional
        An ``espeak-ng-data`` folder (default: the wheel's).
    """

    def __init__(self, data_dir=None):
        loader = _loader()
        lib = ctypes.CDLL(loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        self._lib = lib
        self.data_dir = str(data_dir or loader.get_data_path())
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200,
                                     self.data_dir.encode(), 0)
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed for data folder {self.data_dir!r}")
        self.sample_rate = int(rate)
        self._chunks: list = []

        def _collect(wav, n, _events):
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            return 0

        self._callback = _CALLBACK(_collect)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._voice = None

    def set_voice(self, name: str) -> None:
        """Select a voice such as ``"en-us"`` or ``"en-gb-scotland+f3"``."""
        if name != self._voice:
            if self._lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
                raise ValueError(f"eSpeak has no voice {name!r}")
            self._voice = name

    def synth(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
              pitch_range: int = 50, volume: int = 100) -> np.ndarray:
        """Speak ``text``; returns int16 samples at :attr:`sample_rate`.

        Parameters
        ----------
        rate : int
            Words per minute (80-450).
        pitch, pitch_range : int
            0-100, relative to the voice's pitch base and range.
        volume : int
            0-200 (100 is normal).
        """
        self.set_voice(voice)
        lib = self._lib
        lib.espeak_SetParameter(RATE, int(rate), 0)
        lib.espeak_SetParameter(PITCH, int(pitch), 0)
        lib.espeak_SetParameter(RANGE, int(pitch_range), 0)
        lib.espeak_SetParameter(VOLUME, int(volume), 0)
        self._chunks = []
        raw = text.encode("utf-8")
        err = lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed ({err}) for {text!r}")
        lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._chunks)


_INSTANCE: Espeak | None = None


def get_espeak(data_dir=None) -> Espeak:
    """The process-wide :class:`Espeak` (re-initialised if ``data_dir`` changes)."""
    global _INSTANCE
    wanted = str(data_dir or stock_data_dir())
    if _INSTANCE is None or _INSTANCE.data_dir != wanted:
        _INSTANCE = Espeak(wanted)
    return _INSTANCE


def stock_variant_text(name: str) -> str:
    """The text of a stock voice variant."""
    path = stock_data_dir() / "voices" / "!v" / name
    if not path.is_file():
        raise ValueError(f"eSpeak has no voice variant {name!r}")
    return path.read_text(encoding="utf-8", errors="replace")


def remove_data_dir(data_dir) -> None:
    """Delete a folder made by :func:`make_data_dir`."""
    shutil.rmtree(Path(data_dir).parent, ignore_errors=True)
