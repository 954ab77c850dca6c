"""argparse value types shared by the ``edgekws`` sub-commands (errors name the value)."""
from __future__ import annotations

import argparse
import math

from edgekws import limits

__all__ = ["positive_int", "nonneg_int", "positive_float", "nonneg_float", "int_range",
           "tcp_port", "timeout_seconds", "word"]


def _checked(convert, accept, expected: str):
    """An argparse ``type``: ``convert(text)`` if it parses and ``accept``s, else an
    error ``expected <expected>, not '<text>'``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}")
        return value
    return parse


positive_int = _checked(int, lambda v: v >= 1, "a positive integer")
nonneg_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
# NaN compares false with everything, so both float types refuse it.
positive_float = _checked(float, lambda v: v > 0, "a positive number")
nonneg_float = _checked(float, lambda v: v >= 0, "a number >= 0")


def int_range(lo: int, hi: int):
    """An argparse ``type`` for an integer from ``lo`` to ``hi``."""
    return _checked(int, lambda v: lo <= v <= hi, f"an integer from {lo} to {hi}")


#: A TCP port to listen on (0 picks a free one).
tcp_port = int_range(0, 65535)
#: Seconds to wait for a board's reply: finite, positive, at most limits.MAX_TIMEOUT.
timeout_seconds = _checked(float, lambda v: math.isfinite(v) and 0 < v <= limits.MAX_TIMEOUT,
                           f"a finite number of seconds in (0, {limits.MAX_TIMEOUT:g}]")
#: A word (class name): printable, not blank, no surrounding spaces, at most 64 characters.
word = _checked(str, lambda v: 0 < len(v) <= 64 and v.isprintable() and v == v.strip(),
                "a word of 1 to 64 printable characters without surrounding spaces")
