"""The board's packet link: UART, COBS framing and CRC-16 of :mod:`edgekws.protocol`.

Receive path: UART bytes are COBS-decoded on the fly, one cycle per byte, into one of two
request buffers (ping-pong), the CRC-16 running alongside; the frame's delimiter decides
what the waiting request is. Transmit path: the reply buffer is COBS-encoded with a
look-ahead of up to 254 bytes, its CRC-16 computed during the look-ahead and appended.
The semantics are those of :class:`edgekws.host.packet_server.PacketServer` (the model
``tests/test_gateware_link.py`` compares against).
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from edgekws import protocol
from edgekws.protocol import CRC_INIT, CRC_POLY, DELIMITER, MAX_PACKET, FrameDecoder, Status

from .interfaces import LinkCountersSignature, ReplyWriteSignature, RequestReadSignature
from .uart import UARTRx, UARTTx, uart_divisor

__all__ = ["PacketLink", "crc16_step", "MAX_BODY"]

#: Longest ``seq | cmd | payload`` a frame of up to ``FrameDecoder.MAX_FRAME`` bytes decodes
#: to (COBS output <= input - 1, minus two CRC bytes). It exceeds ``MAX_PACKET - 2``: the
#: model accepts such a frame if its CRC matches, so the buffers hold it too.
MAX_BODY = FrameDecoder.MAX_FRAME - 3

#: Longest run of non-zero bytes one COBS block carries.
_COBS_RUN = 254


def crc16_step(crc, byte):
    """CRC-16 (:data:`~edgekws.protocol.CRC_POLY`, MSB first) after one more byte.

    Returns an Amaranth expression: every output bit is the XOR of a fixed set of input
    bits, found here by running the bitwise CRC on sets of input bit indices, so the
    hardware is a plain XOR network (no chain of eight multiplexers).
    """
    # bit i of the state as the set of inputs it XORs: crc bits 0..15, byte bits 16..23
    state = [{i} for i in range(16)]
    for i in range(8):
        state[8 + i] = state[8 + i] ^ {16 + i}
    for _ in range(8):
        top = state[15]
        state = [set()] + state[:15]
        for i in range(16):
            if (CRC_POLY >> i) & 1:
                state[i] = state[i] ^ top
    inputs = Cat(crc[:16], byte[:8])
    bits = []
    for terms in state:
        expr = Const(0, 1)
        for t in sorted(terms):
            expr = expr ^ inputs[t]
        bits.append(expr)
    return Cat(*bits)


class PacketLink(wiring.Component):
    """UART + COBS/CRC framing of :mod:`edgekws.protocol`
    (``docs/design/link-and-dispatcher.md`` §4).

    Parameters
    ----------
    clk_hz : int
        Clock frequency.
    baud : int
        UART bit rate; ``clk_hz / baud`` must round to at least 4 within 2 %.

    Attributes
    ----------
    rx, tx : Signal
        UART pins, 8N1, idle high.
    req : ``Out(RequestReadSignature())``
        The oldest received request (:class:`.interfaces.RequestReadSignature`): ``len``
        is up to :data:`MAX_BODY` for a CRC-valid frame longer than any
        ``encode_packet`` output; ``data`` follows ``addr`` by one cycle.
    rep : ``In(ReplyWriteSignature())``
        The reply buffer and its send (:class:`.interfaces.ReplyWriteSignature`).
    counters : ``Out(LinkCountersSignature())``
        Frames, CRC errors and framing errors (:class:`.interfaces.LinkCountersSignature`)
        as :class:`~edgekws.host.packet_server.PacketServer` counts them;
        ``framing_errors`` also counts the frames dropped because both request buffers
        were waiting. A byte with a bad UART stop bit is dropped before framing (its frame
        then fails its COBS or CRC check and is counted as such).
    """

    def __init__(self, *, clk_hz: int, baud: int = protocol.DEFAULT_BAUDRATE):
        self.divisor = uart_divisor(clk_hz, baud)  # refuses unusable rates
        self.clk_hz = clk_hz
        self.baud = baud
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "req": Out(RequestReadSignature()),
            "rep": In(ReplyWriteSignature()),
            "counters": Out(LinkCountersSignature()),
        })
        assert MAX_BODY < 2 ** len(self.req.len)  # the port widths carry MAX_BODY

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UARTRx(clk_hz=self.clk_hz, baud=self.baud)
        m.submodules.uart_tx = utx = UARTTx(clk_hz=self.clk_hz, baud=self.baud)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        self._receive(m, urx)
        self._transmit(m, utx)
        return m

    # -- receive: frames into two request buffers ------------------------------------------
    def _receive(self, m, urx):
        max_frame = FrameDecoder.MAX_FRAME
        mems = []
        for s in range(2):
            mem = Memory(shape=8, depth=MAX_BODY, init=[])
            m.submodules[f"req_mem{s}"] = mem
            mems.append((mem.write_port(), mem.read_port()))

        # slot state: pending requests, oldest at `head`
        pend = Signal(2)
        head = Signal()
        status = [Signal(3, name=f"status{s}") for s in range(2)]
        length = [Signal(range(MAX_BODY + 1), name=f"length{s}") for s in range(2)]

        # frame state (FrameDecoder + cobs_decode, one byte at a time)
        flen = Signal(range(max_frame + 1))   # encoded bytes so far
        overflow = Signal()                   # more than MAX_FRAME: TOO_LONG at the delimiter
        nobuf = Signal()                      # both buffers busy at the frame's start
        wr = Signal()                         # the buffer this frame fills
        rem = Signal(8)                       # bytes left in the COBS block; 0: a code next
        code255 = Signal()                    # the block is a full one (no implied zero)
        dcount = Signal(range(max_frame + 1))  # decoded bytes so far
        d0 = Signal(8)                        # the last two decoded bytes: held back until
        d1 = Signal(8)                        # a third shows they are not the CRC
        crc = Signal(16, init=CRC_INIT)

        byte = urx.data.payload
        m.d.comb += urx.data.ready.eq(1)

        # One decoded byte per received byte at most: the zero a code byte implies, or data.
        emit = Signal()
        emit_byte = Signal(8)
        with m.If(emit):
            m.d.sync += [d0.eq(d1), d1.eq(emit_byte), dcount.eq(dcount + 1)]
            with m.If(dcount >= 2):
                m.d.sync += crc.eq(crc16_step(crc, d0))
        for s, (wp, _) in enumerate(mems):
            m.d.comb += [wp.addr.eq(dcount - 2), wp.data.eq(d0),
                         wp.en.eq(emit & (dcount >= 2) & ~nobuf & (wr == s))]

        # The request port and its acknowledgement.
        ack = self.req.ack & self.req.valid
        m.d.comb += [self.req.valid.eq(pend.bit_select(head, 1)),
                     self.req.status.eq(Mux(head, status[1], status[0])),
                     self.req.len.eq(Mux(head, length[1], length[0]))]
        for s, (_, rp) in enumerate(mems):
            m.d.comb += rp.addr.eq(self.req.addr)
        m.d.comb += self.req.data.eq(Mux(head, mems[1][1].data, mems[0][1].data))

        complete = Signal()
        complete_status = Signal(3)
        complete_len = Signal(range(MAX_BODY + 1))
        pend_after_ack = Signal(2)
        head_after_ack = Signal()
        m.d.comb += [pend_after_ack.eq(pend), head_after_ack.eq(head)]
        with m.If(ack):
            m.d.comb += [pend_after_ack.eq(pend & Mux(head, 0b01, 0b10)),
                         head_after_ack.eq(~head)]
        m.d.sync += [pend.eq(pend_after_ack), head.eq(head_after_ack)]
        with m.If(complete):
            m.d.sync += pend.eq(pend_after_ack | Mux(wr, 0b10, 0b01))
            for s in range(2):
                with m.If(wr == s):
                    m.d.sync += [status[s].eq(complete_status), length[s].eq(complete_len)]
            # The other buffer, if still waiting, is older and stays at the head.
            with m.If(~pend_after_ack.bit_select(~wr, 1)):
                m.d.sync += head.eq(wr)

        count_frame = Signal()
        count_crc = Signal()
        count_framing = Signal()

        def reset_frame():
            m.d.sync += [flen.eq(0), overflow.eq(0), rem.eq(0), code255.eq(0),
                         dcount.eq(0), crc.eq(CRC_INIT)]

        with m.If(urx.data.valid):
            with m.If(byte == DELIMITER):
                reset_frame()
                with m.If(overflow):
                    m.d.comb += count_framing.eq(1)
                    with m.If(~nobuf):
                        m.d.comb += [complete.eq(1), complete_status.eq(Status.TOO_LONG),
                                     complete_len.eq(0)]
                with m.Elif(flen != 0):
                    with m.If((rem != 0) | (dcount < 4) | nobuf):
                        # malformed COBS, too short, or nowhere to put it
                        m.d.comb += count_framing.eq(1)
                    with m.Elif(crc == Cat(d0, d1)):  # the CRC is sent little-endian
                        m.d.comb += [count_frame.eq(1), complete.eq(1),
                                     complete_status.eq(Status.OK),
                                     complete_len.eq(dcount - 2)]
                    with m.Else():
                        m.d.comb += [count_crc.eq(1), complete.eq(1),
                                     complete_status.eq(Status.BAD_CRC),
                                     complete_len.eq(dcount - 2)]
            with m.Elif(~overflow):
                with m.If(flen == max_frame):
                    m.d.sync += overflow.eq(1)
                with m.Else():
                    m.d.sync += flen.eq(flen + 1)
                    with m.If(flen == 0):
                        # A frame starts: claim a free buffer (an ack this cycle is
                        # not seen; the frame is then dropped, and counted).
                        m.d.sync += [nobuf.eq(pend == 0b11), wr.eq(pend[0]),
                                     rem.eq(byte - 1), code255.eq(byte == 255)]
                    with m.Elif(rem == 0):
                        # A code byte: the block before it ended with an implied zero.
                        m.d.comb += [emit.eq(~code255), emit_byte.eq(0)]
                        m.d.sync += [rem.eq(byte - 1), code255.eq(byte == 255)]
                    with m.Else():
                        m.d.comb += [emit.eq(1), emit_byte.eq(byte)]
                        m.d.sync += rem.eq(rem - 1)

        counters = ((self.counters.frames, count_frame),
                    (self.counters.crc_errors, count_crc),
                    (self.counters.framing_errors, count_framing))
        for counter, inc in counters:
            with m.If(self.counters.clear):
                m.d.sync += counter.eq(0)
            with m.Elif(inc):
                m.d.sync += counter.eq(counter + 1)

    # -- transmit: reply buffer -> CRC, COBS -> UART ----------------------------------------
    def _transmit(self, m, utx):
        mem = Memory(shape=8, depth=MAX_PACKET, init=[])
        m.submodules.rep_mem = mem
        wp = mem.write_port()
        rp = mem.read_port()
        m.d.comb += [wp.addr.eq(self.rep.addr), wp.data.eq(self.rep.data),
                     wp.en.eq(self.rep.we)]

        total = MAX_PACKET + 2
        length = Signal(range(MAX_PACKET + 1))   # reply bytes without the CRC
        crc = Signal(16, init=CRC_INIT)
        pos = Signal(range(total + 1))           # start of the current COBS block
        idx = Signal(range(total + 4))           # read address of the reply buffer
        run = Signal(range(_COBS_RUN + 1))       # non-zero bytes in the block
        left = Signal(range(_COBS_RUN + 1))      # block bytes still to send
        ends_zero = Signal()                     # the block ended at a zero (skip it)
        ends_full = Signal()                     # ... after 254 bytes (no implied zero)

        # Registers on both sides of the block RAM (Fmax, docs/design/link-and-dispatcher.md
        # §4): its read address is the register `idx`, its output goes straight into `dq`
        # (clock-to-out 5.8 ns). So `dq` is always the byte at `eidx`, `idx` two cycles
        # late. SCAN advances `idx` whatever the byte (CODE rewinds it to `pos`), so the
        # address never depends on the data read, and SCAN still looks at one byte per
        # cycle (`eidx` = `idx` - 2 there; PRIME and PRIME1 set that up).
        next_idx = Signal.like(idx)
        idx1 = Signal.like(idx)
        eidx = Signal.like(idx)
        dq = Signal(8)
        m.d.comb += [next_idx.eq(idx), rp.addr.eq(idx)]
        m.d.sync += [idx.eq(next_idx), idx1.eq(idx), eidx.eq(idx1), dq.eq(rp.data)]
        in_body = eidx < length
        byte = Mux(in_body, dq, Mux(eidx == length, crc[:8], crc[8:]))  # at `eidx`
        at_end = eidx >= length + 2
        settled = eidx == idx                    # `byte` is the one at `idx`

        busy = Signal()
        m.d.comb += self.rep.busy.eq(busy | utx.busy)
        m.d.comb += utx.data.payload.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.rep.send & ~utx.busy):
                    m.d.sync += [length.eq(self.rep.len), crc.eq(CRC_INIT), busy.eq(1)]
                    m.next = "LEAD"
            with m.State("LEAD"):
                # The read address does not wait for the UART here and in CODE: the
                # UART's ready -> address path was the next one to limit Fmax.
                m.d.comb += [utx.data.valid.eq(1), next_idx.eq(0)]   # the leading delimiter
                m.d.sync += [pos.eq(0), run.eq(0)]
                with m.If(utx.data.ready):
                    m.next = "PRIME"
            with m.State("PRIME"):
                # `idx` = `pos`: SCAN starts with `eidx` = `pos`, `idx` = `pos` + 2.
                m.d.comb += next_idx.eq(idx + 1)
                m.next = "PRIME1"
            with m.State("PRIME1"):
                m.d.comb += next_idx.eq(idx + 1)
                m.next = "SCAN"
            with m.State("SCAN"):
                # Look ahead for the block's length; the CRC sees each body byte once,
                # in order, here (a full block stops before the byte after it).
                m.d.comb += next_idx.eq(idx + 1)
                with m.If(run == _COBS_RUN):
                    m.d.sync += [ends_zero.eq(0), ends_full.eq(1)]
                    m.next = "CODE"
                with m.Elif(at_end):
                    m.d.sync += [ends_zero.eq(0), ends_full.eq(0)]
                    m.next = "CODE"
                with m.Else():
                    with m.If(in_body):
                        m.d.sync += crc.eq(crc16_step(crc, byte))
                    with m.If(byte == 0):
                        m.d.sync += [ends_zero.eq(1), ends_full.eq(0)]
                        m.next = "CODE"
                    with m.Else():
                        m.d.sync += run.eq(run + 1)
            with m.State("CODE"):
                m.d.comb += [utx.data.valid.eq(1), utx.data.payload.eq(run + 1),
                             next_idx.eq(pos)]
                with m.If(utx.data.ready):
                    m.d.sync += left.eq(run)
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(left == 0):
                    m.next = "NEXT"
                with m.Elif(settled):   # two cycles after each step of `idx`
                    m.d.comb += [utx.data.valid.eq(1), utx.data.payload.eq(byte)]
                    with m.If(utx.data.ready):
                        m.d.comb += next_idx.eq(idx + 1)
                        m.d.sync += left.eq(left - 1)
            with m.State("NEXT"):
                with m.If(ends_full | ends_zero):
                    start = Mux(ends_zero, idx + 1, idx)
                    m.d.comb += next_idx.eq(start)
                    m.d.sync += [pos.eq(start), run.eq(0)]
                    m.next = "PRIME"
                with m.Else():
                    m.next = "TRAIL"
            with m.State("TRAIL"):
                m.d.comb += utx.data.valid.eq(1)   # the trailing delimiter
                with m.If(utx.data.ready):
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"
