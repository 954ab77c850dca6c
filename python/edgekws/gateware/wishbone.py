"""The accelerator as a Wishbone B4 classic slave, for a LiteX (or any Wishbone) SoC.

:class:`WishboneKWS` is the board of :class:`~edgekws.gateware.top.BoardTop` with the
UART link replaced by a bus mailbox: the CPU writes a request of
:mod:`edgekws.protocol` (``seq, cmd, payload``: no COBS, no CRC) into the request
window, its length into ``REQ_LEN``, and sets ``CTRL.START``; when ``STATUS.DONE`` is
set the reply (``seq, cmd | 0x80, status, payload``) is in the reply window,
``REP_LEN`` bytes long, and the class and winner of an INFER/LEARN are in ``RESULT``.
Every command of the UART protocol works the same way (loading weights with
WRITE_MEM, SET_LEARNING, INFER with the MFCC frame, LEARN, READ_MEM, ...), with the
same replies as the golden-backed :class:`edgekws.host.emulator.Emulator`. The
register map is in ``docs/wishbone.md``.

The bus is 32 bits wide with byte selects and word addresses (``adr`` counts 32-bit
words, as LiteX's ``wishbone.Interface``); byte ``b`` of a window is bits
``8 (b % 4) ...`` of word ``b // 4``, little-endian.
"""
from __future__ import annotations

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from edgekws import protocol as p
from edgekws.checks import check_int

from .interfaces import LinkCountersSignature, ReplyWriteSignature, RequestReadSignature
from .top import Engine

__all__ = ["WishboneSignature", "WishboneKWS", "Reg", "Ctrl", "Status", "ID_VALUE",
           "WINDOW_WORDS", "REQ_WINDOW", "REP_WINDOW", "ADDR_WIDTH"]

#: ``ID`` register: ASCII "EKWS" read as a little-endian word.
ID_VALUE = int.from_bytes(b"EKWS", "little")
#: 32-bit words of each buffer window (a power of two holding ``MAX_PACKET`` bytes).
WINDOW_WORDS = 1 << ceil_log2((p.MAX_PACKET + 3) // 4)
#: Word address of the request window and of the reply window.
REQ_WINDOW = WINDOW_WORDS
REP_WINDOW = 2 * WINDOW_WORDS
#: Width of ``adr`` (word address): registers, request window, reply window.
ADDR_WIDTH = ceil_log2(3 * WINDOW_WORDS)
#: Commands whose OK reply starts with ``RESULT_FORMAT`` (class, winner, learned).
_RESULT_CMDS = (p.Cmd.INFER, p.Cmd.LEARN, p.Cmd.INFER_SPIKES, p.Cmd.LEARN_SPIKES)


class Reg:
    """Word addresses of the registers (byte offset = 4 x word address)."""
    #: RO: :data:`ID_VALUE`.
    ID = 0
    #: WO: :class:`Ctrl` bits (write 1 to act; reads 0).
    CTRL = 1
    #: RO: :class:`Status` bits.
    STATUS = 2
    #: RW: bytes of the request in the request window (2 .. ``MAX_PACKET``).
    REQ_LEN = 3
    #: RO: bytes of the reply in the reply window.
    REP_LEN = 4
    #: RO: bits 15:0 the class, 31:16 the winning neuron of the last INFER/LEARN
    #: (or *_SPIKES) reply with status OK; valid while ``STATUS.RESULT_VALID``.
    RESULT = 5


class Ctrl:
    """Bits of ``CTRL``."""
    #: Execute the request (``REQ_LEN`` bytes of the request window); ignored while
    #: ``STATUS.BUSY``; a length outside 2 .. ``MAX_PACKET`` sets ``STATUS.LEN_ERROR``
    #: instead.
    START = 1 << 0


class Status:
    """Bits of ``STATUS``."""
    #: A request is executing (from START to its reply).
    BUSY = 1 << 0
    #: The reply of the last started request is in the reply window (cleared by START).
    DONE = 1 << 1
    #: The last START was refused: ``REQ_LEN`` outside 2 .. ``MAX_PACKET``.
    LEN_ERROR = 1 << 2
    #: ``RESULT`` holds the last reply's class and winner.
    RESULT_VALID = 1 << 3


class WishboneSignature(wiring.Signature):
    """A Wishbone B4 classic bus with byte selects, from the master's side.

    Members (``Out`` driven by the master): ``cyc``, ``stb``, ``we`` (1 bit), ``adr``
    (``addr_width``, word address), ``dat_w`` (``data_width``), ``sel``
    (``data_width // 8``); ``In``: ``dat_r`` (``data_width``), ``ack`` (1 bit).

    Parameters
    ----------
    addr_width : int
        Bits of the word address (positive).
    data_width : int
        Bits of a bus word: 8, 16, 32 or 64.
    """

    def __init__(self, addr_width: int, data_width: int = 32):
        addr_width = check_int("addr_width", addr_width)
        if data_width not in (8, 16, 32, 64) or isinstance(data_width, bool):
            raise ValueError(f"data_width must be 8, 16, 32 or 64, not {data_width!r}")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "cyc": Out(1), "stb": Out(1), "we": Out(1),
            "adr": Out(addr_width),
            "dat_w": Out(data_width),
            "sel": Out(data_width // 8),
            "dat_r": In(data_width),
            "ack": In(1),
        })

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width))

    def __repr__(self):
        return f"WishboneSignature({self.addr_width}, {self.data_width})"


