"""The step activation unit against :func:`edgekws.golden.quant.step_activation`
(amaranth.sim: a small block, fast)."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from edgekws.gateware.conv.step import StepActivation
from edgekws.golden.quant import act_step_units, step_activation


def _run(pot, th, S, tops, stall_every=0):
    dut = StepActivation(21, 20, tag_width=16)
    got = []

    async def bench(ctx):
        k = 0
        n = len(pot)
        cycle = 0
        while len(got) < n:
            stall = bool(stall_every) and cycle % stall_every == stall_every - 1
            ctx.set(dut.ce, not stall)
            if k < n:
                ctx.set(dut.i_valid, 1)
                ctx.set(dut.i_pot, int(pot[k]))
                ctx.set(dut.i_th, int(th[k]))
                ctx.set(dut.i_step, int(S[k]))
                ctx.set(dut.i_top, int(tops[k]))
                ctx.set(dut.i_tag, k)
            else:
                ctx.set(dut.i_valid, 0)
            await ctx.tick()
            if not stall:
                if ctx.get(dut.o_valid):
                    got.append((ctx.get(dut.o_tag), ctx.get(dut.o_act)))
                k += k < n
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert [t for t, _ in got] == list(range(len(pot)))
    return np.array([a for _, a in got])


@pytest.mark.parametrize("stall_every", [0, 3])
def test_matches_golden(stall_every):
    rng = np.random.default_rng(stall_every)
    n = 1500
    bits = rng.choice([1, 2, 4], n)
    pot = rng.integers(-(1 << 20), 1 << 20, n)
    th = pot - rng.integers(-300, 5000, n)
    th[::9] = rng.integers(-2**31, 2**31, th[::9].size)       # far thresholds
    step = rng.choice([1 / 16, 0.5, 1.5, 3.0, 17.3, 250.0, 4095.9], n).astype(np.float32)
    S = act_step_units(step) << (4 - bits)
    S[bits == 1] = 1                                          # as the host sends it
    want = np.array([step_activation(np.array([p]), np.array([t]), np.array([s]), int(b))[0]
                     for p, t, s, b in zip(pot, th, step, bits)])
    got = _run(pot, th, S, (1 << bits) - 1, stall_every)
    assert np.array_equal(got, want), np.nonzero(got != want)[0][:10]


def test_documented_example():
    # act_bits 4, step 1.5 (S = 24): d = 1..6 gives 1, 2, 2, 3, 4, 4 (semantics §0.1).
    d = np.arange(1, 7)
    got = _run(d, np.zeros(6, int), np.full(6, 24), np.full(6, 15))
    assert got.tolist() == [1, 2, 2, 3, 4, 4]


@pytest.mark.parametrize("kw, match", [
    (dict(pot_width=0, step_bits=20), "pot_width must be a positive integer, not 0"),
    (dict(pot_width=32, step_bits=20), "pot_width must be below 32, not 32"),
    (dict(pot_width=21, step_bits=-1), "step_bits must be a positive integer, not -1"),
])
def test_parameter_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        StepActivation(**kw)
