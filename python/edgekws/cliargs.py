"""argparse pieces shared by the ``edgekws`` sub-commands: value types (errors name the
value), class names or numbers, and the help formatter."""
from __future__ import annotations

import argparse
import math
import os
import re

from edgekws import limits

__all__ = ["positive_int", "nonneg_int", "positive_float", "nonneg_float", "fraction",
           "seconds_or_any",
           "class_index", "HelpFormatter", "plain_text", "int_range", "tcp_port",
           "timeout_seconds", "word", "output_file"]


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


def seconds_or_any(text):
    """Seconds >= 0, or ``any`` (None: no limit)."""
    if text == "any":
        return None
    return _checked(float, lambda v: v >= 0, "a number of seconds >= 0 or 'any'")(text)


def class_index(text: str, words=None) -> int:
    """The class a command-line value names: a class number, or a word of ``words``.

    Parameters
    ----------
    text : str
        ``"3"`` or a class name such as ``"six"``.
    words : sequence of str, optional
        Class names in label order; needed for a name.

    Raises
    ------
    ValueError
        A name without ``words``, or one not among them (the message lists them), or a
        negative or out-of-range number.
    """
    text = str(text).strip()
    words = None if words is None else [str(w) for w in words]
    if text.lstrip("-").isdigit():
        value = int(text)
        if value < 0 or (words is not None and value >= len(words)):
            top = "" if words is None else f" below {len(words)}"
            raise ValueError(f"class must be a number >= 0{top} or a class name, "
                             f"not {text!r}")
        return value
    if words is None:
        raise ValueError(f"class {text!r} is a name: give the class names (--words) or "
                         "use its number")
    if text not in words:
        raise ValueError(f"class {text!r} is not one of the {len(words)} classes: "
                         f"{', '.join(words)}")
    return words.index(text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (examples keep their lines) and every option's default.

    Like :class:`argparse.ArgumentDefaultsHelpFormatter`, but without ``(default:
    None)`` or ``(default: False)``, and not for options whose help already says what
    the default is (``"... (default: all CPUs)"``).
    """

    def _get_help_string(self, action):
        text = action.help or ""
        # Identity, not ==: a default of 0 is worth showing, and 0 == False.
        unset = any(action.default is v for v in (None, False, argparse.SUPPRESS))
        if ("default" in text or unset or action.required
                or isinstance(action.default, (list, tuple))
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


#: reST markup that reads badly in a terminal, and its plain-text replacement.
_REST = [(re.compile(r":[a-z]+:`~?([^`]+)`"), r"\1"),   # :mod:`edgekws.x` -> edgekws.x
         (re.compile(r"``([^`]+)``"), r"\1"),            # ``code`` -> code
         (re.compile(r"::$", re.M), ":")]                # "Examples::" -> "Examples:"


def plain_text(doc: str | None) -> str | None:
    """A module docstring as terminal help: reST roles, literals and ``::`` removed."""
    if doc is None:
        return None
    for pattern, repl in _REST:
        doc = pattern.sub(repl, doc)
    return doc


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


def output_file(text: str) -> str:
    """An argparse ``type``: the name of a file to write, refused at once when it is
    empty or an existing folder (a long run should not fail only when it saves)."""
    if not text or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"expected a file name, not {text!r}"
                                         + (" (a folder)" if text else ""))
    return text