class WishboneKWS(wiring.Component, Engine):
    """Extractor + learning core behind a Wishbone B4 classic slave (32-bit, byte
    selects, one wait state: ``ack`` the cycle after ``stb``).

    Parameters
    ----------
    clk_hz : int
        The bus clock, reported by IDENTIFY.
    num_inputs, num_neurons, fc_lanes, extractor, ext_lanes
        As for :class:`~edgekws.gateware.top.BoardTop`: the learning core's F, capacity
        and lanes; whether the DS-CNN extractor is included (else INFER_SPIKES and
        LEARN_SPIKES only) and its MAC lanes.

    Attributes
    ----------
    bus : ``In(WishboneSignature(ADDR_WIDTH, 32))``
        The slave port; the map is :class:`Reg`, then the request window at
        :data:`REQ_WINDOW` and the reply window at :data:`REP_WINDOW` (word addresses).
    """

    def __init__(self, *, clk_hz: int, num_inputs: int = 64, num_neurons: int = 1024,
                 fc_lanes: int = 1, extractor: bool = True, ext_lanes: int = 64):
        if not isinstance(extractor, bool):
            raise TypeError(f"extractor must be True or False, not {extractor!r}")
        Engine.__init__(self, clk_hz=clk_hz, num_inputs=num_inputs,
                        num_neurons=num_neurons, fc_lanes=fc_lanes, extractor=extractor,
                        ext_lanes=ext_lanes)
        super().__init__({"bus": In(WishboneSignature(ADDR_WIDTH, 32))})

    def elaborate(self, platform):
        m = Module()
        req = RequestReadSignature().create(path=("mbox", "req"))
        rep = ReplyWriteSignature().flip().create(path=("mbox", "rep"))
        counters = LinkCountersSignature().create(path=("mbox", "counters"))
        self.add_engine(m, req, rep, counters)
        _Mailbox(m, self.bus, req, rep, counters).build()
        return m


