"""Akida's step activation in integer logic: a short pipelined divider.

``out = clip(ceil(16 (pot - th) / S), 0, top)`` with the integer step
``S = floor(16 act_step) * 2**(4 - act_bits)`` computed by the host
(:func:`edgekws.golden.quant.act_step_units`) and ``top = 2**act_bits - 1``.

Why a divider and not comparisons against precomputed levels: a 4-bit output needs
15 levels ``th + floor(k S / 16)`` per neuron, that is 15 wide words of memory per
neuron and 15 comparators per lane; the quotient has only 4 bits, so a restoring
division by ``S`` costs 4 compare-and-subtract steps of ``step_bits + 5`` bits, one
pipeline stage each, and the memory holds just ``th`` and ``S``.

For ``d = pot - th > 0``::

    ceil(16 d / S) = floor((16 d - 1) / S) + 1

and the output saturates as soon as ``floor((16 d - 1) / S) >= top``. ``d`` is first
clipped to ``2**step_bits``: with ``S < 2**step_bits`` any larger ``d`` saturates
anyway, so the division only ever sees ``step_bits + 5``-bit numbers.
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ...checks import check_int
from ..unused import checking_arguments

__all__ = ["StepActivation", "THRESHOLD_BITS"]

#: Thresholds are the engine's int32.
THRESHOLD_BITS = 32


class StepActivation(wiring.Component):
    """One lane of the step activation, pipelined (``LATENCY`` cycles, one result per
    cycle).

    Parameters
    ----------
    pot_width : int
        Signed width of the potential.
    step_bits : int
        Width of the integer step ``S`` (``1 <= S < 2**step_bits``).
    tag_width : int
        Width of a value carried alongside, delayed by the same latency.

    Attributes
    ----------
    ce : In(1)
        Clock enable of every stage (low: the pipeline holds).
    i_valid, i_pot, i_th, i_step, i_top, i_tag : In
        One operation: potential, threshold, step and ``top = 2**act_bits - 1``.
    i_alt, i_sel_alt : In
        A second potential, used instead of ``i_pot`` when ``i_sel_alt`` (both are
        registered before the choice: they may come straight from block RAMs).
    o_valid, o_act, o_tag : Out
        The activation (``0..top``) and the tag, ``LATENCY`` enabled cycles later.
    o_busy : Out(1)
        Some operation is in the pipeline.
    """

    LATENCY = 7

    def __init__(self, pot_width: int, step_bits: int, tag_width: int = 1):
        with checking_arguments(self):
            for name, v in (("pot_width", pot_width), ("step_bits", step_bits),
                            ("tag_width", tag_width)):
                check_int(name, v)
            if pot_width >= THRESHOLD_BITS:
                raise ValueError(f"pot_width must be below {THRESHOLD_BITS}, not {pot_width!r}")
            self.pot_width = pot_width
            self.step_bits = step_bits
            self.tag_width = tag_width
            super().__init__({
                "ce": In(1, init=1),
                "i_valid": In(1), "i_pot": In(signed(pot_width)),
                "i_alt": In(signed(pot_width)), "i_sel_alt": In(1),
                "i_th": In(signed(THRESHOLD_BITS)), "i_step": In(unsigned(step_bits)),
                "i_top": In(4), "i_tag": In(tag_width),
                "o_valid": Out(1), "o_act": Out(4), "o_tag": Out(tag_width),
                "o_busy": Out(1),
            })

    def elaborate(self, platform):
        m = Module()
        SB = self.step_bits
        NW = SB + 5                                   # 16 * 2**SB needs SB + 5 bits
        n_stages = self.LATENCY
        valid = [Signal(name=f"valid{k}") for k in range(n_stages)]
        tag = [Signal(self.tag_width, name=f"tag{k}", reset_less=True) for k in range(n_stages)]
        top = [Signal(4, name=f"top{k}", reset_less=True) for k in range(n_stages)]
        step = [Signal(SB, name=f"step{k}", reset_less=True) for k in range(n_stages)]
        pos = [Signal(name=f"pos{k}", reset_less=True) for k in range(n_stages)]
        rem = [Signal(NW, name=f"rem{k}", reset_less=True) for k in range(n_stages)]
        quo = [Signal(5, name=f"quo{k}", reset_less=True) for k in range(n_stages)]   # bit 4: saturated

        in_pot = Signal(signed(self.pot_width), reset_less=True)
        in_alt = Signal(signed(self.pot_width), reset_less=True)
        in_sel = Signal(reset_less=True)
        in_th = Signal(signed(THRESHOLD_BITS), reset_less=True)
        with m.If(self.ce):
            prev = (self.i_valid, self.i_tag, self.i_top, self.i_step)
            for k in range(n_stages):
                m.d.sync += [valid[k].eq(prev[0]), tag[k].eq(prev[1]), top[k].eq(prev[2]),
                             step[k].eq(prev[3])]
                prev = (valid[k], tag[k], top[k], step[k])

            # Stage 0: the inputs registered (they come straight from block RAMs).
            m.d.sync += [in_pot.eq(self.i_pot), in_alt.eq(self.i_alt),
                         in_sel.eq(self.i_sel_alt), in_th.eq(self.i_th)]
            # Stage 1: d = pot - th (pot: ``i_alt`` if ``i_sel_alt``), exact (34 bits).
            d = Signal(signed(THRESHOLD_BITS + 2), reset_less=True)
            m.d.sync += d.eq(Mux(in_sel, in_alt, in_pot) - in_th)
            # Stage 2: d <= 0 gives 0; else n = 16 min(d, 2**SB) - 1.
            dsat = Mux(d >= (1 << SB), 1 << SB, d[:SB + 1])
            m.d.sync += [pos[2].eq(d > 0), rem[2].eq((dsat << 4) - 1), quo[2].eq(0)]
            # Stage 3: saturation (quotient >= 16) and quotient bit 3;
            # stages 4-6: bits 2, 1, 0 (restoring division).
            for k, bit in ((3, 3), (4, 2), (5, 1), (6, 0)):
                r, S = rem[k - 1], step[k - 1]
                take = r >= (S << bit)
                q = quo[k - 1]
                if bit == 3:
                    q = Mux(r >= (S << 4), 0b10000, q)
                m.d.sync += [pos[k].eq(pos[k - 1]),
                             rem[k].eq(Mux(take, r - (S << bit), r)),
                             quo[k].eq(q | Mux(take, 1 << bit, 0))]

        busy = valid[0]
        for v in valid[1:]:
            busy = busy | v
        m.d.comb += self.o_busy.eq(busy)
        last = n_stages - 1
        q = quo[last]
        m.d.comb += [
            self.o_valid.eq(valid[last]),
            self.o_tag.eq(tag[last]),
            self.o_act.eq(Mux(~pos[last], 0,
                              Mux(q[4] | (q[:4] >= top[last]), top[last], q[:4] + 1))),
        ]
        return m
