"""Data augmentation of one-second clips, as in the TensorFlow Speech Commands pipeline.

Each copy is the clip shifted in time by a uniform random amount within
``+-time_shift_ms`` (zero fill, the samples shifted out are dropped), plus, with
probability ``noise_probability``, a random one-second cut of a random background noise
at a volume uniform in ``[0, noise_volume]``; the result is clipped to [-1, 1].
The defaults (100 ms, 0.8, 0.1) are TensorFlow's ``time_shift_ms``,
``background_frequency`` and ``background_volume``.

Everything is drawn from the ``numpy.random.Generator`` passed in, so a seed reproduces
the copies exactly.
"""
from __future__ import annotations

import numpy as np

from edgekws.checks import check_int

__all__ = ["time_shift", "mix_noise", "augment", "augment_batch"]

SAMPLE_RATE = 16000


def _rng(rng):
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, an int seed or None, not {rng!r}")
    return rng


def time_shift(wave, shift: int) -> np.ndarray:
    """Shift a clip by ``shift`` samples (positive: later), keeping its length, zero fill."""
    wave = np.asarray(wave, dtype=np.float32)
    n = wave.shape[-1]
    shift = int(shift)
    out = np.zeros_like(wave)
    if abs(shift) >= n:
        return out
    if shift >= 0:
        out[..., shift:] = wave[..., :n - shift]
    else:
        out[..., :n + shift] = wave[..., -shift:]
    return out


def mix_noise(wave, noise, volume: float, start: int = 0) -> np.ndarray:
    """``wave + volume * noise[start:start + len(wave)]`` (noise zero-padded), clipped."""
    wave = np.asarray(wave, dtype=np.float32)
    noise = np.asarray(noise, dtype=np.float32)
    if noise.ndim != 1 or noise.size == 0:
        raise ValueError(f"noise must be a non-empty 1-D array, not shape {noise.shape}")
    if not np.isfinite(volume) or volume < 0:
        raise ValueError(f"noise volume must be a finite number >= 0, not {volume!r}")
    n = wave.shape[-1]
    cut = np.zeros(n, dtype=np.float32)
    seg = noise[start:start + n]
    cut[:seg.size] = seg
    return np.clip(wave + np.float32(volume) * cut, -1.0, 1.0)


def augment(wave, n_copies: int = 40, rng=None, noises=(), time_shift_ms: float = 100.0,
            noise_probability: float = 0.8, noise_volume: float = 0.1,
            sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Augmented copies of one clip, for few-shot enrolment (tutorial: 4 clips x 40 copies).

    Parameters
    ----------
    wave : array_like
        One clip, 1-D float.
    n_copies : int
        Number of copies to return.
    rng : numpy.random.Generator or int or None
        Random source (an int is used as a seed).
    noises : sequence of 1-D arrays
        Background noises (16 kHz float), e.g. from
        :func:`edgekws.data.speech_commands.load_noises`; empty disables noise mixing.
    time_shift_ms : float
        Maximum absolute shift.
    noise_probability : float
        Probability that a copy gets background noise.
    noise_volume : float
        Maximum noise volume (uniform in ``[0, noise_volume]``).
    sample_rate : int
        Sample rate of ``wave`` (for the shift in samples).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_copies, len(wave))``.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"wave must be a non-empty 1-D array, not shape {wave.shape}")
    check_int("n_copies", n_copies)
    if not 0.0 <= noise_probability <= 1.0:
        raise ValueError(f"noise_probability must be in [0, 1], not {noise_probability!r}")
    if time_shift_ms < 0:
        raise ValueError(f"time_shift_ms must be >= 0, not {time_shift_ms!r}")
    rng = _rng(rng)
    noises = [np.asarray(z, dtype=np.float32) for z in noises]
    max_shift = int(round(time_shift_ms * sample_rate / 1000.0))
    out = np.empty((n_copies, wave.size), dtype=np.float32)
    for i in range(n_copies):
        shifted = time_shift(wave, int(rng.integers(-max_shift, max_shift + 1)))
        if noises and rng.random() < noise_probability:
            noise = noises[int(rng.integers(len(noises)))]
            start = int(rng.integers(0, max(1, noise.size - wave.size + 1)))
            shifted = mix_noise(shifted, noise, float(rng.uniform(0.0, noise_volume)), start)
        out[i] = shifted
    return out


def augment_batch(waves, rng=None, noises=(), **kwargs) -> np.ndarray:
    """One augmented copy of each clip of ``waves`` ``(n, samples)`` (see :func:`augment`)."""
    waves = np.asarray(waves, dtype=np.float32)
    if waves.ndim != 2:
        raise ValueError(f"waves must have shape (n, samples), not {waves.shape}")
    rng = _rng(rng)
    out = np.empty_like(waves)
    for i, w in enumerate(waves):
        out[i] = augment(w, 1, rng, noises, **kwargs)[0]
    return out
