"""The stream register slice (amaranth.sim): order, no loss, full rate, and no
combinational path from ``o.ready`` to ``i.ready``."""
import random

import pytest
from amaranth_sim import refused_quietly, run_sim

from edgekws.gateware.register_slice import RegisterSlice


class TB:
    """Drives ``i`` with idle cycles and ``o`` with backpressure; records both sides."""

    def __init__(self, width, *, idle, backpressure, seed):
        self.dut = RegisterSlice(width)
        self.rng = random.Random(seed)
        self.idle, self.backpressure = idle, backpressure
        self.values = [self.rng.getrandbits(width) for _ in range(300)]
        self.sent, self.got, self.cycles = [], [], 0

    async def bench(self, ctx):
        dut, rng = self.dut, self.rng
        pending, cur = list(self.values), None
        while len(self.got) < len(self.values):
            # A transfer once offered stays offered until taken (stream rule).
            if cur is None and pending and rng.random() >= self.idle:
                cur = pending.pop(0)
            ctx.set(dut.i.valid, cur is not None)
            ctx.set(dut.i.payload, 0 if cur is None else cur)
            ready = rng.random() >= self.backpressure
            ctx.set(dut.o.ready, not ready)
            other = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, ready)
            assert ctx.get(dut.i.ready) == other, "i.ready follows o.ready combinationally"
            took = cur is not None and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid) and ready:
                self.got.append(ctx.get(dut.o.payload))
            await ctx.tick()
            self.cycles += 1
            if took:
                self.sent.append(cur)
                cur = None
            assert self.cycles < 20 * len(self.values), "stalled"

    def run(self):
        run_sim(self.dut, self.bench)


@pytest.mark.parametrize("width", [1, 8, 45])
@pytest.mark.parametrize("idle,backpressure", [(0, 0), (0.5, 0), (0, 0.5), (0.3, 0.7)])
def test_in_order_without_loss(width, idle, backpressure):
    tb = TB(width, idle=idle, backpressure=backpressure, seed=width)
    tb.run()
    assert tb.sent == tb.values
    assert tb.got == tb.values


def test_one_transfer_a_cycle():
    tb = TB(8, idle=0, backpressure=0, seed=1)
    tb.run()
    # One cycle to fill the output register, then one transfer every cycle.
    assert tb.cycles == len(tb.values) + 1


def test_bad_shape_is_refused():
    with refused_quietly(), pytest.raises(TypeError, match="'eight' cannot be converted to an Amaranth shape"):
        RegisterSlice("eight")
