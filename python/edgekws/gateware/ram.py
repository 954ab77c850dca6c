"""Memory attributes shared by the gateware's block RAMs."""

__all__ = ["NO_RW_CHECK"]

#: ``memory.Memory(attrs=NO_RW_CHECK)``: yosys may assume that no read meets a write to
#: the same address in the same cycle. Amaranth's ``transparent_for=()`` read port
#: promises the old data on such a collision, which an ECP5 DP16KD does not give across
#: its two ports, so yosys emulates it (a multiplexer behind the block RAM output, the
#: write address and data in about 140 flip-flops). Only for memories whose design never
#: uses the data of such a read; each use says why.
NO_RW_CHECK = {"no_rw_check": 1}
