"""Benchmarks behind ``make bench``: each suite measures, the runner writes one table.

A suite is a module with ``TITLE`` and ``run(quick: bool) -> list[Row]``; it is listed in
:data:`SUITES`. Speed figures carry a reference measured in the same run and the ratio.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

#: Suites in report order.
SUITES = [
    "edgekws.bench.mfcc",
    "edgekws.bench.listen",
    "edgekws.bench.golden",
    "edgekws.bench.fc_core",
    "edgekws.bench.extractor",
    "edgekws.bench.board_latency",
]


@dataclass
class Row:
    """One measured figure."""
    what: str
    value: str
    reference: str = ""
    ratio: str = ""
    command: str = ""
    note: str = ""


#: Runs behind every min/median/max figure.
RUNS = 5


def spread(values, fmt="{:.3g}") -> str:
    """``min / median / max`` of measured values, each formatted with ``fmt``."""
    v = list(values)
    return " / ".join(fmt.format(x) for x in (min(v), statistics.median(v), max(v)))


def ratios(reference, ours) -> str:
    """Run-by-run speed-ups ``reference[i] / ours[i]`` as ``min / median / max``."""
    return spread([r / o for r, o in zip(reference, ours)], "{:.2f}x") + " (min / median / max)"


def timed(fn, clock=time.perf_counter):
    """``(seconds, result)`` of one call of ``fn``."""
    t = clock()
    out = fn()
    return clock() - t, out


class Timings:
    """Wall-clock and CPU seconds (all threads of this process) of repeated calls.

    The CPU figures say how much work a call took whatever else the machine is running;
    the wall-clock ones are what a user waits for on this machine at that moment.
    """

    def __init__(self):
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, fn):
        """Time one call of ``fn``; its result."""
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        self.wall.append(time.perf_counter() - t)
        self.cpu.append(time.process_time() - c)
        return out
