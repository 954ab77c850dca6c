"""Memory attributes shared by the gateware's block RAMs, and their simulation check."""

from amaranth.hdl import Mux, Signal

__all__ = ["NO_RW_CHECK", "PoisonedRead", "checked_reads"]

#: ``memory.Memory(attrs=NO_RW_CHECK)``: yosys may assume that no read meets a write to
#: the same address in the same cycle. Amaranth's ``transparent_for=()`` read port
#: promises the old data on such a collision, which an ECP5 DP16KD does not give across
#: its two ports, so yosys emulates it (a multiplexer behind the block RAM output, the
#: write address and data in about 140 flip-flops). Only for memories whose design never
#: uses the data of such a read; each use says why, and tests/test_sim_no_rw_check.py
#: checks it on the design built with :class:`PoisonedRead` ports.
NO_RW_CHECK = {"no_rw_check": 1}


class PoisonedRead:
    """A read port whose data is inverted on the cycle after its read met a write.

    A simulation check of ``NO_RW_CHECK``: build the design with its reads wrapped in
    this and compare it with the golden model. A read that met a write to its address
    gives the inverted word, so a design that used such data no longer matches. Never
    for hardware. Everything but ``data`` is the wrapped port's.

    Parameters
    ----------
    m : Module
        The module that owns the ports (the flag register is added to it).
    read, write : ReadPort, WritePort
        A synchronous read port (``sync`` domain) and a write port of one memory.
    """

    def __init__(self, m, read, write):
        self._port = read
        hit = Signal()
        # The data follows the address a cycle late, and holds while ``en`` is low.
        with m.If(read.en):
            m.d.sync += hit.eq(write.en.any() & (write.addr == read.addr))
        self.data = Mux(hit, ~read.data, read.data)

    def __getattr__(self, name):
        return getattr(self._port, name)


def checked_reads(m, pairs, poison: bool):
    """``[read for read, write in pairs]``, each a :class:`PoisonedRead` if ``poison``."""
    return [PoisonedRead(m, r, w) if poison else r for r, w in pairs]
