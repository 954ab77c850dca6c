"""Keyword spotting on a continuous audio stream (``edgekws board listen``, ``enrol --stdin``).

A stream of 16 kHz mono audio (raw ``s16le`` from a pipe, a WAV file read chunk by chunk as
if it were live, or a microphone through ``sounddevice``) is cut into one-second windows.

``listen`` (:class:`Listener`, :func:`spot`) looks at the last second every hop (0.1 s):

* **features once** -- the MFCC of each 20 ms hop is computed once
  (:class:`~edgekws.data.mfcc_stream.StreamingMfcc`) and every window is made of frames
  already computed, equal to ``mfcc()`` of the same second;
* **energy gate** -- 20 ms blocks below ``threshold_db`` (dBFS) are silence; a window with
  less than ``min_loud`` seconds of loud blocks never reaches the board;
* **centring** -- a window is heard (classified on the board) only when the energy centre
  of its loud blocks is within ``centre`` seconds of its middle: clips are centred in
  training, so the board sees an utterance where it expects one;
* **speeds** -- a heard window is classified at each of ``speeds``
  (:func:`heard_views`: its own features at 1, its samples played faster or slower for the
  others, as an isolated clip is in :mod:`edgekws.data.shifts`), the class potentials
  averaged;
* **hit rule** -- a word fires when it wins ``wins`` of the last ``of`` windows with a score
  and margin above the thresholds, then nothing fires for a refractory period
  (:mod:`edgekws.host.hitrule`).

``enrol`` cuts utterances with the :class:`Segmenter`: every hop it fires the first window
whose energy centre reached the middle, then waits ``refractory`` seconds
(:func:`capture`).
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Callable, Iterable, Iterator

import numpy as np

from edgekws.checks import check_int, check_number
from edgekws.data.mfcc import MfccParams
from edgekws.data.mfcc_stream import chunk_samples
from edgekws.host.hitrule import HitRule, check_fraction

__all__ = ["Window", "Detection", "Segmenter", "Listener", "raw_chunks", "wav_chunks",
           "mic_chunks", "spot", "heard_views", "refractory_windows", "capture", "Scored",
           "score_potentials", "score_windows", "class_potentials", "score_classes",
           "word_of", "REJECTED"]

#: Energy gate of ``listen``/``enrol`` streams, dBFS per 20 ms block.
DEFAULT_GATE_DB = -55.0
#: Rejection defaults of ``infer``/``listen`` (fractions of num_weights), chosen on real
#: streams (docs/real-speech.md, ``edgekws eval --stream``): the best detection rate at
#: 10 false alarms per hour or fewer was a margin of 2/28 with no score threshold.
DEFAULT_MIN_SCORE = 0.0
DEFAULT_MIN_MARGIN = 0.07

#: ``listen``'s windows: one every DEFAULT_HOP seconds, heard (classified) when the energy
#: centre of its loud blocks is within DEFAULT_CENTRE seconds of its middle; a word fires when
#: it wins DEFAULT_WINS of the last DEFAULT_OF windows with LISTEN_MIN_SCORE and
#: LISTEN_MIN_MARGIN (:mod:`edgekws.host.hitrule`). Chosen on real streams as the previous
#: defaults were (docs/real-speech.md, ``edgekws eval --stream``): the best detection rate
#: at 10 false alarms per hour or fewer, 95/138 at 9.5/h (a margin of 1/28 and a score of
#: 18/28 with the shipped model's num_weights).
DEFAULT_HOP = 0.1
DEFAULT_CENTRE = 0.4
DEFAULT_WINS = 4
DEFAULT_OF = 5
LISTEN_MIN_SCORE = 0.64
LISTEN_MIN_MARGIN = 0.035
#: Seconds after a detection in which no word fires.
DEFAULT_REFRACTORY = 1.0

#: What a rejected window is called (a match too weak for ``--min-score``/``--min-margin``).
REJECTED = "_unknown_"

#: What a missing microphone stack tells the user.
MIC_HELP = ("live microphone input needs the sounddevice package and the PortAudio "
            "library: pip install 'edgekws[mic]' (and e.g. apt-get install libportaudio2); "
            "or pipe raw audio in: arecord -f S16_LE -r 16000 -c 1 -t raw | ... --stdin")


def _positive(name, value):
    return check_number(name, value, "a positive number of seconds", above=0)


@dataclasses.dataclass(frozen=True)
class Window:
    """One second of the stream that the segmenter picked.

    Attributes
    ----------
    start : int
        Stream index of its first sample (samples before the stream began count as silence).
    samples : numpy.ndarray
        float32 ``(clip_samples,)`` in [-1, 1), as :func:`edgekws.data.wavio.read_wav` gives.
    rate : int
        Sample rate, Hz.
    """

    start: int
    samples: np.ndarray
    rate: int
    #: float32 ``(frames, coefficients)`` MFCC of a window the :class:`Listener` classifies
    #: (None: the gate kept it from the board).
    features: np.ndarray | None = None
    #: Seconds from the window's middle to the energy centre of its loud blocks (NaN: too
    #: little loud sound).
    offset: float = float("nan")

    @property
    def time(self) -> float:
        """Stream time of the window's middle, in seconds."""
        return (self.start + self.samples.size / 2) / self.rate


