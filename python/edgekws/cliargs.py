"""argparse value types shared by the ``edgekws`` sub-commands (errors name the value)."""
from __future__ import annotations

import argparse

__all__ = ["positive_int", "nonneg_int", "positive_float", "nonneg_float", "fraction"]


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
fraction = _checked(float, lambda v: 0.0 <= v <= 1.0, "a fraction in [0, 1]")
