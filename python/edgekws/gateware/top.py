"""The board: UART packet link, command dispatcher, learning core, extractor and its
loader, as one Verilog module ``edgekws_board`` (ports ``clk``, ``rst``, ``uart_rx``,
``uart_tx``).

The host driver (:class:`edgekws.host.board.Board`) talks to it exactly as to the
emulator (:class:`edgekws.host.emulator.Emulator`): same requests, same replies.

``rtl/edgekws_board.v`` is the *simulation* build: ``SIM_CLK_HZ`` and ``SIM_BAUD`` give a
UART of :data:`SIM_DIVISOR` clock cycles per bit, so that a Verilator run spends its
cycles computing rather than shifting bits (the Verilator bridge reads these constants).
"""
from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from edgekws import protocol as p

from .conv.extractor import DSCNNExtractor
from .dispatcher import Dispatcher
from .extractor_loader import ExtractorLoader
from .fc_core import FCLearningCore
from .link import PacketLink
from .register_slice import RegisterSlice

__all__ = ["BoardTop", "Engine", "SIM_CLK_HZ", "SIM_BAUD", "SIM_DIVISOR", "CONFIGS",
           "generate_verilog", "main"]

#: The simulation build: 12 MHz and 3 Mbaud, 4 clock cycles per UART bit.
SIM_CLK_HZ = 12_000_000
SIM_BAUD = 3_000_000
SIM_DIVISOR = SIM_CLK_HZ // SIM_BAUD


class Engine:
    """The board without its link: learning core, dispatcher and (optionally) the
    extractor and its loader, built and wired the same way for every front (the UART
    link of :class:`BoardTop`, the bus mailbox of
    :class:`~edgekws.gateware.wishbone.WishboneKWS`).

    A mixin of those components: :meth:`__init__` creates the blocks as attributes
    ``core``, ``ext``, ``loader``, ``dispatcher``; :meth:`add_engine` adds them to a
    module and connects them to the front's request, reply and counter interfaces.
    Parameters as for :class:`BoardTop`.
    """

    def __init__(self, *, clk_hz: int, num_inputs: int = 64, num_neurons: int = 1024,
                 fc_lanes: int = 1, extractor: bool = True, ext_lanes: int = 64):
        self.core = FCLearningCore(num_inputs, num_neurons, lanes=fc_lanes)
        self.ext = DSCNNExtractor(lanes=ext_lanes) if extractor else None
        self.loader = ExtractorLoader(self.ext) if extractor else None
        self.dispatcher = Dispatcher(self.core, self.ext, clk_hz=clk_hz)

    def add_engine(self, m, req, rep, counters):
        """Add the blocks to ``m`` and connect the dispatcher to the front's ``req``
        (``Out(RequestReadSignature())``), ``rep`` (``In(ReplyWriteSignature())``) and
        ``counters`` (``Out(LinkCountersSignature())``)."""
        core, disp = self.core, self.dispatcher
        m.submodules.core = core
        m.submodules.dispatcher = disp
        wiring.connect(m, req, disp.req)
        wiring.connect(m, disp.rep, rep)
        wiring.connect(m, counters, disp.counters)
        # Both handshakes are decoded from FSM states on each side; the slices keep
        # their round trip out of one clock period (docs/design/fpga-builds.md §6).
        m.submodules.fc_cmd_slice = cmd_slice = RegisterSlice(core.cmd_layout)
        m.submodules.fc_rsp_slice = rsp_slice = RegisterSlice(core.rsp_layout)
        wiring.connect(m, disp.fc_cmd, cmd_slice.i)
        wiring.connect(m, cmd_slice.o, core.cmd)
        wiring.connect(m, core.rsp, rsp_slice.i)
        wiring.connect(m, rsp_slice.o, disp.fc_rsp)
        if self.ext is not None:
            ext, loader = self.ext, self.loader
            m.submodules.ext = ext
            m.submodules.loader = loader
            wiring.connect(m, disp.pixels, ext.pixels)
            wiring.connect(m, ext.spikes, disp.spikes)
            wiring.connect(m, loader.load, ext.load)
            m.d.comb += ext.trace.ready.eq(1)
            wiring.connect(m, disp.loader, loader.access)


class BoardTop(wiring.Component, Engine):
    """The whole board.

    Parameters
    ----------
    clk_hz : int
        The clock (reported by IDENTIFY, and the UART's timing).
    baud : int
        The UART's bit rate.
    num_inputs, num_neurons, fc_lanes : int
        The learning core (:class:`FCLearningCore`): F, capacity, lanes.
    extractor : bool
        Include the DS-CNN extractor (the product's geometry, ``ext_lanes`` MAC lanes)
        and its loader; ``False`` gives a spikes-only board (INFER_SPIKES/LEARN_SPIKES).
    ext_lanes : int
        MAC lanes of the extractor.

    Attributes
    ----------
    uart_rx : Signal, in
    uart_tx : Signal, out
    """

    def __init__(self, *, clk_hz: int, baud: int = p.DEFAULT_BAUDRATE, num_inputs: int = 64,
                 num_neurons: int = 1024, fc_lanes: int = 1, extractor: bool = True,
                 ext_lanes: int = 64):
        self.link = PacketLink(clk_hz=clk_hz, baud=baud)
        Engine.__init__(self, clk_hz=clk_hz, num_inputs=num_inputs,
                        num_neurons=num_neurons, fc_lanes=fc_lanes, extractor=extractor,
                        ext_lanes=ext_lanes)
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        link = self.link
        m.submodules.link = link
        m.d.comb += [link.rx.eq(self.uart_rx), self.uart_tx.eq(link.tx)]
        self.add_engine(m, link.req, link.rep, link.counters)
        return m


# -- the committed Verilog ---------------------------------------------------------------
#: module name -> BoardTop arguments of the generated ``rtl/<name>.v``.
CONFIGS = {
    "edgekws_board": dict(clk_hz=SIM_CLK_HZ, baud=SIM_BAUD),
}


def generate_verilog(name: str) -> str:
    """The Verilog text of the board configuration ``name`` of :data:`CONFIGS`."""
    from amaranth.back import verilog

    from .generate import _compact_zero_init

    kw = CONFIGS[name]
    top = BoardTop(**kw)
    text = verilog.convert(top, name=name, emit_src=False)
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    header = (f"// Generated by `python -m edgekws.gateware.top` from\n"
              f"// edgekws.gateware.top.BoardTop({args}).\n"
              f"// Do not edit: change the Python and regenerate.\n")
    return header + _compact_zero_init(text)


def main(argv=None) -> int:
    from .generate import generator_main
    return generator_main(argv, CONFIGS, generate_verilog, "edgekws.gateware.top",
                          "Write the committed Verilog of the board (rtl/edgekws_board.v).")


if __name__ == "__main__":
    import sys
    sys.exit(main())
