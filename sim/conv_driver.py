"""cocotb bench for :class:`edgekws.gateware.conv.DSCNNExtractor`.

:class:`TB` owns the clock, the reset and the four streams of the extractor. It works
in whole transactions: a list of ``load`` or ``pixels`` beats is pushed with random
idle cycles, and ``trace`` and ``spikes`` are drained in the background with random
back-pressure. Python runs only when a beat moves: while a stream waits, the bench
sleeps on the ``valid``/``ready`` edge instead of waking up every clock cycle (cocotb +
Verilator: about 1M cycles/s when sleeping, about 50k cycles/s with Python work on
every cycle).
"""
from __future__ import annotations

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["TB", "CLOCK_NS"]

#: Clock period of the simulation (ns); only used to turn times into cycles.
CLOCK_NS = 10


class TB:
    """Clock, reset and stream drivers of one extractor.

    Parameters
    ----------
    dut : cocotb handle of the Verilog top.
    seed : int
    idle : float
        Probability of idle cycles (1-4) before a pushed beat.
    backpressure : float
        Probability of ``ready`` low (for 1-8 cycles) after a drained beat.

    Attributes
    ----------
    traces : list of (int, int)
        ``(cycle, payload)`` of every ``trace`` beat, in order.
    spikes : list of (int, int)
        ``(cycle, payload)`` of every ``spikes`` beat.
    pixels_done : list of int
        Cycle at which the last pixel of each image was accepted.
    """

    def __init__(self, dut, *, seed: int = 1, idle: float = 0.2,
                 backpressure: float = 0.3):
        self.dut = dut
        self.rng = random.Random(seed)
        self.idle = idle
        self.backpressure = backpressure
        self.traces: list[tuple[int, int]] = []
        self.spikes: list[tuple[int, int]] = []
        self.pixels_done: list[int] = []
        self._spike_event = Event()
        self._want_spikes = 0
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())

    @staticmethod
    def cycle() -> int:
        return int(get_sim_time("ns")) // CLOCK_NS

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        for name in ("load", "pixels"):
            getattr(d, f"{name}__valid").value = 0
            getattr(d, f"{name}__payload").value = 0
        d.trace__ready.value = 0
        d.spikes__ready.value = 0
        await ClockCycles(d.clk, 3)
        d.rst.value = 0
        await RisingEdge(d.clk)
        cocotb.start_soon(self._drain("trace", self.traces))
        cocotb.start_soon(self._drain("spikes", self.spikes))

    # ------------------------------------------------------------------ sources
    async def _push(self, name: str, beats, on_beat=None):
        d = self.dut
        clk = d.clk
        valid = getattr(d, f"{name}__valid")
        ready = getattr(d, f"{name}__ready")
        payload = getattr(d, f"{name}__payload")
        rng, idle = self.rng, self.idle
        for k, beat in enumerate(beats):
            if idle and rng.random() < idle:
                valid.value = 0
                await ClockCycles(clk, rng.randint(1, 4))
            payload.value = beat
            valid.value = 1
            while True:
                await ReadOnly()
                if ready.value:
                    await RisingEdge(clk)          # the transfer happens at this edge
                    break
                await RisingEdge(ready)            # sleep until the sink is ready
            if on_beat is not None:
                on_beat(k)
        valid.value = 0

    async def load(self, beats):
        """Push ``load`` beats (the extractor takes them only while idle)."""
        await self._push("load", beats)

    async def images(self, images_beats):
        """Push the ``pixels`` beats of several images, back to back."""
        for beats in images_beats:
            n = len(beats)
            await self._push("pixels", beats,
                             on_beat=lambda k: k == n - 1 and
                             self.pixels_done.append(self.cycle()))

    # -------------------------------------------------------------------- sinks
    async def _drain(self, name: str, out: list):
        d = self.dut
        clk = d.clk
        valid = getattr(d, f"{name}__valid")
        ready = getattr(d, f"{name}__ready")
        payload = getattr(d, f"{name}__payload")
        rng, bp = self.rng, self.backpressure
        ready.value = 1
        while True:
            await ReadOnly()
            if valid.value:
                beat = (self.cycle(), payload.value.to_unsigned())
                await RisingEdge(clk)
                out.append(beat)
                if name == "spikes" and len(out) >= self._want_spikes:
                    self._spike_event.set()
                if bp and rng.random() < bp:
                    ready.value = 0
                    await ClockCycles(clk, rng.randint(1, 8))
                    ready.value = 1
            else:
                await RisingEdge(valid)

    async def wait_spikes(self, n: int):
        """Return once ``n`` spike beats in total have been received."""
        self._want_spikes = n
        if len(self.spikes) < n:
            self._spike_event.clear()
            await self._spike_event.wait()
