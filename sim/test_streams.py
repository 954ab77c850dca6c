"""The stream source and sink of :mod:`streams` on a small design: a 4-entry FIFO
between two Amaranth ``lib.stream`` ports, ``i`` and ``o``, in cocotb on Verilator.

Every beat sent must come out once, in order, whatever the pauses; and the pauses must be
the ones asked for: a source pausing 2 cycles before each beat moves one beat every 3
cycles, a sink pausing 3 cycles after each beat takes one every 4. The pytest tests at
the end (``edgekws sim streams``) also check the pause generators alone.
"""
from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

import cocotb

from edgekws.verilator.runner import build_and_test

from streams import (StreamSink, StreamSource, cycle_pause, pause_cycles, random_pause,
                     reset, start_clock)

#: The design's module name (and cocotb toplevel).
TOPLEVEL = "stream_fifo"


def stream_fifo_verilog(name: str = TOPLEVEL) -> str:
    """The Verilog of a ``SyncFIFOBuffered`` of 4 bytes with stream ports ``i``, ``o``."""
    from amaranth.back import verilog
    from amaranth.hdl import Module
    from amaranth.lib import fifo, stream, wiring
    from amaranth.lib.wiring import In, Out

    class StreamFIFO(wiring.Component):
        def __init__(self):
            super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(8))})

        def elaborate(self, platform):
            m = Module()
            m.submodules.fifo = buf = fifo.SyncFIFOBuffered(width=8, depth=4)
            wiring.connect(m, wiring.flipped(self.i), buf.w_stream)
            wiring.connect(m, buf.r_stream, wiring.flipped(self.o))
            return m

    return verilog.convert(StreamFIFO(), name=name, emit_src=False)


# ---------------------------------------------------------------------- cocotb tests
async def _through(dut, n, source_pause, sink_pause):
    """``n`` random bytes through the FIFO; ``(sent, cycles and payloads received)``."""
    start_clock(dut)
    source = StreamSource(dut, "i", source_pause)
    sink = StreamSink(dut, "o", sink_pause)
    await reset(dut)
    sink.start()
    rng = random.Random(n)
    sent = [rng.randrange(256) for _ in range(n)]
    await source.send(sent)
    await sink.wait(n)
    return sent, list(sink.beats)


@cocotb.test()
async def random_pauses(dut):
    """Random idle cycles and back-pressure: every beat, once, in order."""
    rng = random.Random(5)
    sent, got = await _through(dut, 300, random_pause(rng, 0.4, 4),
                               random_pause(rng, 0.5, 6))
    assert [p for _, p in got] == sent


@cocotb.test()
async def source_pattern(dut):
    """Two idle cycles before each beat: the beats come out 3 cycles apart."""
    sent, got = await _through(dut, 40, cycle_pause([1, 1, 0]), None)
    assert [p for _, p in got] == sent
    gaps = {b - a for (a, _), (b, _) in zip(got, got[1:])}
    assert gaps == {3}, gaps


@cocotb.test()
async def sink_pattern(dut):
    """Three cycles of back-pressure after each beat: one beat every 4 cycles; without
    pauses, one every cycle."""
    sent, got = await _through(dut, 40, None, cycle_pause([1, 1, 1, 0]))
    assert [p for _, p in got] == sent
    gaps = [b - a for (a, _), (b, _) in zip(got, got[1:])]
    assert set(gaps[4:]) == {4}, gaps     # the first ones left the FIFO as it filled


@cocotb.test()
async def no_pauses(dut):
    """No generators: a beat every cycle once the FIFO streams."""
    sent, got = await _through(dut, 40, None, None)
    assert [p for _, p in got] == sent
    gaps = {b - a for (a, _), (b, _) in zip(got, got[1:])}
    assert gaps == {1}, gaps


# ---------------------------------------------------------------------- pytest tests
def test_pause_generators():
    assert list(itertools.islice(cycle_pause(), 8)) == [True] * 3 + [False] + \
        [True] * 3 + [False]
    pause = cycle_pause([1, 1, 0, 0])
    assert [pause_cycles(pause) for _ in range(4)] == [2, 0, 2, 0]
    assert pause_cycles(None) == 0
    assert pause_cycles(iter([True, True])) == 2          # exhausted: no more pauses
    assert list(itertools.islice(random_pause(random.Random(1), 0, 5), 50)) == [False] * 50
    pause = random_pause(random.Random(2), 0.5, 3)
    runs = [pause_cycles(pause) for _ in range(2000)]
    assert set(runs) == {0, 1, 2, 3}
    assert 0.4 < runs.count(0) / len(runs) < 0.6


@pytest.mark.parametrize("call, message", [
    (lambda: cycle_pause([1, 1]), r"pattern must hold at least one False \(a cycle the "
     r"port may move\), not \[True, True\]"),
    (lambda: cycle_pause([]), r"pattern must hold at least one False .*, not \[\]"),
    (lambda: random_pause(random.Random(), 1.0), r"probability must be a number in "
     r"\[0, 1\), not 1.0"),
    (lambda: random_pause(random.Random(), "0.2"), r"not '0.2'"),
    (lambda: random_pause(random.Random(), 0.2, 0), "longest must be a positive "
     "integer, not 0"),
    (lambda: random_pause(random.Random(), 0.2, True), "not True"),
])
def test_pause_generator_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_source_and_sink_on_a_fifo():
    from generated_rtl import generated_source      # tests/: only pytest imports it
    source = generated_source(TOPLEVEL, stream_fifo_verilog, "test-rtl")
    build_and_test(toplevel=TOPLEVEL, verilog_sources=[source], test_module="test_streams",
                   test_dirs=[Path(__file__).parent])
