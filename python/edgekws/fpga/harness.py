"""Few-pin harnesses that keep a whole design alive for synthesis (:mod:`.flow`).

The cores' stream payloads are wider than the package's I/O: each input payload is a
shift register fed from one pin, each output payload is loaded into a shift register
read out on one pin, so no bit can be optimised away. The harness adds one flip-flop
per payload bit and a few LUTs. These are measurement wrappers, not products: the
board build (:mod:`.board`) uses the real top with its UART.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from edgekws.gateware.conv.configs import CONFIGS
from edgekws.gateware.conv.extractor import DSCNNExtractor
from edgekws.gateware.fc_core import FCLearningCore, Op

__all__ = ["ExtractorHarness", "FCHarness", "SystemHarness"]


def _shift_in(m, pin, width):
    sr = Signal(width)
    m.d.sync += sr.eq(Cat(pin, sr[:-1]))
    return sr


def _stream_in(m, stream, sin, valid, ready):
    """Drive an input ``stream`` from pins: its payload shifted in on ``sin``, ``valid``
    in, ``ready`` out."""
    payload = Value.cast(stream.payload)
    return [payload.eq(_shift_in(m, sin, len(payload))), stream.valid.eq(valid),
            ready.eq(stream.ready)]


def _shift_out(m, load, value):
    """One pin out: ``value`` loaded when ``load``, else shifted right."""
    sr = Signal(len(value))
    with m.If(load):
        m.d.sync += sr.eq(value)
    with m.Else():
        m.d.sync += sr.eq(sr[1:])
    return sr[0]


class ExtractorHarness(wiring.Component):
    """The DS-CNN extractor: ``load`` and ``pixels`` shifted in, ``spikes`` shifted out;
    ``trace.ready`` tied high with its payload unused, as in the product (synthesis
    removes the trace registers)."""

    def __init__(self, ext: DSCNNExtractor):
        self.ext = ext
        super().__init__({"load_sin": In(1), "load_valid": In(1), "pix_sin": In(1),
                          "pix_valid": In(1), "spk_ready": In(1), "load_ready": Out(1),
                          "pix_ready": Out(1), "spk_valid": Out(1), "sout": Out(1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ext = ext = self.ext
        m.d.comb += [
            *_stream_in(m, ext.load, self.load_sin, self.load_valid, self.load_ready),
            *_stream_in(m, ext.pixels, self.pix_sin, self.pix_valid, self.pix_ready),
            ext.spikes.ready.eq(self.spk_ready), self.spk_valid.eq(ext.spikes.valid),
            ext.trace.ready.eq(1), self.busy.eq(ext.busy),
            self.sout.eq(_shift_out(m, ext.spikes.valid & ext.spikes.ready,
                                    ext.spikes.payload)),
        ]
        return m


class FCHarness(wiring.Component):
    """The FC learning core: ``cmd`` shifted in, ``rsp`` shifted out (five pins)."""

    def __init__(self, core: FCLearningCore):
        self.core = core
        super().__init__({"sin": In(1), "cmd_valid": In(1), "rsp_ready": In(1),
                          "cmd_ready": Out(1), "sout": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.d.comb += [
            *_stream_in(m, core.cmd, self.sin, self.cmd_valid, self.cmd_ready),
            core.rsp.ready.eq(self.rsp_ready),
            self.sout.eq(_shift_out(m, core.rsp.valid & core.rsp.ready,
                                    core.rsp.payload.as_value())),
        ]
        return m


class SystemHarness(wiring.Component):
    """Extractor and FC core together, as on the board: the extractor's spike beat
    becomes an ``INFER`` command of the core (the product's 64 spikes are one word);
    other commands come from a shift register when no spike beat waits. The command
    is registered before the core, as the board's dispatcher issues it from its own
    registers (a multiplexer on the spike handshake in front of the core's command
    decode was a path of this harness only, docs/design/timing-closure.md §3.6 step 15)."""

    def __init__(self, *, lanes: int | None = None, config: str = "dscnn_kws",
                 mult: str = "ecp5"):
        cfg = CONFIGS[config]
        self.ext = DSCNNExtractor(cfg.spec(), lanes=cfg.lanes if lanes is None else lanes,
                                  act_units=cfg.act_units, mult=mult)
        self.core = FCLearningCore(len(self.ext.spikes.payload), 1024)
        self.ext_h = ExtractorHarness(self.ext)
        super().__init__({"load_sin": In(1), "load_valid": In(1), "pix_sin": In(1),
                          "pix_valid": In(1), "cmd_sin": In(1), "cmd_valid": In(1),
                          "rsp_ready": In(1), "ready": Out(4), "sout": Out(1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ext_h = eh = self.ext_h
        m.submodules.core = core = self.core
        host = Signal.like(core.cmd.payload)
        m.d.comb += host.as_value().eq(_shift_in(m, self.cmd_sin, len(host.as_value())))
        spk = eh.ext.spikes
        # One command register, filled only when empty (so nothing but its own valid
        # enables it); a spike beat goes first.
        cmd_q = Signal.like(core.cmd.payload)
        cmd_q_valid = Signal()
        with m.If(~cmd_q_valid):
            with m.If(spk.valid):
                m.d.sync += [cmd_q_valid.eq(1), cmd_q.eq(host), cmd_q.op.eq(Op.INFER),
                             cmd_q.data.eq(spk.payload)]
            with m.Elif(self.cmd_valid):
                m.d.sync += [cmd_q_valid.eq(1), cmd_q.eq(host)]
        with m.Elif(core.cmd.ready):
            m.d.sync += cmd_q_valid.eq(0)
        host_ready = ~cmd_q_valid & ~spk.valid
        m.d.comb += [
            eh.load_sin.eq(self.load_sin), eh.load_valid.eq(self.load_valid),
            eh.pix_sin.eq(self.pix_sin), eh.pix_valid.eq(self.pix_valid),
            core.cmd.valid.eq(cmd_q_valid), core.cmd.payload.eq(cmd_q),
            eh.spk_ready.eq(~cmd_q_valid),
            core.rsp.ready.eq(self.rsp_ready),
            self.ready.eq(Cat(eh.load_ready, eh.pix_ready, host_ready, eh.sout)),
            self.busy.eq(eh.busy),
            self.sout.eq(_shift_out(m, core.rsp.valid & core.rsp.ready,
                                    core.rsp.payload.as_value())),
        ]
        return m
