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
import struct
import wave
from functools import lru_cache

import numpy as np

from edgekws import limits
from edgekws.checks import check_int
from edgekws.safeopen import open_regular

__all__ = ["read_wav", "write_wav", "resample", "wav_info", "check_wav_header"]

#: Sample rate of everything downstream of the WAV reader.
TARGET_RATE = 16000


def _check_rate(rate, name="sample rate"):
    return check_int(name, rate)


#: What the standard library's reader raises on a malformed file: its own error, and a
#: RuntimeError or struct.error when a chunk size points outside its parent chunk.
_WAVE_ERRORS = (wave.Error, RuntimeError, struct.error)


def _reason(exc) -> str:
    return str(exc) or f"a chunk size points outside the file ({type(exc).__name__})"


def _open_wav(path):
    """``(file, wave reader, channels, width, rate, frames)`` of a regular WAV file.

    The caller closes the file: a reader given a file object leaves it open.
    """
    f = open_regular(path, "WAV file")
    try:
        reader = wave.open(f, "rb")
        return (f, reader, reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                reader.getnframes())
    except EOFError:
        f.close()
        raise ValueError(f"{path}: not a readable PCM WAV file (truncated header)") from None
    except _WAVE_ERRORS as exc:
        f.close()
        raise ValueError(f"{path}: not a readable PCM WAV file ({_reason(exc)})") from None
    except BaseException:
        f.close()
        raise


def wav_info(path) -> tuple[int, int, int, int]:
    """``(channels, sample_width_bytes, rate, frames)`` of a WAV file, with clear errors."""
    path = os.fspath(path)
    f, reader, *info = _open_wav(path)
    with f, reader:
        return tuple(info)


def check_wav_header(path, channels: int, width: int, rate: int, frames: int) -> None:
    """Refuse a header outside the limits of :mod:`edgekws.limits` (before any read)."""
    if 8 * width not in limits.WAV_BITS:
        raise ValueError(f"{path}: sample width is {8 * width} bits, expected 16-bit PCM")
    if not 1 <= channels <= limits.WAV_MAX_CHANNELS:
        raise ValueError(f"{path}: header declares {channels} channels, expected 1 to "
                         f"{limits.WAV_MAX_CHANNELS}")
    if not limits.WAV_MIN_RATE <= rate <= limits.WAV_MAX_RATE:
        raise ValueError(f"{path}: sample rate in header is {rate} Hz, expected "
                         f"{limits.WAV_MIN_RATE} to {limits.WAV_MAX_RATE} Hz")
    if frames > limits.WAV_MAX_SECONDS * rate:
        raise ValueError(f"{path}: header declares {frames} frames ({frames / rate:.1f} s), "
                         f"more than the limit of {limits.WAV_MAX_SECONDS} s")


def read_wav(path, target_rate: int | None = TARGET_RATE) -> np.ndarray:
    """Read a 16-bit PCM WAV file as float32 mono, resampled to ``target_rate``.

    The header is checked against :mod:`edgekws.limits` (rate, channels, bit depth,
    duration) before any sample is read, and the samples are read and resampled a chunk
    at a time, so memory stays proportional to the output.

    Parameters
    ----------
    path : str or path-like
        The WAV file: a regular file (FIFOs and devices are refused).
    target_rate : int or None
        Output sample rate (16 kHz by default); None keeps the file's rate.

    Returns
    -------
    numpy.ndarray
        float32 samples in [-1, 1).

    Raises
    ------
    ValueError
        If the file is not a regular file or a WAV file, is not 16-bit PCM, holds no
        samples, or exceeds a limit.
    """
    path = os.fspath(path)
    if target_rate is not None:
        target_rate = _check_rate(target_rate, "target rate")
    f, reader, channels, width, rate, nframes = _open_wav(path)
    with f, reader:
        check_wav_header(path, channels, width, rate, nframes)
        resampler = None
        if target_rate is not None and rate != target_rate:
            resampler = _Resampler(rate, target_rate)
        parts = []
        # Without resampling the declared (bounded) length is filled in place: no copy.
        out = np.empty(nframes, np.float32) if resampler is None else None
        filled = 0
        frame_bytes = 2 * channels
        pending = b""
        try:
            while True:
                raw = reader.readframes(limits.WAV_CHUNK_FRAMES)
                if not raw:
                    break
                raw = pending + raw
                whole = len(raw) - len(raw) % frame_bytes
                pending = raw[whole:]
                mono = _to_mono(raw[:whole], channels)
                if resampler is not None:
                    parts.append(resampler.feed(mono))
                    continue
                if filled + mono.size > out.size:   # pragma: no cover - wave reads no more
                    raise ValueError(f"{path}: more samples than the header declares")
                out[filled:filled + mono.size] = mono
                filled += mono.size
        except (EOFError, *_WAVE_ERRORS) as exc:
            raise ValueError(f"{path}: not a readable PCM WAV file ({_reason(exc)})") from None
    if resampler is None:
        if filled == 0:
            raise ValueError(f"{path}: WAV file holds no samples")
        return out if filled == out.size else out[:filled].copy()
    if resampler.n_in == 0:
        raise ValueError(f"{path}: WAV file holds no samples")
    parts.append(resampler.finish())
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def _to_mono(raw: bytes, channels: int) -> np.ndarray:
    """16-bit frames to float32 mono, ``int16 / 32768`` (channels averaged)."""
    audio = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).astype(np.float32) / 32768.0
    return audio[:, 0] if channels == 1 else audio.mean(axis=1)


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


#: Filter products computed at once (the gathered inputs of a block of outputs).
_BLOCK = 2**20


