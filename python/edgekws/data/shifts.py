"""Shifted windows: one isolated clip looked at several times, a little earlier and later.

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
"""
from __future__ import annotations

import numpy as np

from edgekws.cliargs import positive_float, positive_int

from .augment import time_shift

__all__ = ["DEFAULT_WINDOWS", "DEFAULT_STEP", "DEFAULT_SHIFTS", "window_shifts",
           "check_shifts", "shifted_windows", "add_window_args", "window_shifts_of"]

#: Windows of an isolated clip, and the seconds between them, by default.
DEFAULT_WINDOWS, DEFAULT_STEP = 5, 0.05


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


def check_shifts(shifts) -> tuple:
    """``shifts`` as a tuple of floats: distinct seconds, each within (-0.5, 0.5)."""
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
    if len(set(values)) != len(values):
        raise ValueError(f"shifts must be distinct, not {list(values)}")
    return values


def shifted_windows(waves, shifts, sample_rate: int = 16000):
    """``waves`` (``(..., samples)``) moved by each of ``shifts`` seconds (positive: later),
    in the order given, made one at a time as they are iterated; ``shifts`` is checked
    (:func:`check_shifts`) at the call."""
    shifts = check_shifts(shifts)
    return (time_shift(waves, round(shift * sample_rate)) for shift in shifts)


#: Seconds each isolated clip is moved by (the windows whose scores are averaged).
DEFAULT_SHIFTS = window_shifts(DEFAULT_WINDOWS, DEFAULT_STEP)


def add_window_args(parser, what: str = "score") -> None:
    """``--windows N --window-step SECONDS`` on an argparse ``parser`` (``eval``, ``board
    infer``); :func:`window_shifts_of` turns them into shifts."""
    parser.add_argument("--windows", type=positive_int, default=DEFAULT_WINDOWS, metavar="N",
                        help=f"{what} each clip in N windows moved --window-step apart "
                        f"around it and average the scores (default {DEFAULT_WINDOWS}; "
                        "1: the clip as it is)")
    parser.add_argument("--window-step", type=positive_float, default=DEFAULT_STEP,
                        metavar="SECONDS",
                        help=f"seconds between those windows (default {DEFAULT_STEP:g})")


def window_shifts_of(args) -> tuple:
    """The shifts of :func:`add_window_args`' options (checked: within half a second)."""
    return window_shifts(args.windows, args.window_step)
