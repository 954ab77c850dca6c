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
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

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
        Consume the current list element (ignored once ``done``).
    pick : Signal, out
        The current element is picked (combinational, valid until ``done``).
    done : Signal, out
        All ``s`` picks were made; ``offset_out`` is the new offset counter.
    offset_out : Signal, out
        The offset after the last pick, as returned by ``spread_select``.
    """

    def __init__(self, width: int):
        if not isinstance(width, int) or width <= 0:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self.width = width
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
        q, r, s = Signal(w), Signal(w), Signal(w)
        group = Signal(w)          # index j of the current group
        pos = Signal(w)            # position inside the current group
        size = Signal(w + 1)       # size of the current group
        o = Signal(w + 1)          # offset, already wrapped to the current group

        m.d.comb += [
            self.pick.eq(~self.done & (pos == o)),
            self.offset_out.eq(o + 1),
        ]

        # Size of the next group and the offset wrapped to it.
        next_size = Mux(group + 1 < r, q + 1, q)
        o1 = Signal(w + 2)
        o2 = Signal(w + 2)
        o3 = Signal(w + 2)
        m.d.comb += [
            o1.eq(o + 1),
            o2.eq(Mux(o1 >= next_size, o1 - next_size, o1)),
            o3.eq(Mux(o2 >= next_size, o2 - next_size, o2)),
        ]

        with m.If(self.load):
            m.d.sync += [
                q.eq(self.q), r.eq(self.r), s.eq(self.s),
                group.eq(0), pos.eq(0), o.eq(self.offset),
                size.eq(Mux(self.r != 0, self.q + 1, self.q)),
                self.done.eq(self.s == 0),
            ]
        with m.Elif(self.advance & ~self.done):
            with m.If(self.pick & (group == s - 1)):
                m.d.sync += self.done.eq(1)
            with m.Elif(pos == size - 1):
                m.d.sync += [group.eq(group + 1), pos.eq(0), size.eq(next_size),
                             o.eq(o3)]
            with m.Else():
                m.d.sync += pos.eq(pos + 1)
        return m
