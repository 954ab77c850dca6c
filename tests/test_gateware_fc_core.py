"""Unit tests of the learning core's gateware (elaboration checks, building blocks).

The full core is verified against the golden model in ``sim/test_fc_core.py``
(cocotb + Verilator); here ``amaranth.sim`` checks the small blocks exhaustively.
"""
import gc
import itertools
import random

import pytest
from amaranth.hdl import Fragment
from amaranth_sim import run_sim as _run

from edgekws.gateware.divider import SeqDivider
from edgekws.gateware.fc_core import FCLearningCore, default_width
from edgekws.gateware.spread_select import SpreadSelector
from edgekws.golden.learning import spread_select


# The half-built object of a failed constructor is reported as never elaborated.
@pytest.mark.filterwarnings("ignore:.*created but never used")
@pytest.mark.parametrize("kwargs, message", [
    (dict(num_inputs=0), r"num_inputs must be a positive integer, not 0"),
    (dict(num_inputs=64.0), r"num_inputs must be a positive integer, not 64\.0"),
    (dict(num_inputs=True), r"num_inputs must be a positive integer, not True"),
    (dict(num_neurons=-3), r"num_neurons must be a positive integer, not -3"),
    (dict(num_neurons="1024"), r"num_neurons must be a positive integer, not '1024'"),
    (dict(lanes=0), r"lanes must be a positive integer, not 0"),
    (dict(lanes=3, num_neurons=3), r"lanes must be a power of two, not 3"),
    (dict(lanes=8, num_neurons=100), r"num_neurons \(100\) must be a multiple of lanes \(8\)"),
    (dict(width=48), r"width must divide num_inputs \(64\), not 48"),
    (dict(width=0), r"width must be a positive integer, not 0"),
    (dict(num_inputs=20000), r"num_inputs must be below 16384, not 20000"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FCLearningCore(**kwargs)
    gc.collect()  # report the half-built object here, under the filter above


@pytest.mark.parametrize("F, N, lanes", [(64, 1024, 1), (1024, 1024, 2), (100, 12, 4)])
def test_elaborates(F, N, lanes):
    core = FCLearningCore(F, N, lanes=lanes)
    assert core.words * core.width == F
    Fragment.get(core, None)


def test_default_width():
    assert (default_width(64), default_width(1024), default_width(100)) == (64, 64, 50)


def test_spread_selector_matches_golden():
    """Every (n, s, offset) with n <= 14, offsets up to n + 2, against the golden model."""
    sel = SpreadSelector(6)
    cases = [(n, s, o) for n in range(1, 15) for s in range(1, n + 1)
             for o in range(0, n + 3)]

    async def bench(ctx):
        for n, s, o in cases:
            q, r = divmod(n, s)
            size0 = q + 1 if r else q
            # The core reduces the incoming offset with its divider first.
            ctx.set(sel.load, 1)
            ctx.set(sel.q, q)
            ctx.set(sel.r, r)
            ctx.set(sel.s, s)
            ctx.set(sel.offset, o % size0)
            await ctx.tick()
            ctx.set(sel.load, 0)
            await ctx.tick()   # the selector derives its group sizes
            ctx.set(sel.advance, 1)
            picks = []
            for pos in range(n):
                if ctx.get(sel.done):
                    break
                if ctx.get(sel.pick):
                    picks.append(pos)
                await ctx.tick()
            ctx.set(sel.advance, 0)
            want, want_o = spread_select(n, s, o)
            assert ctx.get(sel.done), (n, s, o)
            assert (picks, ctx.get(sel.offset_out)) == (want, want_o), (n, s, o)

    _run(sel, bench)


def test_divider():
    div = SeqDivider(8)
    rng = random.Random(0)
    cases = [(a, b) for a, b in itertools.product(range(0, 256, 17), range(1, 256, 23))]
    cases += [(rng.randrange(256), rng.randrange(1, 256)) for _ in range(200)]
    cases += [(255, 1), (0, 1), (7, 7), (6, 7)]

    async def bench(ctx):
        for a, b in cases:
            ctx.set(div.dividend, a)
            ctx.set(div.divisor, b)
            ctx.set(div.start, 1)
            await ctx.tick()
            ctx.set(div.start, 0)
            cycles = 0
            while ctx.get(div.busy):
                await ctx.tick()
                cycles += 1
            assert cycles == 8
            assert (ctx.get(div.quotient), ctx.get(div.remainder)) == divmod(a, b), (a, b)

    _run(div, bench)
