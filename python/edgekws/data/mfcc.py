"""MFCC front end of the keyword spotter, in pure numpy.

This reproduces the TensorFlow Speech Commands front end that the Akida DS-CNN/KWS
tutorials use::

    spec = tf.raw_ops.AudioSpectrogram(input=wave[:, None], window_size=640, stride=320,
                                       magnitude_squared=True)
    mfcc = tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=16000,
                           upper_frequency_limit=4000, lower_frequency_limit=20,
                           filterbank_channel_count=40, dct_coefficient_count=10)

i.e. a periodic Hann window of 640 samples (40 ms) every 320 samples (20 ms), a 1024-point
FFT, the HTK-style mel filterbank of TensorFlow's ``MfccMelFilterbank`` (applied to the
*magnitude* spectrum, 40 channels from 20 Hz to 4 kHz), the natural log with a floor of
1e-12 and the orthonormal-scaled DCT-II of ``MfccDct``. One second at 16 kHz gives 49
frames of 10 coefficients.

The stored :class:`MfccScaling` then maps these float features to the ``uint8`` codes that
the 8-bit input layer consumes.

:func:`mfcc` computes the features a few clips at a time from strided views of the
waveforms, transforming and weighing only the FFT bins inside the filterbank; its float32
output equals that of :func:`mfcc_reference` (the first implementation, kept for tests and
benchmarks). :func:`frames_to_mfcc` is its per-frame half, which the streaming front end
(:mod:`edgekws.data.mfcc_stream`) calls once per 20 ms hop.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from edgekws.checks import check_int

from .level import LEVEL_MODES, normalize_level

__all__ = [
    "MfccParams",
    "MfccScaling",
    "fit_scaling",
    "mfcc",
    "frames_to_mfcc",
    "mfcc_reference",
    "pad_or_crop",
    "default_threads",
]

_FILTERBANK_FLOOR = 1e-12  # TensorFlow's kFilterbankFloor
_BATCH = 256  # waveforms per FFT batch of the reference (bounds memory to ~100 MB)
#: Waveforms per chunk of the fast path: 8 clips of 49 frames keep its float64 FFT buffer
#: (3.2 MB) and the spectra in the 4 MB L2 cache, which is where its speed comes from.
_CHUNK = 8
#: Batches of at least this many clips are shared among threads by default (below it,
#: starting them costs about what they save).
_THREADED_CLIPS = 64
_MAX_THREADS = 8


@dataclasses.dataclass(frozen=True)
class MfccParams:
    """Parameters of the MFCC front end (defaults: the Speech Commands / Akida KWS ones).

    Attributes
    ----------
    sample_rate : int
        Sample rate of the waveforms, Hz.
    clip_samples : int
        Every waveform is zero-padded or cropped to this many samples (1 s).
    window : int
        Analysis window in samples (40 ms).
    stride : int
        Hop between frames in samples (20 ms).
    mel_channels : int
        Number of mel filterbank channels.
    lower_hz, upper_hz : float
        Frequency range of the filterbank.
    coefficients : int
        Number of DCT coefficients kept.
    """

    sample_rate: int = 16000
    clip_samples: int = 16000
    window: int = 640
    stride: int = 320
    mel_channels: int = 40
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    coefficients: int = 10

    def __post_init__(self):
        for name in ("sample_rate", "clip_samples", "window", "stride", "mel_channels",
                     "coefficients"):
            check_int(name, getattr(self, name))
        if self.window > self.clip_samples:
            raise ValueError(f"window ({self.window}) must not exceed clip_samples "
                             f"({self.clip_samples})")
        if not (0 <= self.lower_hz < self.upper_hz <= self.sample_rate / 2):
            raise ValueError(
                f"need 0 <= lower_hz < upper_hz <= sample_rate/2, got lower_hz={self.lower_hz!r}, "
                f"upper_hz={self.upper_hz!r}, sample_rate={self.sample_rate!r}")
        if self.coefficients > self.mel_channels:
            raise ValueError(f"coefficients ({self.coefficients}) must not exceed mel_channels "
                             f"({self.mel_channels})")

    @property
    def fft_length(self) -> int:
        """FFT size: the next power of two of the window (1024)."""
        return 1 << (self.window - 1).bit_length()

    @property
    def frames(self) -> int:
        """Number of frames per clip (49)."""
        return 1 + (self.clip_samples - self.window) // self.stride

    @property
    def shape(self) -> tuple[int, int]:
        """Feature shape of one clip, ``(frames, coefficients)``."""
        return (self.frames, self.coefficients)

    def to_dict(self) -> dict:
        """JSON-serialisable form (used in cache keys and model metadata)."""
        return dataclasses.asdict(self)


def _freq_to_mel(freq):
    return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)


@lru_cache(maxsize=8)
def _filterbank(params: MfccParams) -> np.ndarray:
    """Dense ``(bins, channels)`` matrix equal to TensorFlow's ``MfccMelFilterbank``.

    TensorFlow walks the FFT bins between ``start`` and ``end``; each bin gives
    ``weight * sqrt(power)`` to the channel whose triangle it is on the falling side of
    (``band_mapper``) and ``(1 - weight) * sqrt(power)`` to the next channel.
    """
    bins = params.fft_length // 2 + 1
    channels = params.mel_channels
    mel_low = _freq_to_mel(params.lower_hz)
    mel_hi = _freq_to_mel(params.upper_hz)
    spacing = (mel_hi - mel_low) / (channels + 1)
    centers = mel_low + spacing * np.arange(1, channels + 2)  # one extra on top
    hz_per_bin = 0.5 * params.sample_rate / (bins - 1)
    start = int(1.5 + params.lower_hz / hz_per_bin)  # always excludes DC (HTK)
    end = int(params.upper_hz / hz_per_bin)
    matrix = np.zeros((bins, channels), dtype=np.float64)
    for i in range(start, min(end, bins - 1) + 1):
        melf = float(_freq_to_mel(i * hz_per_bin))
        channel = int(np.searchsorted(centers[:channels], melf, side="left")) - 1
        if channel >= 0:
            weight = (centers[channel + 1] - melf) / (centers[channel + 1] - centers[channel])
            matrix[i, channel] += weight
        else:
            weight = (centers[0] - melf) / (centers[0] - mel_low)
        if channel + 1 < channels:
            matrix[i, channel + 1] += 1.0 - weight
    return matrix


@lru_cache(maxsize=8)
def _dct(params: MfccParams) -> np.ndarray:
    """``(channels, coefficients)`` DCT-II matrix of TensorFlow's ``MfccDct``."""
    n = params.mel_channels
    j = np.arange(n)[:, None] + 0.5
    i = np.arange(params.coefficients)[None, :]
    return math.sqrt(2.0 / n) * np.cos(i * (math.pi / n) * j)


