"""Realistic acoustics for one-second keyword clips: the corpus's augmentation, in numpy.

:func:`augmented_copy` turns one utterance (a trimmed recording of a word) into a
one-second clip as a microphone in a room might hear it. Each effect can be switched off
through :class:`Acoustics`, which is how the ablation of ``docs/real-speech.md`` measures
what each one does to real-speech accuracy:

``speed``
    half the copies are resampled by 0.93-1.07 (tempo and pitch together);
``reverb``
    60 % get a simulated room (RT60 0.15-0.8 s, direct-to-reverberant -3..12 dB);
``colour``
    a random microphone colouration (spectral tilt and bumps);
``band``
    35 % an 8 kHz telephone-like band (steep cut below 4 kHz), 45 % a milder band limit;
``trim``
    30 % are trimmed hard, as an energy-threshold recorder cuts weak onsets and codas;
``level``
    the word's peak level drawn from ``level_db`` (default -45..-1 dBFS: a quiet speaker
    far from a laptop up to a close headset);
``noise``
    85 % get background noise at an SNR of 0-30 dB, the rest a -80..-50 dBFS floor.

The eSpeak corpus (:mod:`edgekws.data.synth`) writes one such copy next to each clean
utterance, and the mixed corpus (:mod:`edgekws.data.mix`) does the same for neural TTS and
real clips. With every effect on, the random draws are exactly those the corpus has always
used, so a seed still reproduces a corpus.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .noise import band_limit, random_eq, reverberate, rms, room_impulse_response
from .wavio import resample

__all__ = ["Acoustics", "ALL", "augmented_copy", "trim", "fade", "place", "trimmed_mask",
           "peak_to"]

SAMPLE_RATE = 16000
CLIP = 16000
EFFECTS = ("speed", "reverb", "colour", "band", "trim", "level", "noise")


@dataclasses.dataclass(frozen=True)
class Acoustics:
    """Which effects :func:`augmented_copy` applies (all by default), and the level range.

    Attributes
    ----------
    speed, reverb, colour, band, trim, level, noise : bool
        See the module docstring.
    level_db : tuple of float
        Range of the word's peak level in dBFS when ``level`` is on; with ``level`` off the
        word keeps a fixed -6 dBFS peak.
    """

    speed: bool = True
    reverb: bool = True
    colour: bool = True
    band: bool = True
    trim: bool = True
    level: bool = True
    noise: bool = True
    level_db: tuple = (-22.0, -1.0)

    def __post_init__(self):
        lo, hi = self.level_db
        if not -120.0 <= lo <= hi <= 0.0:
            raise ValueError(f"level_db must be (low, high) with -120 <= low <= high <= 0 "
                             f"dBFS, not {self.level_db!r}")

    @classmethod
    def without(cls, *effects: str, **kwargs) -> "Acoustics":
        """All effects but ``effects`` (names from :data:`EFFECTS`)."""
        bad = [e for e in effects if e not in EFFECTS]
        if bad:
            raise ValueError(f"unknown effects {bad!r}; known: {', '.join(EFFECTS)}")
        return cls(**{e: e not in effects for e in EFFECTS}, **kwargs)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "level_db": list(self.level_db)}


#: Every effect, the corpus's default.
ALL = Acoustics()


def trim(audio, threshold_db=-45.0, margin=0.015):
    """Cut the ends quieter than ``threshold_db`` below the loudest 5 ms frame, keeping
    ``margin`` seconds."""
    frame = 80  # 5 ms
    n = audio.size // frame
    if n == 0:
        return audio
    env = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    peak = env.max()
    if peak <= 0:
        return audio[:0]
    active = np.nonzero(env > peak * 10 ** (threshold_db / 20))[0]
    pad = int(margin * SAMPLE_RATE)
    start = max(0, active[0] * frame - pad)
    stop = min(audio.size, (active[-1] + 1) * frame + pad)
    return audio[start:stop]


def fade(audio, ms=5.0):
    """Linear fade-in and fade-out of ``ms`` milliseconds."""
    k = min(audio.size // 2, int(ms * SAMPLE_RATE / 1000))
    if k > 0:
        ramp = np.linspace(0.0, 1.0, k)
        audio = audio.copy()
        audio[:k] *= ramp
        audio[-k:] *= ramp[::-1]
    return audio


def place(audio, rng, centred: bool):
    """Put ``audio`` in a one-second clip; returns the clip and the start sample."""
    out = np.zeros(CLIP)
    audio = audio[:CLIP]
    room = CLIP - audio.size
    if room > 0:
        start = int(rng.triangular(0, room / 2, room)) if centred else int(rng.integers(0, room + 1))
    else:
        start = 0
    out[start:start + audio.size] = audio
    return out, start


def trimmed_mask(start, length, rng):
    """1 around the word (random 0-150 ms margins), 0 elsewhere: a recording that was
    trimmed and zero-padded to one second, as FSDD clips are."""
    mask = np.zeros(CLIP)
    a = max(0, start - int(rng.uniform(0, 0.15) * SAMPLE_RATE))
    b = min(CLIP, start + length + int(rng.uniform(0, 0.15) * SAMPLE_RATE))
    mask[a:b] = 1.0
    return mask


def peak_to(audio, level_db):
    """``audio`` scaled to a peak of ``level_db`` dBFS (silence stays silence)."""
    peak = np.max(np.abs(audio))
    return audio * (10 ** (level_db / 20) / peak) if peak > 0 else audio


def _channel(audio, rng, fx: Acoustics):
    """Speed, room, microphone and band: what happens between the mouth and the ADC."""
    if fx.speed and rng.random() < 0.5:
        src = int(round(SAMPLE_RATE * rng.uniform(0.93, 1.07) / 100.0)) * 100
        audio = resample(audio, src, SAMPLE_RATE)
    if fx.reverb and rng.random() < 0.6:
        rir = room_impulse_response(rng.uniform(0.15, 0.8), rng,
                                    direct_to_reverb_db=rng.uniform(-3.0, 12.0))
        audio = reverberate(audio, rir)[: int(0.98 * CLIP)]
    if fx.colour:
        audio = random_eq(audio, rng)
    if fx.band:
        channel = rng.random()
        if channel < 0.35:  # an 8 kHz recording (FSDD, telephone): steep cut below 4 kHz
            audio = band_limit(audio, low_hz=rng.uniform(30, 300),
                               high_hz=rng.uniform(3300, 3900), order=8)
        elif channel < 0.8:
            high = rng.uniform(2800, 7500) if rng.random() < 0.8 else None
            audio = band_limit(audio, low_hz=rng.uniform(50, 400), high_hz=high)
    return audio


def augmented_copy(speech, noises, rng, acoustics: Acoustics = ALL):
    """One realistic one-second copy of an utterance.

    Parameters
    ----------
    speech : numpy.ndarray
        The utterance, 16 kHz float, at most one second (longer is cut).
    noises : sequence of numpy.ndarray
        Background noises (16 kHz, each at least one second); empty: only a noise floor.
    rng : numpy.random.Generator
    acoustics : Acoustics
        Which effects to apply.

    Returns
    -------
    numpy.ndarray
        float64 ``(16000,)`` in [-1, 1].
    """
    fx = acoustics
    audio = _channel(np.asarray(speech, dtype=np.float64), rng, fx)
    # A third of the copies are trimmed hard, as a recording cut by an energy threshold:
    # weak onsets and codas (/s/, /f/, /th/...) go, as in many FSDD clips.
    hard_trim = fx.trim and rng.random() < 0.3
    if hard_trim:
        audio = trim(audio, threshold_db=rng.uniform(-28.0, -12.0), margin=rng.uniform(0, 0.02))
    audio = peak_to(audio, rng.uniform(*fx.level_db) if fx.level else -6.0)
    active = rms(audio[np.abs(audio) > 0.05 * np.max(np.abs(audio))]) if audio.size else 0.0
    out, start = place(audio, rng, centred=False)
    noises = [z for z in noises if z.size >= CLIP]
    if fx.noise and noises and rng.random() < 0.85:
        noise = noises[int(rng.integers(len(noises)))]
        first = int(rng.integers(0, noise.size - CLIP + 1))
        cut = noise[first:first + CLIP].astype(np.float64)
        snr = rng.uniform(0.0, 30.0)
        background = cut * (active / (rms(cut) + 1e-12) / 10 ** (snr / 20))
    else:
        background = 10 ** (rng.uniform(-80, -50) / 20) * rng.standard_normal(CLIP)
    if hard_trim:  # the noise stops where the recording was cut
        mask = np.zeros(CLIP)
        mask[start:start + audio.size] = 1.0
        background *= mask
    elif rng.random() < 0.4:
        background *= trimmed_mask(start, audio.size, rng)
    return np.clip(out + background, -1.0, 1.0)
