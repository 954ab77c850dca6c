"""When a stream of scored windows says a word: the hit rule of ``board listen``.

A listener classifies one-second windows every hop (0.1 s). One window is a weak witness:
an utterance of another word, half inside a window, can match a keyword as well as the
keyword does. The standard remedy of streaming keyword spotters is to ask several
consecutive windows. A window **votes** for its class when it was classified at all (the
energy gate let it through) and passes ``min_score`` and ``min_margin``; a word **fires**
at the window where it has ``wins`` votes among the last ``of`` windows (that window
included, and voting for it); after a hit no word fires for ``refractory`` windows, so one
utterance is one detection.

:class:`HitRule` holds the parameters; :meth:`HitRule.hits` applies them to whole arrays
(the stream evaluation sweeps them this way), :class:`HitState` window by window (the live
listener); both give the same hits.
"""
from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from edgekws.checks import check_int, check_number

__all__ = ["HitRule", "HitState", "check_fraction", "refractory_hits"]


def check_fraction(name: str, value) -> float:
    """``value`` as a float if it is a fraction of num_weights in [0, 1]; else ValueError."""
    return check_number(name, value, "a fraction of num_weights in [0, 1]",
                        minimum=0.0, maximum=1.0)


@dataclasses.dataclass(frozen=True)
class HitRule:
    """A word fires when it wins ``wins`` of the last ``of`` windows (see the module doc).

    Parameters
    ----------
    wins : int
        Votes a word needs, >= 1.
    of : int
        Windows looked back over (the current one included), >= ``wins``.
    min_score, min_margin : float
        A window votes only when its score and its margin reach these (fractions of
        num_weights, as :func:`~edgekws.host.listen.score_potentials` gives them).
    refractory : int
        Windows after a hit in which no word fires.
    """

    wins: int = 1
    of: int = 1
    min_score: float = 0.0
    min_margin: float = 0.0
    refractory: int = 0

    def __post_init__(self):
        wins = check_int("wins", self.wins)
        of = check_int("of", self.of, wins, expected=f"an integer >= wins ({wins}): a word "
                       f"cannot win {wins} of fewer windows")
        refractory = check_int("refractory", self.refractory, 0,
                               expected="a number of windows >= 0")
        for name, value in (("wins", wins), ("of", of), ("refractory", refractory),
                            ("min_score", check_fraction("min_score", self.min_score)),
                            ("min_margin", check_fraction("min_margin", self.min_margin))):
            object.__setattr__(self, name, value)

    def votes(self, label, score, margin) -> np.ndarray:
        """Which windows vote for their class (label -1: a window that was not classified)."""
        label = np.asarray(label)
        return (label >= 0) & (np.asarray(score) >= self.min_score) & (
            np.asarray(margin) >= self.min_margin)

    def hits(self, label, score, margin) -> np.ndarray:
        """Indices of the windows at which a word fires (its class is ``label[i]``).

        Parameters
        ----------
        label, score, margin : array_like
            One entry per window, in stream order, equal length.
        """
        label = np.asarray(label)
        n = len(label)
        if not (np.ndim(label) == 1 and np.shape(score) == np.shape(margin) == (n,)):
            raise ValueError(f"label, score and margin must be 1-D and of one length, not "
                             f"shapes {np.shape(label)}, {np.shape(score)}, {np.shape(margin)}")
        vote = self.votes(label, score, margin)
        # Votes of the same class as window i among windows i-of+1 .. i.
        count = vote.astype(np.int32)
        for back in range(1, min(self.of, n)):
            count[back:] += vote[:-back] & (label[:-back] == label[back:])
        return refractory_hits(np.flatnonzero(vote & (count >= self.wins)), self.refractory)

    def start(self) -> "HitState":
        """A window-by-window copy of the rule, for a live stream."""
        return HitState(self)


def refractory_hits(candidates, refractory: int) -> np.ndarray:
    """The windows that fire among sorted ``candidates``: the first, then the first one
    more than ``refractory`` windows after the last hit, and so on."""
    out, at = [], 0
    while at < len(candidates):
        i = int(candidates[at])
        out.append(i)
        at = int(np.searchsorted(candidates, i + refractory + 1))
    return np.asarray(out, dtype=np.int64)


class HitState:
    """:class:`HitRule` applied one window at a time (``board listen``)."""

    def __init__(self, rule: HitRule):
        if not isinstance(rule, HitRule):
            raise TypeError(f"rule must be a HitRule, not {rule!r}")
        self.rule = rule
        self._recent = deque(maxlen=rule.of)   # the class each recent window voted for, or -1
        self._quiet = 0                        # windows still in the refractory period

    def push(self, label: int, score: float = 0.0, margin: float = 0.0) -> int:
        """The next window (label -1: not classified); the class that fires now, or -1."""
        r = self.rule
        voted = int(label) if r.votes(label, score, margin) else -1
        self._recent.append(voted)
        if self._quiet:
            self._quiet -= 1
            return -1
        if voted < 0 or sum(v == voted for v in self._recent) < r.wins:
            return -1
        self._quiet = r.refractory
        return voted