@dataclasses.dataclass(frozen=True)
class Scored:
    """Classes of a batch with how sure the learning layer is of each.

    ``score`` is the winning class's best potential as a fraction of ``num_weights`` (1.0:
    every spike the neuron listens to is there); ``margin`` is that minus the best other
    class's, in the same unit. ``label`` is -1 where the match was rejected.
    """

    label: np.ndarray
    score: np.ndarray
    margin: np.ndarray


def word_of(label: int, words) -> str:
    """The name printed for a class: its word, :data:`REJECTED` for -1, else its number."""
    return REJECTED if label == -1 else words[label] if 0 <= label < len(words) else str(label)


def class_potentials(potentials, num_classes: int) -> np.ndarray:
    """Each class's best potential ``(n, num_classes)`` from the learning layer's
    potentials ``(n, N)``; neurons are grouped by class in order (``N // num_classes``
    each), as ``add_classes`` and the board lay them out."""
    pots = np.asarray(potentials)
    if pots.ndim != 2 or num_classes < 1 or pots.shape[1] % num_classes:
        raise ValueError(f"potentials of shape {pots.shape} cannot be split into "
                         f"{num_classes} classes")
    return pots.reshape(len(pots), num_classes, -1).max(axis=2)


def score_classes(best, num_weights: int, min_score: float = 0.0,
                  min_margin: float = 0.0) -> Scored:
    """Classes, scores and margins from per-class potentials ``(n, K)``
    (:func:`class_potentials`, or their mean over windows: :func:`score_windows`); ties go
    to the lowest class, as the board's winner does.
    Windows whose score is below ``min_score`` or whose margin is below ``min_margin`` get
    label -1 (rejected)."""
    min_score = check_fraction("min_score", min_score)
    min_margin = check_fraction("min_margin", min_margin)
    best = np.asarray(best, dtype=np.float64)
    num_classes = best.shape[1]
    label = best.argmax(axis=1)
    top = best[np.arange(len(best)), label]
    other = np.where(np.arange(num_classes)[None] == label[:, None], -np.inf, best).max(axis=1) \
        if num_classes > 1 else np.zeros(len(best))
    score = top / num_weights
    margin = (top - other) / num_weights if num_classes > 1 else score
    keep = (score >= min_score) & (margin >= min_margin)
    return Scored(np.where(keep, label, -1), score, margin)


def score_potentials(potentials, num_classes: int, num_weights: int, min_score: float = 0.0,
                     min_margin: float = 0.0) -> Scored:
    """Classes, scores and margins from the learning layer's potentials ``(n, N)``:
    :func:`score_classes` of :func:`class_potentials`."""
    best = class_potentials(potentials, num_classes)
    return score_classes(best, num_weights, min_score, min_margin)


def score_windows(potentials, num_classes: int, num_weights: int, min_score: float = 0.0,
                  min_margin: float = 0.0) -> Scored:
    """Classes, scores and margins of clips looked at in several windows
    (:mod:`edgekws.data.shifts`): ``potentials`` holds the learning layer's potentials
    ``(n, N)`` of each window; each class's best potential is averaged over the windows
    before :func:`score_classes`. One window is :func:`score_potentials`."""
    windows = [class_potentials(p, num_classes) for p in potentials]
    if not windows:
        raise ValueError("score_windows needs the potentials of at least one window")
    if len({w.shape for w in windows}) != 1:
        raise ValueError(f"every window must hold the same clips, not shapes "
                         f"{sorted({w.shape for w in windows})}")
    best = np.mean(np.stack(windows).astype(np.float64), axis=0)
    return score_classes(best, num_weights, min_score, min_margin)


