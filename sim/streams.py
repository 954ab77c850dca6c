"""One stream source and one stream sink for the cocotb testbenches, with pause
generators for idle cycles and back-pressure.

An Amaranth ``lib.stream`` port ``name`` reaches the Verilog top flattened as
``name__valid``, ``name__ready`` and ``name__payload``. :class:`StreamSource` drives
``valid`` and ``payload`` of such a port and :class:`StreamSink` drives ``ready``; a
beat moves at a rising edge of the clock when both are high.

Pauses come from generators of booleans, as in cocotbext-axi: each value is one clock
cycle, ``True`` holds the port back (``valid`` low before the next beat of a source,
``ready`` low after a beat of a sink). :func:`cycle_pause` repeats a pattern,
:func:`random_pause` draws pauses of random lengths, and no generator means no pauses.
A generator is asked only when a beat could move: a source with nothing to send and a
sink whose source shows no beat sleep on an edge of ``valid``/``ready`` instead, so
Python runs only on the cycles where something happens (cocotb + Verilator: about 1M
cycles/s when sleeping, about 50k cycles/s with Python work on every cycle).
"""
from __future__ import annotations

import itertools
import random
from typing import Callable, Iterable, Iterator

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["CLOCK_NS", "StreamSource", "StreamSink", "cycle_pause", "random_pause",
           "pause_cycles", "start_clock", "cycle", "reset"]

#: Clock period of the simulations (ns); also turns simulation times into cycles.
CLOCK_NS = 10

#: The longest run of pause cycles awaited in one go (an all-True generator then
#: stalls the port, as it asks, without looping forever in Python).
_MAX_RUN = 1 << 16


def cycle_pause(pattern: Iterable[bool | int] = (1, 1, 1, 0)) -> Iterator[bool]:
    """``pattern`` over and over (cocotbext-axi's ``cycle_pause``): with the default,
    the port moves at most one beat in four cycles."""
    pattern = [bool(p) for p in pattern]
    if not pattern or all(pattern):
        raise ValueError(f"pattern must hold at least one False (a cycle the port may "
                         f"move), not {pattern!r}")
    return itertools.cycle(pattern)


def random_pause(rng: random.Random, probability: float,
                 longest: int = 1) -> Iterator[bool]:
    """Endless pauses drawn from ``rng``: before each cycle the port may move, with
    ``probability`` a pause of 1 to ``longest`` cycles (probability 0: never)."""
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) \
            or not 0 <= probability < 1:
        raise ValueError(f"probability must be a number in [0, 1), not {probability!r}")
    if isinstance(longest, bool) or not isinstance(longest, int) or longest < 1:
        raise ValueError(f"longest must be a positive integer, not {longest!r}")
    if probability == 0:
        return itertools.repeat(False)
    return _random_pause(rng, probability, longest)


def _random_pause(rng, probability, longest):
    while True:
        if rng.random() < probability:
            yield from itertools.repeat(True, rng.randint(1, longest))
        yield False


def pause_cycles(pause: Iterator[bool] | None) -> int:
    """The pause cycles ``pause`` asks for before the port may move next: the run of
    ``True`` up to the next ``False`` (which it consumes). 0 without a generator, and
    when the generator is exhausted."""
    if pause is None:
        return 0
    n = 0
    for held in pause:
        if not held or n == _MAX_RUN:
            break
        n += 1
    return n


def start_clock(dut) -> None:
    """Start ``dut.clk`` with the period :data:`CLOCK_NS`."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())


def cycle() -> int:
    """The current simulation time in clock cycles."""
    return int(get_sim_time("ns")) // CLOCK_NS


async def reset(dut, cycles: int = 3) -> None:
    """Hold ``dut.rst`` high for ``cycles`` cycles (the ports' sources and sinks keep
    their outputs idle from their construction); return one cycle after it is released."""
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


class _Port:
    """The flattened signals of stream port ``name`` of ``dut`` and a pause generator."""

    def __init__(self, dut, name: str, pause: Iterator[bool] | None):
        self.name = name
        self.clock = dut.clk
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.pause = pause

    def set_pause_generator(self, pause: Iterator[bool] | None = None) -> None:
        """Pause as ``pause`` says from the next beat on (None: never)."""
        self.pause = pause

    async def _held(self, signal) -> None:
        """``signal`` low for the pause cycles the generator asks for now, then high."""
        n = pause_cycles(self.pause)
        if n:
            signal.value = 0
            await ClockCycles(self.clock, n)
        signal.value = 1


class StreamSource(_Port):
    """Drives ``valid`` and ``payload`` of stream port ``name`` of ``dut``.

    Parameters
    ----------
    dut : cocotb handle of the Verilog top (with ``clk``).
    name : str
        The port's name (``cmd`` for ``cmd__valid``, ``cmd__ready``, ``cmd__payload``).
    pause : iterator of bool, optional
        Idle cycles before the beats (see the module docstring).
    """

    def __init__(self, dut, name: str, pause: Iterator[bool] | None = None):
        super().__init__(dut, name, pause)
        self.valid.value = 0
        self.payload.value = 0

    async def send(self, beats: Iterable[int],
                   on_beat: Callable[[int], None] | None = None) -> None:
        """Send ``beats`` in order; return right after the edge that moved the last one
        (``on_beat(k)`` right after the edge that moved beat ``k``).

        A beat stays on the port from its first cycle until it is taken.
        """
        valid, ready, clock = self.valid, self.ready, self.clock
        for k, beat in enumerate(beats):
            await self._held(valid)
            self.payload.value = beat
            while True:
                await ReadOnly()
                if ready.value:
                    await RisingEdge(clock)          # the beat moves at this edge
                    break
                await RisingEdge(ready)              # sleep until the sink takes it
            if on_beat is not None:
                on_beat(k)
        valid.value = 0


class StreamSink(_Port):
    """Drives ``ready`` of stream port ``name`` of ``dut`` and keeps what arrives.

    It runs in the background from :meth:`start` on.

    Parameters
    ----------
    dut : cocotb handle of the Verilog top (with ``clk``).
    name : str
        The port's name.
    pause : iterator of bool, optional
        Back-pressure after each beat (see the module docstring).

    Attributes
    ----------
    beats : list of (int, int)
        ``(cycle, payload)`` of each beat received and not yet taken, in order; the
        cycle is the one at whose end the beat moved. Callers may empty it.
    """

    def __init__(self, dut, name: str, pause: Iterator[bool] | None = None):
        super().__init__(dut, name, pause)
        self.ready.value = 0
        self.beats: list[tuple[int, int]] = []
        self._arrived = Event()
        self._wanted = 0

    def start(self) -> None:
        """Start taking beats (after reset)."""
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        valid, clock = self.valid, self.clock
        while True:
            await self._held(self.ready)
            await ReadOnly()
            if not valid.value:
                await RisingEdge(valid)              # sleep until a beat shows
                await ReadOnly()
            beat = (cycle(), self.payload.value.to_unsigned())
            await RisingEdge(clock)                  # it moves at this edge
            self.beats.append(beat)
            if len(self.beats) >= self._wanted:
                self._arrived.set()

    async def wait(self, count: int) -> None:
        """Return once :attr:`beats` holds ``count`` beats."""
        if len(self.beats) < count:
            self._wanted = count
            self._arrived.clear()
            await self._arrived.wait()

    async def take(self, count: int) -> list[int]:
        """The payloads of the next ``count`` beats, taken out of :attr:`beats`."""
        await self.wait(count)
        taken = self.beats[:count]
        del self.beats[:count]
        return [payload for _, payload in taken]
