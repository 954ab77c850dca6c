"""Shifted windows: one isolated clip looked at several times, a little earlier and later,
and a little faster and slower.

A one-second clip is a single look at a word; if the word sits off-centre, or runs to an
edge, the one window sees it cut. The listener looks every 0.1 s and so never depends on
one window; for an isolated clip, :func:`shifted_windows` makes the same kind of looks:
the clip moved by each of ``shifts`` seconds (zero fill, as the training corpus's time
shifts), and the caller averages the model's scores over them.

The windows are moved copies of the one-second clip as the caller placed it: ``eval``
centres a shorter FSDD recording in its second, ``board infer`` and ``board enrol`` put a
file at the start of it (and crop a longer one), so there a negative shift cuts the start
of a word that begins at the file's first sample, as the enrolment copies' own time shifts
do.

:func:`window_shifts` spaces ``count`` windows ``step`` seconds apart around the clip (the
``--windows``/``--window-step`` options of ``eval`` and ``board infer``). The default,
:data:`DEFAULT_SHIFTS` (five windows 50 ms apart), was chosen on the real
validation speakers (``sc-v1-sample``: class-balanced 12-class accuracy) and on FSDD
enrolment, never on the held-out test speakers; ``docs/real-speech.md`` has the table.

People say a word at different rates, and a model trained on a few hundred speakers has
heard some rates more than others. ``speeds`` also plays each clip a little faster and
slower (:func:`speed_changed`: resampled, tempo and pitch together, as the corpus's speed
perturbation, about the clip's centre) and each speed is looked at in every shifted
window: ``len(speeds) * len(shifts)`` windows a clip (the ``--speeds`` option). The
default, :data:`DEFAULT_SPEEDS` (0.85, 0.92, 1, 1.08, 1.15 times), was chosen the same way
on the validation speakers.
"""
from __future__ import annotations

import numpy as np

from edgekws.cliargs import positive_float, positive_int

from .augment import time_shift
from .wavio import resample

__all__ = ["DEFAULT_WINDOWS", "DEFAULT_STEP", "DEFAULT_SHIFTS", "DEFAULT_SPEEDS",
           "window_shifts", "check_shifts", "check_speeds", "speed_changed",
           "shifted_windows", "add_speed_arg", "add_window_args", "window_shifts_of",
           "speed_list"]

#: Windows of an isolated clip, and the seconds between them, by default.
DEFAULT_WINDOWS, DEFAULT_STEP = 5, 0.05
#: Speeds (times the recorded rate) each isolated clip is also played at, by default.
DEFAULT_SPEEDS = (0.85, 0.92, 1.0, 1.08, 1.15)
#: The range a speed must lie in: beyond it a word stops sounding like itself.
SPEED_RANGE = (0.5, 2.0)


