"""Synthetic background noises and simple room/channel effects, in numpy.

Noises (16 kHz float32, peak-normalised to 0.9) for the ``_background_noise_`` folder:

* ``white_noise`` - Gaussian white noise;
* ``pink_noise`` - 1/f power spectrum (-3 dB/octave);
* ``brown_noise`` - 1/f^2 power spectrum (-6 dB/octave), high-passed at 20 Hz;
* ``hum`` - mains hum: 50 or 60 Hz and harmonics with slowly wandering amplitude plus a
  little pink noise (fans, transformers);
* ``babble`` - several synthetic talkers saying random non-keyword words at once
  (needs a talker function; see :func:`babble`).

Channel effects used by the corpus augmentation: :func:`room_impulse_response` (direct
sound, a few early reflections and an exponentially decaying diffuse tail of given RT60),
:func:`reverberate` (FFT convolution) and :func:`band_limit` (zero-phase high-/low-pass
of Butterworth magnitude, applied in the frequency domain).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "NOISE_KINDS",
    "colored_noise",
    "hum",
    "babble",
    "make_noise",
    "room_impulse_response",
    "reverberate",
    "band_limit",
    "random_eq",
    "rms",
]

SAMPLE_RATE = 16000
NOISE_KINDS = ("white_noise", "pink_noise", "brown_noise", "hum", "babble")

#: Everyday words for babble (no keyword among them).
BABBLE_WORDS = (
    "the a and of to in is it that was for with as his they be at this have from or had by"
    " but some what there we can out other were all your when use word how said an each she"
    " which do their time if will way about many then them would write like so these her"
    " long make thing see him has look more day could come did number sound most people my"
    " over know water than call first who may side been now find any new work part take get"
    " place made live where after back little only round man year came show every good me"
    " give our under name very through just form sentence great think say help low line"
    " differ turn cause much mean before move boy old too same tell does set want air well"
    " also play small end put home read hand port large spell add even land here must big"
    " high such follow act why ask men change went light kind need picture try us again"
    " animal point mother world near build self earth father head stand own page should"
    " country found answer school grow study still plant cover food sun between state keep"
    " eye never last let thought city cross farm hard start might story saw far sea draw"
    " open seem together next white children begin got walk example ease paper group always"
    " music those both mark often letter until mile river car feet care second book carry"
    " took science eat room friend began idea fish mountain once base hear horse cut sure"
    " watch color face wood main enough plain girl usual young ready above ever red list"
    " though feel talk soon body family direct pose leave song measure door product black"
    " short numeral class wind question happen complete ship area half rock order fire south"
    " problem piece told knew pass since top whole king space heard best hour better true"
    " during hundred remember step early hold west ground interest reach fast verb sing"
    " listen table travel less morning simple several vowel toward war lay against pattern"
    " slow center love person money serve appear road map rain rule govern pull cold notice"
    " voice unit power town fine certain fly fall lead cry dark machine note wait plan"
    " figure star box noun field rest correct able pound done beauty drive stood contain"
    " front teach week final gave green quick develop ocean warm free minute strong special"
    " mind behind clear tail produce fact street inch multiply nothing course stay wheel"
    " full force blue object decide surface deep moon island foot system busy test record"
    " boat common gold possible plane stead dry wonder laugh thousand ago ran check game"
    " shape equate hot miss brought heat snow tire bring distant fill east paint language"
    " among").split()


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_seconds(seconds):
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"noise duration must be a positive number of seconds, not {seconds!r}")
    return int(round(seconds * SAMPLE_RATE))


def rms(x) -> float:
    """Root mean square of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def _peak_normalise(x, peak=0.9):
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (peak / m) if m > 0 else x).astype(np.float32)


def colored_noise(seconds: float, exponent: float, rng=None, highpass_hz: float = 0.0):
    """Gaussian noise with power spectrum ~ ``1 / f**exponent`` (0 white, 1 pink, 2 brown)."""
    n = _check_seconds(seconds)
    rng = _rng(rng)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    f[0] = f[1]
    gain = f ** (-exponent / 2.0)
    if highpass_hz > 0:
        gain = gain * (1.0 / np.sqrt(1.0 + (highpass_hz / f) ** 4))
    gain[0] = 0.0
    return _peak_normalise(np.fft.irfft(spec * gain, n))


def hum(seconds: float, rng=None, mains_hz: float | None = None):
    """Mains hum with harmonics, slow amplitude wander and a little pink noise."""
    n = _check_seconds(seconds)
    rng = _rng(rng)
    mains = mains_hz or float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    for k in range(1, 12):
        amp = rng.uniform(0.2, 1.0) / k ** rng.uniform(0.3, 1.2)
        wander = 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 6.3))
        drift = 2 * np.pi * k * mains * t * (1.0 + rng.uniform(-2e-4, 2e-4))
        out += amp * wander * np.sin(drift + rng.uniform(0, 2 * np.pi))
    out /= np.max(np.abs(out))
    out += 0.15 * colored_noise(seconds, 1.0, rng)
    return _peak_normalise(out)


