"""The board's command executor: one request of :mod:`edgekws.protocol` at a time.

:class:`Dispatcher` sits between the :class:`~edgekws.gateware.link.PacketLink` (request
and reply buffers), the learning core (:class:`~edgekws.gateware.fc_core.FCLearningCore`
``cmd``/``rsp`` streams), the extractor (``pixels``/``spikes``) and the extractor's
loader (:class:`~edgekws.gateware.ext_loader.ExtLoader`). Its replies are byte for byte
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
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from edgekws import protocol as p
from edgekws.golden.quant import weight_range

from .ext_loader import OK_LATENCY
from .fc_core import FCLearningCore, Op
from .interfaces import (LinkCountersSignature, RegionAccessSignature, ReplyWriteSignature,
                         RequestReadSignature)

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
        :class:`~edgekws.gateware.ext_loader.ExtLoader` (only with an extractor).
    """

    def __init__(self, core: FCLearningCore, ext=None, *, clk_hz: int):
        # No "created but never used" warning for an object whose checks fail.
        self._MustUse__silence = True
        if not isinstance(core, FCLearningCore):
            raise TypeError(f"core must be an FCLearningCore, not {core!r}")
        if isinstance(clk_hz, bool) or not isinstance(clk_hz, int) or \
                not 0 < clk_hz < 1 << 32:
            raise ValueError(f"clk_hz must be a positive integer below 2**32, not {clk_hz!r}")
        F, W = core.num_inputs, core.width
        if F % 8 or W % 8 or not _is_pow2(W // 8) or not _is_pow2(core.words):
            raise ValueError(f"the dispatcher needs num_inputs and width multiples of 8, "
                             f"width / 8 and num_inputs / width powers of two, not "
                             f"num_inputs={F}, width={W}")
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
        self._MustUse__silence = False

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
        core, ext = self.core, self.ext
        F, N, W, WPN = self.F, self.N, core.width, core.words
        R, C = p.Region, p.Cmd
        has_ext = ext is not None
        cp = self.fc_cmd.payload
        rsp = self.fc_rsp.payload

        # ---------------------------------------------------------------- state
        hdr = Signal(8 * HEADER_BYTES)
        hbyte = [hdr[8 * k:8 * k + 8] for k in range(HEADER_BYTES)]
        seq, cmd = hbyte[0], hbyte[1]
        plen = Signal(range(p.MAX_PACKET + 1))      # payload bytes
        status = Signal(8)
        rep_seq = Signal(8)
        rep_cmd = Signal(8)
        wp = Signal(range(p.MAX_PACKET))            # reply payload bytes written
        base = Signal(range(p.MAX_PACKET))          # request address of byte i
        i = Signal(range(p.MAX_PACKET + 1))         # byte counter of the bulk phase
        n = Signal(16)                              # bulk length / loop bound
        k = Signal(range(max(N, HEADER_BYTES) + 2))  # small loop counter
        ok_wait = Signal(range(OK_LATENCY))         # cycles waited for the loader's ok
        m.d.comb += self.req.addr.eq(base + i)

        # Payload fields (little-endian), valid once the header is read.
        def u16(at):
            return Cat(hbyte[at], hbyte[at + 1])
        region = hbyte[2]
        offset = Cat(*hbyte[3:7])
        rd_len = u16(7)
        label = Signal(signed(16))
        m.d.comb += label.eq(u16(2))
        flags = hbyte[2]
        n_add = hbyte[2]

        # Learning registers (u16 shadows, LearnReg order) and their checks.
        regs = [Signal(16, name=f"reg_{r.name.lower()}") for r in p.LearnReg]
        reg_arr = Array(regs)
        rN, rK, rM = (regs[r] for r in (p.LearnReg.NUM_NEURONS, p.LearnReg.NUM_CLASSES,
                                        p.LearnReg.NEURONS_PER_CLASS))

        def geometry_ok(Kv, mv, Nv, name):
            """Registered ``K >= 1, m >= 1, K * m == N <= capacity``."""
            ok = Signal(name=name)
            m.d.sync += ok.eq((Kv >= 1) & (mv >= 1) & (Nv <= N) & (Kv * mv == Nv))
            return ok
        geom_ok = geometry_ok(rK, rM, rN, "geom_ok")
        new_ok = geometry_ok(u16(2), u16(4), u16(14), "set_learning_ok")
        n_pot = Mux(rN > N, N, rN)                  # FC_POTENTIALS holds N neurons
        add_total = Signal(32)
        m.d.sync += add_total.eq(rN + n_add * rM)

        # Reply writes: a byte at reply payload position wp.
        put_en = Signal()
        put_data = Signal(8)
        head_en = Signal()
        head_addr = Signal(2)
        head_data = Signal(8)
        m.d.comb += [
            self.rep.addr.eq(Mux(head_en, head_addr, 3 + wp)),
            self.rep.data.eq(Mux(head_en, head_data, put_data)),
            self.rep.we.eq(put_en | head_en),
        ]
        with m.If(put_en):
            m.d.sync += wp.eq(wp + 1)

        # The reply of the last non-idempotent command, for retries.
        keep = Signal()                             # this request's reply is kept
        last_valid = Signal()
        last_seq, last_cmd = Signal(8), Signal(8)
        last_len = Signal(range(STORED_REPLY + 1))
        stored = Array(Signal(8, name=f"stored{j}") for j in range(STORED_REPLY))
        with m.If(keep & self.rep.we & (self.rep.addr < STORED_REPLY)):
            m.d.sync += stored[self.rep.addr].eq(self.rep.data)

        # Cycle counters.
        cyc = Signal(COUNTER_BITS)
        counting = Signal()
        infer_cycles = Signal(COUNTER_BITS)
        learn_cycles = Signal(COUNTER_BITS)
        with m.If(counting):
            m.d.sync += cyc.eq(cyc + 1)

        # Emitted constants and small results: up to 20 bytes, byte j at bits 8j.
        ebuf = Signal(8 * p.COUNTERS_FORMAT.size)
        after_emit_pots = Signal()

        # FullyConnected word cache (byte-addressed regions over word memories).
        cache = Signal(core.data_width)
        cidx = Signal(32)
        cvalid = Signal()
        a = Signal(33)                              # byte address in the region
        is_w = Signal()                             # region FC_WEIGHTS (else 16-bit)
        fc_rd_op = Signal(Op)
        fc_wr_op = Signal(Op)
        wlog = exact_log2(W // 8)
        idx = Signal(32)
        m.d.comb += idx.eq(Mux(is_w, a >> wlog, a >> 1))
        byte_sel = Mux(is_w, a[:max(wlog, 1)] if wlog else 0, a[0])

        # A WRITE_MEM/READ_MEM's bounds, registered: DISPATCH sets a and n, and
        # WR_WAIT/RD_WAIT give these a cycle before WR_REGION/RD_REGION decide on them
        # (the a + n adder and its comparators into the FSM set the 85F board's clock).
        end = a + n
        end_over_w, end_over_2n, end_over_regs, end_over_pot, too_long = (
            Signal(name=name) for name in ("end_over_w", "end_over_2n", "end_over_regs",
                                           "end_over_pot", "too_long"))
        m.d.sync += [end_over_w.eq(end > N * self.nb), end_over_2n.eq(end > 2 * N),
                     end_over_regs.eq(end > 2 * len(regs)),
                     end_over_pot.eq(end > (n_pot << 1)),
                     too_long.eq(n > p.MAX_PACKET - 5)]
        cache_byte = cache.word_select(byte_sel, 8)

        def fc_access(op, index, data=0):
            """Drive fc_cmd for a word access of the current region at ``index``."""
            wl = exact_log2(WPN)
            return [cp.op.eq(op),
                    cp.addr.eq(Mux(is_w, index >> wl, index)),
                    cp.word.eq(Mux(is_w, index[:wl] if wl else 0, 0)),
                    cp.data.eq(data)]

        # Sample path.
        is_learn = Signal()
        from_frame = Signal()
        word = Signal(W)
        wk = Signal(range(max(WPN, 1) + 1))
        res_cls, res_neuron = Signal(16), Signal(16)
        res_learned = Signal()
        if has_ext:
            spk = Signal(F)
            X, Y, CH = ext.spec.image_shape
            frame_bytes = X * Y * CH
            pix = Signal(ext.pixel_width)
            pc = Signal(range(CH + 1))
        else:
            frame_bytes = 0

        # EXT value checks: per layer, the weight range and the step's low bits.
        if has_ext:
            layers = ext.spec.layers
            w_lo = Array(Const(weight_range(g.weights_bits)[0], signed(9)) for g in layers)
            w_hi = Array(Const(weight_range(g.weights_bits)[1], signed(9)) for g in layers)
            # act_bits 1: any step (it does not change a 1-bit output); else a positive
            # multiple of 2**(4 - act_bits).
            s_any = Array(Const(g.act_bits == 1, 1) for g in layers)
            s_unit = Array(Const(1 << (4 - g.act_bits) if g.act_bits != 1 else 1, 5)
                           for g in layers)
            lay = region[:3]
            s_acc = Signal(32)
            bad = Signal()
            m.d.comb += [self.loader.region.eq(region), self.loader.offset.eq(offset),
                         self.loader.length.eq(Mux(cmd == C.READ_MEM, rd_len, plen - 5))]
            is_ext = (region < 0x20) & (region[:3] < len(layers))
        else:
            is_ext = Const(0, 1)

        def refuse(st):
            return [status.eq(st)]

        fin = "FIN_SEQ"

        def data_request(frame_cmd, spikes_cmd, learn, head, bad_arg=None):
            """INFER/LEARN and their _SPIKES forms: ``head`` payload bytes (INFER's
            flags, LEARN's i16 label) before an MFCC frame (``frame_cmd``) or a spike
            word; the length, geometry and ``bad_arg`` checks, then the fetch."""
            m.d.sync += [is_learn.eq(learn), from_frame.eq(cmd == frame_cmd),
                         base.eq(2 + head), n.eq(plen - head)]
            want = Mux(cmd == frame_cmd, frame_bytes, self.nb)
            with m.If(plen < head):
                m.d.sync += refuse(p.Status.BAD_LENGTH)
                m.next = fin
            with m.Elif(~geom_ok):
                m.d.sync += refuse(p.Status.NOT_READY)
                m.next = fin
            with m.Elif(plen - head != want):
                m.d.sync += refuse(p.Status.BAD_LENGTH)
                m.next = fin
            if bad_arg is not None:
                with m.Elif(bad_arg):
                    m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                    m.next = fin
            with m.Else():
                m.d.sync += [counting.eq(1), cyc.eq(0), wk.eq(0), k.eq(0)]
                m.next = "PIX_FETCH" if has_ext else "SPK_FETCH"
                if has_ext:
                    with m.If(cmd == spikes_cmd):
                        m.next = "SPK_FETCH"

        guard = Signal()                            # rep.busy follows rep.send a cycle late
        m.d.sync += guard.eq(0)
        def fill_cache(prefix):
            """States ``<prefix>_READ``/``_WAIT``: word ``idx`` of the FC core into the
            word cache, then back to ``<prefix>_NEXT`` (shared by FC writes and reads)."""
            with m.State(f"{prefix}_READ"):
                m.d.comb += [self.fc_cmd.valid.eq(1), *fc_access(fc_rd_op, idx)]
                with m.If(self.fc_cmd.ready):
                    m.next = f"{prefix}_WAIT"
            with m.State(f"{prefix}_WAIT"):
                m.d.comb += self.fc_rsp.ready.eq(1)
                with m.If(self.fc_rsp.valid):
                    m.d.sync += [cache.eq(rsp.data), cidx.eq(idx), cvalid.eq(1)]
                    m.next = f"{prefix}_NEXT"

        with m.FSM(name="dispatch"):
            # ------------------------------------------------------------ intake
            with m.State("IDLE"):
                m.d.sync += [i.eq(0), base.eq(0), wp.eq(0), status.eq(p.Status.OK),
                             keep.eq(0), cvalid.eq(0), k.eq(0)]
                with m.If(self.req.valid & ~self.rep.busy & ~guard):
                    m.next = "HEADER"
            with m.State("HEADER"):
                # Address i this cycle, its byte the next: shift bytes 0..15 in.
                with m.If(i != 0):
                    m.d.sync += hdr.eq(Cat(hdr[8:], self.req.data))
                with m.If(i == HEADER_BYTES):
                    m.d.sync += i.eq(0)
                    m.next = "DECODE"
                with m.Else():
                    m.d.sync += i.eq(i + 1)
            with m.State("DECODE"):
                m.d.sync += [plen.eq(self.req.len - 2), rep_seq.eq(seq),
                             rep_cmd.eq(cmd | p.REPLY_BIT)]
                with m.If(self.req.status == p.Status.TOO_LONG):
                    m.d.sync += [rep_seq.eq(0xFF), rep_cmd.eq(0x7F | p.REPLY_BIT),
                                 status.eq(p.Status.TOO_LONG)]
                    m.next = fin
                with m.Elif(self.req.status != p.Status.OK):
                    m.d.sync += status.eq(p.Status.BAD_CRC)
                    m.next = fin
                with m.Else():
                    idem = Cat(*(cmd == c for c in p.IDEMPOTENT)).any()
                    m.d.sync += keep.eq(~idem)
                    with m.If(~idem & last_valid & (last_seq == seq) & (last_cmd == cmd)):
                        m.next = "REPLAY"
                    with m.Else():
                        m.next = "DISPATCH"

            with m.State("REPLAY"):
                # The stored reply again, the command not executed twice.
                m.d.comb += [self.rep.addr.eq(k), self.rep.data.eq(stored[k]),
                             self.rep.we.eq(1)]
                m.d.sync += k.eq(k + 1)
                with m.If(k == last_len - 1):
                    m.next = "REPLAY_SEND"
            with m.State("REPLAY_SEND"):
                m.d.comb += [self.rep.len.eq(last_len), self.rep.send.eq(1),
                             self.req.ack.eq(1)]
                m.d.sync += guard.eq(1)
                m.next = "IDLE"

            with m.State("DISPATCH"):
                with m.Switch(cmd):
                    with m.Case(C.IDENTIFY):
                        with m.If(plen != 0):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Else():
                            ident = self.identify_bytes()
                            m.d.sync += [ebuf.eq(int.from_bytes(ident, "little")),
                                         n.eq(len(ident)), after_emit_pots.eq(0), k.eq(0)]
                            m.next = "EMIT"
                    with m.Case(C.READ_COUNTERS):
                        with m.If(plen != 0):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Else():
                            m.d.sync += [ebuf.eq(Cat(infer_cycles, learn_cycles, self.counters.frames,
                                                     self.counters.crc_errors, self.counters.framing_errors)),
                                         n.eq(p.COUNTERS_FORMAT.size), after_emit_pots.eq(0),
                                         k.eq(0)]
                            m.next = "EMIT"
                    with m.Case(C.RESET):
                        with m.If(plen != 0):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Else():
                            m.d.comb += self.counters.clear.eq(1)
                            m.d.sync += [r.eq(0) for r in regs]
                            m.d.sync += [infer_cycles.eq(0), learn_cycles.eq(0), k.eq(0)]
                            m.next = "RST_THL"
                    with m.Case(C.SET_LEARNING):
                        with m.If(plen != p.LEARNING_FORMAT.size):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Else():
                            m.next = "SETL_CHECK"       # new_ok is registered
                    with m.Case(C.ADD_CLASSES):
                        with m.If(plen != p.ADD_CLASSES_FORMAT.size):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Elif(~geom_ok):
                            m.d.sync += refuse(p.Status.NOT_READY)
                            m.next = fin
                        with m.Else():
                            m.next = "ADD_CHECK"        # add_total is registered
                    with m.Case(C.INFER_SPIKES, *([C.INFER] if has_ext else [])):
                        data_request(C.INFER, C.INFER_SPIKES, 0, 1)
                    with m.Case(C.LEARN_SPIKES, *([C.LEARN] if has_ext else [])):
                        data_request(C.LEARN, C.LEARN_SPIKES, 1, 2,
                                     bad_arg=(label < -1) | ((rK > 1) & (label >= rK)))
                    with m.Case(C.WRITE_MEM):
                        m.d.sync += [base.eq(2 + p.MEM_HEADER.size), n.eq(plen - 5),
                                     a.eq(offset)]
                        with m.If(plen < p.MEM_HEADER.size):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Else():
                            m.d.sync += ok_wait.eq(0)
                            m.next = "WR_WAIT"
                    with m.Case(C.READ_MEM):
                        m.d.sync += [n.eq(rd_len), a.eq(offset)]
                        with m.If(plen != p.READ_MEM_FORMAT.size):
                            m.d.sync += refuse(p.Status.BAD_LENGTH)
                            m.next = fin
                        with m.Else():
                            m.d.sync += ok_wait.eq(0)
                            m.next = "RD_WAIT"
                    with m.Default():
                        m.d.sync += refuse(p.Status.UNKNOWN_CMD)
                        m.next = fin

            # ---------------------------------------------------------- small results
            with m.State("EMIT"):
                m.d.comb += [put_en.eq(1), put_data.eq(ebuf.word_select(k, 8))]
                m.d.sync += k.eq(k + 1)
                with m.If(k == n - 1):
                    with m.If(after_emit_pots):
                        m.d.sync += [a.eq(0), n.eq(n_pot << 1), is_w.eq(0),
                                     fc_rd_op.eq(Op.READ_POT), i.eq(0), cvalid.eq(0)]
                        m.next = "FR_NEXT"
                    with m.Else():
                        m.next = fin

            # ---------------------------------------------------------- RESET
            with m.State("RST_THL"):
                m.d.comb += [self.fc_cmd.valid.eq(1), cp.op.eq(Op.WRITE_THL),
                             cp.addr.eq(k), cp.data.eq(0)]
                with m.If(self.fc_cmd.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == N - 1):
                        m.d.sync += k.eq(0)
                        m.next = "RST_SWP"
            with m.State("RST_SWP"):
                m.d.comb += [self.fc_cmd.valid.eq(1), cp.op.eq(Op.WRITE_THSWAP),
                             cp.addr.eq(k), cp.data.eq(0)]
                with m.If(self.fc_cmd.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == N - 1):
                        m.d.sync += k.eq(0)
                        m.next = "PUSH_PARAMS"

            # ------------------------------------------------------- registers
            with m.State("SETL_CHECK"):
                with m.If(~new_ok):
                    m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                    m.next = fin
                with m.Else():
                    L = p.LearnReg
                    for reg, at in ((L.NUM_CLASSES, 2), (L.NEURONS_PER_CLASS, 4),
                                    (L.THSWAP_INIT, 6), (L.DECAY, 8), (L.THSWAP_MIN, 10),
                                    (L.THL_CAP, 12), (L.NUM_NEURONS, 14)):
                        m.d.sync += regs[reg].eq(u16(at))
                    m.d.sync += [regs[L.OFFSET].eq(0), k.eq(0)]
                    m.next = "PUSH_PARAMS"
            with m.State("PUSH_PARAMS"):
                m.d.comb += [self.fc_cmd.valid.eq(1), cp.op.eq(Op.WRITE_PARAM),
                             cp.addr.eq(k), cp.data.eq(reg_arr[k[:3]])]
                with m.If(self.fc_cmd.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == len(regs) - 1):
                        m.next = fin

            with m.State("ADD_CHECK"):
                with m.If((n_add == 0) | (add_total > N)):
                    m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                    m.next = fin
                with m.Else():
                    m.d.comb += [self.fc_cmd.valid.eq(1), cp.op.eq(Op.ADD_CLASSES),
                                 cp.data.eq(n_add)]
                    with m.If(self.fc_cmd.ready):
                        L = p.LearnReg
                        m.d.sync += [rN.eq(add_total), rK.eq(rK + n_add),
                                     regs[L.OFFSET].eq(0),
                                     ebuf.eq(rK + n_add), n.eq(2), k.eq(0),
                                     after_emit_pots.eq(0)]
                        m.next = "EMIT"

            # ------------------------------------------------------- samples
            def send_word(data, last_next):
                m.d.comb += [self.fc_cmd.valid.eq(1),
                             cp.op.eq(Mux(is_learn, Op.LEARN, Op.INFER)),
                             cp.label.eq(label), cp.data.eq(data)]
                with m.If(self.fc_cmd.ready):
                    m.d.sync += wk.eq(wk + 1)
                    with m.If(wk == WPN - 1):
                        m.next = "RESULT_WAIT"
                    with m.Else():
                        m.next = last_next

            # Spike words from the request (INFER_SPIKES / LEARN_SPIKES).
            with m.State("SPK_FETCH"):
                m.next = "SPK_TAKE"
            with m.State("SPK_TAKE"):
                m.d.sync += [word.eq(Cat(word[8:], self.req.data)), i.eq(i + 1),
                             k.eq(k + 1)]
                with m.If(k == W // 8 - 1):
                    m.d.sync += k.eq(0)
                    m.next = "SPK_SEND"
                with m.Else():
                    m.next = "SPK_FETCH"
            with m.State("SPK_SEND"):
                send_word(word, "SPK_FETCH")

            if has_ext:
                # MFCC bytes to the extractor, C bytes a pixel.
                with m.State("PIX_FETCH"):
                    m.next = "PIX_TAKE"
                with m.State("PIX_TAKE"):
                    m.d.sync += [pix.eq(Cat(pix[8:], self.req.data) if CH > 1
                                        else self.req.data),
                                 i.eq(i + 1), pc.eq(pc + 1)]
                    with m.If(pc == CH - 1):
                        m.d.sync += pc.eq(0)
                        m.next = "PIX_SEND"
                    with m.Else():
                        m.next = "PIX_FETCH"
                with m.State("PIX_SEND"):
                    m.d.comb += [self.pixels.valid.eq(1), self.pixels.payload.eq(pix)]
                    with m.If(self.pixels.ready):
                        with m.If(i == n):
                            m.next = "SPIKES_WAIT"
                        with m.Else():
                            m.next = "PIX_FETCH"
                with m.State("SPIKES_WAIT"):
                    m.d.comb += self.spikes.ready.eq(1)
                    with m.If(self.spikes.valid):
                        m.d.sync += spk.eq(self.spikes.payload)
                        m.next = "EXT_SEND"
                with m.State("EXT_SEND"):
                    send_word(spk.word_select(wk[:max(exact_log2(WPN), 1)], W)
                              if WPN > 1 else spk, "EXT_SEND")

            with m.State("RESULT_WAIT"):
                m.d.comb += self.fc_rsp.ready.eq(1)
                with m.If(self.fc_rsp.valid):
                    m.d.sync += [res_cls.eq(rsp.cls), res_neuron.eq(rsp.neuron),
                                 res_learned.eq(rsp.swaps != 0), counting.eq(0)]
                    with m.If(is_learn):
                        m.d.sync += learn_cycles.eq(cyc + 1)
                        m.next = "OFFSET_READ"
                    with m.Else():
                        m.d.sync += infer_cycles.eq(cyc + 1)
                        m.next = "RESULT"
            with m.State("OFFSET_READ"):
                m.d.comb += [self.fc_cmd.valid.eq(1), cp.op.eq(Op.READ_PARAM),
                             cp.addr.eq(p.LearnReg.OFFSET)]
                with m.If(self.fc_cmd.ready):
                    m.next = "OFFSET_WAIT"
            with m.State("OFFSET_WAIT"):
                m.d.comb += self.fc_rsp.ready.eq(1)
                with m.If(self.fc_rsp.valid):
                    m.d.sync += regs[p.LearnReg.OFFSET].eq(rsp.data[:16])
                    m.next = "RESULT"
            with m.State("RESULT"):
                m.d.sync += [ebuf.eq(Cat(res_cls, res_neuron, res_learned)),
                             n.eq(p.RESULT_FORMAT.size), k.eq(0),
                             after_emit_pots.eq(~is_learn & flags[0] &
                                                (n_pot <= p.MAX_INLINE_POTENTIALS))]
                m.next = "EMIT"

            # The loader's ok/ok_read answer region/offset/length (stable from
            # DISPATCH on) OK_LATENCY cycles later.
            for wait, nxt in (("WR_WAIT", "WR_REGION"), ("RD_WAIT", "RD_REGION")):
                with m.State(wait):
                    m.d.sync += ok_wait.eq(ok_wait + 1)
                    with m.If(ok_wait == OK_LATENCY - 2):
                        m.next = nxt

            # ------------------------------------------------------- WRITE_MEM
            with m.State("WR_REGION"):
                with m.If(region == R.FC_WEIGHTS):
                    m.d.sync += [is_w.eq(1), fc_rd_op.eq(Op.READ_WEIGHT),
                                 fc_wr_op.eq(Op.WRITE_WEIGHT)]
                    m.next = "FW_NEXT"
                    with m.If(end_over_w):
                        m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                        m.next = fin
                with m.Elif((region == R.FC_THL) | (region == R.FC_THSWAP)):
                    thl = region == R.FC_THL
                    m.d.sync += [is_w.eq(0),
                                 fc_rd_op.eq(Mux(thl, Op.READ_THL, Op.READ_THSWAP)),
                                 fc_wr_op.eq(Mux(thl, Op.WRITE_THL, Op.WRITE_THSWAP))]
                    m.next = "FW_NEXT"
                    with m.If(end_over_2n):
                        m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                        m.next = fin
                with m.Elif(region == R.LEARN_REGS):
                    m.d.sync += ebuf.eq(Cat(*regs))
                    m.next = "LR_FETCH"
                    with m.If(end_over_regs):
                        m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                        m.next = fin
                with m.Elif(is_ext):
                    if has_ext:
                        with m.If(self.loader.ok):
                            m.d.sync += [s_acc.eq(0), bad.eq(0)]
                            m.next = "EC_FETCH"
                        with m.Else():
                            m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                            m.next = fin
                with m.Else():
                    m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                    m.next = fin

            # FC memories: read-modify-write through the word cache.
            with m.State("FW_NEXT"):
                with m.If(i == n):
                    with m.If(cvalid):
                        m.next = "FW_FLUSH"
                    with m.Else():
                        m.next = fin
                with m.Elif(cvalid & (idx == cidx)):
                    m.next = "FW_MERGE"             # the byte's address is out now
                with m.Elif(cvalid):
                    m.next = "FW_FLUSH"
                with m.Else():
                    m.next = "FW_READ"
            with m.State("FW_MERGE"):
                m.d.sync += [cache.word_select(byte_sel, 8).eq(self.req.data),
                             i.eq(i + 1), a.eq(a + 1)]
                m.next = "FW_NEXT"
            with m.State("FW_FLUSH"):
                m.d.comb += [self.fc_cmd.valid.eq(1), *fc_access(fc_wr_op, cidx, cache)]
                with m.If(self.fc_cmd.ready):
                    m.d.sync += cvalid.eq(0)
                    m.next = "FW_NEXT"
            fill_cache("FW")

            # LEARN_REGS: merge into a copy, check, then shadows and core.
            with m.State("LR_FETCH"):
                with m.If(i == n):
                    m.next = "LR_CHECK"
                with m.Else():
                    m.next = "LR_TAKE"
            with m.State("LR_TAKE"):
                m.d.sync += [ebuf.word_select(a[:4], 8).eq(self.req.data),
                             i.eq(i + 1), a.eq(a + 1)]
                m.next = "LR_FETCH"
            with m.State("LR_CHECK"):
                # The core's spread-selection offset never exceeds F.
                with m.If(ebuf.word_select(p.LearnReg.OFFSET, 16) > F):
                    m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                    m.next = fin
                with m.Else():
                    m.d.sync += [r.eq(ebuf.word_select(j, 16)) for j, r in enumerate(regs)]
                    m.d.sync += k.eq(0)
                    m.next = "PUSH_PARAMS"

            if has_ext:
                # Value checks over the whole data before anything is written.
                base_kind = region[3:5]            # 0 weights, 1 weights_pw, 2 th, 3 step
                with m.State("EC_FETCH"):
                    with m.If(i == n):
                        m.d.sync += i.eq(0)
                        with m.If(bad):
                            m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                            m.next = fin
                        with m.Elif(n == 0):
                            m.next = fin           # nothing to write
                        with m.Else():
                            m.next = "EW_START"
                    with m.Else():
                        m.next = "EC_TAKE"
                with m.State("EC_TAKE"):
                    byte = self.req.data
                    m.d.sync += i.eq(i + 1)
                    with m.If(base_kind < 2):
                        v = byte.as_signed()
                        with m.If((v < w_lo[lay]) | (v > w_hi[lay])):
                            m.d.sync += bad.eq(1)
                    with m.Elif(base_kind == 3):
                        s_new = Cat(s_acc[8:], byte)
                        m.d.sync += s_acc.eq(s_new)
                        with m.If(i[:2] == 3):
                            unit = s_unit[lay]
                            low_bad = (s_new & (unit - 1)) != 0
                            with m.If((s_new >= (1 << ext.step_bits)) |
                                      (~s_any[lay] & (low_bad | (s_new < unit)))):
                                m.d.sync += bad.eq(1)
                    m.next = "EC_FETCH"
                with m.State("EW_START"):
                    m.d.comb += self.loader.write.eq(1)
                    m.next = "EW_FETCH"
                with m.State("EW_FETCH"):
                    with m.If(i == n):
                        m.next = "EXT_DONE"
                    with m.Else():
                        m.next = "EW_SEND"
                with m.State("EW_SEND"):
                    m.d.comb += [self.loader.wdata.valid.eq(1),
                                 self.loader.wdata.payload.eq(self.req.data)]
                    with m.If(self.loader.wdata.ready):
                        m.d.sync += i.eq(i + 1)
                        m.next = "EW_FETCH"
                with m.State("EXT_DONE"):
                    with m.If(~self.loader.busy):
                        m.next = fin

            # ------------------------------------------------------- READ_MEM
            with m.State("RD_REGION"):
                with m.If(region == R.FC_WEIGHTS):
                    m.d.sync += [is_w.eq(1), fc_rd_op.eq(Op.READ_WEIGHT)]
                    m.next = "FR_NEXT"
                    with m.If(too_long | end_over_w):
                        m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                        m.next = fin
                with m.Elif((region == R.FC_THL) | (region == R.FC_THSWAP) |
                            (region == R.FC_POTENTIALS)):
                    m.d.sync += [is_w.eq(0),
                                 fc_rd_op.eq(Mux(region == R.FC_THL, Op.READ_THL,
                                                 Mux(region == R.FC_THSWAP, Op.READ_THSWAP,
                                                     Op.READ_POT)))]
                    m.next = "FR_NEXT"
                    with m.If(too_long | Mux(region == R.FC_POTENTIALS, end_over_pot,
                                             end_over_2n)):
                        m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                        m.next = fin
                with m.Elif(region == R.LEARN_REGS):
                    m.d.sync += ebuf.eq(Cat(*regs))
                    m.next = "LR_READ"
                    with m.If(too_long | end_over_regs):
                        m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                        m.next = fin
                with m.Elif(is_ext):
                    if has_ext:
                        with m.If(too_long | ~self.loader.ok_read):
                            m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                            m.next = fin
                        with m.Elif(n == 0):
                            m.next = fin           # nothing to ask the loader for
                        with m.Else():
                            m.d.comb += self.loader.read.eq(1)
                            m.next = "ER_TAKE"
                with m.Else():
                    m.d.sync += refuse(p.Status.BAD_ARGUMENT)
                    m.next = fin

            with m.State("FR_NEXT"):
                with m.If(i == n):
                    m.next = fin
                with m.Elif(cvalid & (idx == cidx)):
                    m.d.comb += [put_en.eq(1), put_data.eq(cache_byte)]
                    m.d.sync += [i.eq(i + 1), a.eq(a + 1)]
                with m.Else():
                    m.next = "FR_READ"
            fill_cache("FR")

            with m.State("LR_READ"):
                with m.If(i == n):
                    m.next = fin
                with m.Else():
                    m.d.comb += [put_en.eq(1), put_data.eq(ebuf.word_select(a[:4], 8))]
                    m.d.sync += [i.eq(i + 1), a.eq(a + 1)]

            if has_ext:
                with m.State("ER_TAKE"):
                    with m.If(i == n):
                        m.next = "EXT_DONE"
                    with m.Else():
                        m.d.comb += self.loader.rdata.ready.eq(1)
                        with m.If(self.loader.rdata.valid):
                            m.d.comb += [put_en.eq(1), put_data.eq(self.loader.rdata.payload)]
                            m.d.sync += i.eq(i + 1)

            # ------------------------------------------------------- the reply's head
            with m.State("FIN_SEQ"):
                m.d.comb += [head_en.eq(1), head_addr.eq(0), head_data.eq(rep_seq)]
                m.next = "FIN_CMD"
            with m.State("FIN_CMD"):
                m.d.comb += [head_en.eq(1), head_addr.eq(1), head_data.eq(rep_cmd)]
                m.next = "FIN_STATUS"
            with m.State("FIN_STATUS"):
                m.d.comb += [head_en.eq(1), head_addr.eq(2), head_data.eq(status)]
                m.next = "FIN_SEND"
            with m.State("FIN_SEND"):
                m.d.comb += [self.rep.len.eq(3 + wp), self.rep.send.eq(1),
                             self.req.ack.eq(1)]
                m.d.sync += guard.eq(1)
                with m.If(keep):
                    m.d.sync += [last_valid.eq(1), last_seq.eq(rep_seq),
                                 last_cmd.eq(cmd),
                                 last_len.eq(3 + wp)]
                m.next = "IDLE"
        return m