def window_shifts(count: int, step: float) -> tuple:
    """The shifts of ``count`` windows ``step`` seconds apart, centred on the clip
    (``count`` 1: the clip as it is)."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"the number of windows must be a positive integer, not {count!r}")
    if isinstance(step, bool) or not isinstance(step, (int, float, np.floating)) or \
            not np.isfinite(step) or step <= 0:
        raise ValueError(f"the step between windows must be a positive number of seconds, "
                         f"not {step!r}")
    half = (count - 1) / 2
    shifts = tuple(round((i - half) * float(step), 6) for i in range(count))
    if max(abs(v) for v in shifts) >= 0.5:
        raise ValueError(f"{count} windows {step:g} s apart reach {half * step:g} s from the "
                         "clip; keep them within 0.5 s (fewer windows or a smaller step)")
    return shifts


def _sequence(values, name: str, example: str) -> None:
    """Refuse a ``values`` that is not a sequence: a string is iterable too, and "0.92"
    would be read as the digits 0, ., 9, 2."""
    if isinstance(values, (str, bytes)) or not np.iterable(values):
        raise ValueError(f"{name} must be a sequence of numbers, e.g. {example}, not "
                         f"{values!r}")


def _distinct(values: tuple, name: str) -> tuple:
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must be distinct, not {list(values)}")
    return values


def check_shifts(shifts) -> tuple:
    """``shifts`` as a tuple of floats: distinct seconds, each within (-0.5, 0.5)."""
    _sequence(shifts, "shifts", "(-0.05, 0, 0.05)")
    try:
        values = tuple(float(v) for v in shifts)
    except (TypeError, ValueError):
        raise ValueError(f"shifts must be numbers of seconds, not {shifts!r}") from None
    if not values:
        raise ValueError("shifts must hold at least one window offset (0 for the clip "
                         "as it is)")
    bad = [v for v in values if not (np.isfinite(v) and -0.5 < v < 0.5)]
    if bad:
        raise ValueError(f"a shift must be a number of seconds between -0.5 and 0.5 "
                         f"(exclusive), not {bad[0]!r}")
    return _distinct(values, "shifts")


def check_speeds(speeds, sample_rate: int = 16000) -> tuple:
    """``speeds`` as a tuple of floats: distinct, each within :data:`SPEED_RANGE` and a
    whole number of samples a second at ``sample_rate`` (the resampler's rates are
    integers)."""
    _sequence(speeds, "speeds", "(0.92, 1, 1.08)")
    try:
        values = tuple(float(v) for v in speeds)
    except (TypeError, ValueError):
        raise ValueError(f"speeds must be numbers (1 for the clip as it is), not "
                         f"{speeds!r}") from None
    if not values:
        raise ValueError("speeds must hold at least one speed (1 for the clip as it is)")
    low, high = SPEED_RANGE
    for v in values:
        if not (np.isfinite(v) and low <= v <= high):
            raise ValueError(f"a speed must be a number between {low:g} and {high:g} times "
                             f"the recorded rate, not {v!r}")
        if abs(v * sample_rate - round(v * sample_rate)) > 1e-6:
            raise ValueError(f"a speed must be a whole number of samples a second at "
                             f"{sample_rate} Hz (e.g. 0.92), not {v!r}")
    return _distinct(values, "speeds")


def speed_changed(waves, speed: float, sample_rate: int = 16000) -> np.ndarray:
    """``waves`` (``(..., samples)``) played ``speed`` times faster (tempo and pitch, by
    resampling), about the clip's centre, at its length: a faster clip is zero-padded on
    both sides, a slower one cropped to its middle. ``speed`` is checked as one of
    :func:`check_speeds`' (the resampler would otherwise round its rate silently)."""
    speed, = check_speeds((speed,), sample_rate)
    waves = np.asarray(waves, dtype=np.float32)
    if speed == 1.0:
        return waves
    played = resample(waves, int(round(speed * sample_rate)), sample_rate)
    n, m = waves.shape[-1], played.shape[-1]
    if m >= n:
        start = (m - n) // 2
        return np.ascontiguousarray(played[..., start:start + n])
    out = np.zeros_like(waves)
    start = (n - m) // 2
    out[..., start:start + m] = played
    return out


def shifted_windows(waves, shifts, sample_rate: int = 16000, speeds=(1.0,)):
    """``waves`` (``(..., samples)``) at each of ``speeds`` (:func:`speed_changed`), each
    moved by each of ``shifts`` seconds (positive: later), in that order, made one at a time
    as they are iterated: ``len(speeds) * len(shifts)`` windows. Both are checked
    (:func:`check_shifts`, :func:`check_speeds`) at the call."""
    shifts = check_shifts(shifts)
    speeds = check_speeds(speeds, sample_rate)

    def windows():
        for speed in speeds:
            played = speed_changed(waves, speed, sample_rate)
            for shift in shifts:
                yield time_shift(played, round(shift * sample_rate))
    return windows()


#: Seconds each isolated clip is moved by (the windows whose scores are averaged).
DEFAULT_SHIFTS = window_shifts(DEFAULT_WINDOWS, DEFAULT_STEP)


def speed_list(text: str) -> tuple:
    """An argparse ``type``: comma-separated speeds (``0.92,1,1.08``), checked by
    :func:`check_speeds`."""
    import argparse
    try:
        return check_speeds(text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (in {text!r})") from None


def add_speed_arg(parser, what: str = "each clip") -> None:
    """``--speeds S,S,...`` on an argparse ``parser`` (``eval``, ``board infer``, ``board
    listen``): ``args.speeds``, checked by :func:`check_speeds`."""
    parser.add_argument("--speeds", type=speed_list, default=DEFAULT_SPEEDS,
                        metavar="S,S,...",
                        help=f"also play {what} at these speeds (times the recorded rate) "
                        "and average the scores (default "
                        f"{','.join(f'{v:g}' for v in DEFAULT_SPEEDS)}; 1: as recorded)")


def add_window_args(parser, what: str = "score") -> None:
    """``--windows N --window-step SECONDS --speeds S,S,...`` on an argparse ``parser``
    (``eval``, ``board infer``); :func:`window_shifts_of` turns the first two into shifts,
    ``args.speeds`` is the third."""
    parser.add_argument("--windows", type=positive_int, default=DEFAULT_WINDOWS, metavar="N",
                        help=f"{what} each clip in N windows moved --window-step apart "
                        f"around it and average the scores (default {DEFAULT_WINDOWS}; "
                        "1: the clip as it is)")
    parser.add_argument("--window-step", type=positive_float, default=DEFAULT_STEP,
                        metavar="SECONDS",
                        help=f"seconds between those windows (default {DEFAULT_STEP:g})")
    add_speed_arg(parser, "each clip in every window")


def window_shifts_of(args) -> tuple:
    """The shifts of :func:`add_window_args`' options (checked: within half a second)."""
    return window_shifts(args.windows, args.window_step)
