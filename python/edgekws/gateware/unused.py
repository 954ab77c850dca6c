"""Amaranth's "created but never used" warning, turned off where it would be noise.

Amaranth warns (:class:`amaranth.hdl.UnusedElaboratable`) when an elaboratable is
garbage-collected without having been elaborated. Two cases here are not mistakes:

* a constructor that refuses its arguments: the half-built object is never used, and the
  warning would hide the ``ValueError`` that explains why (:func:`checking_arguments`);
* an object built only for its layouts or constants, e.g. by a testbench or a host-side
  encoder, never to be elaborated (:func:`never_elaborated`).

Both set the private flag amaranth's ``MustUse`` reads, in this one place.
"""
from __future__ import annotations

import contextlib

__all__ = ["checking_arguments", "never_elaborated"]

_FLAG = "_MustUse__silence"


@contextlib.contextmanager
def checking_arguments(component):
    """Silence the warning while ``component``'s constructor checks its arguments.

    Wrap the checks and ``super().__init__``: if they raise, the warning stays silent
    (the object is dropped unused on purpose); if they pass, it is restored so that a
    component built and then forgotten is still reported.

    Examples
    --------
    >>> class Thing(wiring.Component):              # doctest: +SKIP
    ...     def __init__(self, width):
    ...         with checking_arguments(self):
    ...             check_int("width", width)
    ...             super().__init__({"o": Out(width)})
    """
    setattr(component, _FLAG, True)
    yield component
    setattr(component, _FLAG, False)


def never_elaborated(component):
    """``component``, marked as built for its layouts only: no warning when dropped."""
    setattr(component, _FLAG, True)
    return component
