"""Benchmarks behind ``make bench``: each suite measures, the runner writes one table.

A suite is a module with ``TITLE`` and ``run(quick: bool) -> list[Row]``; it is listed in
:data:`SUITES`. Speed figures carry a reference measured in the same run and the ratio.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Suites in report order.
SUITES = [
    "edgekws.bench.golden",
    "edgekws.bench.fc_core",
    "edgekws.gateware.conv.bench",
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