@dataclasses.dataclass(frozen=True)
class Detection:
    """A fired window and what the board said about it (label -1: rejected)."""

    window: Window
    #: The uint8 ``(frames, coefficients, 1)`` MFCC frame of the window as heard (speed 1;
    #: the board was sent it only when ``spot``'s speeds hold 1, and the other speeds' too).
    frame: np.ndarray
    label: int
    word: str
    score: float = float("nan")
    margin: float = float("nan")

    @property
    def time(self) -> float:
        return self.window.time


def _block_power(samples, block: int) -> np.ndarray:
    """float64 mean power of each whole ``block`` of samples."""
    n = samples.size // block
    return np.mean(samples[:n * block].astype(np.float64).reshape(n, block) ** 2, axis=1)


def _loud_centre(power, block: int, power_floor: float, min_samples: float) -> float | None:
    """Energy centre (samples from the window start) of the blocks of a window (their
    ``power``) that reach ``power_floor``, or None when they hold fewer than
    ``min_samples``."""
    loud = power >= power_floor
    if loud.sum() * block < min_samples:
        return None
    weights = np.where(loud, power, 0.0)
    centres = (np.arange(power.size) + 0.5) * block
    return float(np.dot(weights, centres) / weights.sum())


class _Gate:
    """What the :class:`Segmenter` and the :class:`Listener` share: the window, the hop
    and the energy gate (parameters as documented there)."""

    def __init__(self, params, hop, threshold_db, min_loud):
        self.params = params = params or MfccParams()
        self.rate = params.sample_rate
        self.clip = params.clip_samples
        self.block = params.stride
        hop = _positive("hop", hop)
        self.hop = int(round(hop * self.rate))
        if not 0 < self.hop <= self.clip:
            raise ValueError(f"hop must be between 1/{self.rate} s and the "
                             f"{self.clip / self.rate:g} s window, not {hop!r}")
        self.threshold_db = check_number("threshold", threshold_db, "a level in dBFS (<= 0)",
                                         maximum=0)
        self.min_loud = _positive("min_loud", min_loud)
        self._power_floor = 10.0 ** (self.threshold_db / 10.0)

    def _centre(self, power) -> float | None:
        """The energy centre of a window from its blocks' power (see _loud_centre)."""
        return _loud_centre(power, self.block, self._power_floor, self.min_loud * self.rate)


class Segmenter(_Gate):
    """Cuts a stream into one-second windows centred on utterances (see the module doc).

    Parameters
    ----------
    params : MfccParams, optional
        Gives the sample rate, the window length (``clip_samples``) and the energy block
        (``stride``, 20 ms).
    hop : float
        Seconds between two looks at the buffer.
    threshold_db : float
        Energy gate: a block is loud when its mean power is at least this many dBFS
        (a full-scale sine is -3 dBFS).
    min_loud : float
        Seconds of loud blocks a window needs to be considered.
    refractory : float
        Seconds after a fired window during which no other fires.
    """

    def __init__(self, params: MfccParams | None = None, hop: float = 0.25,
                 threshold_db: float = DEFAULT_GATE_DB, min_loud: float = 0.1,
                 refractory: float = 1.0):
        super().__init__(params, hop, threshold_db, min_loud)
        self.refractory = int(round(_positive("refractory", refractory) * self.rate))
        self._buffer = np.zeros(self.clip, np.float32)   # the ring: silence before the stream
        self._pending = np.zeros(0, np.float32)
        self.end = 0                   # stream samples shifted into the buffer so far
        self._last_fire = None         # buffer end of the last fired window

    def _look(self) -> Window | None:
        if self._last_fire is not None and self.end - self._last_fire < self.refractory:
            return None
        centre = self._centre(_block_power(self._buffer, self.block))
        if centre is None or centre > self.clip / 2 + self.hop / 2:
            return None
        self._last_fire = self.end
        return Window(self.end - self.clip, self._buffer.copy(), self.rate)

    def feed(self, chunk) -> list:
        """Append audio (int16, or float in [-1, 1]); the windows that fired meanwhile."""
        data = np.concatenate([self._pending, chunk_samples(chunk, np.float32)])
        fired = []
        used = 0
        while data.size - used >= self.hop:
            self._buffer = np.concatenate([self._buffer[self.hop:], data[used:used + self.hop]])
            used += self.hop
            self.end += self.hop
            w = self._look()
            if w is not None:
                fired.append(w)
        self._pending = data[used:]
        return fired

    def flush(self) -> list:
        """End of a finite stream: one second of silence, so that an utterance at the very
        end still reaches the middle of a window."""
        return self.feed(np.zeros(self.clip, np.float32))