@lru_cache(maxsize=8)
def _window(length: int) -> np.ndarray:
    """Periodic Hann window (TensorFlow's spectrogram window)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def pad_or_crop(waves, length: int = 16000) -> np.ndarray:
    """Zero-pad at the end, or crop, the last axis of ``waves`` to ``length`` samples.

    This is what TensorFlow's ``decode_wav(desired_samples=...)`` does.
    """
    waves = np.asarray(waves)
    n = waves.shape[-1]
    if n >= length:
        return waves[..., :length]
    pad = [(0, 0)] * (waves.ndim - 1) + [(0, length - n)]
    return np.pad(waves, pad)


def _check_waves(waves) -> np.ndarray:
    arr = np.asarray(waves)
    if arr.dtype == np.int16:
        arr = arr.astype(np.float64) / 32768.0
    elif not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"waveforms must be float in [-1, 1] or int16, not dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"waveforms must have shape (samples,) or (batch, samples), "
                         f"not {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError("waveforms are empty (0 samples)")
    if not np.all(np.isfinite(arr)):
        raise ValueError("waveforms contain NaN or infinite values")
    return arr


@lru_cache(maxsize=8)
def _band(params: MfccParams) -> tuple[int, int, np.ndarray]:
    """``(first, stop, matrix)``: the FFT bins ``first:stop`` that the filterbank weighs
    (the others have all-zero rows) and the filterbank restricted to them."""
    fbank = _filterbank(params)
    used = np.flatnonzero(fbank.any(axis=1))
    if not used.size:  # a band narrower than a bin: every channel sits at the floor
        return 0, 0, fbank[:0]
    first, stop = int(used[0]), int(used[-1]) + 1
    return first, stop, np.ascontiguousarray(fbank[first:stop])


def frames_to_mfcc(frames, params: MfccParams | None = None) -> np.ndarray:
    """MFCC coefficients of analysis frames: the per-frame half of :func:`mfcc`.

    Parameters
    ----------
    frames : numpy.ndarray
        float64, ``(..., params.window)``: un-windowed frames (slices of the waveform).
    params : MfccParams, optional
        Front-end parameters.

    Returns
    -------
    numpy.ndarray
        float32, ``(..., params.coefficients)``.

    Notes
    -----
    Every step is the reference's, on the same float64 values, so the features equal
    :func:`mfcc_reference`'s: the window product, the real FFT, ``re**2 + im**2`` rounded
    to float32 (TensorFlow hands the spectrogram from one op to the next as float32), the
    square root and the filterbank in float64, the floored log and the DCT. Only the bins
    inside the filterbank are squared and weighed (254 of 513 by default), and the FFT
    buffer is reused, zero-padded once.
    """
    params = params or MfccParams()
    return power_to_mfcc(frames_to_power(frames, params), params)


def frames_to_power(frames, params: MfccParams) -> np.ndarray:
    """float32 ``(..., bins)`` power spectra of analysis frames, only the bins the
    filterbank weighs (the first step of :func:`frames_to_mfcc`; each frame on its own)."""
    first, stop, _ = _band(params)
    lead = frames.shape[:-1]
    padded = np.zeros(lead + (params.fft_length,))
    np.multiply(frames, _window(params.window), out=padded[..., :params.window])
    # The real and imaginary parts side by side, as float64 pairs, squared in one pass.
    pairs = np.fft.rfft(padded, axis=-1).view(np.float64)[..., 2 * first:2 * stop]
    squares = pairs * pairs
    return np.add(squares[..., 0::2], squares[..., 1::2], dtype=np.float64,
                  out=np.empty(lead + (stop - first,), np.float32))


def power_to_mfcc(power, params: MfccParams) -> np.ndarray:
    """float32 ``(..., coefficients)`` MFCC of :func:`frames_to_power`'s spectra.

    The matrix products run on stacks of the last two axes: their float sums depend on
    the number of rows (OpenBLAS picks its kernels by shape), so features equal
    :func:`mfcc`'s only when the spectra come as ``(..., frames, bins)`` windows too.
    """
    _, _, fbank = _band(params)
    lead = power.shape[:-1]
    # Products of at most one clip's frames (as the reference's), both so that the float
    # sums are the reference's and because OpenBLAS would thread larger ones, which costs
    # far more than it gains when another process keeps the cores busy (measured).
    stacked = (math.prod(power.shape[:-2]),) + power.shape[-2:]
    mel = np.sqrt(power, dtype=np.float64).reshape(stacked) @ fbank
    np.log(np.maximum(mel, _FILTERBANK_FLOOR, out=mel), out=mel)
    return (mel @ _dct(params)).astype(np.float32).reshape(lead + (params.coefficients,))


def _framed(batch: np.ndarray, params: MfccParams) -> np.ndarray:
    """Read-only ``(batch, frames, window)`` view of float64 waveforms, no copy."""
    step = batch.strides[-1]
    return np.lib.stride_tricks.as_strided(
        batch, (len(batch), params.frames, params.window),
        (batch.strides[0], params.stride * step, step), writeable=False)


def mfcc(waves, params: MfccParams | None = None, threads: int | None = None) -> np.ndarray:
    """MFCC features of one waveform or a batch of waveforms.

    Parameters
    ----------
    waves : array_like
        ``(samples,)`` or ``(batch, samples)``; float in [-1, 1] (as ``decode_wav`` gives) or
        int16 (scaled by 1/32768). Each waveform is zero-padded or cropped to
        ``params.clip_samples`` first.
    params : MfccParams, optional
        Front-end parameters; the defaults give 49 x 10 features per second.
    threads : int, optional
        Threads sharing a large batch (numpy's FFT and matrix products release the GIL);
        default :func:`default_threads`: the cores this process may use (at most 8, and
        at most one per chunk of 8 clips) for batches of at least 64 clips, else one.
        Worker processes that already share the cores pass 1.

    Returns
    -------
    numpy.ndarray
        float32, ``(frames, coefficients)`` for one waveform or
        ``(batch, frames, coefficients)`` for a batch.

    Notes
    -----
    Equal to :func:`mfcc_reference` (today's front end), computed in chunks of a few
    clips whose frames are strided views of the waveforms and whose spectra stay in cache.
    Each chunk is computed the same way whichever thread takes it, so the features do not
    depend on ``threads``.
    """
    params = params or MfccParams()
    arr = _check_waves(waves)
    single = arr.ndim == 1
    batch = pad_or_crop(np.atleast_2d(arr), params.clip_samples)
    out = np.empty((batch.shape[0],) + params.shape, dtype=np.float32)
    starts = range(0, batch.shape[0], _CHUNK)

    def run(block):
        for s in block:
            chunk = np.ascontiguousarray(batch[s:s + _CHUNK], dtype=np.float64)
            out[s:s + _CHUNK] = frames_to_mfcc(_framed(chunk, params), params)

    threads = default_threads(batch.shape[0]) if threads is None else \
        _checked_threads(threads, batch.shape[0])
    if threads == 1:
        run(starts)
    else:
        # One task per thread, every threads-th chunk: few tasks, evenly loaded.
        blocks = [starts[i::threads] for i in range(threads)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, blocks))
    return out[0] if single else out


def default_threads(clips: int) -> int:
    """The threads :func:`mfcc` shares ``clips`` clips among by default."""
    if clips < _THREADED_CLIPS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_THREADS, -(-clips // _CHUNK)))


def _checked_threads(threads, clips: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, not {threads!r}")
    return int(min(threads, max(1, -(-clips // _CHUNK))))


def mfcc_reference(waves, params: MfccParams | None = None) -> np.ndarray:
    """Today's MFCC front end, kept as the reference of :func:`mfcc` (same arguments).

    It frames whole batches of 256 waveforms through a fancy index and transforms all 513
    FFT bins; :func:`mfcc` gives the same float32 features several times faster. Parameters
    and result as :func:`mfcc`.
    """
    params = params or MfccParams()
    arr = _check_waves(waves)
    single = arr.ndim == 1
    batch = pad_or_crop(np.atleast_2d(arr).astype(np.float64, copy=False), params.clip_samples)
    window = _window(params.window)
    fbank = _filterbank(params)
    dct = _dct(params)
    idx = (np.arange(params.frames)[:, None] * params.stride
           + np.arange(params.window)[None, :])
    out = np.empty((batch.shape[0],) + params.shape, dtype=np.float32)
    for s in range(0, batch.shape[0], _BATCH):
        frames = batch[s:s + _BATCH][:, idx] * window  # (b, frames, window)
        spec = np.fft.rfft(frames, n=params.fft_length, axis=-1)
        power = spec.real ** 2 + spec.imag ** 2
        # TensorFlow hands the spectrogram from one op to the next as float32.
        power = power.astype(np.float32).astype(np.float64)
        mel = np.sqrt(power) @ fbank
        out[s:s + _BATCH] = np.log(np.maximum(mel, _FILTERBANK_FLOOR)) @ dct
    return out[0] if single else out


# --------------------------------------------------------------------------- uint8 mapping


@dataclasses.dataclass(frozen=True)
class MfccScaling:
    """Affine map between float MFCC features and the ``uint8`` input codes.

    ``code = clip(floor((x - offset) / scale + 0.5), 0, 255)`` (round half up, then
    saturate) and back ``x ~= offset + scale * code``. ``offset`` and ``scale`` are
    scalars, or one value per MFCC coefficient (broadcast over the last axis).

    Store it with the model (:meth:`to_json`/:meth:`from_json`) so that training,
    conversion and the device quantise identically.

    Attributes
    ----------
    offset : float or tuple of float
        Feature value mapped to code 0.
    scale : float or tuple of float
        Feature step per code; strictly positive.
    level : str
        Loudness normalisation applied to each window before quantising
        (:mod:`edgekws.data.level`): ``"none"`` or ``"c0-max"``. It lives here, with the
        model's input mapping, so that every path from audio to model input applies it.
    """

    offset: float | tuple = 0.0
    scale: float | tuple = 1.0
    level: str = "none"

    def __post_init__(self):
        off = np.asarray(self.offset, dtype=np.float64)
        sc = np.asarray(self.scale, dtype=np.float64)
        for name, value in (("offset", off), ("scale", sc)):
            if value.ndim > 1 or value.size == 0:
                raise ValueError(f"{name} must be a number or a 1-D list of numbers, "
                                 f"not {getattr(self, name)!r}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must be finite, not {getattr(self, name)!r}")
        if np.any(sc <= 0):
            raise ValueError(f"scale must be > 0, not {self.scale!r}")
        if self.level not in LEVEL_MODES:
            raise ValueError(f"level must be one of {LEVEL_MODES}, not {self.level!r}")
        if off.ndim == 1 and sc.ndim == 1 and off.size != sc.size:
            raise ValueError(f"offset and scale lengths differ: {off.size} != {sc.size}")
        # Normalise to plain floats / tuples so that instances compare and hash well.
        object.__setattr__(self, "offset", float(off) if off.ndim == 0 else tuple(map(float, off)))
        object.__setattr__(self, "scale", float(sc) if sc.ndim == 0 else tuple(map(float, sc)))

    def _arrays(self, x):
        off = np.asarray(self.offset)
        sc = np.asarray(self.scale)
        n = max(off.size if off.ndim else 1, sc.size if sc.ndim else 1)
        if (off.ndim or sc.ndim) and (x.ndim == 0 or x.shape[-1] != n):
            raise ValueError(f"per-coefficient scaling has {n} values but features have "
                             f"shape {x.shape}")
        return off, sc

    def to_uint8(self, x) -> np.ndarray:
        """Quantise float features to uint8 codes (round half up, saturating), after the
        loudness normalisation of each ``(frames, coefficients)`` window."""
        if self.level != "none":
            x = np.asarray(x, dtype=np.float32)
            if x.ndim < 2:
                raise ValueError(f"level normalisation needs (..., frames, coefficients) "
                                 f"features, not shape {x.shape}")
            x = normalize_level(x, self.level)
        x = np.asarray(x, dtype=np.float64)
        off, sc = self._arrays(x)
        code = np.floor((x - off) / sc + 0.5)
        return np.clip(code, 0, 255).astype(np.uint8)

    def from_uint8(self, code) -> np.ndarray:
        """Map uint8 codes back to float features (float32)."""
        code = np.asarray(code)
        if code.dtype != np.uint8:
            raise ValueError(f"codes must be uint8, not dtype {code.dtype}")
        off, sc = self._arrays(code)
        return (off + sc * code.astype(np.float64)).astype(np.float32)

    def to_dict(self) -> dict:
        out = {"offset": _jsonable(self.offset), "scale": _jsonable(self.scale)}
        if self.level != "none":  # models made before the field read the same
            out["level"] = self.level
        return out

    def to_json(self) -> str:
        """JSON text ``{"offset": ..., "scale": ...}``."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "MfccScaling":
        if not isinstance(data, dict) or not {"offset", "scale"} <= set(data) \
                or not set(data) <= {"offset", "scale", "level"}:
            raise ValueError(f"MFCC scaling must be a dict with keys 'offset', 'scale' and "
                             f"optionally 'level', not {data!r}")
        return cls(offset=data["offset"], scale=data["scale"],
                   level=data.get("level", "none"))

    @classmethod
    def from_json(cls, text: str) -> "MfccScaling":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"MFCC scaling is not valid JSON ({exc}): {text[:80]!r}") from None
        return cls.from_dict(data)


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def fit_scaling(features, low_percentile: float = 0.5, high_percentile: float = 99.5,
                per_coefficient: bool = False, level: str = "none") -> MfccScaling:
    """Fit an :class:`MfccScaling` from training features.

    Code 0 is put at the ``low_percentile`` and code 255 at the ``high_percentile`` of the
    feature values (over all samples and frames; per coefficient if ``per_coefficient``),
    so outliers saturate instead of wasting resolution.

    Parameters
    ----------
    features : array_like
        Float MFCCs, ``(..., coefficients)``, e.g. ``(n, 49, 10)``.
    low_percentile, high_percentile : float
        Percentiles (0-100) mapped to codes 0 and 255.
    per_coefficient : bool
        One offset/scale per coefficient instead of a single pair.
    level : str
        Loudness normalisation (:attr:`MfccScaling.level`), applied before fitting.
    """
    if level not in LEVEL_MODES:
        raise ValueError(f"level must be one of {LEVEL_MODES}, not {level!r}")
    if level != "none":
        features = normalize_level(np.asarray(features, dtype=np.float32), level)
    x = np.asarray(features, dtype=np.float64)
    if x.size == 0:
        raise ValueError("cannot fit an MFCC scaling on empty features")
    if not np.all(np.isfinite(x)):
        raise ValueError("features contain NaN or infinite values")
    if not 0 <= low_percentile < high_percentile <= 100:
        raise ValueError(f"need 0 <= low_percentile < high_percentile <= 100, got "
                         f"{low_percentile!r} and {high_percentile!r}")
    data = x.reshape(-1, x.shape[-1]) if per_coefficient else x.reshape(-1)
    lo = np.percentile(data, low_percentile, axis=0)
    hi = np.percentile(data, high_percentile, axis=0)
    scale = np.maximum(hi - lo, 1e-6) / 255.0
    if per_coefficient:
        return MfccScaling(offset=tuple(lo), scale=tuple(scale), level=level)
    return MfccScaling(offset=float(lo), scale=float(scale), level=level)
