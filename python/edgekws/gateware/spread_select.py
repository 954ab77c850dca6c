"""The learning rule's ``spread_select`` as a stream of keep/pick decisions.

:func:`edgekws.golden.learning.spread_select` returns the ``s`` picked positions of
an ascending candidate list of length ``n``: the list is cut into ``s`` contiguous
groups (``q + 1`` elements for the first ``r``, ``q`` for the others, with
``q, r = divmod(n, s)``), and group ``j`` gives its element at position ``o`` —
the running offset, wrapped to the group size — after which ``o`` grows by one.

The hardware walks the candidate list in order, one element per cycle, and says for
each whether it is picked. Only the first group may see an offset far above its size
(the layer's offset counter comes from the previous sample); the caller reduces it
with a divider and passes ``offset`` already below the first group's size. Later
groups start at most at ``q + 1 <= 2 * size``, so two conditional subtractions
wrap them exactly like Python's ``%``.
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from edgekws.checks import check_int

__all__ = ["SpreadSelector"]


class SpreadSelector(wiring.Component):
    """Streaming ``spread_select``.

    Parameters
    ----------
    width : int
        Width of ``q``, ``r``, ``s`` and the offsets (enough for the list length).

    Attributes
    ----------
    load : Signal, in
        Start a new selection from ``q``, ``r``, ``s`` and ``offset``
        (``offset < (q + 1 if r else q)``). ``s == 0`` selects nothing.
    advance : Signal, in
        Consume the current list element (ignored once ``done``). Must stay low
        in the cycle after ``load``.
    pick : Signal, out
        The current element is picked (combinational, valid until ``done``).
    done : Signal, out
        All ``s`` picks were made; ``offset_out`` is the new offset counter.
    offset_out : Signal, out
        The offset after the last pick, as returned by ``spread_select``.
    """

    def __init__(self, width: int):
        self.width = width = check_int("width", width)
        super().__init__({
            "load": In(1),
            "q": In(width),
            "r": In(width),
            "s": In(width),
            "offset": In(width),
            "advance": In(1),
            "pick": Out(1),
            "done": Out(1),
            "offset_out": Out(width + 1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.width
        q, r = Signal(w), Signal(w)
        s = Signal(w)                   # number of groups
        pos_p1 = Signal(w + 1)          # position inside the current group, plus one
        size_m1 = Signal(w + 1)         # size of the current group, minus one
        o = Signal(w + 1)               # offset, already wrapped to the current group
        # The three comparisons that decide a step (pos == o, pos == size - 1, the last
        # group) are kept as flags, each derived when its operands change: behind
        # ``advance`` the flip-flop enables are then two LUTs deep, where the
        # comparators in front of them made this the critical path of the extractor +
        # FC core build (docs/design/timing-closure.md §3.6, step 15).
        at_pick = Signal()              # pos == o
        at_end = Signal()               # pos == size_m1
        in_last = Signal()              # the current group is group s - 1
        # The next group's size enters as 1 - size and 1 - 2 * size, so that wrapping
        # ``o + 1`` is two additions side by side instead of a chain of four carry
        # chains (the selector was the core's critical path).
        k1 = Signal(signed(w + 3))
        k2 = Signal(signed(w + 3))
        # Both candidates of (k1, k2), for a group of q + 1 and of q, are derived once
        # in the priming cycle, and `group + 2` is kept as a register: the next group's
        # k1 is then a comparison and a multiplexer, not four carry chains in a row
        # (that path limited the core's Fmax).
        group_p2 = Signal(w + 1)
        k_big = [Signal(signed(w + 3), name=f"k{i}_big") for i in (1, 2)]
        k_small = [Signal(signed(w + 3), name=f"k{i}_small") for i in (1, 2)]

        def group_size(j, q_, r_):
            return Mux(j < r_, q_ + 1, q_)

        def set_next(size):
            return [k1.eq(1 - size), k2.eq(1 - 2 * size)]

        m.d.comb += [
            self.pick.eq(~self.done & at_pick),
            self.offset_out.eq(o + 1),
        ]

        d1 = Signal(signed(w + 4))
        d2 = Signal(signed(w + 4))
        wrapped = Signal(w + 1)
        m.d.comb += [
            d1.eq(o + k1),
            d2.eq(o + k2),
            wrapped.eq(Mux(d2 >= 0, d2, Mux(d1 >= 0, d1, o + 1))),
        ]

        # The group sizes are derived in the cycle after ``load``, from registers:
        # computing them from the inputs made loading the critical path.
        prime = Signal()
        with m.If(self.load):
            m.d.sync += [
                q.eq(self.q), r.eq(self.r), s.eq(self.s),
                group_p2.eq(2), pos_p1.eq(1), o.eq(self.offset),
                at_pick.eq(self.offset == 0), in_last.eq(self.s == 1),
                self.done.eq(self.s == 0), prime.eq(1),
            ]
        with m.Elif(prime):
            size0_m1 = Mux(r != 0, q, q - 1)
            m.d.sync += [size_m1.eq(size0_m1), at_end.eq(size0_m1 == 0),
                         *set_next(group_size(1, q, r)), prime.eq(0),
                         k_big[0].eq(1 - (q + 1)), k_big[1].eq(1 - 2 * (q + 1)),
                         k_small[0].eq(1 - q), k_small[1].eq(1 - 2 * q)]
        with m.Elif(self.advance & ~self.done):
            with m.If(at_pick & in_last):
                m.d.sync += self.done.eq(1)
            with m.Elif(at_end):
                big = group_p2 < r             # group + 2 has q + 1 elements
                # o + 1 >= 1, so the wrapped offset is 0 only through d2 or d1.
                m.d.sync += [group_p2.eq(group_p2 + 1), pos_p1.eq(1),
                             size_m1.eq(-k1), o.eq(wrapped),
                             at_pick.eq((d2 == 0) | ((d2 < 0) & (d1 == 0))),
                             at_end.eq(k1 == 0), in_last.eq(group_p2 == s),
                             k1.eq(Mux(big, k_big[0], k_small[0])),
                             k2.eq(Mux(big, k_big[1], k_small[1]))]
            with m.Else():
                m.d.sync += [pos_p1.eq(pos_p1 + 1), at_pick.eq(pos_p1 == o),
                             at_end.eq(pos_p1 == size_m1)]
        return m
