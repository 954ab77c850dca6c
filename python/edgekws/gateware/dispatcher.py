"""The board's command executor: one request of :mod:`edgekws.protocol` at a time.

:class:`Dispatcher` sits between the :class:`~edgekws.gateware.link.PacketLink` (request
and reply buffers), the learning core (:class:`~edgekws.gateware.fc_core.FCLearningCore`
``cmd``/``rsp`` streams), the extractor (``pixels``/``spikes``) and the extractor's
loader (:class:`~edgekws.gateware.extractor_loader.ExtractorLoader`). Its replies are byte for byte
those of the golden-backed :class:`edgekws.host.emulator.Emulator` behind a
:class:`~edgekws.host.packet_server.PacketServer`, which is its reference model (and
``tests/test_gateware_top.py`` compares the two on the same requests).

How it works
------------
A request is handled in three phases, one state machine:

1. the first 16 bytes of the request (seq, cmd and up to 14 payload bytes: every fixed
   header of the protocol) are read into ``hdr``;
2. the status checks of the emulator, in its order (length, readiness, arguments),
   then the command: the payload's bulk (memory data, an MFCC frame, spikes) is read
   from the request buffer byte by byte while it executes;
3. the reply's payload is written while executing; the 3-byte head (seq, cmd | 0x80,
   status) last, then ``rep.send``.

The learning registers live twice: in the core (what it computes with) and here as
u16 shadows (what ``LEARN_REGS`` reads back, and what the checks of INFER, LEARN and
ADD_CLASSES use). Every write goes to both; ADD_CLASSES and LEARN update the shadows
with what the core did (the new counts, the spread-selection offset read back).

FullyConnected memories are byte-addressed by the protocol but word-addressed in the
core: a one-word cache turns byte writes into read-modify-write of whole words, so any
offset and length works, as on the emulator.

The cycle counters of READ_COUNTERS count clock cycles from the end of the request's
checks to the learning core's result: reading the sample out of the request buffer
(two cycles a byte), the extractor for INFER/LEARN, the core's pass and, for LEARN,
the weight update. Only successful commands set them. The emulator has no clock and
reports 0.

Rules the hardware needs and the emulator follows too (``protocol.Region``): extractor
accesses aligned to the weight rows / u32 values, written values checked before
anything is written (the loader cannot undo a half-written region), LEARN_REGS'
OFFSET at most F (the core's offset register), potentials not cleared by RESET (the
core cannot write them).

The code: :class:`_DispatchLogic` builds the state machine, one method per phase or
command group (intake, DISPATCH, EMIT, RESET, the learning registers, samples,
WRITE_MEM, READ_MEM), on three helpers of one purpose each: :class:`_ReplyWriter`
(reply writes, the head, the stored reply and its replay), :class:`_WordCache` (byte
access to the FC memories) and :class:`_CycleCounters` (READ_COUNTERS' cycle counts).
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from edgekws import protocol as p
from edgekws.checks import check_int
from edgekws.golden.quant import weight_range

from .extractor_loader import OK_LATENCY
from .fc_core import FCLearningCore, Op
from .interfaces import (LinkCountersSignature, RegionAccessSignature, ReplyWriteSignature,
                         RequestReadSignature)
from .unused import checking_arguments

__all__ = ["Dispatcher", "HEADER_BYTES"]

#: Request bytes read before a command starts: seq, cmd and the longest fixed payload
#: header (SET_LEARNING, 14 bytes).
HEADER_BYTES = 2 + p.LEARNING_FORMAT.size
#: Longest reply of a non-idempotent command (LEARN: head + RESULT_FORMAT), kept for
#: retries.
STORED_REPLY = 3 + p.RESULT_FORMAT.size
#: Cycle counters are u32 in READ_COUNTERS.
COUNTER_BITS = 32


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


class Dispatcher(wiring.Component):
    """Executes the requests the link hands over, with the emulator's replies.

    Parameters
    ----------
    core : FCLearningCore
        The learning core it drives (its geometry and stream layouts).
    ext : DSCNNExtractor or None
        The extractor (geometry, layer bit widths, stream widths), or ``None`` for a
        board without one (INFER/LEARN answer UNKNOWN_CMD, as the emulator's).
    clk_hz : int
        The clock, reported by IDENTIFY.

    Attributes
    ----------
    req : ``In(RequestReadSignature())``
        The request to execute, from the link's ``req``
        (:class:`~edgekws.gateware.link.PacketLink`).
    rep : ``Out(ReplyWriteSignature())``
        Its reply, to the link's ``rep``.
    counters : ``In(LinkCountersSignature())``
        The link's frame counters (READ_COUNTERS; RESET clears them).
    fc_cmd, fc_rsp : streams, out / in
        To and from the learning core (its ``cmd`` and ``rsp``).
    pixels, spikes : streams, out / in
        To and from the extractor (only with one).
    loader : ``Out(RegionAccessSignature())``
        WRITE_MEM/READ_MEM of the extractor regions, to the ``access`` of the
        :class:`~edgekws.gateware.extractor_loader.ExtractorLoader` (only with an extractor).
    """

    def __init__(self, core: FCLearningCore, ext=None, *, clk_hz: int):
        with checking_arguments(self):
            if not isinstance(core, FCLearningCore):
                raise TypeError(f"core must be an FCLearningCore, not {core!r}")
            clk_hz = check_int("clk_hz", clk_hz, 1, (1 << 32) - 1,
                               expected="a positive integer below 2**32")
            F, W = core.num_inputs, core.width
            if F % 8 or W % 8 or not _is_pow2(W // 8) or not _is_pow2(core.words):
                raise ValueError(f"the dispatcher needs num_inputs and width multiples of "
                                 f"8, width / 8 and num_inputs / width powers of two, "
                                 f"not num_inputs={F}, width={W}")
            self.core, self.ext, self.clk_hz = core, ext, clk_hz
            self.F, self.N = F, core.num_neurons
            self.nb = F // 8
            ports = {
                "req": In(RequestReadSignature()),
                "rep": Out(ReplyWriteSignature()),
                "counters": In(LinkCountersSignature()),
                "fc_cmd": Out(stream.Signature(core.cmd_layout)),
                "fc_rsp": In(stream.Signature(core.rsp_layout)),
            }
            if ext is not None:
                spec = ext.spec
                if not spec.pooled or spec.out_bits != 1 or spec.filters != F:
                    raise ValueError(f"the extractor must end in {F} pooled 1-bit outputs "
                                     f"(the learning core's inputs), not {spec.filters} x "
                                     f"{spec.out_bits} bits, pooled={spec.pooled}")
                if len(spec.layers) > p.MAX_EXT_LAYERS:
                    raise ValueError(f"{len(spec.layers)} extractor layers exceed "
                                     f"{p.MAX_EXT_LAYERS}")
                ports.update({
                    "pixels": Out(stream.Signature(unsigned(ext.pixel_width))),
                    "spikes": In(stream.Signature(unsigned(F))),
                    "loader": Out(RegionAccessSignature()),
                })
            super().__init__(ports)

    # -- constants of the reply ------------------------------------------------------------
    def identify_bytes(self) -> bytes:
        """The IDENTIFY reply payload this board sends."""
        if self.ext is not None:
            X, Y, _ = self.ext.spec.image_shape
        else:
            X = Y = 0
        return p.IDENTIFY_FORMAT.pack(p.PROTOCOL_VERSION, self.F, self.N, self.core.lanes,
                                      int(self.ext is not None), X, Y, self.clk_hz)

    def elaborate(self, platform):
        m = Module()
        _DispatchLogic(self, m).build()
        return m


#: The state that writes the reply's head and sends it: every command ends there.
_FIN = "FIN_SEQ"


class _ReplyWriter:
    """The reply buffer's write port: payload bytes at ``3 + wp`` (:meth:`put`), the
    3-byte head and the send (:meth:`head_states`), and the copy of a non-idempotent
    command's reply that a retry gets again (:meth:`replay_states`) instead of executing
    twice.
    """

    def __init__(self, m, rep):
        self.rep = rep
        self.wp = Signal(range(p.MAX_PACKET))       # reply payload bytes written
        self.put_en = Signal()
        self.put_data = Signal(8)
        self.head_en = Signal()
        self.head_addr = Signal(2)
        self.head_data = Signal(8)
        m.d.comb += [
            rep.addr.eq(Mux(self.head_en, self.head_addr, 3 + self.wp)),
            rep.data.eq(Mux(self.head_en, self.head_data, self.put_data)),
            rep.we.eq(self.put_en | self.head_en),
        ]
        with m.If(self.put_en):
            m.d.sync += self.wp.eq(self.wp + 1)

        # The reply of the last non-idempotent command, for retries.
        self.keep = Signal()                        # this request's reply is kept
        self.last_valid = Signal()
        self.last_seq = Signal(8)
        self.last_cmd = Signal(8)
        self.last_len = Signal(range(STORED_REPLY + 1))
        self.stored = Array(Signal(8, name=f"stored{j}") for j in range(STORED_REPLY))
        # Decoded from the head's address and from wp, not from rep.addr (an adder and
        # a comparator in front of the byte enables; a replay rewrites the same bytes).
        with m.If(self.keep & self.head_en):
            m.d.sync += self.stored[self.head_addr].eq(self.head_data)
        for j in range(STORED_REPLY - 3):
            with m.If(self.keep & self.put_en & (self.wp == j)):
                m.d.sync += self.stored[3 + j].eq(self.put_data)

    def put(self, m, data):
        """Write ``data`` as the next payload byte (this cycle)."""
        m.d.comb += [self.put_en.eq(1), self.put_data.eq(data)]

    def is_retry(self, seq, cmd):
        """Whether ``(seq, cmd)`` repeats the kept command."""
        return self.last_valid & (self.last_seq == seq) & (self.last_cmd == cmd)

    def replay_states(self, m, k, req, guard):
        """REPLAY, REPLAY_SEND: the stored reply again (``k`` counts its bytes from 0)."""
        rep = self.rep
        with m.State("REPLAY"):
            m.d.comb += [rep.addr.eq(k), rep.data.eq(self.stored[k]), rep.we.eq(1)]
            m.d.sync += k.eq(k + 1)
            with m.If(k == self.last_len - 1):
                m.next = "REPLAY_SEND"
        with m.State("REPLAY_SEND"):
            m.d.comb += [rep.len.eq(self.last_len), rep.send.eq(1), req.ack.eq(1)]
            m.d.sync += guard.eq(1)
            m.next = "IDLE"

    def head_states(self, m, seq, cmd, status, req, guard, last_cmd):
        """FIN_SEQ ... FIN_SEND: the head ``seq, cmd, status``, then send (and keep the
        reply for retries of ``last_cmd`` if ``keep``)."""
        rep = self.rep
        for j, (state, data, nxt) in enumerate((("FIN_SEQ", seq, "FIN_CMD"),
                                                ("FIN_CMD", cmd, "FIN_STATUS"),
                                                ("FIN_STATUS", status, "FIN_SEND"))):
            with m.State(state):
                m.d.comb += [self.head_en.eq(1), self.head_addr.eq(j),
                             self.head_data.eq(data)]
                m.next = nxt
        with m.State("FIN_SEND"):
            m.d.comb += [rep.len.eq(3 + self.wp), rep.send.eq(1), req.ack.eq(1)]
            m.d.sync += guard.eq(1)
            with m.If(self.keep):
                m.d.sync += [self.last_valid.eq(1), self.last_seq.eq(seq),
                             self.last_cmd.eq(last_cmd), self.last_len.eq(3 + self.wp)]
            m.next = "IDLE"


class _CycleCounters:
    """READ_COUNTERS' ``infer_cycles``/``learn_cycles``: ``cyc`` runs while ``counting``."""

    def __init__(self, m):
        self.cyc = Signal(COUNTER_BITS)
        self.counting = Signal()
        self.infer_cycles = Signal(COUNTER_BITS)
        self.learn_cycles = Signal(COUNTER_BITS)
        with m.If(self.counting):
            m.d.sync += self.cyc.eq(self.cyc + 1)

    def start(self, m):
        m.d.sync += [self.counting.eq(1), self.cyc.eq(0)]

    def stop(self, m, learn):
        """The sample's result is in (this cycle): keep the count as INFER's or LEARN's."""
        m.d.sync += self.counting.eq(0)
        with m.If(learn):
            m.d.sync += self.learn_cycles.eq(self.cyc + 1)
        with m.Else():
            m.d.sync += self.infer_cycles.eq(self.cyc + 1)

    def clear(self, m):
        m.d.sync += [self.infer_cycles.eq(0), self.learn_cycles.eq(0)]


class _WordCache:
    """One word of an FC memory, for byte accesses of the protocol's byte-addressed
    regions: ``a`` is the byte address in the region, ``is_w`` says FC_WEIGHTS (else
    16-bit values), ``idx`` the word index of ``a`` and ``byte`` its byte in the cache.
    """

    def __init__(self, m, core, fc_cmd, fc_rsp):
        W, self.wpn = core.width, core.words
        self.fc_cmd, self.fc_rsp = fc_cmd, fc_rsp
        self.cache = Signal(core.data_width)
        self.cidx = Signal(32)
        self.cvalid = Signal()
        self.a = Signal(33)                         # byte address in the region
        self.is_w = Signal()                        # region FC_WEIGHTS (else 16-bit)
        self.rd_op = Signal(Op, name="fc_rd_op")
        self.wr_op = Signal(Op, name="fc_wr_op")
        wlog = exact_log2(W // 8)
        self.idx = Signal(32)
        m.d.comb += self.idx.eq(Mux(self.is_w, self.a >> wlog, self.a >> 1))
        self.byte_sel = Mux(self.is_w, self.a[:max(wlog, 1)] if wlog else 0, self.a[0])
        self.byte = self.cache.word_select(self.byte_sel, 8)

    def hit(self):
        return self.cvalid & (self.idx == self.cidx)

    def access(self, op, index, data=0):
        """Drive fc_cmd for a word access of the current region at ``index``."""
        wl = exact_log2(self.wpn)
        cp = self.fc_cmd.payload
        return [cp.op.eq(op),
                cp.addr.eq(Mux(self.is_w, index >> wl, index)),
                cp.word.eq(Mux(self.is_w, index[:wl] if wl else 0, 0)),
                cp.data.eq(data)]

    def fill_states(self, m, prefix):
        """States ``<prefix>_READ``/``_WAIT``: word ``idx`` of the FC core into the
        cache, then back to ``<prefix>_NEXT`` (shared by FC writes and reads)."""
        with m.State(f"{prefix}_READ"):
            m.d.comb += [self.fc_cmd.valid.eq(1), *self.access(self.rd_op, self.idx)]
            with m.If(self.fc_cmd.ready):
                m.next = f"{prefix}_WAIT"
        with m.State(f"{prefix}_WAIT"):
            m.d.comb += self.fc_rsp.ready.eq(1)
            with m.If(self.fc_rsp.valid):
                m.d.sync += [self.cache.eq(self.fc_rsp.payload.data), self.cidx.eq(self.idx),
                             self.cvalid.eq(1)]
                m.next = f"{prefix}_NEXT"


class _DispatchLogic:
    """The dispatcher's datapath and its one state machine, built into ``m``: the shared
    registers here, one method per command group."""

    def __init__(self, disp: Dispatcher, m: Module):
        self.d, self.m = disp, m
        self.core, self.ext = disp.core, disp.ext
        self.has_ext = disp.ext is not None
        self.cp = disp.fc_cmd.payload
        self._request()
        self._learning_registers()
        self.reply = _ReplyWriter(m, disp.rep)
        self.cycles = _CycleCounters(m)
        # Emitted constants and small results: up to 20 bytes, byte j at bits 8j.
        self.ebuf = Signal(8 * p.COUNTERS_FORMAT.size)
        self.after_emit_pots = Signal()
        self.wc = _WordCache(m, disp.core, disp.fc_cmd, disp.fc_rsp)
        self._bounds()
        self._sample_path()
        if self.has_ext:
            self._ext_checks()
        else:
            self.is_ext = Const(0, 1)
        self.guard = Signal()                       # rep.busy follows rep.send a cycle late
        m.d.sync += self.guard.eq(0)

    # -- datapath ------------------------------------------------------------------------
    def _request(self):
        """The header register, its payload fields (little-endian, valid once the header
        is read) and the counters of the bulk phase."""
        m, d = self.m, self.d
        self.hdr = Signal(8 * HEADER_BYTES)
        self.hbyte = [self.hdr[8 * k:8 * k + 8] for k in range(HEADER_BYTES)]
        self.seq, self.cmd = self.hbyte[0], self.hbyte[1]
        self.plen = Signal(range(p.MAX_PACKET + 1))     # payload bytes
        self.status = Signal(8)
        self.rep_seq = Signal(8)
        self.rep_cmd = Signal(8)
        self.base = Signal(range(p.MAX_PACKET))         # request address of byte i
        self.i = Signal(range(p.MAX_PACKET + 1))        # byte counter of the bulk phase
        self.n = Signal(16)                             # bulk length / loop bound
        self.k = Signal(range(max(d.N, HEADER_BYTES) + 2))  # small loop counter
        self.ok_wait = Signal(range(OK_LATENCY))        # cycles waited for the loader's ok
        m.d.comb += d.req.addr.eq(self.base + self.i)
        self.region = self.hbyte[2]
        self.offset = Cat(*self.hbyte[3:7])
        self.rd_len = self.u16(7)
        self.label = Signal(signed(16))
        m.d.comb += self.label.eq(self.u16(2))
        self.flags = self.hbyte[2]
        self.n_add = self.hbyte[2]

    def u16(self, at):
        """The header's u16 at payload byte ``at - 2``."""
        return Cat(self.hbyte[at], self.hbyte[at + 1])

    def _learning_registers(self):
        """The u16 shadows of the learning registers (LearnReg order) and their checks."""
        m, N = self.m, self.d.N
        regs = self.regs = [Signal(16, name=f"reg_{r.name.lower()}") for r in p.LearnReg]
        self.reg_arr = Array(regs)
        L = p.LearnReg
        self.rN, self.rK, self.rM = (regs[r] for r in (L.NUM_NEURONS, L.NUM_CLASSES,
                                                       L.NEURONS_PER_CLASS))

        def geometry_ok(Kv, mv, Nv, name):
            """Registered ``K >= 1, m >= 1, K * m == N <= capacity``."""
            ok = Signal(name=name)
            m.d.sync += ok.eq((Kv >= 1) & (mv >= 1) & (Nv <= N) & (Kv * mv == Nv))
            return ok
        self.geom_ok = geometry_ok(self.rK, self.rM, self.rN, "geom_ok")
        self.new_ok = geometry_ok(self.u16(2), self.u16(4), self.u16(14), "set_learning_ok")
        self.n_pot = Mux(self.rN > N, N, self.rN)       # FC_POTENTIALS holds N neurons
        self.add_total = Signal(32)
        m.d.sync += self.add_total.eq(self.rN + self.n_add * self.rM)

    def _bounds(self):
        """A WRITE_MEM/READ_MEM's bounds, registered: DISPATCH sets a and n, and
        WR_WAIT/RD_WAIT give these a cycle before WR_REGION/RD_REGION decide on them
        (the a + n adder and its comparators into the FSM set the 85F board's clock)."""
        N, nb = self.d.N, self.d.nb
        end = self.wc.a + self.n
        self.end_over_w, self.end_over_2n, self.end_over_regs, self.end_over_pot, \
            self.too_long = (Signal(name=name) for name in (
                "end_over_w", "end_over_2n", "end_over_regs", "end_over_pot", "too_long"))
        self.m.d.sync += [self.end_over_w.eq(end > N * nb), self.end_over_2n.eq(end > 2 * N),
                          self.end_over_regs.eq(end > 2 * len(self.regs)),
                          self.end_over_pot.eq(end > (self.n_pot << 1)),
                          self.too_long.eq(self.n > p.MAX_PACKET - 5)]

    def _sample_path(self):
        W, WPN = self.core.width, self.core.words
        self.is_learn = Signal()
        self.from_frame = Signal()
        self.word = Signal(W)
        self.wk = Signal(range(max(WPN, 1) + 1))
        self.res_cls = Signal(16)
        self.res_neuron = Signal(16)
        self.res_learned = Signal()
        if self.has_ext:
            self.spk = Signal(self.d.F)
            X, Y, self.CH = self.ext.spec.image_shape
            self.frame_bytes = X * Y * self.CH
            self.pix = Signal(self.ext.pixel_width)
            self.pc = Signal(range(self.CH + 1))
        else:
            self.frame_bytes = 0

    def _ext_checks(self):
        """EXT value checks: per layer, the weight range and the step's low bits."""
        layers, loader = self.ext.spec.layers, self.d.loader
        self.w_lo = Array(Const(weight_range(g.weights_bits)[0], signed(9)) for g in layers)
        self.w_hi = Array(Const(weight_range(g.weights_bits)[1], signed(9)) for g in layers)
        # act_bits 1: any step (it does not change a 1-bit output); else a positive
        # multiple of 2**(4 - act_bits).
        self.s_any = Array(Const(g.act_bits == 1, 1) for g in layers)
        self.s_unit = Array(Const(1 << (4 - g.act_bits) if g.act_bits != 1 else 1, 5)
                            for g in layers)
        self.lay = self.region[:3]
        self.s_acc = Signal(32)
        self.bad = Signal()
        self.m.d.comb += [loader.region.eq(self.region), loader.offset.eq(self.offset),
                          loader.length.eq(Mux(self.cmd == p.Cmd.READ_MEM, self.rd_len,
                                               self.plen - 5))]
        self.is_ext = (self.region < 0x20) & (self.region[:3] < len(layers))

    # -- the state machine ---------------------------------------------------------------
    def build(self):
        with self.m.FSM(name="dispatch"):
            self._intake()
            self.reply.replay_states(self.m, self.k, self.d.req, self.guard)
            self._dispatch()
            self._emit()
            self._reset()
            self._learning_commands()
            self._samples()
            self._ok_waits()
            self._write_mem()
            self._read_mem()
            self.reply.head_states(self.m, self.rep_seq, self.rep_cmd, self.status,
                                   self.d.req, self.guard, self.cmd)

    def refuse(self, status):
        """Answer ``status`` (set in the next cycle) without executing."""
        self.m.d.sync += self.status.eq(status)
        self.m.next = _FIN

    def _intake(self):
        """IDLE, HEADER, DECODE: the first bytes into ``hdr``; the link's status, and a
        retry of the kept command, decided."""
        m, d, i, rp = self.m, self.d, self.i, self.reply
        with m.State("IDLE"):
            m.d.sync += [i.eq(0), self.base.eq(0), rp.wp.eq(0), self.status.eq(p.Status.OK),
                         rp.keep.eq(0), self.wc.cvalid.eq(0), self.k.eq(0)]
            with m.If(d.req.valid & ~d.rep.busy & ~self.guard):
                m.next = "HEADER"
        with m.State("HEADER"):
            # Address i this cycle, its byte the next: shift bytes 0..15 in.
            with m.If(i != 0):
                m.d.sync += self.hdr.eq(Cat(self.hdr[8:], d.req.data))
            with m.If(i == HEADER_BYTES):
                m.d.sync += i.eq(0)
                m.next = "DECODE"
            with m.Else():
                m.d.sync += i.eq(i + 1)
        with m.State("DECODE"):
            seq, cmd = self.seq, self.cmd
            m.d.sync += [self.plen.eq(d.req.len - 2), self.rep_seq.eq(seq),
                         self.rep_cmd.eq(cmd | p.REPLY_BIT)]
            with m.If(d.req.status == p.Status.TOO_LONG):
                m.d.sync += [self.rep_seq.eq(0xFF), self.rep_cmd.eq(0x7F | p.REPLY_BIT),
                             self.status.eq(p.Status.TOO_LONG)]
                m.next = _FIN
            with m.Elif(d.req.status != p.Status.OK):
                m.d.sync += self.status.eq(p.Status.BAD_CRC)
                m.next = _FIN
            with m.Else():
                idem = Cat(*(cmd == c for c in p.IDEMPOTENT)).any()
                m.d.sync += rp.keep.eq(~idem)
                with m.If(~idem & rp.is_retry(seq, cmd)):
                    m.next = "REPLAY"
                with m.Else():
                    m.next = "DISPATCH"

    def emit(self, value, length, pots=0):
        """Reply ``length`` bytes of ``value`` (state EMIT), then, if ``pots``, the
        potentials."""
        self.m.d.sync += [self.ebuf.eq(value), self.n.eq(length),
                          self.after_emit_pots.eq(pots), self.k.eq(0)]
        self.m.next = "EMIT"

    def _dispatch(self):
        """DISPATCH: the length check of every command, and where each one goes."""
        m, C, plen, has_ext = self.m, p.Cmd, self.plen, self.has_ext
        wc, n, cnt = self.wc, self.n, self.cycles
        with m.State("DISPATCH"):
            with m.Switch(self.cmd):
                with m.Case(C.IDENTIFY):
                    with m.If(plen != 0):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Else():
                        ident = self.d.identify_bytes()
                        self.emit(int.from_bytes(ident, "little"), len(ident))
                with m.Case(C.READ_COUNTERS):
                    with m.If(plen != 0):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Else():
                        link = self.d.counters
                        self.emit(Cat(cnt.infer_cycles, cnt.learn_cycles, link.frames,
                                      link.crc_errors, link.framing_errors),
                                  p.COUNTERS_FORMAT.size)
                with m.Case(C.RESET):
                    with m.If(plen != 0):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Else():
                        m.d.comb += self.d.counters.clear.eq(1)
                        m.d.sync += [r.eq(0) for r in self.regs]
                        cnt.clear(m)
                        m.d.sync += self.k.eq(0)
                        m.next = "RST_THL"
                with m.Case(C.SET_LEARNING):
                    with m.If(plen != p.LEARNING_FORMAT.size):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Else():
                        m.next = "SETL_CHECK"           # new_ok is registered
                with m.Case(C.ADD_CLASSES):
                    with m.If(plen != p.ADD_CLASSES_FORMAT.size):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Elif(~self.geom_ok):
                        self.refuse(p.Status.NOT_READY)
                    with m.Else():
                        m.next = "ADD_CHECK"            # add_total is registered
                with m.Case(C.INFER_SPIKES, *([C.INFER] if has_ext else [])):
                    self._data_request(C.INFER, C.INFER_SPIKES, 0, 1)
                with m.Case(C.LEARN_SPIKES, *([C.LEARN] if has_ext else [])):
                    label, rK = self.label, self.rK
                    self._data_request(C.LEARN, C.LEARN_SPIKES, 1, 2,
                                       bad_arg=(label < -1) | ((rK > 1) & (label >= rK)))
                with m.Case(C.WRITE_MEM):
                    m.d.sync += [self.base.eq(2 + p.MEM_HEADER.size), n.eq(plen - 5),
                                 wc.a.eq(self.offset)]
                    with m.If(plen < p.MEM_HEADER.size):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Else():
                        m.d.sync += self.ok_wait.eq(0)
                        m.next = "WR_WAIT"
                with m.Case(C.READ_MEM):
                    m.d.sync += [n.eq(self.rd_len), wc.a.eq(self.offset)]
                    with m.If(plen != p.READ_MEM_FORMAT.size):
                        self.refuse(p.Status.BAD_LENGTH)
                    with m.Else():
                        m.d.sync += self.ok_wait.eq(0)
                        m.next = "RD_WAIT"
                with m.Default():
                    self.refuse(p.Status.UNKNOWN_CMD)

    def _data_request(self, frame_cmd, spikes_cmd, learn, head, bad_arg=None):
        """INFER/LEARN and their _SPIKES forms: ``head`` payload bytes (INFER's flags,
        LEARN's i16 label) before an MFCC frame (``frame_cmd``) or a spike word; the
        length, geometry and ``bad_arg`` checks, then the fetch."""
        m, cmd, plen = self.m, self.cmd, self.plen
        m.d.sync += [self.is_learn.eq(learn), self.from_frame.eq(cmd == frame_cmd),
                     self.base.eq(2 + head), self.n.eq(plen - head)]
        want = Mux(cmd == frame_cmd, self.frame_bytes, self.d.nb)
        with m.If(plen < head):
            self.refuse(p.Status.BAD_LENGTH)
        with m.Elif(~self.geom_ok):
            self.refuse(p.Status.NOT_READY)
        with m.Elif(plen - head != want):
            self.refuse(p.Status.BAD_LENGTH)
        if bad_arg is not None:
            with m.Elif(bad_arg):
                self.refuse(p.Status.BAD_ARGUMENT)
        with m.Else():
            self.cycles.start(m)
            m.d.sync += [self.wk.eq(0), self.k.eq(0)]
            m.next = "PIX_FETCH" if self.has_ext else "SPK_FETCH"
            if self.has_ext:
                with m.If(cmd == spikes_cmd):
                    m.next = "SPK_FETCH"

    def _emit(self):
        """EMIT: ``n`` bytes of ``ebuf``; then the potentials (READ_POT) if asked for."""
        m, k, n, wc = self.m, self.k, self.n, self.wc
        with m.State("EMIT"):
            # ebuf shifts down a byte a cycle: no byte multiplexer on k.
            self.reply.put(m, self.ebuf[:8])
            m.d.sync += [k.eq(k + 1), self.ebuf.eq(self.ebuf >> 8)]
            with m.If(k == n - 1):
                with m.If(self.after_emit_pots):
                    m.d.sync += [wc.a.eq(0), n.eq(self.n_pot << 1), wc.is_w.eq(0),
                                 wc.rd_op.eq(Op.READ_POT), self.i.eq(0), wc.cvalid.eq(0)]
                    m.next = "FR_NEXT"
                with m.Else():
                    m.next = _FIN

    def _reset(self):
        """RST_THL, RST_SWP: every neuron's THL and THSWAP zeroed, then the registers."""
        m, k, fc_cmd, cp = self.m, self.k, self.d.fc_cmd, self.cp
        for state, op, nxt in (("RST_THL", Op.WRITE_THL, "RST_SWP"),
                               ("RST_SWP", Op.WRITE_THSWAP, "PUSH_PARAMS")):
            with m.State(state):
                m.d.comb += [fc_cmd.valid.eq(1), cp.op.eq(op), cp.addr.eq(k), cp.data.eq(0)]
                with m.If(fc_cmd.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == self.d.N - 1):
                        m.d.sync += k.eq(0)
                        m.next = nxt

    def _learning_commands(self):
        """SET_LEARNING (SETL_CHECK), the registers into the core (PUSH_PARAMS) and
        ADD_CLASSES (ADD_CHECK)."""
        m, k, regs, L = self.m, self.k, self.regs, p.LearnReg
        fc_cmd, cp = self.d.fc_cmd, self.cp
        with m.State("SETL_CHECK"):
            with m.If(~self.new_ok):
                self.refuse(p.Status.BAD_ARGUMENT)
            with m.Else():
                for reg, at in ((L.NUM_CLASSES, 2), (L.NEURONS_PER_CLASS, 4),
                                (L.THSWAP_INIT, 6), (L.DECAY, 8), (L.THSWAP_MIN, 10),
                                (L.THL_CAP, 12), (L.NUM_NEURONS, 14)):
                    m.d.sync += regs[reg].eq(self.u16(at))
                m.d.sync += [regs[L.OFFSET].eq(0), k.eq(0)]
                m.next = "PUSH_PARAMS"
        with m.State("PUSH_PARAMS"):
            m.d.comb += [fc_cmd.valid.eq(1), cp.op.eq(Op.WRITE_PARAM),
                         cp.addr.eq(k), cp.data.eq(self.reg_arr[k[:3]])]
            with m.If(fc_cmd.ready):
                m.d.sync += k.eq(k + 1)
                with m.If(k == len(regs) - 1):
                    m.next = _FIN

        with m.State("ADD_CHECK"):
            n_add, rK = self.n_add, self.rK
            with m.If((n_add == 0) | (self.add_total > self.d.N)):
                self.refuse(p.Status.BAD_ARGUMENT)
            with m.Else():
                m.d.comb += [fc_cmd.valid.eq(1), cp.op.eq(Op.ADD_CLASSES), cp.data.eq(n_add)]
                with m.If(fc_cmd.ready):
                    m.d.sync += [self.rN.eq(self.add_total), rK.eq(rK + n_add),
                                 regs[L.OFFSET].eq(0)]
                    self.emit(rK + n_add, 2)

    # -- INFER, LEARN and their _SPIKES forms ---------------------------------------------
    def _send_word(self, data, last_next):
        """The sample's next word to the core; after the last, RESULT_WAIT."""
        m, fc_cmd, cp, wk = self.m, self.d.fc_cmd, self.cp, self.wk
        m.d.comb += [fc_cmd.valid.eq(1), cp.op.eq(Mux(self.is_learn, Op.LEARN, Op.INFER)),
                     cp.label.eq(self.label), cp.data.eq(data)]
        with m.If(fc_cmd.ready):
            m.d.sync += wk.eq(wk + 1)
            with m.If(wk == self.core.words - 1):
                m.next = "RESULT_WAIT"
            with m.Else():
                m.next = last_next

    def _samples(self):
        """The sample's words to the core (from the request, or its MFCC frame through
        the extractor), then its result and, for LEARN, the new offset."""
        m, i, k, W = self.m, self.i, self.k, self.core.width
        req_data = self.d.req.data
        # Spike words from the request (INFER_SPIKES / LEARN_SPIKES).
        with m.State("SPK_FETCH"):
            m.next = "SPK_TAKE"
        with m.State("SPK_TAKE"):
            m.d.sync += [self.word.eq(Cat(self.word[8:], req_data)), i.eq(i + 1), k.eq(k + 1)]
            with m.If(k == W // 8 - 1):
                m.d.sync += k.eq(0)
                m.next = "SPK_SEND"
            with m.Else():
                m.next = "SPK_FETCH"
        with m.State("SPK_SEND"):
            self._send_word(self.word, "SPK_FETCH")
        if self.has_ext:
            self._frame_through_extractor()
        self._result()

    def _frame_through_extractor(self):
        """MFCC bytes to the extractor, C bytes a pixel; its spikes to the core."""
        m, d, i, pix, pc, CH = self.m, self.d, self.i, self.pix, self.pc, self.CH
        WPN, W = self.core.words, self.core.width
        with m.State("PIX_FETCH"):
            m.next = "PIX_TAKE"
        with m.State("PIX_TAKE"):
            m.d.sync += [pix.eq(Cat(pix[8:], d.req.data) if CH > 1 else d.req.data),
                         i.eq(i + 1), pc.eq(pc + 1)]
            with m.If(pc == CH - 1):
                m.d.sync += pc.eq(0)
                m.next = "PIX_SEND"
            with m.Else():
                m.next = "PIX_FETCH"
        with m.State("PIX_SEND"):
            m.d.comb += [d.pixels.valid.eq(1), d.pixels.payload.eq(pix)]
            with m.If(d.pixels.ready):
                with m.If(i == self.n):
                    m.next = "SPIKES_WAIT"
                with m.Else():
                    m.next = "PIX_FETCH"
        with m.State("SPIKES_WAIT"):
            m.d.comb += d.spikes.ready.eq(1)
            with m.If(d.spikes.valid):
                m.d.sync += self.spk.eq(d.spikes.payload)
                m.next = "EXT_SEND"
        with m.State("EXT_SEND"):
            self._send_word(self.spk.word_select(self.wk[:max(exact_log2(WPN), 1)], W)
                            if WPN > 1 else self.spk, "EXT_SEND")

    def _result(self):
        """RESULT_WAIT ... RESULT: the core's answer, LEARN's offset read back, the
        reply (with the potentials for INFER's FLAG_POTENTIALS)."""
        m, fc_cmd, fc_rsp, cp = self.m, self.d.fc_cmd, self.d.fc_rsp, self.cp
        rsp = fc_rsp.payload
        with m.State("RESULT_WAIT"):
            m.d.comb += fc_rsp.ready.eq(1)
            with m.If(fc_rsp.valid):
                m.d.sync += [self.res_cls.eq(rsp.cls), self.res_neuron.eq(rsp.neuron),
                             self.res_learned.eq(rsp.swaps != 0)]
                self.cycles.stop(m, self.is_learn)
                with m.If(self.is_learn):
                    m.next = "OFFSET_READ"
                with m.Else():
                    m.next = "RESULT"
        with m.State("OFFSET_READ"):
            m.d.comb += [fc_cmd.valid.eq(1), cp.op.eq(Op.READ_PARAM),
                         cp.addr.eq(p.LearnReg.OFFSET)]
            with m.If(fc_cmd.ready):
                m.next = "OFFSET_WAIT"
        with m.State("OFFSET_WAIT"):
            m.d.comb += fc_rsp.ready.eq(1)
            with m.If(fc_rsp.valid):
                m.d.sync += self.regs[p.LearnReg.OFFSET].eq(rsp.data[:16])
                m.next = "RESULT"
        with m.State("RESULT"):
            self.emit(Cat(self.res_cls, self.res_neuron, self.res_learned),
                      p.RESULT_FORMAT.size,
                      pots=~self.is_learn & self.flags[0] &
                      (self.n_pot <= p.MAX_INLINE_POTENTIALS))

    # -- WRITE_MEM, READ_MEM ----------------------------------------------------------------
    def _ok_waits(self):
        """WR_WAIT, RD_WAIT: the loader's ok/ok_read answer region/offset/length (stable
        from DISPATCH on) OK_LATENCY cycles later."""
        m = self.m
        for wait, nxt in (("WR_WAIT", "WR_REGION"), ("RD_WAIT", "RD_REGION")):
            with m.State(wait):
                m.d.sync += self.ok_wait.eq(self.ok_wait + 1)
                with m.If(self.ok_wait == OK_LATENCY - 2):
                    m.next = nxt

    def _fc_region(self, is_w, rd_op, wr_op, nxt, refused):
        """Select an FC memory for the word cache and go to ``nxt``, or refuse."""
        wc = self.wc
        self.m.d.sync += [wc.is_w.eq(is_w), wc.rd_op.eq(rd_op)]
        if wr_op is not None:
            self.m.d.sync += wc.wr_op.eq(wr_op)
        self.m.next = nxt
        with self.m.If(refused):
            self.refuse(p.Status.BAD_ARGUMENT)

    def _write_mem(self):
        """WR_REGION: the region decides; FC memories through the word cache,
        LEARN_REGS through ``ebuf``, extractor regions checked, then to the loader."""
        m, R, region, wc = self.m, p.Region, self.region, self.wc
        with m.State("WR_REGION"):
            with m.If(region == R.FC_WEIGHTS):
                self._fc_region(1, Op.READ_WEIGHT, Op.WRITE_WEIGHT, "FW_NEXT",
                                self.end_over_w)
            with m.Elif((region == R.FC_THL) | (region == R.FC_THSWAP)):
                thl = region == R.FC_THL
                self._fc_region(0, Mux(thl, Op.READ_THL, Op.READ_THSWAP),
                                Mux(thl, Op.WRITE_THL, Op.WRITE_THSWAP), "FW_NEXT",
                                self.end_over_2n)
            with m.Elif(region == R.LEARN_REGS):
                m.d.sync += self.ebuf.eq(Cat(*self.regs))
                m.next = "LR_FETCH"
                with m.If(self.end_over_regs):
                    self.refuse(p.Status.BAD_ARGUMENT)
            with m.Elif(self.is_ext):
                if self.has_ext:
                    with m.If(self.d.loader.ok):
                        m.d.sync += [self.s_acc.eq(0), self.bad.eq(0)]
                        m.next = "EC_FETCH"
                    with m.Else():
                        self.refuse(p.Status.BAD_ARGUMENT)
            with m.Else():
                self.refuse(p.Status.BAD_ARGUMENT)
        self._write_fc()
        self._write_learn_regs()
        if self.has_ext:
            self._write_ext()

    def _write_fc(self):
        """FC memories: read-modify-write through the word cache."""
        m, i, n, wc, fc_cmd = self.m, self.i, self.n, self.wc, self.d.fc_cmd
        with m.State("FW_NEXT"):
            with m.If(i == n):
                with m.If(wc.cvalid):
                    m.next = "FW_FLUSH"
                with m.Else():
                    m.next = _FIN
            with m.Elif(wc.hit()):
                m.next = "FW_MERGE"                 # the byte's address is out now
            with m.Elif(wc.cvalid):
                m.next = "FW_FLUSH"
            with m.Else():
                m.next = "FW_READ"
        with m.State("FW_MERGE"):
            m.d.sync += [wc.cache.word_select(wc.byte_sel, 8).eq(self.d.req.data),
                         i.eq(i + 1), wc.a.eq(wc.a + 1)]
            m.next = "FW_NEXT"
        with m.State("FW_FLUSH"):
            m.d.comb += [fc_cmd.valid.eq(1), *wc.access(wc.wr_op, wc.cidx, wc.cache)]
            with m.If(fc_cmd.ready):
                m.d.sync += wc.cvalid.eq(0)
                m.next = "FW_NEXT"
        wc.fill_states(m, "FW")

    def _write_learn_regs(self):
        """LEARN_REGS: merge into a copy, check, then shadows and core."""
        m, i, a, ebuf = self.m, self.i, self.wc.a, self.ebuf
        with m.State("LR_FETCH"):
            with m.If(i == self.n):
                m.next = "LR_CHECK"
            with m.Else():
                m.next = "LR_TAKE"
        with m.State("LR_TAKE"):
            m.d.sync += [ebuf.word_select(a[:4], 8).eq(self.d.req.data),
                         i.eq(i + 1), a.eq(a + 1)]
            m.next = "LR_FETCH"
        with m.State("LR_CHECK"):
            # The core's spread-selection offset never exceeds F.
            with m.If(ebuf.word_select(p.LearnReg.OFFSET, 16) > self.d.F):
                self.refuse(p.Status.BAD_ARGUMENT)
            with m.Else():
                m.d.sync += [r.eq(ebuf.word_select(j, 16)) for j, r in enumerate(self.regs)]
                m.d.sync += self.k.eq(0)
                m.next = "PUSH_PARAMS"

    def _write_ext(self):
        """Extractor regions: value checks over the whole data before anything is
        written, then the bytes to the loader."""
        m, i, n, d, lay = self.m, self.i, self.n, self.d, self.lay
        base_kind = self.region[3:5]            # 0 weights, 1 weights_pw, 2 th, 3 step
        with m.State("EC_FETCH"):
            with m.If(i == n):
                m.d.sync += i.eq(0)
                with m.If(self.bad):
                    self.refuse(p.Status.BAD_ARGUMENT)
                with m.Elif(n == 0):
                    m.next = _FIN               # nothing to write
                with m.Else():
                    m.next = "EW_START"
            with m.Else():
                m.next = "EC_TAKE"
        with m.State("EC_TAKE"):
            byte = d.req.data
            m.d.sync += i.eq(i + 1)
            with m.If(base_kind < 2):
                v = byte.as_signed()
                with m.If((v < self.w_lo[lay]) | (v > self.w_hi[lay])):
                    m.d.sync += self.bad.eq(1)
            with m.Elif(base_kind == 3):
                s_new = Cat(self.s_acc[8:], byte)
                m.d.sync += self.s_acc.eq(s_new)
                with m.If(i[:2] == 3):
                    unit = self.s_unit[lay]
                    low_bad = (s_new & (unit - 1)) != 0
                    with m.If((s_new >= (1 << self.ext.step_bits)) |
                              (~self.s_any[lay] & (low_bad | (s_new < unit)))):
                        m.d.sync += self.bad.eq(1)
            m.next = "EC_FETCH"
        with m.State("EW_START"):
            m.d.comb += d.loader.write.eq(1)
            m.next = "EW_FETCH"
        with m.State("EW_FETCH"):
            with m.If(i == n):
                m.next = "EXT_DONE"
            with m.Else():
                m.next = "EW_SEND"
        with m.State("EW_SEND"):
            m.d.comb += [d.loader.wdata.valid.eq(1), d.loader.wdata.payload.eq(d.req.data)]
            with m.If(d.loader.wdata.ready):
                m.d.sync += i.eq(i + 1)
                m.next = "EW_FETCH"
        with m.State("EXT_DONE"):
            with m.If(~d.loader.busy):
                m.next = _FIN

    def _read_mem(self):
        """RD_REGION: the region decides; the bytes come from the word cache, ``ebuf``
        (LEARN_REGS) or the loader."""
        m, R, region, d = self.m, p.Region, self.region, self.d
        too_long = self.too_long
        with m.State("RD_REGION"):
            with m.If(region == R.FC_WEIGHTS):
                self._fc_region(1, Op.READ_WEIGHT, None, "FR_NEXT",
                                too_long | self.end_over_w)
            with m.Elif((region == R.FC_THL) | (region == R.FC_THSWAP) |
                        (region == R.FC_POTENTIALS)):
                self._fc_region(0, Mux(region == R.FC_THL, Op.READ_THL,
                                       Mux(region == R.FC_THSWAP, Op.READ_THSWAP,
                                           Op.READ_POT)), None, "FR_NEXT",
                                too_long | Mux(region == R.FC_POTENTIALS, self.end_over_pot,
                                               self.end_over_2n))
            with m.Elif(region == R.LEARN_REGS):
                m.d.sync += self.ebuf.eq(Cat(*self.regs))
                m.next = "LR_READ"
                with m.If(too_long | self.end_over_regs):
                    self.refuse(p.Status.BAD_ARGUMENT)
            with m.Elif(self.is_ext):
                if self.has_ext:
                    with m.If(too_long | ~d.loader.ok_read):
                        self.refuse(p.Status.BAD_ARGUMENT)
                    with m.Elif(self.n == 0):
                        m.next = _FIN           # nothing to ask the loader for
                    with m.Else():
                        m.d.comb += d.loader.read.eq(1)
                        m.next = "ER_TAKE"
            with m.Else():
                self.refuse(p.Status.BAD_ARGUMENT)
        self._read_states()

    def _read_states(self):
        """FR_NEXT (FC memories through the word cache), LR_READ, ER_TAKE (the loader's
        bytes): one reply byte a cycle while they come."""
        m, i, n, wc, rp = self.m, self.i, self.n, self.wc, self.reply
        with m.State("FR_NEXT"):
            with m.If(i == n):
                m.next = _FIN
            with m.Elif(wc.hit()):
                rp.put(m, wc.byte)
                m.d.sync += [i.eq(i + 1), wc.a.eq(wc.a + 1)]
            with m.Else():
                m.next = "FR_READ"
        wc.fill_states(m, "FR")

        with m.State("LR_READ"):
            with m.If(i == n):
                m.next = _FIN
            with m.Else():
                rp.put(m, self.ebuf.word_select(wc.a[:4], 8))
                m.d.sync += [i.eq(i + 1), wc.a.eq(wc.a + 1)]

        if self.has_ext:
            rdata = self.d.loader.rdata
            with m.State("ER_TAKE"):
                with m.If(i == n):
                    m.next = "EXT_DONE"
                with m.Else():
                    m.d.comb += rdata.ready.eq(1)
                    with m.If(rdata.valid):
                        rp.put(m, rdata.payload)
                        m.d.sync += i.eq(i + 1)