class Listener(_Gate):
    """Every hop's one-second window of a stream, its MFCC computed once per 20 ms.

    Window ``e`` ends at stream sample ``e * hop`` (samples before the stream are silence,
    as in the :class:`Segmenter`). A window through the energy gate whose loud blocks are
    centred within ``centre`` seconds of its middle is **heard**: it carries its float MFCC
    (:class:`~edgekws.data.mfcc_stream.StreamingMfcc`, equal to ``mfcc()`` of the same
    second) for the board; the others carry ``features=None``.

    Parameters
    ----------
    params : MfccParams, optional
    hop : float
        Seconds between windows; a multiple of the MFCC stride (20 ms), so that every
        window is made of frames already computed.
    threshold_db, min_loud : float
        The energy gate, as the :class:`Segmenter`'s.
    centre : float or None
        Seconds; None hears every window through the gate.
    """

    def __init__(self, params: MfccParams | None = None, hop: float = DEFAULT_HOP,
                 threshold_db: float = DEFAULT_GATE_DB, min_loud: float = 0.1,
                 centre: float | None = DEFAULT_CENTRE):
        from edgekws.data.mfcc_stream import StreamingMfcc
        super().__init__(params, hop, threshold_db, min_loud)
        if self.hop % self.params.stride:
            stride_ms = 1000 * self.params.stride / self.rate
            raise ValueError(f"hop must be a multiple of the {stride_ms:g} ms MFCC stride, "
                             f"not {hop!r}")
        self.centre = None if centre is None else check_number(
            "centre", centre, "a number of seconds >= 0 (or None: any)", minimum=0)
        self._mfcc = StreamingMfcc(self.params, every=self.hop // self.params.stride)
        self._tail = np.zeros(self.clip, np.float32)   # the last second before self.end
        self._feats = self._mfcc.push(self._tail)      # windows from index self._first on
        self._first = 0
        self.end = 0
        # Power of each 20 ms block, computed once: blocks of the stream padded with its
        # second of silence, from block self._block0 on (every window starts on a block).
        self._powers = np.zeros(self.clip // self.block)
        self._block0 = 0

    def feed(self, chunk) -> list:
        """Append audio (int16, or float in [-1, 1]); the :class:`Window` of every hop it
        completed."""
        x = chunk_samples(chunk, np.float32)
        self._feats = np.concatenate([self._feats, self._mfcc.push(x)])
        buf = np.concatenate([self._tail, x])    # stream samples self.end - clip ...
        # New whole blocks: padded sample p is buf[p - self.end].
        done = (self._block0 + len(self._powers)) * self.block
        new = _block_power(buf[done - self.end:], self.block)
        self._powers = np.concatenate([self._powers, new])
        n = self.clip // self.block
        out = []
        for e in range((self.end // self.hop + 1) * self.hop, self.end + x.size + 1, self.hop):
            window = buf[e - self.end:e - self.end + self.clip]
            first = e // self.block - self._block0     # the window's first block
            centre = self._centre(self._powers[first:first + n])
            offset = float("nan") if centre is None else (centre - self.clip / 2) / self.rate
            heard = centre is not None and (self.centre is None or abs(offset) <= self.centre)
            # StreamingMfcc's window e/hop ends at stream sample e: the second of silence
            # pushed first shifts its samples by one clip.
            feats = self._feats[e // self.hop - self._first] if heard else None
            out.append(Window(e - self.clip, window, self.rate, feats, offset))
        self.end += x.size
        self._tail = buf[buf.size - self.clip:]
        # Keep the MFCC windows from the next window's on (self._first + len(self._feats)
        # is always the number of windows StreamingMfcc returned).
        keep = min(self.end // self.hop + 1, self._mfcc.windows_out)
        self._feats = self._feats[keep - self._first:]
        self._first = keep
        drop = max(0, (self.end // self.hop + 1) * self.hop // self.block - self._block0)
        drop = min(drop, len(self._powers))
        self._powers = self._powers[drop:]
        self._block0 += drop
        return out

    def flush(self) -> list:
        """End of a finite stream: one second of silence (see :meth:`Segmenter.flush`)."""
        return self.feed(np.zeros(self.clip, np.float32))


# -- sources: iterators of int16 chunks ------------------------------------------------------
def raw_chunks(stream, chunk_samples: int) -> Iterator[np.ndarray]:
    """Raw little-endian 16-bit mono PCM from a binary file object (``sys.stdin.buffer``),
    ``chunk_samples`` at a time (the last chunk may be shorter)."""
    size = 2 * chunk_samples
    carry = b""
    while True:
        data = stream.read(size)
        if not data:
            break
        data = carry + data
        cut = len(data) - len(data) % 2
        carry = data[cut:]
        if cut:
            yield np.frombuffer(data[:cut], "<i2").astype(np.int16)
    if carry:
        print("edgekws: warning: the stream ended on half a sample (1 odd byte dropped)",
              file=sys.stderr)


def wav_chunks(path, chunk_samples: int, rate: int = 16000) -> Iterator[np.ndarray]:
    """A 16-bit PCM mono WAV file at ``rate`` Hz read ``chunk_samples`` at a time, as a live
    stream would arrive (no resampling or down-mixing: a stream has to be the right format).
    The header is checked before the generator is returned."""
    import wave
    from edgekws.data.wavio import wav_info
    path = os.fspath(path)
    channels, width, file_rate, _ = wav_info(path)
    fix = (f"convert it, e.g. sox {path} -r {rate} -c 1 -b 16 out.wav, or use "
           "`edgekws board infer` on one-second clips")
    if channels != 1:
        raise ValueError(f"{path}: {channels} channels; a stream must be mono ({fix})")
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; a stream must be 16-bit PCM "
                         f"({fix})")
    if file_rate != rate:
        raise ValueError(f"{path}: sample rate {file_rate} Hz; a stream must be {rate} Hz "
                         f"({fix})")

    def gen():
        with wave.open(path, "rb") as f:
            while True:
                data = f.readframes(chunk_samples)
                if not data:
                    return
                yield np.frombuffer(data[:len(data) - len(data) % 2], "<i2").astype(np.int16)

    return gen()


def _sounddevice():
    try:
        import sounddevice
    except ImportError:
        raise OSError(f"no sounddevice package: {MIC_HELP}") from None
    except OSError as exc:       # sounddevice is there but PortAudio is not
        raise OSError(f"sounddevice cannot load PortAudio ({exc}): {MIC_HELP}") from None
    return sounddevice


def mic_chunks(chunk_samples: int, device=None, rate: int = 16000) -> Iterator[np.ndarray]:
    """The microphone (``sounddevice``, imported here so that the rest of the host needs
    no audio stack), 16-bit mono at ``rate`` Hz. The device is opened before the generator
    is returned, so a bad device or a missing PortAudio is reported at once; recording
    starts with the first chunk asked for."""
    sd = _sounddevice()
    try:
        stream = sd.InputStream(samplerate=rate, channels=1, dtype="int16",
                                blocksize=chunk_samples, device=device)
    except Exception as exc:     # sounddevice.PortAudioError, ValueError for a bad device
        raise OSError(f"cannot open microphone {device if device is not None else '(default)'}"
                      f" at {rate} Hz mono: {exc}") from None

    def gen():
        try:
            stream.start()
            while True:
                data, overflowed = stream.read(chunk_samples)
                if overflowed:
                    print("edgekws: warning: audio input overflowed (samples lost)",
                          file=sys.stderr)
                yield np.asarray(data, np.int16).reshape(-1)
        finally:
            stream.stop()
            stream.close()

    return gen()


# -- consumers -------------------------------------------------------------------------------
def heard_views(features, samples, speeds, params: MfccParams) -> list:
    """The float MFCC of heard windows at each of ``speeds``, in that order: at 1 their own
    ``features`` ``(n, frames, coefficients)`` (the streaming MFCC), at another speed the
    MFCC of their ``samples`` ``(n, clip_samples)`` played at it
    (:func:`edgekws.data.shifts.speed_changed`, as an isolated clip's windows)."""
    from edgekws.data.mfcc import mfcc
    from edgekws.data.shifts import speed_changed
    return [np.asarray(features) if s == 1.0 else
            mfcc(speed_changed(samples, s, params.sample_rate), params) for s in speeds]


def spot(chunks: Iterable, listener: Listener, to_frames: Callable, classify: Callable,
         words, rule: HitRule | None = None, speeds=(1.0,)) -> Iterator[Detection]:
    """Detections of a stream, as they happen.

    Parameters
    ----------
    chunks : iterable of array
        The audio (a source above).
    listener : Listener
        Cuts it into windows and says which are heard.
    to_frames : callable
        Float MFCC ``(n, frames, coefficients)`` -> the model's uint8 frames ``(n, frames,
        coefficients, 1)`` (its scaling: ``MfccScaling.to_uint8`` and a channel axis).
    classify : callable
        uint8 frames of each view (one array per speed, as :func:`score_windows` takes
        them) -> :class:`Scored` (e.g. :func:`score_potentials` of the board's potentials
        for one speed); label -1 for a window rejected there.
    words : sequence of str
        Class names; a class without one is shown as its number.
    rule : HitRule, optional
        When a word fires (default: the listener defaults, refractory 1 s).
    speeds : sequence of float
        Each heard window is classified at these speeds (:func:`heard_views`; checked by
        :func:`edgekws.data.shifts.check_speeds`); the default hears it as it is.
    """
    from edgekws.data.shifts import check_speeds
    speeds = check_speeds(speeds, listener.rate)
    if rule is None:
        rule = HitRule(DEFAULT_WINS, DEFAULT_OF, LISTEN_MIN_SCORE, LISTEN_MIN_MARGIN,
                       refractory_windows(DEFAULT_REFRACTORY, listener))
    state = rule.start()

    def look(windows):
        for w in windows:
            if w.features is None:
                state.push(-1)
                continue
            views = [to_frames(f) for f in
                     heard_views(w.features[None], w.samples[None], speeds, listener.params)]
            # Detection.frame is the window as heard (speed 1), sent or not.
            frame = views[speeds.index(1.0)] if 1.0 in speeds else to_frames(w.features[None])
            out = classify(*views)
            if not isinstance(out, Scored):
                raise TypeError(f"classify must return a Scored (classes with scores), not "
                                f"{type(out).__name__}")
            label, score, margin = int(out.label[0]), float(out.score[0]), float(out.margin[0])
            fired = state.push(label, score, margin)
            if fired >= 0:
                yield Detection(w, frame[0], fired, word_of(fired, words), score, margin)

    for chunk in chunks:
        yield from look(listener.feed(chunk))
    yield from look(listener.flush())


def refractory_windows(seconds: float, listener: Listener) -> int:
    """A refractory period in seconds as a number of the listener's windows (rounded)."""
    seconds = check_number("refractory", seconds, "a number of seconds >= 0", minimum=0)
    return int(round(seconds * listener.rate / listener.hop))


def capture(chunks: Iterable, segmenter: Segmenter, count: int,
            on_window: Callable | None = None) -> list:
    """The first ``count`` utterances of a stream as :class:`Window` s (for enrolment).

    Raises
    ------
    ValueError
        If the stream ends before ``count`` utterances were heard.
    """
    count = check_int("number of utterances", count)
    got = []

    def take(windows):
        for w in windows:
            got.append(w)
            if on_window is not None:
                on_window(w, len(got))
            if len(got) == count:
                return True
        return False

    for chunk in chunks:
        if take(segmenter.feed(chunk)):
            return got
    if take(segmenter.flush()):
        return got
    raise ValueError(f"the stream ended after {len(got)} of {count} utterances (energy gate "
                     f"{segmenter.threshold_db:g} dBFS); speak louder or lower --threshold")
