"""A register slice for a stream: every output of it comes from a flip-flop.

Between two blocks whose stream handshakes are decoded from their state (the dispatcher
drives the FC core's command from its FSM, the core's ``cmd.ready`` depends on the
command's op and on its response's ``ready``), the valid/ready round trip is one
combinational path through both; on the 85F board it set the clock
(docs/design/fpga-builds.md §6).
The slice cuts it in both directions for one cycle of latency, keeping one transfer a
cycle (a two-entry skid buffer).
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RegisterSlice"]


class RegisterSlice(wiring.Component):
    """Two-entry skid buffer: ``o.valid``, ``o.payload`` and ``i.ready`` are registers.

    Transfers leave in order, one cycle after they enter at the earliest; with ``o.ready``
    held high it passes one transfer a cycle. ``i.ready`` drops only while the second
    entry (the skid register) holds a transfer that ``o`` could not take.

    Parameters
    ----------
    shape : shape-like
        Payload shape of both streams (a layout for structured payloads).

    Attributes
    ----------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({"i": In(stream.Signature(shape)),
                          "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        skid = Signal(self.shape)
        skid_valid = Signal()
        m.d.comb += i.ready.eq(~skid_valid)
        with m.If(o.ready | ~o.valid):
            # The output register is free this cycle: it takes the older transfer.
            with m.If(skid_valid):
                m.d.sync += [o.payload.eq(skid), o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [o.payload.eq(i.payload), o.valid.eq(i.valid)]
        with m.Elif(i.valid & ~skid_valid):
            m.d.sync += [skid.eq(i.payload), skid_valid.eq(1)]
        return m
