"""What the DS-CNN extractor's parts (:mod:`.extractor`, :mod:`.mac_array`,
:mod:`.post_processor`, :mod:`.sequencer`) share: the op kinds and post-processor jobs
carried down the op pipeline, constant tables and the per-lane-group register copies.

Package-internal: the enum names are kept (they appear in the generated Verilog).
"""
from __future__ import annotations

from amaranth.hdl import Array, Const, Signal
from amaranth.lib import enum

__all__ = ["LANE_GROUP", "rom", "times", "keep_copies"]

#: MAC lanes sharing one copy of the broadcast operand register (fan-out per copy).
LANE_GROUP = 8


class _Kind(enum.Enum, shape=2):
    CONV = 0
    DW = 1
    PW = 2


class _Job(enum.Enum, shape=2):
    ACT = 0          # step activation, write the activation memory
    POOL = 1         # add into the global saturating sums
    FINAL = 2        # step activation of the sums, output spikes


def rom(values, width):
    """Constant table indexed by a signal (one spare entry past the end)."""
    values = list(values) + [values[-1]]
    return Array(Const(v, width) for v in values)


def times(index, k: int, n: int):
    """``index * k`` for ``index < n`` as a table (or a shift): no multiplier, neither
    a DSP block nor a LUT one, on the sequencer's short paths."""
    if k & (k - 1) == 0:
        return index << (k.bit_length() - 1)
    values = [i * k for i in range(n)]
    return rom(values, max(values[-1], 1).bit_length())[index]


def keep_copies(name: str, lanes: int, **kw) -> list:
    """One flip-flop per group of :data:`LANE_GROUP` lanes (``keep``), where one register
    would fan out to every lane of the array; the FPGA flow (``edgekws.fpga.flow``) keeps
    them unmerged."""
    return [Signal(name=f"{name}_c{k}", attrs={"keep": 1}, **kw)
            for k in range(-(-lanes // LANE_GROUP))]
