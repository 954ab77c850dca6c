"""The DS-CNN extractor's sequencer: the state machine that issues one op a cycle to
the op pipeline (:mod:`.mac_array`), layer by layer.

States: ``IDLE`` (loads accepted; leaves once an image is in), then per layer
``L<i>_CONV`` (InputConvolutional: every tap and channel inside the image), or
``L<i>_DW`` / ``L<i>_DRAIN`` / ``L<i>_PW`` (separable: the depthwise taps, the wait for
the last depthwise sums, the walk over the non-zero channels), and ``L<i>_BARRIER``
(every write of the layer has landed). The counters walk output positions in C
order, groups of ``lanes`` filters, and the taps inside the input (the per-position
tap ranges are constant tables).
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Signal, signed

from ..popcount import at_most_one
from .ops import _Job, _Kind, rom, times

__all__ = ["Sequencer"]


def _parts(sigs, values):
    return [sg.eq(v) for sg, v in zip(sigs, values)]


def _tap_tables(geom):
    """Per output row/column: the first and last kernel tap inside the input."""
    OX, OY = geom.out_xy
    ilo, ihi = zip(*(geom.tap_range(0, o) for o in range(OX)))
    jlo, jhi = zip(*(geom.tap_range(1, o) for o in range(OY)))
    w = max(geom.kernel).bit_length()
    return rom(ilo, w), rom(ihi, w), rom(jlo, w), rom(jhi, w)


class Sequencer:
    """The counters (created now) and the state machine (:meth:`build`) of ``ext``'s
    sequencer, in ``m``.

    Parameters
    ----------
    mac : MacArray
        Drives its ``iss`` record and ``iss_ra``/``iss_wa`` address parts; reads
        ``mac_busy`` and the non-zero channels ``nz_*``.
    post : PostProcessor
        Reads ``pp_busy``; drives ``launch_final``.
    flags
        ``credit`` (cleared by a group's last op, waited for before the next),
        ``img_full`` (cleared once the image is read), ``spk_valid``/``spk_data``.
    """

    def __init__(self, m, ext, mac, post, flags):
        self.m, self.ext, self.mac, self.post, self.flags = m, ext, mac, post, flags
        spec = ext.spec
        self.spec, self.G, self.F = spec, ext.groups, spec.filters
        self.ox = Signal(range(max(g.out_xy[0] for g in spec.layers) + 1))
        self.oy = Signal(range(max(g.out_xy[1] for g in spec.layers) + 1))
        self.ki = Signal(range(max(g.kernel[0] for g in spec.layers) + 1))
        self.kj = Signal(range(max(g.kernel[1] for g in spec.layers) + 1))
        self.gc = Signal(range(max(self.G, 2)))
        self.ch = Signal(range(max(self.F, spec.image_shape[2], 2)))
        self.pos = Signal(range(spec.max_positions + 1))
        self.todo = Signal(self.F)
        self.todo_empty = Signal()                     # todo == 0
        self.cur = Signal(self.F)
        self.pw_first = Signal()
        self.all_idle = ~mac.mac_busy & ~post.pp_busy

    # -- counters ------------------------------------------------------------------------
    def _enter(self, geom, tabs):
        """Counters at the first position of a layer."""
        ilo, _, jlo, _ = tabs
        return [self.ox.eq(0), self.oy.eq(0), self.pos.eq(0), self.gc.eq(0),
                self.ch.eq(0), self.ki.eq(ilo[0]), self.kj.eq(jlo[0])]

    def _next_position(self, geom, tabs, then, end, on_end=()):
        """Advance to the next position (C order), or leave the layer."""
        m, ox, oy, ki, kj = self.m, self.ox, self.oy, self.ki, self.kj
        ilo, _, jlo, _ = tabs
        OX, OY = geom.out_xy
        m.d.sync += [self.gc.eq(0), self.pos.eq(self.pos + 1)]
        with m.If(oy == OY - 1):
            m.d.sync += [oy.eq(0), kj.eq(jlo[0]), ox.eq(ox + 1), ki.eq(ilo[ox + 1])]
            with m.If(ox == OX - 1):
                m.d.sync += list(on_end)
                m.next = end
            with m.Else():
                m.next = then
        with m.Else():
            m.d.sync += [oy.eq(oy + 1), kj.eq(jlo[oy + 1]), ki.eq(ilo[ox])]
            m.next = then

    def _input_xy(self, geom, base=0):
        """Input coordinates of the current tap, and its word address ``base + ...``
        as two parts (position, tap) whose sum is the address."""
        ox, oy, ki, kj = self.ox, self.oy, self.ki, self.kj
        OX, OY = geom.out_xy
        IY = geom.in_shape[1]
        sx, sy = geom.stride
        px, py = geom.pads[0][0], geom.pads[1][0]
        xs = [o * sx - px for o in range(OX)]
        ys = [o * sy - py for o in range(OY)]
        width = max(abs(v) for v in xs + ys + [OX * sx * IY]).bit_length() + 2
        x0 = Array(Const(v, signed(width)) for v in xs + [0])[ox]
        y0 = Array(Const(v, signed(width)) for v in ys + [0])[oy]
        row0 = Array(Const(base + v * IY, signed(width + IY.bit_length() + 1))
                     for v in xs + [0])[ox]
        ix, iy = x0 + ki, y0 + kj
        return ix, iy, (row0 + y0, times(ki, IY, geom.kernel[0] + 1) + kj)

    def _group_rom(self, base, per_group):
        """``base + gc * per_group`` as a table (constant for one group)."""
        G = self.G
        return rom([base + g * per_group for g in range(G)],
                   max(base + (G - 1) * per_group, 1).bit_length())[self.gc]

    # -- the state machine ---------------------------------------------------------------
    def build(self):
        m, spec, ext = self.m, self.spec, self.ext
        self.tabs = [_tap_tables(g) for g in spec.layers]
        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.comb += ext.load.ready.eq(self.all_idle)
                with m.If(self.flags.img_full & ~ext.load.valid):
                    m.d.sync += self._enter(spec.layers[0], self.tabs[0])
                    m.next = "L0_CONV"
            for li, geom in enumerate(spec.layers):
                ilo, ihi, jlo, jhi = self.tabs[li]
                ends = (self.ki == ihi[self.ox], self.kj == jhi[self.oy],
                        self.gc == self.G - 1)
                job = _Job.POOL if geom.pooled else _Job.ACT
                iss = self.mac.iss
                common = [iss["g"].eq(self.gc), iss["pos"].eq(self.pos),
                          iss["layer"].eq(li), iss["job"].eq(job)]
                if geom.kind == "conv":
                    self._conv_state(li, geom, ends, common)
                else:
                    self._depthwise_states(li, geom, ends, common)
                    self._pointwise_state(li, geom, ends, common)
                self._barrier_state(li, geom)
            m.d.comb += ext.busy.eq(self.mac.mac_busy | self.post.pp_busy |
                                    self.flags.img_full)

    def _conv_state(self, li, geom, ends, common):
        """``L<li>_CONV``: every tap and channel inside the image, group by group."""
        m, iss, flags = self.m, self.mac.iss, self.flags
        ox, oy, ki, kj, gc, ch = self.ox, self.oy, self.ki, self.kj, self.gc, self.ch
        ilo, _, jlo, _ = self.tabs[li]
        end_i, end_j, end_g = ends
        IX, IY, C = geom.in_shape
        with m.State(f"L{li}_CONV"):
            ix, iy, addr = self._input_xy(geom)
            T = geom.taps * C
            K1 = geom.kernel[1]
            end_c = ch == C - 1
            last = end_c & end_j & end_i
            first = (ki == ilo[ox]) & (kj == jlo[oy]) & (ch == 0)
            m.d.comb += [
                iss["kind"].eq(_Kind.CONV), iss["first"].eq(first),
                iss["last"].eq(last), iss["c"].eq(ch), *common,
                *_parts(self.mac.iss_ra, addr),
                *_parts(self.mac.iss_wa, (self._group_rom(self.ext.w_base[li][0], T) + ch,
                                          times(ki, K1 * C, geom.kernel[0]) +
                                          times(kj, C, K1)))]
            if geom.padding_value:
                m.d.comb += iss["pad"].eq((ix < 0) | (ix >= IX) | (iy < 0) | (iy >= IY))
            with m.If(~last | flags.credit):
                m.d.comb += iss["valid"].eq(1)
                with m.If(~end_c):
                    m.d.sync += ch.eq(ch + 1)
                with m.Else():
                    m.d.sync += ch.eq(0)
                    with m.If(~end_j):
                        m.d.sync += kj.eq(kj + 1)
                    with m.Elif(~end_i):
                        m.d.sync += [ki.eq(ki + 1), kj.eq(jlo[oy])]
                    with m.Else():
                        m.d.sync += flags.credit.eq(0)
                        with m.If(~end_g):
                            m.d.sync += [gc.eq(gc + 1), ki.eq(ilo[ox]), kj.eq(jlo[oy])]
                        with m.Else():
                            # The image is read (the last read is in flight and sees
                            # the old word): the next one may load.
                            self._next_position(geom, self.tabs[li], f"L{li}_CONV",
                                                f"L{li}_BARRIER",
                                                on_end=[flags.img_full.eq(0)])

    def _depthwise_states(self, li, geom, ends, common):
        """``L<li>_DW``: the depthwise taps inside the input, group by group;
        ``L<li>_DRAIN``: until the position's last depthwise sums and their non-zero
        mask are in."""
        m, iss, mac = self.m, self.mac.iss, self.mac
        ox, oy, ki, kj, gc = self.ox, self.oy, self.ki, self.kj, self.gc
        ilo, _, jlo, _ = self.tabs[li]
        end_i, end_j, end_g = ends
        in_base = self.spec.max_positions if (li - 1) % 2 else 0
        with m.State(f"L{li}_DW"):
            ix, iy, addr = self._input_xy(geom, in_base)
            last = end_j & end_i
            m.d.comb += [
                iss["valid"].eq(1), iss["kind"].eq(_Kind.DW),
                iss["first"].eq((ki == ilo[ox]) & (kj == jlo[oy])),
                iss["last"].eq(last), *common,
                *_parts(mac.iss_ra, addr),
                *_parts(mac.iss_wa, (self._group_rom(self.ext.w_base[li][0], geom.taps),
                                     times(ki, geom.kernel[1], geom.kernel[0]) + kj))]
            with m.If(~end_j):
                m.d.sync += kj.eq(kj + 1)
            with m.Elif(~end_i):
                m.d.sync += [ki.eq(ki + 1), kj.eq(jlo[oy])]
            with m.Elif(~end_g):
                m.d.sync += [gc.eq(gc + 1), ki.eq(ilo[ox]), kj.eq(jlo[oy])]
            with m.Else():
                m.d.sync += gc.eq(0)
                m.next = f"L{li}_DRAIN"
        with m.State(f"L{li}_DRAIN"):
            # The pointwise pass needs every depthwise sum of the position.
            with m.If(~mac.mac_busy & mac.nz_ready[1]):
                m.d.sync += [self.cur.eq(mac.nz_cur), self.todo.eq(mac.nz_todo),
                             self.todo_empty.eq(mac.nz_todo_empty), self.pw_first.eq(1)]
                m.next = f"L{li}_PW"

    def _pointwise_state(self, li, geom, ends, common):
        """``L<li>_PW``: one op per non-zero depthwise sum (at least one per group)."""
        m, iss, mac, F = self.m, self.mac.iss, self.mac, self.F
        cur, todo, todo_empty, pw_first = self.cur, self.todo, self.todo_empty, \
            self.pw_first
        end_g = ends[2]
        with m.State(f"L{li}_PW"):
            # ``cur``: the channel issued now (one-hot, 0 if every sum is zero);
            # ``todo``: the non-zero channels after it. The lowest of ``todo`` is split
            # off for the next cycle, so the long subtract never sits on the control
            # path.
            idx = Signal(range(max(F, 2)), name=f"pw_idx{li}")
            m.d.comb += idx.eq(
                Cat(*(Cat(*(cur[k] for k in range(F) if k >> b & 1)).any()
                      for b in range(max(F - 1, 1).bit_length()))))
            last = todo_empty
            m.d.comb += [
                iss["kind"].eq(_Kind.PW), iss["first"].eq(pw_first),
                iss["last"].eq(last), iss["c"].eq(idx),
                iss["zero"].eq(cur == 0), *common,
                *_parts(mac.iss_wa, (self._group_rom(self.ext.w_base[li][1], F), idx))]
            with m.If(~last | self.flags.credit):
                m.d.comb += iss["valid"].eq(1)
                # ``rest == 0`` as a tree of flags: behind the subtract's carry chain
                # it was the critical path (step 16).
                m.d.sync += [cur.eq(todo & -todo), todo.eq(todo & (todo - 1)),
                             todo_empty.eq(at_most_one(todo)), pw_first.eq(0)]
                with m.If(last):
                    m.d.sync += [self.flags.credit.eq(0), pw_first.eq(1)]
                    with m.If(~end_g):
                        m.d.sync += [self.gc.eq(self.gc + 1), cur.eq(mac.nz_cur),
                                     todo.eq(mac.nz_todo),
                                     todo_empty.eq(mac.nz_todo_empty)]
                    with m.Else():
                        self._next_position(geom, self.tabs[li], f"L{li}_DW",
                                            f"L{li}_BARRIER")

    def _barrier_state(self, li, geom):
        """``L<li>_BARRIER``: the next layer reads what this one wrote, so wait for
        every write; after the last layer, launch ``FINAL`` (or mark the end)."""
        m, spec, flags = self.m, self.spec, self.flags
        with m.State(f"L{li}_BARRIER"):
            if li < len(spec.layers) - 1:
                with m.If(self.all_idle):
                    m.d.sync += self._enter(spec.layers[li + 1], self.tabs[li + 1])
                    m.next = f"L{li + 1}_DW"
            elif geom.pooled:
                with m.If(self.all_idle & ~flags.spk_valid):
                    m.d.comb += self.post.launch_final.eq(1)
                    m.d.sync += flags.credit.eq(0)
                    m.next = "IDLE"
            else:
                with m.If(self.all_idle & ~flags.spk_valid):
                    m.d.sync += [flags.spk_valid.eq(1), flags.spk_data.eq(0)]
                    m.next = "IDLE"
