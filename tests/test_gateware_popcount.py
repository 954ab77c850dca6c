"""The popcount helpers against Python's ``int.bit_count`` (amaranth.sim)."""
import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from edgekws.gateware.popcount import at_most_one, popcount


@pytest.mark.parametrize("width", [1, 2, 3, 7, 64])
def test_popcount_and_at_most_one(width):
    m = Module()
    v = Signal(width)
    count, le1 = Signal(width.bit_length()), Signal()
    m.d.comb += [count.eq(popcount(v)), le1.eq(at_most_one(v))]
    rng = random.Random(width)
    # Every value for narrow inputs; for 64 bits, sparse ones (0-3 bits set) and random.
    if width <= 7:
        values = range(2 ** width)
    else:
        values = [sum(1 << b for b in rng.sample(range(width), k))
                  for k in (0, 1, 1, 1, 2, 2, 3) for _ in range(20)]
        values += [rng.getrandbits(width) for _ in range(100)]

    async def bench(ctx):
        for x in values:
            ctx.set(v, x)
            assert ctx.get(count) == x.bit_count(), hex(x)
            assert ctx.get(le1) == (x.bit_count() <= 1), hex(x)

    sim = Simulator(m)             # combinational: no clock
    sim.add_testbench(bench)
    sim.run()


def test_empty_value():
    assert at_most_one(Signal(0)).value == 1
