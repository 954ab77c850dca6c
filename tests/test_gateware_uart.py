"""UART receiver and transmitter (gateware/uart.py) in amaranth.sim."""
from __future__ import annotations

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth_sim import refused_quietly
from amaranth_sim import run_sim as _run

from edgekws.gateware.uart import MIN_DIVISOR, UARTRx, UARTTx, uart_divisor

BAUD = 115_200


def _bits(byte: int) -> list[int]:
    """Line levels of one 8N1 frame."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


class _Loopback(Elaboratable):
    def __init__(self, clk_hz):
        self.tx = UARTTx(clk_hz=clk_hz, baud=BAUD)
        self.rx = UARTRx(clk_hz=clk_hz, baud=BAUD)

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx = self.tx
        m.submodules.rx = self.rx
        m.d.comb += [self.rx.rx.eq(self.tx.tx), self.rx.data.ready.eq(1)]
        return m


def _collect(rx: UARTRx, got: list, errors: list):
    """Background bench: received bytes into ``got``, ``frame_error`` pulses into ``errors``."""
    async def bench(ctx):
        async for _, _, valid, payload, err in ctx.tick().sample(
                rx.data.valid, rx.data.payload, rx.frame_error):
            if valid:
                got.append(payload)
            if err:
                errors.append(1)
    return bench


@pytest.mark.parametrize("clk_hz", [4 * BAUD, 5 * BAUD, 7 * BAUD, int(4.05 * BAUD)])
def test_loopback_random_bytes(clk_hz):
    """Random bytes, back to back and with random gaps, arrive intact and in order."""
    dut = _Loopback(clk_hz)
    div = uart_divisor(clk_hz, BAUD)
    rng = random.Random(clk_hz)
    sent = [rng.randrange(256) for _ in range(100)] + [0x00, 0xFF, 0x55, 0xAA]
    burst = [rng.randrange(256) for _ in range(30)]
    got, errors = [], []
    busy_ok, burst_cycles = [], []

    async def send(ctx):
        for b in sent:
            ctx.set(dut.tx.data.payload, b)
            ctx.set(dut.tx.data.valid, 1)
            await ctx.tick().until(dut.tx.data.ready)
            ctx.set(dut.tx.data.valid, 0)
            # busy covers the whole frame: 10 bits of `div` cycles after acceptance
            cycles = 0
            while ctx.get(dut.tx.busy):
                await ctx.tick()
                cycles += 1
            busy_ok.append(cycles == 10 * div)
            if rng.random() < 0.3:
                await ctx.tick().repeat(rng.randrange(1, 3 * div))
        # a burst: valid held high, bytes back to back, 10 bit times each
        ctx.set(dut.tx.data.valid, 1)
        cycles = 0
        for b in burst:
            ctx.set(dut.tx.data.payload, b)
            await ctx.tick()
            cycles += 1
            while not ctx.get(dut.tx.data.ready):
                await ctx.tick()
                cycles += 1
        ctx.set(dut.tx.data.valid, 0)
        burst_cycles.append(cycles)
        await ctx.tick().repeat(12 * div)

    _run(dut, send, background=[_collect(dut.rx, got, errors)])
    assert got == sent + burst
    assert not errors
    assert all(busy_ok)
    # from the first byte's acceptance to the last cycle of the last stop bit
    assert burst_cycles == [len(burst) * 10 * div]


def _drive_rx(rx: UARTRx, script):
    """Bench that drives the pin with ``script``: a list of (level, cycles)."""
    async def bench(ctx):
        for level, cycles in script:
            ctx.set(rx.rx, level)
            await ctx.tick().repeat(cycles)
    return bench


def _byte_script(data, div):
    return [(level, div) for b in data for level in _bits(b)]


@pytest.mark.parametrize("div", [4, 6])
def test_glitches_garbage_and_breaks_do_not_hang(div):
    """Short glitches make no byte; after garbage, a break and a truncated byte, the
    receiver re-synchronises on the first idle gap and then receives every byte."""
    dut = UARTRx(clk_hz=div * BAUD, baud=BAUD)
    rng = random.Random(div)
    good1 = [rng.randrange(256) for _ in range(20)]
    good2 = [rng.randrange(256) for _ in range(20)]
    glitch_len = div // 2 - 1  # shorter than half a bit
    script = [(1, 3 * div)]
    for _ in range(5):
        script += [(0, glitch_len), (1, 2 * div)]
    marks = {}
    script += [("mark", "good1")] + _byte_script(good1, div)
    # garbage: random levels of random lengths, then a break (line low for 3 frames)
    script += [(rng.randrange(2), rng.randrange(1, 3 * div)) for _ in range(60)]
    script += [(0, 30 * div)]
    # a byte cut short (as by a sender reset), then a frame's worth of idle line
    script += [(0, div), (1, div), (0, div)]
    script += [(1, 12 * div), ("mark", "good2")] + _byte_script(good2, div)
    script += [(1, 2 * div)]
    got, errors = [], []

    async def bench(ctx):
        for level, cycles in script:
            if level == "mark":
                marks[cycles] = (len(got), len(errors))
                continue
            ctx.set(dut.rx, level)
            await ctx.tick().repeat(cycles)

    async def sink(ctx):
        ctx.set(dut.data.ready, 1)
        await _collect(dut, got, errors)(ctx)

    _run(dut, bench, background=[sink])
    n1, e1 = marks["good1"]
    n2, e2 = marks["good2"]
    assert (n1, e1) == (0, 0), "a glitch shorter than half a bit made a byte"
    assert got[:len(good1)] == good1
    assert e2 > 0, "the break was not reported as a framing error"
    assert got[n2:] == good2
    assert len(got) > len(good1) + len(good2), "the garbage made no bytes: a weak test"


@pytest.mark.parametrize("slower", [True, False])
def test_receiver_samples_mid_bit(slower):
    """A sender 3 % off the nominal rate (16 clock cycles per bit, bits of 16 and 17, or
    15 and 16, cycles alternately) is received: only sampling near the middle of each bit
    keeps the stop bit inside its bit time."""
    div = 16
    dut = UARTRx(clk_hz=div * BAUD, baud=BAUD)
    rng = random.Random(int(slower))
    sent = [rng.randrange(256) for _ in range(30)] + [0x00, 0xFF, 0x7F, 0xFE]
    odd = 1 if slower else -1
    script = [(1, 2 * div)]
    for b in sent:
        script += [(level, div + (odd if k % 2 else 0)) for k, level in enumerate(_bits(b))]
    script += [(1, 2 * div)]
    got, errors = [], []

    async def sink(ctx):
        ctx.set(dut.data.ready, 1)
        await _collect(dut, got, errors)(ctx)

    _run(dut, _drive_rx(dut, script), background=[sink])
    assert got == sent and not errors


def test_divisor_rounds_to_nearest():
    assert uart_divisor(4 * BAUD, BAUD) == 4
    assert uart_divisor(48_000_000, 3_000_000) == 16
    assert uart_divisor(12_000_000, BAUD) == 104        # 104.17
    assert uart_divisor(int(3.97 * BAUD), BAUD) == 4    # rounds up, 0.75 % off
    assert uart_divisor(int(5.08 * BAUD), BAUD) == 5    # rounds down, 1.6 % off


def test_divisor_errors_name_the_values():
    with pytest.raises(ValueError, match=r"clk_hz=345600 gives 3 clock cycles per bit at "
                                         r"baud=115200; at least 4 are needed"):
        uart_divisor(3 * BAUD, BAUD)
    assert MIN_DIVISOR == 4
    # 4.5 cycles per bit rounds to 5: 10 % too slow
    with pytest.raises(ValueError, match=r"clk_hz=518400 / divisor 5 = 103680 baud misses "
                                         r"baud=115200 by 10.00% \(more than 2%\)"):
        uart_divisor(int(4.5 * BAUD), BAUD)
    with refused_quietly():
        with pytest.raises(ValueError, match=r"clk_hz must be a positive integer, "
                                             r"not 15000000.0"):
            UARTRx(clk_hz=15e6, baud=BAUD)
        with pytest.raises(ValueError, match=r"baud must be a positive integer, not 0"):
            UARTTx(clk_hz=12_000_000, baud=0)
    # just inside the 2 % limit is accepted
    assert uart_divisor(int(4 * 1.0199 * BAUD), BAUD) == 4
