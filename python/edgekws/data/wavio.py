"""WAV input/output and resampling in numpy and the standard library.

Only 16-bit PCM WAV is read (Speech Commands, FSDD and the synthetic corpus all use it);
multi-channel files are averaged to mono. Audio is returned as float32 in [-1, 1), i.e.
``int16 / 32768`` like TensorFlow's ``decode_wav``.

Resampling is polyphase FIR filtering with a Kaiser-windowed sinc low-pass, the same design
as ``scipy.signal.resample_poly`` with its defaults (half-length ``10 * max(up, down)`` taps
of the up-sampled rate, Kaiser beta 5.0, cut-off at the lower Nyquist frequency), written
in numpy so that scipy is not needed at run time.
"""
from __future__ import annotations

import math
import os
import wave
from functools import lru_cache

import numpy as np

__all__ = ["read_wav", "write_wav", "resample", "wav_info"]

#: Sample rate of everything downstream of the WAV reader.
TARGET_RATE = 16000


def _check_rate(rate, name="sample rate"):
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{name} must be a positive integer, not {rate!r}")
    return int(rate)


def wav_info(path) -> tuple[int, int, int, int]:
    """``(channels, sample_width_bytes, rate, frames)`` of a WAV file, with clear errors."""
    path = os.fspath(path)
    try:
        with wave.open(path, "rb") as f:
            return f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
    except wave.Error as exc:
        raise ValueError(f"{path}: not a readable PCM WAV file ({exc})") from None
    except EOFError:
        raise ValueError(f"{path}: not a readable PCM WAV file (truncated header)") from None


def read_wav(path, target_rate: int | None = TARGET_RATE) -> np.ndarray:
    """Read a 16-bit PCM WAV file as float32 mono, resampled to ``target_rate``.

    Parameters
    ----------
    path : str or path-like
        The WAV file.
    target_rate : int or None
        Output sample rate (16 kHz by default); None keeps the file's rate.

    Returns
    -------
    numpy.ndarray
        float32 samples in [-1, 1).

    Raises
    ------
    ValueError
        If the file is not a WAV file, is not 16-bit PCM, or holds no samples.
    """
    path = os.fspath(path)
    if target_rate is not None:
        target_rate = _check_rate(target_rate, "target rate")
    try:
        with wave.open(path, "rb") as f:
            channels, width, rate, nframes = (f.getnchannels(), f.getsampwidth(),
                                              f.getframerate(), f.getnframes())
            if width != 2:
                raise ValueError(f"{path}: sample width is {8 * width} bits, expected 16-bit PCM")
            raw = f.readframes(nframes)
    except wave.Error as exc:
        raise ValueError(f"{path}: not a readable PCM WAV file ({exc})") from None
    except EOFError:
        raise ValueError(f"{path}: not a readable PCM WAV file (truncated header)") from None
    if rate <= 0:
        raise ValueError(f"{path}: sample rate in header is {rate}, expected a positive rate")
    data = np.frombuffer(raw[: len(raw) - len(raw) % (2 * channels)], dtype="<i2")
    if data.size == 0:
        raise ValueError(f"{path}: WAV file holds no samples")
    audio = data.reshape(-1, channels).astype(np.float32) / 32768.0
    audio = audio[:, 0] if channels == 1 else audio.mean(axis=1)
    if target_rate is not None and rate != target_rate:
        audio = resample(audio, rate, target_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def write_wav(path, audio, rate: int = TARGET_RATE) -> None:
    """Write mono float audio in [-1, 1] (clipped) or int16 as a 16-bit PCM WAV file."""
    rate = _check_rate(rate)
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise ValueError(f"audio must be 1-D (mono), not shape {arr.shape}")
    if arr.dtype != np.int16:
        if not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"audio must be float in [-1, 1] or int16, not dtype {arr.dtype}")
        arr = np.clip(np.rint(np.asarray(arr, np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    with wave.open(os.fspath(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(arr.astype("<i2").tobytes())


@lru_cache(maxsize=32)
def _lowpass(up: int, down: int) -> np.ndarray:
    """Kaiser-windowed sinc of ``scipy.signal.resample_poly`` (gain ``up``)."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    n = np.arange(2 * half_len + 1) - half_len
    h = np.sinc(n / max_rate) / max_rate * np.kaiser(2 * half_len + 1, 5.0)
    h /= h.sum()
    return h * up


@lru_cache(maxsize=32)
def _polyphase(up: int, down: int):
    """Filter taps arranged by phase: ``table[p, k] = h[p + k * up]`` (zero past the end)."""
    h = _lowpass(up, down)
    taps = -(-h.size // up)
    padded = np.zeros(taps * up)
    padded[:h.size] = h
    return padded.reshape(taps, up).T.copy(), (h.size - 1) // 2


def resample(audio, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis from ``orig_rate`` to ``target_rate`` (polyphase FIR).

    The output has ``ceil(n * up / down)`` samples where ``up/down`` is the reduced ratio
    ``target_rate/orig_rate``; output sample ``i`` is at time ``i / target_rate``. The
    anti-alias/anti-image filter is the one of ``scipy.signal.resample_poly`` (see the module
    docstring), so the result matches it to float rounding.
    """
    orig_rate = _check_rate(orig_rate, "original sample rate")
    target_rate = _check_rate(target_rate, "target sample rate")
    x = np.asarray(audio)
    if x.shape[-1] == 0:
        raise ValueError("cannot resample an empty signal")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    if orig_rate == target_rate:
        return x.astype(dtype, copy=True)
    g = math.gcd(orig_rate, target_rate)
    up, down = target_rate // g, orig_rate // g
    if max(up, down) > 20000:
        raise ValueError(f"resampling ratio {target_rate}/{orig_rate} reduces to {up}/{down}; "
                         f"use rates with a larger common divisor")
    table, half_len = _polyphase(up, down)
    taps = table.shape[1]
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)  # ceil
    # Output n sits at n * down in the up-sampled grid; the filter centre is half_len.
    pos = np.arange(n_out, dtype=np.int64) * down + half_len
    newest = pos // up  # newest input sample that reaches output n
    # Zero padding on both sides replaces the bounds checks.
    lead = taps
    tail = max(0, int(newest[-1]) + 1 - n_in)
    xp = np.concatenate([np.zeros(x.shape[:-1] + (lead,)), np.asarray(x, np.float64),
                         np.zeros(x.shape[:-1] + (tail,))], axis=-1)
    idx = (newest + lead)[:, None] - np.arange(taps)[None, :]
    y = np.einsum("...nk,nk->...n", xp[..., idx], table[pos % up])
    return y.astype(dtype, copy=False)