class _Mailbox:
    """The bus side of the engine: registers, the request buffer (bus writes, the
    dispatcher reads a byte a cycle) and the reply buffer (the dispatcher writes bytes,
    the bus reads words)."""

    def __init__(self, m, bus, req, rep, counters):
        self.m, self.bus, self.req, self.rep, self.counters = m, bus, req, rep, counters

    def build(self):
        m, bus, req, rep = self.m, self.bus, self.req, self.rep
        words = WINDOW_WORDS
        m.submodules.req_mem = req_mem = memory.Memory(shape=32, depth=words, init=[])
        m.submodules.rep_mem = rep_mem = memory.Memory(shape=32, depth=words, init=[])
        # The request buffer: written by the bus, read a byte at a time by the dispatcher
        # (its data is the byte at the address of the previous cycle: a synchronous port).
        req_w = req_mem.write_port(granularity=8)
        req_r = req_mem.read_port()
        req_byte = Signal(2)
        m.d.sync += req_byte.eq(req.addr[:2])
        m.d.comb += [req_r.addr.eq(req.addr >> 2),
                     req.data.eq(req_r.data.word_select(req_byte, 8))]
        # The reply buffer: byte writes of the dispatcher, word reads of the bus.
        rep_w = rep_mem.write_port(granularity=8)
        rep_r = rep_mem.read_port()
        m.d.comb += [rep_w.addr.eq(rep.addr >> 2),
                     rep_w.data.eq(Cat(*[rep.data] * 4)),
                     rep_w.en.eq(Mux(rep.we, Const(1, 4) << rep.addr[:2], 0)),
                     rep.busy.eq(0)]

        # Registers.
        req_len = Signal(32)        # all 32 bits: a too large length is refused, not wrapped
        rep_len = Signal(range(p.MAX_PACKET + 1))
        busy, done, len_error, result_valid = Signal(), Signal(), Signal(), Signal()
        result = Signal(32)
        frames = Signal(32)
        m.d.comb += [req.valid.eq(busy), req.status.eq(p.Status.OK),
                     req.len.eq(req_len), self.counters.frames.eq(frames),
                     self.counters.crc_errors.eq(0), self.counters.framing_errors.eq(0)]
        with m.If(self.counters.clear):
            m.d.sync += frames.eq(0)

        # The reply's head and RESULT_FORMAT, as the dispatcher writes them.
        head = Signal(8 * (3 + p.RESULT_FORMAT.size))
        with m.If(rep.we & (rep.addr < len(head) // 8)):
            m.d.sync += head.word_select(rep.addr[:ceil_log2(len(head) // 8)], 8).eq(rep.data)
        cmd, status = head[8:15], head[16:24]
        is_result = Signal()
        m.d.comb += is_result.eq((status == p.Status.OK) & functools.reduce(
            operator.or_, [cmd == c for c in _RESULT_CMDS]))
        with m.If(rep.send):
            m.d.sync += [busy.eq(0), done.eq(1), rep_len.eq(rep.len),
                         result_valid.eq(is_result),
                         result.eq(Cat(head[24:40], head[40:56]))]

        # The bus: one wait state, ack the cycle after the strobe.
        ack = Signal()
        m.d.sync += ack.eq(0)
        m.d.comb += bus.ack.eq(ack)
        adr = bus.adr
        access = bus.cyc & bus.stb & ~ack
        in_req = adr[ceil_log2(words):] == REQ_WINDOW // words
        in_rep = adr[ceil_log2(words):] == REP_WINDOW // words
        m.d.comb += [req_w.addr.eq(adr), req_w.data.eq(bus.dat_w),
                     req_w.en.eq(Mux(access & bus.we & in_req & ~busy, bus.sel, 0)),
                     rep_r.addr.eq(adr)]
        reg_q = Signal(32)
        sel_rep = Signal()
        with m.If(access):
            m.d.sync += [ack.eq(1), sel_rep.eq(in_rep)]
            with m.Switch(adr):
                with m.Case(Reg.ID):
                    m.d.sync += reg_q.eq(ID_VALUE)
                with m.Case(Reg.STATUS):
                    m.d.sync += reg_q.eq(Cat(busy, done, len_error, result_valid))
                with m.Case(Reg.REQ_LEN):
                    m.d.sync += reg_q.eq(req_len)
                with m.Case(Reg.REP_LEN):
                    m.d.sync += reg_q.eq(rep_len)
                with m.Case(Reg.RESULT):
                    m.d.sync += reg_q.eq(result)
                with m.Default():
                    m.d.sync += reg_q.eq(0)
            with m.If(bus.we & bus.sel.all()):
                with m.If((adr == Reg.REQ_LEN) & ~busy):
                    m.d.sync += req_len.eq(bus.dat_w)
                with m.If((adr == Reg.CTRL) & bus.dat_w[0] & ~busy):
                    ok = (req_len >= 2) & (req_len <= p.MAX_PACKET)
                    m.d.sync += [len_error.eq(~ok), done.eq(0)]
                    with m.If(ok):
                        m.d.sync += [busy.eq(1), result_valid.eq(0), frames.eq(frames + 1)]
        m.d.comb += bus.dat_r.eq(Mux(sel_rep, rep_r.data, reg_q))
