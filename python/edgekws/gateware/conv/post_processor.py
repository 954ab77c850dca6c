"""The DS-CNN extractor's post-processor: the sums of one (position, group), handed
over by the op pipeline (:mod:`.mac_array`), become activations or pooled sums.

A *job* walks the group's ``lanes`` sums ``act_units`` at a time from the shadow
registers (P0), with the neurons' thresholds and steps (and the pooled sums) read
(P1), then either through the :class:`.StepActivation` units into the activation word
of the position (``ACT``; written to the activation memory and ``trace`` at its end,
P7) or added into the 20-bit saturating pooled sums (``POOL``, P2-P4). The ``FINAL``
job, launched by the sequencer, turns the pooled sums into the output spikes.
Back-pressure on ``trace`` stalls every stage.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Mux, Signal, signed, unsigned
from amaranth.lib import data

from ...golden.quant import POT_MAX, POT_MIN, POTENTIAL_BITS
from .ops import LANE_GROUP, _Job, keep_copies, rom, times
from .spec import ACT_SLOT
from .step import THRESHOLD_BITS, StepActivation

__all__ = ["PostProcessor"]


class PostProcessor:
    """Build the post-processor of ``ext`` (a :class:`~.extractor.DSCNNExtractor`) into
    ``m``.

    Parameters
    ----------
    mems
        The memories' ports: parameters read, pooled sums, activation write.
    mac : MacArray
        Its ``s5``, ``total`` and ``hand_over``: the op accumulated now, the sums and
        their hand-over.
    flags
        ``credit`` (set here when a job ends: the next sums may come), ``spk_valid``
        and ``spk_data`` (the spikes register).

    What the sequencer uses: ``launch_final`` (in: start the ``FINAL`` job) and
    ``pp_busy`` (a job or a write is under way).
    """

    def __init__(self, m, ext, mems, mac, flags):
        self.m, self.ext, self.mems, self.mac, self.flags = m, ext, mems, mac, flags
        spec = ext.spec
        self.spec, self.L, self.A, self.G = spec, ext.lanes, ext.act_units, ext.groups
        self.FA = spec.filters // self.A          # steps of a FINAL job
        self._jobs()
        self._step_units()
        self._pack()

    def _jobs(self):
        """P0: the job's state, the shadow registers and the parameter reads."""
        m, ext, mems, spec = self.m, self.ext, self.mems, self.spec
        L, A, G, FA = self.L, self.A, self.G, self.FA
        NL, SA = len(spec.layers), L // A      # SA: steps of a group's job
        AW = spec.acc_width
        stall = Signal()
        self.stall = stall
        m.d.comb += stall.eq(ext.trace.valid & ~ext.trace.ready)
        # ``job_active`` is the post-processor's state; ``job_shift`` are copies of it
        # enabling the shadow shift, one per group of lanes. The state has no lanes to
        # drive: shared with group 0's enables it was 4 ns of routing away from the
        # post-processor's control (step 11 of docs/design/timing-closure.md §3.6).
        job_active = Signal()
        job_shift = keep_copies("job_active", L)
        job_active_c = [job_active, *job_shift]
        job_kind = Signal(_Job)
        job_layer = Signal(range(max(NL, 2)))
        job_pos = Signal(range(max(spec.max_positions, 2)))
        job_g = Signal(range(max(G, 2)))
        job_k = Signal(range(max(FA, 2)))
        self.job_active, self.job_pos, self.job_layer = job_active, job_pos, job_layer
        shadow = [Signal(signed(AW), name=f"shadow{l}", reset_less=True) for l in range(L)]
        launch_final = Signal()       # from the sequencer
        self.launch_final = launch_final
        s5, hand_over = self.mac.s5, self.mac.hand_over
        for l in range(L):
            with m.If(hand_over[l // LANE_GROUP]):
                m.d.sync += shadow[l].eq(self.mac.total[l])
        with m.If(hand_over[0]):
            m.d.sync += [*(c.eq(1) for c in job_active_c), job_kind.eq(s5["job"]),
                         job_layer.eq(s5["layer"]),
                         job_pos.eq(s5["pos"]), job_g.eq(s5["g"]), job_k.eq(0)]
        with m.If(launch_final):
            m.d.sync += [*(c.eq(1) for c in job_active_c), job_kind.eq(_Job.FINAL),
                         job_layer.eq(NL - 1), job_k.eq(0), job_g.eq(0)]

        is_final = job_kind == _Job.FINAL
        step_addr = Mux(is_final, job_k, times(job_g, SA, G) + job_k)
        m.d.comb += [mems.p_rd.addr.eq(times(job_layer, FA, NL) + step_addr),
                     mems.p_rd.en.eq(~stall)]
        p1_valid, p1_first, p1_last = Signal(), Signal(), Signal()
        p1_kind = Signal(_Job)
        p1_layer = Signal.like(job_layer)
        p1_pos = Signal.like(job_pos)
        p1_addr = Signal(range(max(FA, 2)))
        p1_pot = [Signal(signed(AW), name=f"p1_pot{a}") for a in range(A)]
        self.p1 = dict(valid=p1_valid, first=p1_first, last=p1_last, kind=p1_kind,
                       layer=p1_layer, pos=p1_pos, addr=p1_addr, pot=p1_pot)
        if spec.pooled:
            m.d.comb += [mems.pool_rd.addr.eq(step_addr), mems.pool_rd.en.eq(~stall)]
        with m.If(~stall):
            m.d.sync += p1_valid.eq(job_active)
            with m.If(job_active):
                n_steps = Mux(is_final, FA, SA)
                word_done = Mux(is_final, job_k == FA - 1,
                                (job_g == G - 1) & (job_k == SA - 1))
                m.d.sync += [p1_kind.eq(job_kind), p1_layer.eq(job_layer),
                             p1_pos.eq(job_pos), p1_first.eq(job_pos == 0),
                             p1_last.eq(word_done), p1_addr.eq(step_addr),
                             job_k.eq(job_k + 1)]
                m.d.sync += [p1_pot[a].eq(shadow[a]) for a in range(A)]
                with m.If(job_k == n_steps - 1):
                    m.d.sync += [*(c.eq(0) for c in job_active_c),
                                 self.flags.credit.eq(1)]
            for l in range(L - A):
                with m.If(job_shift[l // LANE_GROUP]):
                    m.d.sync += shadow[l].eq(shadow[l + A])

    def _pool_stages(self):
        """P2-P4 of a ``POOL`` job: the old sums and the potentials registered, their
        sum, the saturated sum registered and written."""
        m, stall, p1 = self.m, self.stall, self.p1
        p2_valid, p2_first = Signal(), Signal()
        p2_addr, p3_addr, p4_addr = (Signal.like(p1["addr"], name=f"p{k}_addr")
                                     for k in (2, 3, 4))
        p3_valid, p4_valid = Signal(), Signal()
        self.p2_first, self.p4_addr, self.p4_valid = p2_first, p4_addr, p4_valid
        self.pool_pp_busy = p2_valid | p3_valid | p4_valid
        with m.If(~stall):
            m.d.sync += [p2_valid.eq(p1["valid"] & (p1["kind"] == _Job.POOL)),
                         p2_first.eq(p1["first"]), p2_addr.eq(p1["addr"]),
                         p3_valid.eq(p2_valid), p3_addr.eq(p2_addr),
                         p4_valid.eq(p3_valid), p4_addr.eq(p3_addr)]

    def _pooled_sum(self, a, pool_a):
        """Lane ``a`` of P2-P4: the saturated new pooled sum."""
        m, AW = self.m, self.spec.acc_width
        p2_old = Signal(signed(POTENTIAL_BITS), name=f"p2_old{a}")
        p2_pot = Signal(signed(AW), name=f"p2_pot{a}")
        s = Signal(signed(max(AW, POTENTIAL_BITS) + 1), name=f"pool_sum{a}")
        sat = Signal(POTENTIAL_BITS, name=f"pool_sat{a}")
        with m.If(~self.stall):
            m.d.sync += [p2_old.eq(pool_a), p2_pot.eq(self.p1["pot"][a]),
                         s.eq(Mux(self.p2_first, 0, p2_old) + p2_pot),
                         sat.eq(Mux(s > POT_MAX, POT_MAX,
                                    Mux(s < POT_MIN, POT_MIN, s))[:POTENTIAL_BITS])]
        return sat

    def _step_units(self):
        """P1 on: the step activation units (and the pooled sums' stages)."""
        m, ext, mems, spec = self.m, self.ext, self.mems, self.spec
        stall, p1 = self.stall, self.p1
        tops = rom([(1 << g.act_bits) - 1 for g in spec.layers], 4)
        self.units = units = []
        self.tag_layout = tag_layout = data.StructLayout({
            "final": 1, "last": 1, "pos": unsigned(len(self.job_pos)),
            "layer": unsigned(len(self.job_layer))})
        pool_sum = []
        if spec.pooled:
            self._pool_stages()
        for a in range(self.A):
            slot = mems.p_rd.data[a * ext.param_slot:(a + 1) * ext.param_slot]
            th = slot[:THRESHOLD_BITS].as_signed()
            step = slot[THRESHOLD_BITS:]
            if spec.pooled:
                pool_a = mems.pool_rd.data[a * POTENTIAL_BITS:
                                           (a + 1) * POTENTIAL_BITS].as_signed()
                pool_sum.append(self._pooled_sum(a, pool_a))
                alt, sel_alt = pool_a, p1["kind"] == _Job.FINAL
            else:
                alt, sel_alt = 0, 0
            unit = StepActivation(spec.pot_width, ext.step_bits, tag_width=tag_layout.size)
            m.submodules[f"step{a}"] = unit
            units.append(unit)
            m.d.comb += [unit.ce.eq(~stall),
                         unit.i_valid.eq(p1["valid"] & (p1["kind"] != _Job.POOL)),
                         unit.i_pot.eq(p1["pot"][a]), unit.i_alt.eq(alt),
                         unit.i_sel_alt.eq(sel_alt), unit.i_th.eq(th), unit.i_step.eq(step),
                         unit.i_top.eq(tops[p1["layer"]])]
        if spec.pooled:
            m.d.comb += [mems.pool_wr.addr.eq(self.p4_addr),
                         mems.pool_wr.data.eq(Cat(*pool_sum)),
                         mems.pool_wr.en.eq(self.p4_valid & ~stall)]
        tag_in = Signal(tag_layout)
        m.d.comb += [tag_in.final.eq(p1["kind"] == _Job.FINAL), tag_in.last.eq(p1["last"]),
                     tag_in.pos.eq(p1["pos"]), tag_in.layer.eq(p1["layer"]),
                     units[0].i_tag.eq(tag_in)]
        pp_busy = self.job_active | p1["valid"] | ext.trace.valid
        if spec.pooled:
            pp_busy = pp_busy | self.pool_pp_busy
        for u in units:
            pp_busy = pp_busy | u.o_busy
        self.pp_busy = pp_busy

    def _pack(self):
        """P7: pack the activations; write a finished word / output the spikes."""
        m, ext, spec, A, units = self.m, self.ext, self.spec, self.A, self.units
        F, trace, flags = spec.filters, ext.trace, self.flags
        tag = Signal(self.tag_layout)
        m.d.comb += tag.eq(units[0].o_tag)
        word = Signal(F * ACT_SLOT)
        new_word = Cat(word[A * ACT_SLOT:], *(u.o_act for u in units))
        ob = spec.out_bits
        spk_word = Signal(F * ob)
        new_spk = Cat(spk_word[A * ob:], *(u.o_act[:ob] for u in units))
        out_base = Mux(tag.layer[0], spec.max_positions, 0)
        done = units[0].o_valid & ~self.stall
        with m.If(trace.valid & trace.ready):
            m.d.sync += trace.valid.eq(0)
        # A finished word is written to the activation RAM a cycle after it is packed,
        # from the trace register and an address register: straight from the
        # activation units, its route to the block RAM was a critical path (step 16 of
        # docs/design/timing-closure.md §3.6). ``trace.valid`` rises with the write pending, so
        # ``pp_busy`` covers it and the barrier waits until it has landed.
        a_wr = self.mems.a_wr
        aw_en = Signal()
        aw_addr = Signal.like(a_wr.addr, reset_less=True)
        m.d.sync += aw_en.eq(0)
        m.d.comb += [a_wr.addr.eq(aw_addr), a_wr.data.eq(trace.payload.data),
                     a_wr.en.eq(aw_en)]
        with m.If(done & ~tag.final):
            m.d.sync += word.eq(new_word)
            with m.If(tag.last):
                m.d.sync += [aw_en.eq(1), aw_addr.eq(out_base + tag.pos),
                             trace.valid.eq(1), trace.payload.layer.eq(tag.layer),
                             trace.payload.pos.eq(tag.pos),
                             trace.payload.data.eq(new_word)]
        with m.If(done & tag.final):
            m.d.sync += spk_word.eq(new_spk)
            with m.If(tag.last):
                m.d.sync += [flags.spk_valid.eq(1), flags.spk_data.eq(new_spk)]