@lru_cache(maxsize=16)
def _phase_rows(up: int, down: int, first: int, count: int) -> np.ndarray:
    """The filter row of each of outputs ``first .. first + count - 1`` (read-only):
    ``table[(n * down + half_len) % up]``. They repeat every ``up`` outputs, so the
    listener's one-second windows, resampled one at a time, reuse them."""
    table, half_len = _polyphase(up, down)
    n = np.arange(first, first + count, dtype=np.int64)
    rows = table[(n * down + half_len) % up]
    rows.setflags(write=False)
    return rows


def _reduced_ratio(orig_rate: int, target_rate: int) -> tuple[int, int]:
    g = math.gcd(orig_rate, target_rate)
    up, down = target_rate // g, orig_rate // g
    if max(up, down) > 20000:
        raise ValueError(f"resampling ratio {target_rate}/{orig_rate} reduces to {up}/{down}; "
                         f"use rates with a larger common divisor")
    return up, down


class _Resampler:
    """Polyphase resampling of a signal that arrives in pieces along the last axis.

    Output ``n`` sits at ``n * down + half_len`` on the up-sampled grid and takes the
    ``taps`` inputs ending at ``(n * down + half_len) // up``; inputs before 0 and after
    the end are zeros. :meth:`feed` returns every output whose inputs have all arrived and
    drops the inputs no later output needs, so memory is ``taps`` plus one piece.
    """

    def __init__(self, orig_rate: int, target_rate: int, lead_shape: tuple = ()):
        self.up, self.down = _reduced_ratio(orig_rate, target_rate)
        self.table, self.half_len = _polyphase(self.up, self.down)
        self.taps = self.table.shape[1]
        # The zero padding before the signal replaces the bounds checks.
        self.buf = np.zeros(tuple(lead_shape) + (self.taps,))
        self.base = -self.taps   # signal index of buf[..., 0]
        self.n_in = 0
        self.n_done = 0
        lead = int(np.prod(lead_shape, dtype=np.int64))
        self.block = max(1, _BLOCK // (self.taps * max(lead, 1)))

    def _newest(self, n):
        return (n * self.down + self.half_len) // self.up

    def feed(self, x) -> np.ndarray:
        """Append ``x`` (float) and return the outputs now complete."""
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float64)], axis=-1)
        self.n_in += x.shape[-1]
        # The last n with _newest(n) <= n_in - 1.
        stop = (self.n_in * self.up - 1 - self.half_len) // self.down + 1
        return self._emit(max(stop, self.n_done))

    def finish(self) -> np.ndarray:
        """The remaining outputs: ``ceil(n_in * up / down)`` in all."""
        n_out = -(-self.n_in * self.up // self.down)
        tail = max(0, self._newest(n_out - 1) + 1 - self.n_in)
        self.buf = np.concatenate([self.buf, np.zeros(self.buf.shape[:-1] + (tail,))], axis=-1)
        return self._emit(n_out)

    def _emit(self, stop: int) -> np.ndarray:
        out = []
        # Output n takes buf[newest - k] for k = 0 .. taps-1. For one signal that is a run
        # of the reversed buffer, so whole rows of its sliding windows are gathered rather
        # than single elements (2x for the listener's one-second windows); the gathered
        # array has the element gather's layout, and einsum's sums depend on the layout,
        # so the outputs are the same bit for bit. Several signals keep the element gather:
        # its layout (signals innermost) is what their sums were made with.
        single = self.buf[..., 0].size <= 1
        if single:
            rev = np.ascontiguousarray(self.buf[..., ::-1])
            runs = np.lib.stride_tricks.sliding_window_view(rev, self.taps, axis=-1)
        for n0 in range(self.n_done, stop, self.block):
            count = min(stop, n0 + self.block) - n0
            pos = np.arange(n0, n0 + count, dtype=np.int64) * self.down + self.half_len
            newest = pos // self.up - self.base
            if single:
                inputs = runs[..., rev.shape[-1] - 1 - newest, :]
            else:
                inputs = self.buf[..., newest[:, None] - np.arange(self.taps)[None, :]]
            rows = _phase_rows(self.up, self.down, n0 % self.up, count)
            out.append(np.einsum("...nk,nk->...n", inputs, rows))
        self.n_done = stop
        drop = self._newest(stop) - self.taps + 1 - self.base
        if drop > 0:
            self.buf = self.buf[..., drop:]
            self.base += drop
        if not out:
            return np.zeros(self.buf.shape[:-1] + (0,))
        return np.concatenate(out, axis=-1)


def resample(audio, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis from ``orig_rate`` to ``target_rate`` (polyphase FIR).

    The output has ``ceil(n * up / down)`` samples where ``up/down`` is the reduced ratio
    ``target_rate/orig_rate``; output sample ``i`` is at time ``i / target_rate``. The
    anti-alias/anti-image filter is the one of ``scipy.signal.resample_poly`` (see the module
    docstring), so the result matches it to float rounding. Outputs are computed a block at
    a time, so the extra memory is bounded whatever the signal's length.
    """
    orig_rate = _check_rate(orig_rate, "original sample rate")
    target_rate = _check_rate(target_rate, "target sample rate")
    x = np.asarray(audio)
    if x.shape[-1] == 0:
        raise ValueError("cannot resample an empty signal")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    if orig_rate == target_rate:
        return x.astype(dtype, copy=True)
    r = _Resampler(orig_rate, target_rate, x.shape[:-1])
    y = np.concatenate([r.feed(x), r.finish()], axis=-1)
    return y.astype(dtype, copy=False)
