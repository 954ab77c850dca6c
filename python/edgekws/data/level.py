"""Loudness normalisation of MFCC windows, so that a quiet speaker is heard as a loud one.

A gain ``g`` on the waveform scales every mel energy by ``g`` (the filterbank is linear in
the magnitude spectrum), which adds ``ln g`` to every log-mel channel and, through the
orthonormal DCT-II, ``sqrt(2 * channels) * ln g`` to coefficient 0 only. So normalising
the level of a one-second window is a shift of its first MFCC coefficient, done in the
feature domain: the loudest frame's ``c0`` is moved to :data:`TARGET_C0`, boosting by at
most :data:`MAX_BOOST_DB` (a window of near silence stays quiet instead of being raised to
speech level). Because it only needs each frame's ``c0`` and their maximum over the window,
a streaming front end gets exactly the same features as the batch one.

The mode is :attr:`edgekws.data.mfcc.MfccScaling.level` (``"none"`` or ``"c0-max"``),
part of the model's input mapping: it travels with a trained model in its metadata, and
every path that turns MFCCs into model input (training, ``edgekws eval``, ``board
infer``/``enrol``/``listen``, the tutorial) goes through ``MfccScaling.to_uint8``, which
applies it. Feature caches hold the features before it, so they serve either mode.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["LEVEL_MODES", "TARGET_C0", "MAX_BOOST_DB", "normalize_level", "c0_per_db"]

LEVEL_MODES = ("none", "c0-max", "c0-max-cmn")
#: Where the loudest frame's c0 lands: about a -5 dBFS word in the default front end.
TARGET_C0 = 15.0
#: Largest boost, dB: a window whose loudest frame is more than this below the target is
#: raised by this much only.
MAX_BOOST_DB = 40.0


def c0_per_db(mel_channels: int) -> float:
    """The change of c0 for a 1 dB gain on the waveform."""
    return math.sqrt(2.0 * mel_channels) * math.log(10.0) / 20.0


def normalize_level(features, mode: str, mel_channels: int = 40) -> np.ndarray:
    """Shift c0 of each window ``(..., frames, coefficients)`` as ``mode`` says.

    Parameters
    ----------
    features : numpy.ndarray
        float32 MFCCs, the last two axes one window.
    mode : str
        ``"none"`` (returned unchanged), ``"c0-max"``, or ``"c0-max-cmn"``: also cepstral
        mean normalisation, each coefficient above c0 minus its mean over the window's
        frames, which removes a fixed microphone or channel colouration (a filter on the
        waveform adds a constant to every frame's log-mel spectrum, so to every frame's
        cepstrum).
    mel_channels : int
        The filterbank size the features were made with.
    """
    if mode not in LEVEL_MODES:
        raise ValueError(f"level must be one of {LEVEL_MODES}, not {mode!r}")
    if mode == "none":
        return features
    c0 = features[..., 0]
    loudest = c0.max(axis=-1, keepdims=True)
    shift = np.minimum(np.float32(TARGET_C0) - loudest,
                       np.float32(MAX_BOOST_DB * c0_per_db(mel_channels)))
    out = features.copy()
    out[..., 0] = c0 + shift.astype(np.float32)
    if mode == "c0-max-cmn":
        rest = out[..., 1:]
        out[..., 1:] = rest - rest.mean(axis=-2, keepdims=True, dtype=np.float32)
    return out
