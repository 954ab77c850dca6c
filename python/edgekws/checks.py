"""Argument checks shared by the whole package, so that a bad value is refused the same
way everywhere: ``"<name> must be <what is expected>, not <the value>"``.

An integer here is a Python or NumPy integer but never a bool (``True`` is an ``int`` to
Python, but passing it for a count is a mistake worth naming). A number is an integer or
a float, again never a bool, and finite.
"""
from __future__ import annotations

import math
import numbers

__all__ = ["is_int", "check_int", "check_number"]


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or NumPy) and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_expected(minimum, maximum) -> str:
    if maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    return f"an integer >= {minimum}"


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None, *,
              expected: str | None = None) -> int:
    """Return ``value`` as an ``int`` after checking ``minimum <= value <= maximum``.

    Parameters
    ----------
    name : str
        What the value is, as the caller knows it (an argument, a field, a phrase).
    value
        The value to check.
    minimum, maximum : int, optional
        The accepted range, both ends included; no upper end when ``maximum`` is None.
    expected : str, optional
        What the message says is expected; by default "a positive integer" (minimum 1),
        "an integer >= N" or "an integer in [N, M]".

    Raises
    ------
    ValueError
        ``"<name> must be <expected>, not <value!r>"``.
    """
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected or _int_expected(minimum, maximum)}, "
                         f"not {value!r}")
    return int(value)


def check_number(name: str, value, expected: str, *, minimum=None, maximum=None,
                 above=None, below=None) -> float:
    """Return ``value`` as a ``float`` after checking that it is a finite number in range.

    Parameters
    ----------
    name : str
        What the value is.
    value
        The value to check.
    expected : str
        What the message says is expected, e.g. "a positive number of seconds".
    minimum, maximum : float, optional
        Inclusive bounds.
    above, below : float, optional
        Exclusive bounds (``above=0``: positive).

    Raises
    ------
    ValueError
        ``"<name> must be <expected>, not <value!r>"``.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(value) \
        and (minimum is None or value >= minimum) and (maximum is None or value <= maximum) \
        and (above is None or value > above) and (below is None or value < below)
    if not ok:
        raise ValueError(f"{name} must be {expected}, not {value!r}")
    return float(value)
