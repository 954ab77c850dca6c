"""The DS-CNN extractor's op pipeline: ``lanes`` multiply-accumulate lanes fed by the
sequencer's ops (:mod:`.sequencer`), handing each (position, group)'s sums to the
post-processor (:mod:`.post_processor`).

Stages: issue (the sequencer's ``iss`` record and address parts) | s0: addresses summed,
memories read | s1: the words registered as read | s2: operand select (and weight data)
| s3: registered operands | s4: product | s5: product in the fabric, accumulate. A
depthwise group's sums land in the ``d`` registers; their non-zero mask and its first
split (lowest channel, the rest) drive the sequencer's event-driven pointwise walk.
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Mux, ResetSignal, Signal, signed

from ..popcount import at_most_one
from .mult import registered_product
from .ops import LANE_GROUP, _Job, _Kind, keep_copies
from .spec import ACT_SLOT, PIXEL_BITS, WEIGHT_SLOT

__all__ = ["MacArray"]


class MacArray:
    """Build the op pipeline of ``ext`` (a :class:`~.extractor.DSCNNExtractor`) into
    ``m``, reading the memories' ports ``mems``.

    What the other parts use: ``iss`` (the op issued this cycle, driven by the
    sequencer), ``iss_ra``/``iss_wa`` (its read/weight address parts), ``s5`` (the op
    accumulated now), ``mac_busy``, ``nz_ready``, ``nz_cur``/``nz_todo``/
    ``nz_todo_empty`` (the depthwise sums' non-zero channels), ``total`` (the lanes'
    sums) and ``hand_over`` (the sums go to the post-processor).
    """

    def __init__(self, m, ext, mems, mult: str):
        self.m, self.ext, self.mems, self.mult = m, ext, mems, mult
        spec = ext.spec
        self.spec, self.L, self.G, self.F = spec, ext.lanes, ext.groups, spec.filters
        self._issue_stages()
        # Depthwise sums of the current position, and their non-zero mask.
        self.d_regs = [Signal(signed(spec.dw_width), name=f"d{c}", reset_less=True)
                       for c in range(self.F)]
        self.nz = Signal(self.F)
        self._operands()
        self._lanes()
        self._accumulate()
        self._nonzero_mask()

    def _stage(self, name):
        spec, F, G = self.spec, self.F, self.G
        return dict(
            valid=Signal(name=f"{name}_valid"), kind=Signal(_Kind, name=f"{name}_kind"),
            first=Signal(name=f"{name}_first"), last=Signal(name=f"{name}_last"),
            g=Signal(range(max(G, 2)), name=f"{name}_g"),
            c=Signal(range(max(F, spec.image_shape[2], 2)), name=f"{name}_c"),
            pad=Signal(name=f"{name}_pad"), zero=Signal(name=f"{name}_zero"),
            job=Signal(_Job, name=f"{name}_job"),
            pos=Signal(range(max(spec.max_positions, 2)), name=f"{name}_pos"),
            layer=Signal(range(max(len(spec.layers), 2)), name=f"{name}_layer"))

    def _issue_stages(self):
        """The op records down the pipeline, the address sums and the memory reads."""
        m, ext, mems = self.m, self.ext, self.mems
        self.iss = iss = self._stage("iss")              # comb: the op issued this cycle
        s0, s1, s2, s3, s4, s5 = (self._stage(f"s{k}") for k in range(6))
        self.s0, self.s1, self.s2, self.s4, self.s5 = s0, s1, s2, s4, s5
        # Read addresses: each is issued as two parts (position part, tap part), each
        # one adder of table lookups, and summed in s0 right before the RAMs: the
        # whole sum in the issue cycle was a chain of 3-4 adders behind the FSM's
        # muxes (12.5 ns post-route). Parts and sums wrap modulo 2**width, so a
        # negative part (a padded position's offset) still gives the right address.
        self.iss_ra = iss_ra = [Signal(range(max(ext.img_depth, ext.act_depth)),
                                       name=f"iss_ra{k}") for k in (1, 2)]
        self.iss_wa = iss_wa = [Signal(range(ext.w_depth), name=f"iss_wa{k}")
                                for k in (1, 2)]
        s0_ra = [Signal.like(v, name=f"s0_ra{k}") for k, v in enumerate(iss_ra, 1)]
        s0_wa = [Signal.like(v, name=f"s0_wa{k}") for k, v in enumerate(iss_wa, 1)]
        for a, b in ((s0, iss), (s1, s0), (s2, s1), (s3, s2), (s4, s3), (s5, s4)):
            m.d.sync += [a[k].eq(b[k]) for k in a]
        m.d.sync += [d.eq(v) for d, v in zip(s0_ra + s0_wa, iss_ra + iss_wa)]
        s0_raddr = (s0_ra[0] + s0_ra[1])[:len(s0_ra[0])]
        s0_waddr = (s0_wa[0] + s0_wa[1])[:len(s0_wa[0])]
        # All three words are read in s0 and registered as they are (s1 -> s2): a
        # DP16KD's clock-to-out (5.8 ns in nextpnr's model) leaves no room for logic,
        # fan-out or a long route behind it (the weight RAMs sit far from the DSP rows).
        m.d.comb += [mems.img_rd.addr.eq(s0_raddr), mems.a_rd.addr.eq(s0_raddr),
                     mems.w_rd.addr.eq(s0_waddr)]
        self.mac_busy = mac_busy = (s0["valid"] | s1["valid"] | s2["valid"] |
                                    s3["valid"] | s4["valid"] | s5["valid"])
        # nz lags the d registers by a cycle, its first split (``nz_cur``, ``nz_todo``,
        # ``nz_todo == 0``) by two: they are ready once the MACs were idle in the two
        # cycles before too (in DRAIN nothing new is issued).
        nz_ready = Signal(2)
        self.nz_ready = nz_ready
        m.d.sync += nz_ready.eq(Cat(~mac_busy, nz_ready[0] & ~mac_busy))

    def _operands(self):
        """Stage 2: the raw memory words, the pointwise operand picked from the ``d``
        registers, and the broadcast operand with its per-group copies."""
        m, ext, mems, spec = self.m, self.ext, self.mems, self.spec
        F, L, G = self.F, self.L, self.G
        iss, s0, s1, s2 = self.iss, self.s0, self.s1, self.s2
        img_q = Signal(ext.pixel_width, reset_less=True)
        act_q = Signal(F * ACT_SLOT, reset_less=True)
        w_q = Signal(ext.w_width, reset_less=True)
        self.w_q = w_q
        s2_pwa = Signal(signed(spec.dw_width), reset_less=True)
        m.d.sync += [img_q.eq(mems.img_rd.data), act_q.eq(mems.a_rd.data),
                     w_q.eq(mems.w_rd.data)]
        # The F-to-1 choice of d[c] in two registered steps of <= 8 to 1 (s0 -> s1:
        # within a bank of 8 by c's low bits; s1 -> s2: the bank by the high bits), so
        # synthesis builds two shallow mux trees rather than one deep chain. d is
        # stable while pointwise ops are issued (they start after the drain).
        cw = len(s0["c"])
        lo_bits = min(3, cw)
        banks = [self.d_regs[k:k + (1 << lo_bits)] for k in range(0, F, 1 << lo_bits)]
        part = [Signal(signed(spec.dw_width), name=f"pwa_part{k}", reset_less=True)
                for k in range(len(banks))]
        # Each bank has its own copy of the low bits of c (``keep``): one register
        # selecting in all banks was the critical route once the zero test was off
        # the accumulator's path (6 ns to a far bank, step 9 of docs/design/timing-closure.md §3.6).
        c_lo = [Signal(lo_bits, name=f"s0_c_lo{k}", reset_less=True, attrs={"keep": 1})
                for k in range(len(banks))]
        m.d.sync += [cl.eq(iss["c"][:lo_bits]) for cl in c_lo]
        m.d.sync += [pt.eq(Array(bank)[cl]) for pt, bank, cl in zip(part, banks, c_lo)]
        m.d.sync += s2_pwa.eq(Array(part)[s1["c"][lo_bits:]] if len(part) > 1 else part[0])
        C0 = spec.image_shape[2]
        pixel = (img_q.word_select(s2["c"], PIXEL_BITS) if C0 > 1
                 else img_q[:PIXEL_BITS])
        pad_value = spec.layers[0].padding_value
        conv_a = Mux(s2["pad"], pad_value, pixel) if pad_value else pixel
        self.act_group = act_q.word_select(s2["g"], L * ACT_SLOT) if G > 1 else act_q
        # Operand a of lane l: its own 4-bit activation in a depthwise op, else the
        # broadcast pixel or d[c]. Above bit ACT_SLOT it is the same in every lane (the
        # activations are zero-extended), so it is computed once and registered in one
        # copy per group of LANE_GROUP lanes: a single register would fan out to every
        # DSP of the array (6-9 ns of routing on the ECP5-85F). The copies are marked
        # ``keep`` and the FPGA flow (edgekws.fpga.flow) keeps such flip-flops from being
        # merged.
        self.bcast = bcast = Signal(signed(spec.operand_width), name="a_bcast")
        with m.Switch(s2["kind"]):
            with m.Case(_Kind.CONV):
                m.d.comb += bcast.eq(conv_a)
            with m.Case(_Kind.PW):
                m.d.comb += bcast.eq(Mux(s2["zero"], 0, s2_pwa))

    def _lanes(self):
        """Stages 3-5 of each lane: registered operands, the product, the product again
        in the fabric."""
        m, L, OW = self.m, self.L, self.spec.operand_width
        bcast, w_q = self.bcast, self.w_q
        # The lanes' operand select, decoded from s1 into one register per group of
        # lanes: decoded from ``s2_kind`` it drove 256 LUTs across the DSP rows (9.8 ns
        # of routing, step 12 of docs/design/timing-closure.md §3.6).
        is_dw = keep_copies("is_dw", L)
        m.d.sync += [c.eq(self.s1["kind"] == _Kind.DW) for c in is_dw]
        hi_copies = [Signal(OW - ACT_SLOT, name=f"opa_hi{k}", reset_less=True,
                            attrs={"keep": 1})
                     for k in range(-(-L // LANE_GROUP))]
        m.d.sync += [hc.eq(bcast[ACT_SLOT:]) for hc in hi_copies]
        self.prods = prods = []
        for l in range(L):
            a_lo = Mux(is_dw[l // LANE_GROUP],
                       self.act_group[l * ACT_SLOT:(l + 1) * ACT_SLOT], bcast[:ACT_SLOT])
            w_l = w_q[l * WEIGHT_SLOT:(l + 1) * WEIGHT_SLOT].as_signed()
            # Stage 3: registered operands (the operand select stays out of the
            # multiplier's cycle); stage 4: the product.
            ra_lo = Signal(ACT_SLOT, name=f"opa{l}", reset_less=True)
            rw_l = Signal(signed(WEIGHT_SLOT), name=f"opw{l}", reset_less=True)
            ra_l = Cat(ra_lo, hi_copies[l // LANE_GROUP]).as_signed()
            m.d.sync += [ra_lo.eq(a_lo), rw_l.eq(w_l)]
            prod = registered_product(m, ra_l, rw_l, f"prod{l}", self.mult)
            # Stage 5: the product again, in a fabric flip-flop that the placer can put
            # beside the lane's adder. Straight from the DSP, the route out of the
            # DSP row was in front of the adder and its fan-out (acc, d, shadow): 10.3
            # ns of routing in the extractor + FC core build (step 14,
            # docs/design/timing-closure.md §3.6).
            prod_f = Signal.like(prod, name=f"prodf{l}")
            m.d.sync += prod_f.eq(prod)
            prods.append(prod_f)

    def _accumulate(self):
        """Stage 6 (s5): accumulate; at the last op of a group hand the sums over (to the
        ``d`` registers in a depthwise op, else to the post-processor)."""
        m, L, G, AW = self.m, self.L, self.G, self.spec.acc_width
        s4 = self.s4
        acc = [Signal(signed(AW), name=f"acc{l}", reset_less=True) for l in range(L)]
        self.total = total = [Signal(signed(AW), name=f"total{l}") for l in range(L)]
        # The controls of the L accumulators, d registers and shadow registers are
        # decoded a stage early (s4) and registered: each is one flip-flop driving a
        # clock enable or a synchronous reset, no decode logic per lane. The
        # accumulators are cleared by the last op of a group (the flip-flops' sync
        # reset, off the adder's path) rather than muxed at the first op.
        # Each control exists in one copy per group of LANE_GROUP lanes (``keep``, see
        # the operand copies): a single flip-flop driving the enables of all L lanes'
        # registers was among router2's most congested nets (``dw_done0``, the
        # post-processor's ``job_active``: 10-20 overused wires each, build 7's heat map).
        s4_done = s4["valid"] & s4["last"]
        acc_clear, self.hand_over = keep_copies("acc_clear", L), keep_copies("hand_over", L)
        # The accumulate enable too: ``s4_valid`` alone enabled all L accumulators
        # (11 ns, 10.4 of them routing, in the extractor + FC core build, step 14).
        acc_en = keep_copies("acc_en", L)
        m.d.sync += [c.eq(s4["valid"]) for c in acc_en]
        dw_done = [keep_copies(f"dw_done{gg}", L) for gg in range(G)]
        m.d.sync += [c.eq(s4_done) for c in acc_clear]
        m.d.sync += [c.eq(s4_done & (s4["kind"] != _Kind.DW)) for c in self.hand_over]
        m.d.sync += [c.eq(s4_done & (s4["kind"] == _Kind.DW) & (s4["g"] == gg))
                     for gg in range(G) for c in dw_done[gg]]
        for l in range(L):
            m.d.comb += total[l].eq(acc[l] + self.prods[l])
            with m.If(acc_clear[l // LANE_GROUP] | ResetSignal()):
                m.d.sync += acc[l].eq(0)
            with m.Elif(acc_en[l // LANE_GROUP]):
                m.d.sync += acc[l].eq(total[l])
        for gg in range(G):
            for l in range(L):
                with m.If(dw_done[gg][l // LANE_GROUP]):
                    c = gg * L + l
                    m.d.sync += self.d_regs[c].eq(total[l])

    def _nonzero_mask(self):
        """The ``d`` registers' non-zero mask and its first split (the pointwise walk's)."""
        m, F, nz = self.m, self.F, self.nz
        # The non-zero mask is tested on the registered sums, one cycle after they land
        # (DRAIN waits that cycle): behind the accumulate adder's carry chain it was
        # the critical path (step 8 of docs/design/timing-closure.md §3.6, 11.1 ns).
        m.d.sync += [nz[c].eq(self.d_regs[c] != 0) for c in range(F)]
        # The mask's first split (lowest channel, the rest), registered: nz sits by the
        # lanes' d registers, and its route into the subtract's carry chain and on to
        # ``todo`` was the critical path of the extractor + FC core build (6 ns + 4 ns
        # of routing, step 14 of docs/design/timing-closure.md §3.6).
        nz_cur, nz_todo = Signal(F), Signal(F)
        self.nz_cur, self.nz_todo = nz_cur, nz_todo
        m.d.sync += [nz_cur.eq(nz & -nz), nz_todo.eq(nz & (nz - 1))]
        # The pointwise walk's end test as a flip-flop (``todo == 0``, derived with
        # each new ``todo``): the 64-input OR in front of the walk's enables was the
        # critical path of the extractor + FC core build (step 15, docs/design/timing-closure.md §3.6).
        # From ``nz`` as a tree of flags, it is ready with ``nz_todo`` (step 16).
        nz_todo_empty = Signal()
        self.nz_todo_empty = nz_todo_empty
        m.d.sync += nz_todo_empty.eq(at_most_one(nz))