def babble(seconds: float, talk, rng=None, talkers: int = 6):
    """Several talkers at once.

    Parameters
    ----------
    talk : callable
        ``talk(text, rng) -> float array at 16 kHz``: one talker saying ``text``.
    talkers : int
        Number of simultaneous talkers.
    """
    n = _check_seconds(seconds)
    rng = _rng(rng)
    out = np.zeros(n)
    for _ in range(talkers):
        track = []
        length = 0
        while length < n:
            text = " ".join(rng.choice(BABBLE_WORDS, size=int(rng.integers(4, 12))))
            speech = np.asarray(talk(text, rng), dtype=np.float64)
            speech = speech / (rms(speech) + 1e-9) * rng.uniform(0.5, 1.5)
            gap = np.zeros(int(rng.integers(0, SAMPLE_RATE // 3)))
            track += [speech, gap]
            length += speech.size + gap.size
        track = np.concatenate(track)
        start = int(rng.integers(0, max(1, track.size - n + 1)))
        out += track[start:start + n]
    return _peak_normalise(out)


def make_noise(kind: str, seconds: float, rng=None, talk=None):
    """One of :data:`NOISE_KINDS` (``babble`` needs ``talk``, see :func:`babble`)."""
    if kind == "white_noise":
        return colored_noise(seconds, 0.0, rng)
    if kind == "pink_noise":
        return colored_noise(seconds, 1.0, rng)
    if kind == "brown_noise":
        return colored_noise(seconds, 2.0, rng, highpass_hz=20.0)
    if kind == "hum":
        return hum(seconds, rng)
    if kind == "babble":
        if talk is None:
            raise ValueError("babble noise needs a talk(text, rng) function")
        return babble(seconds, talk, rng)
    raise ValueError(f"noise kind must be one of {NOISE_KINDS}, not {kind!r}")


def room_impulse_response(rt60: float, rng=None, direct_to_reverb_db: float = 3.0,
                          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic room impulse response.

    Unit direct sound, 3-8 early reflections in the first 5-40 ms, and a diffuse tail of
    Gaussian noise decaying by 60 dB in ``rt60`` seconds (slightly faster at high
    frequencies), scaled so that direct/reverberant energy is ``direct_to_reverb_db``.
    """
    if not np.isfinite(rt60) or rt60 <= 0:
        raise ValueError(f"rt60 must be a positive number of seconds, not {rt60!r}")
    rng = _rng(rng)
    n = max(8, int(min(rt60, 1.5) * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(0.002 * sample_rate)] = 0.0
    # Air/wall absorption: a one-pole low-pass makes the late tail darker.
    spec = np.fft.rfft(tail)
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spec /= np.sqrt(1.0 + (f / rng.uniform(2500.0, 7000.0)) ** 2)
    tail = np.fft.irfft(spec, n)
    for _ in range(int(rng.integers(3, 9))):
        k = int(rng.uniform(0.005, 0.04) * sample_rate)
        if k < n:
            tail[k] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7)
    tail *= np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / (np.sum(tail ** 2) + 1e-12))
    tail[0] = 1.0
    return tail


def reverberate(audio, rir) -> np.ndarray:
    """Convolve ``audio`` with ``rir`` (FFT); output length ``len(audio) + len(rir) - 1``."""
    audio = np.asarray(audio, dtype=np.float64)
    rir = np.asarray(rir, dtype=np.float64)
    n = audio.size + rir.size - 1
    nfft = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(audio, nfft) * np.fft.rfft(rir, nfft), nfft)[:n]


def band_limit(audio, low_hz: float = 0.0, high_hz: float | None = None, order: int = 4,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Zero-phase band limiting with Butterworth magnitude responses (FFT domain).

    ``low_hz`` is a high-pass corner (0: none), ``high_hz`` a low-pass corner (None: none).
    """
    audio = np.asarray(audio, dtype=np.float64)
    if high_hz is not None and not 0 < high_hz <= sample_rate / 2:
        raise ValueError(f"high_hz must be in (0, {sample_rate / 2}], not {high_hz!r}")
    if low_hz < 0:
        raise ValueError(f"low_hz must be >= 0, not {low_hz!r}")
    n = audio.size
    nfft = 1 << max(1, (n - 1).bit_length())
    spec = np.fft.rfft(audio, nfft)
    f = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    gain = np.ones_like(f)
    if low_hz > 0:
        with np.errstate(divide="ignore"):
            gain /= np.sqrt(1.0 + (low_hz / np.maximum(f, 1e-9)) ** (2 * order))
    if high_hz is not None:
        gain /= np.sqrt(1.0 + (f / high_hz) ** (2 * order))
    return np.fft.irfft(spec * gain, nfft)[:n]


def random_eq(audio, rng=None, tilt_db_per_octave: float = 3.0, bumps: int = 3,
              bump_db: float = 6.0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A random microphone/room colouration (zero phase, FFT domain).

    The gain (dB) is a tilt uniform in ``+-tilt_db_per_octave`` around 1 kHz plus ``bumps``
    Gaussian peaks or dips (on a log-frequency axis, 0.3-1.5 octaves wide) of up to
    ``+-bump_db`` between 150 Hz and 6 kHz.
    """
    rng = _rng(rng)
    audio = np.asarray(audio, dtype=np.float64)
    n = audio.size
    nfft = 1 << max(1, (n - 1).bit_length())
    f = np.fft.rfftfreq(nfft, 1.0 / sample_rate)
    octaves = np.log2(np.maximum(f, 20.0) / 1000.0)
    gain_db = rng.uniform(-tilt_db_per_octave, tilt_db_per_octave) * octaves
    for _ in range(bumps):
        centre = rng.uniform(np.log2(150 / 1000), np.log2(6000 / 1000))
        width = rng.uniform(0.3, 1.5)
        gain_db += rng.uniform(-bump_db, bump_db) * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
    spec = np.fft.rfft(audio, nfft) * 10 ** (gain_db / 20)
    return np.fft.irfft(spec, nfft)[:n]
