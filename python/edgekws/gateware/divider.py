"""Sequential unsigned divider (restoring, one quotient bit per cycle)."""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from edgekws.checks import check_int

__all__ = ["SeqDivider"]


class SeqDivider(wiring.Component):
    """``quotient, remainder = divmod(dividend, divisor)`` in ``width`` cycles.

    The learning rule needs a handful of small divisions per learning step
    (``divmod(|R|, s)``, ``offset % group size``, ``neuron // neurons_per_class``);
    a combinational divider would be large and slow, and these take ``width + 1``
    cycles against the thousand-cycle potential pass.

    Parameters
    ----------
    width : int
        Width of dividend, divisor, quotient and remainder.

    Attributes
    ----------
    start : Signal, in
        Latch ``dividend`` and ``divisor`` and start. Ignored while ``busy``.
    busy : Signal, out
        High from the cycle after ``start`` until the result is valid.
    quotient, remainder : Signal, out
        Valid while ``busy`` is low after a division. A zero divisor gives an
        all-ones quotient (callers never divide by zero).
    """

    def __init__(self, width: int):
        self.width = width = check_int("width", width)
        super().__init__({
            "start": In(1),
            "dividend": In(width),
            "divisor": In(width),
            "busy": Out(1),
            "quotient": Out(width),
            "remainder": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        count = Signal(range(w + 1))
        divisor = Signal(w)
        quo = self.quotient
        rem = self.remainder
        m.d.comb += self.busy.eq(count != 0)
        # Shift the next dividend bit into the partial remainder, subtract if it fits.
        trial = Cat(quo[w - 1], rem)
        with m.If(count != 0):
            m.d.sync += count.eq(count - 1)
            with m.If(trial >= divisor):
                m.d.sync += [rem.eq(trial - divisor), quo.eq(Cat(1, quo[:w - 1]))]
            with m.Else():
                m.d.sync += [rem.eq(trial), quo.eq(Cat(0, quo[:w - 1]))]
        with m.Elif(self.start):
            m.d.sync += [count.eq(w), divisor.eq(self.divisor),
                         quo.eq(self.dividend), rem.eq(0)]
        return m
