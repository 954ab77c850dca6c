"""Binary FullyConnected layer with on-chip learning (Akida 1.0 "AkidaUnsupervised").

:class:`FCLearningCore` holds the 1-bit weights of up to ``num_neurons`` neurons over
``num_inputs`` binary inputs in block RAM and, for each spike vector it receives:

* computes every active neuron's potential ``pot[j] = popcount(x & W[:, j])``,
  stores them (readable with ``READ_POT``) and reports the winning neuron (highest
  potential, ties to the lowest index) and its class ``winner // neurons_per_class``;
* on ``LEARN`` samples, applies the learning rule of
  :func:`edgekws.golden.learning.learn` (``akida-v1-semantics.md`` §6.3) to the
  winner among the eligible neurons of the label's block.

Architecture (see ``docs/design/fc-core.md``)
---------------------------------------------
* ``lanes`` weight memories, each ``width`` bits wide: neuron ``j`` lives in lane
  ``j % lanes``, its ``num_inputs / width`` words at consecutive addresses. Every
  cycle of the potential pass reads one word in each lane and adds the popcount of
  ``word & x`` (a balanced adder tree) to that lane's accumulator, so a pass takes
  ``ceil(N / lanes) * num_inputs / width`` cycles plus a 6-stage pipeline.
* The winner and the learning winner are reduced on the fly, in neuron order, while
  the potentials leave the pipeline; ``threshold_learning`` is read alongside.
* Learning touches only the winner: its R/A counts (one pass over its words), a few
  small divisions (:class:`.SeqDivider`), then for R and then A a walk over the
  candidate bits, one per cycle, lowest first (``mask & -mask``), deciding each with
  the streaming :class:`.SpreadSelector`; picked bits are toggled in place.

Host interface
--------------
One command stream ``cmd`` and one response stream ``rsp`` (``amaranth.lib.stream``,
valid/ready). Commands are executed in order; only reads, ``INFER`` and ``LEARN``
answer. See :class:`Op` and :class:`Param` for the command set; the testbench's ``Codec`` in
``sim/test_fc_core.py`` shows the encoding.
"""
from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, exact_log2

from edgekws.checks import check_int
from edgekws.golden.quant import POT_MAX
from edgekws.protocol import LearnReg

from .divider import SeqDivider
from .popcount import add_tree, popcount_parts
from .ram import NO_RW_CHECK, checked_reads
from .spread_select import SpreadSelector

__all__ = ["Op", "Param", "FCLearningCore", "VAR_WIDTH", "default_width"]

#: Width of ``threshold_learning``, ``thswap`` and the derived learning parameters
#: (signed two's complement). 16 bits hold every value the rule produces for
#: ``num_inputs < 2**14``.
VAR_WIDTH = 16


class Op(enum.Enum, shape=4):
    """Command opcodes (``cmd.payload.op``).

    =============== ======================================= =================
    op              fields used                             response
    =============== ======================================= =================
    INFER           ``data`` = spike word; one beat per      RESULT
                    word, ``num_inputs / width`` beats
    LEARN           as INFER, plus ``label`` (first beat)    RESULT
    WRITE_WEIGHT    ``addr`` = neuron, ``word``, ``data``    none
    READ_WEIGHT     ``addr`` = neuron, ``word``              ``data``
    WRITE_THL       ``addr`` = neuron, ``data`` (16-bit)     none
    READ_THL        ``addr`` = neuron                        ``data``
    WRITE_THSWAP    ``addr`` = neuron, ``data`` (16-bit)     none
    READ_THSWAP     ``addr`` = neuron                        ``data``
    READ_POT        ``addr`` = neuron (last INFER/LEARN)     ``data``
    WRITE_PARAM     ``addr`` = :class:`Param`, ``data``      none
    READ_PARAM      ``addr`` = :class:`Param`                ``data``
    ADD_CLASSES     ``data`` = number of new classes         none
    =============== ======================================= =================
    """
    NOP = 0
    INFER = 1
    LEARN = 2
    WRITE_WEIGHT = 3
    READ_WEIGHT = 4
    WRITE_THL = 5
    READ_THL = 6
    WRITE_THSWAP = 7
    READ_THSWAP = 8
    READ_POT = 9
    WRITE_PARAM = 10
    READ_PARAM = 11
    ADD_CLASSES = 12


#: Registers addressed by ``WRITE_PARAM``/``READ_PARAM``, numbered once for host and
#: gateware by :class:`edgekws.protocol.LearnReg` (the shape, 3 bits, follows the values).
Param = enum.Enum("Param", [(r.name, r.value) for r in LearnReg])
Param.__doc__ = """Registers addressed by ``WRITE_PARAM``/``READ_PARAM``.

    The learning parameters are the integers derived on the host by
    :class:`edgekws.golden.learning.LearningParams` (``thswap_init``, ``decay``,
    ``thswap_min``, ``thl_cap``).
    """


def default_width(num_inputs: int) -> int:
    """The largest divisor of ``num_inputs`` that is at most 64."""
    return max(d for d in range(1, min(num_inputs, 64) + 1) if num_inputs % d == 0)


class FCLearningCore(wiring.Component):
    """Binary FullyConnected layer with AkidaUnsupervised learning.

    Parameters
    ----------
    num_inputs : int
        F, the number of binary inputs (spikes) per sample.
    num_neurons : int
        Capacity in neurons (classes x neurons per class); the active count is the
        ``NUM_NEURONS`` register, which ``ADD_CLASSES`` grows.
    lanes : int
        Neurons processed in parallel (a power of two dividing ``num_neurons``).
    width : int, optional
        Input bits processed per lane and cycle; must divide ``num_inputs``.
        Defaults to the largest divisor of ``num_inputs`` not above 64.
    poison_collisions : bool
        Simulation check of the memories' ``NO_RW_CHECK``: invert the data of a read
        that met a write to its address (:class:`~edgekws.gateware.ram.PoisonedRead`).
        Never for hardware.

    Attributes
    ----------
    cmd : In(stream.Signature(cmd_layout))
        Commands, see :class:`Op`.
    rsp : Out(stream.Signature(rsp_layout))
        Responses: ``op`` echoes the command; reads fill ``data`` (16-bit values are
        two's complement in the low bits); INFER/LEARN fill ``neuron``, ``cls``,
        ``pot`` (the winner), ``learn_valid``/``learn_neuron`` (the eligible winner,
        if any) and ``swaps`` (``s`` of the rule).
    """

    def __init__(self, num_inputs: int = 64, num_neurons: int = 1024, *,
                 lanes: int = 1, width: int | None = None,
                 poison_collisions: bool = False):
        num_inputs = check_int("num_inputs", num_inputs)
        num_neurons = check_int("num_neurons", num_neurons)
        lanes = check_int("lanes", lanes)
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, not {lanes!r}")
        if num_neurons % lanes:
            raise ValueError(f"num_neurons ({num_neurons}) must be a multiple of lanes "
                             f"({lanes})")
        if num_inputs >= 2 ** (VAR_WIDTH - 2):
            raise ValueError(f"num_inputs must be below {2 ** (VAR_WIDTH - 2)}, not "
                             f"{num_inputs!r}")
        # A potential is at most num_inputs, far below the 20-bit clamp of the
        # FullyConnected potential (golden POT_MAX): no saturation logic needed.
        assert num_inputs < POT_MAX
        if width is None:
            width = default_width(num_inputs)
        width = check_int("width", width)
        if num_inputs % width:
            raise ValueError(f"width must divide num_inputs ({num_inputs}), not {width!r}")

        self.poison_collisions = bool(poison_collisions)
        self.num_inputs = F = num_inputs
        self.num_neurons = N = num_neurons
        self.lanes = lanes
        self.width = width
        self.words = F // width                  # words per neuron
        self.groups = N // lanes                 # neurons per lane
        self.pot_width = bits_for(F)
        self.idx_width = bits_for(N)
        self.data_width = max(width, VAR_WIDTH, self.idx_width)

        self.cmd_layout = data.StructLayout({
            "op": Op,
            "addr": unsigned(max(self.idx_width, 3)),
            "word": unsigned(bits_for(max(self.words - 1, 1))),
            "label": signed(self.idx_width + 1),
            "data": unsigned(self.data_width),
        })
        self.rsp_layout = data.StructLayout({
            "op": Op,
            "data": unsigned(self.data_width),
            "neuron": unsigned(self.idx_width),
            "cls": unsigned(self.idx_width),
            "pot": unsigned(self.pot_width),
            "learn_valid": unsigned(1),
            "learn_neuron": unsigned(self.idx_width),
            "swaps": unsigned(self.pot_width),
        })
        super().__init__({
            "cmd": In(stream.Signature(self.cmd_layout)),
            "rsp": Out(stream.Signature(self.rsp_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        _CoreLogic(self, m).build()
        return m


class _CoreLogic:
    """:class:`FCLearningCore`'s datapath and its ``ctrl`` state machine, built into
    ``m``: one method per part (memories, potential pass, winner reduction, learning
    datapath, host reads) and per group of states (host commands, the pass, the
    learning counts, the candidate walk, the result, ADD_CLASSES)."""

    def __init__(self, core: FCLearningCore, m: Module):
        self.core, self.m = core, m
        self.F, self.N, self.L, self.W = (core.num_inputs, core.num_neurons, core.lanes,
                                          core.width)
        self.WPN, self.G = core.words, core.groups
        self.LW = exact_log2(self.L)
        self.PW, self.IW, self.VW = core.pot_width, core.idx_width, VAR_WIDTH
        self.CW = bits_for(self.F) + 1              # counts, offsets, q, r, s
        self.cmd, self.rsp = core.cmd, core.rsp
        self.cp = core.cmd.payload
        self._memories()
        self._registers()
        self._potential_pass()
        self._winner_reduction()
        m.submodules.cls_div = self.cls_div = SeqDivider(self.IW)
        m.d.comb += [self.cls_div.dividend.eq(self.best_idx),
                     self.cls_div.divisor.eq(self.per_class)]
        self._learning_datapath()
        self._host_reads()
        self._write_ports()
        self._candidate_walk()

    def split(self, neuron):
        """(lane, group) of a neuron index."""
        return neuron[:self.LW] if self.LW else Const(0, 1), neuron[self.LW:]

    # -- datapath ------------------------------------------------------------------------
    def _memories(self):
        """Per lane: weights, threshold_learning, thswap, potentials; the sample's
        spike words; their shared read addresses."""
        m, L, W, G, WPN, VW, PW = self.m, self.L, self.W, self.G, self.WPN, self.VW, self.PW
        # No read whose data is used meets a write to the same address: host writes
        # (IDLE, ADD), the pass's potential writes, the walk's SCAN_WRITE and
        # L_UPDATE each leave the read ports' data unused in the next cycle. So
        # ``NO_RW_CHECK`` spares yosys' emulation of a collision, which sat on the
        # critical paths (docs/design/timing-closure.md §3.6, step 15).
        wrd, wwr, thl_rd, thl_wr, swp_rd, swp_wr, pot_rd, pot_wr = ([] for _ in range(8))
        for l in range(L):
            wmem = memory.Memory(shape=W, depth=G * WPN, init=[], attrs=NO_RW_CHECK)
            thlm = memory.Memory(shape=signed(VW), depth=G, init=[], attrs=NO_RW_CHECK)
            swpm = memory.Memory(shape=signed(VW), depth=G, init=[], attrs=NO_RW_CHECK)
            potm = memory.Memory(shape=PW, depth=G, init=[], attrs=NO_RW_CHECK)
            m.submodules[f"weights{l}"] = wmem
            m.submodules[f"thl{l}"] = thlm
            m.submodules[f"thswap{l}"] = swpm
            m.submodules[f"pot{l}"] = potm
            wrd.append(wmem.read_port(transparent_for=()))
            wwr.append(wmem.write_port())
            thl_rd.append(thlm.read_port(transparent_for=()))
            thl_wr.append(thlm.write_port())
            swp_rd.append(swpm.read_port(transparent_for=()))
            swp_wr.append(swpm.write_port())
            pot_rd.append(potm.read_port(transparent_for=()))
            pot_wr.append(potm.write_port())
        m.submodules.spikes = xmem = memory.Memory(shape=W, depth=WPN, init=[],
                                                   attrs=NO_RW_CHECK)
        x_rd = xmem.read_port(transparent_for=())
        self.x_wr = xmem.write_port()
        poison = self.core.poison_collisions
        self.wrd = wrd = checked_reads(m, zip(wrd, wwr), poison)
        self.thl_rd = thl_rd = checked_reads(m, zip(thl_rd, thl_wr), poison)
        self.swp_rd = swp_rd = checked_reads(m, zip(swp_rd, swp_wr), poison)
        self.pot_rd = pot_rd = checked_reads(m, zip(pot_rd, pot_wr), poison)
        self.x_rd, = checked_reads(m, [(x_rd, self.x_wr)], poison)
        self.wwr, self.thl_wr, self.swp_wr, self.pot_wr = wwr, thl_wr, swp_wr, pot_wr

        # Shared addresses: the pass reads the same address in every lane; host reads
        # and learning use one lane and ignore the others.
        self.w_addr = Signal(range(max(G * WPN, 2)))
        self.v_addr = Signal(range(max(G, 2)))      # thl / thswap / pot
        for l in range(L):
            for port, addr in ((wrd[l], self.w_addr), (thl_rd[l], self.v_addr),
                               (swp_rd[l], self.v_addr), (pot_rd[l], self.v_addr)):
                m.d.comb += port.addr.eq(addr)
        self.x_addr = Signal(range(max(WPN, 2)))
        m.d.comb += self.x_rd.addr.eq(self.x_addr)

    def _registers(self):
        """The parameters (:class:`Param` order) and the sample's command state."""
        N, VW, IW = self.N, self.VW, self.IW
        self.num_neurons = Signal(range(N + 1))
        self.num_classes = Signal(range(N + 1))
        self.per_class = Signal(range(N + 1))
        self.thswap_init = Signal(signed(VW))
        self.decay = Signal(signed(VW))
        self.thswap_min = Signal(signed(VW))
        self.thl_cap = Signal(signed(VW))
        self.offset = Signal(self.CW)
        self.params = Array([self.num_neurons, self.num_classes, self.per_class,
                             self.thswap_init, self.decay, self.thswap_min, self.thl_cap,
                             self.offset])
        # The sample: its op, the learning candidates' block, the words loaded.
        self.op = Signal(Op)
        self.cand_all = Signal()
        # Full width: a label >= NUM_CLASSES must give an empty block, not wrap.
        self.cand_lo = Signal(2 * IW)
        self.cand_hi = Signal(2 * IW + 1)
        self.load_word = Signal(range(max(self.WPN, 2)))

    def _potential_pass(self):
        """Stages 0-3 of the pass: every active neuron's potential, written to the
        potential memories (stage 4)."""
        m, L, W, G, WPN, PW, VW = self.m, self.L, self.W, self.G, self.WPN, self.PW, self.VW
        # Pipeline: s0 issue addresses | s1 memory data, AND with the spikes |
        # s2 popcounts of 16-bit slices | s3 sum and accumulate | s4 eligibility |
        # s5 reduce.
        # Block RAM outputs are slow (about 6 ns on ECP5), so nothing but an AND
        # follows them before a register.
        self.p_run = p_run = Signal()
        self.p_grp = p_grp = Signal(range(G + 1))
        self.p_word = p_word = Signal(range(max(WPN, 2)))
        self.p_groups = Signal(range(G + 1))
        # The pass's weight address as a counter of its own (p_grp * WPN + p_word): the
        # adder, shared with the host's address, sat in front of the weight RAMs on a
        # critical path (step 16 of docs/design/timing-closure.md §3.6).
        self.p_addr = Signal(range(max(G * WPN + 1, 2)))

        def stage(n):
            return (Signal(name=f"s{n}_valid"), Signal(name=f"s{n}_first"),
                    Signal(name=f"s{n}_last"), Signal.like(p_grp, name=f"s{n}_grp"))

        s1_valid, s1_first, s1_last, s1_grp = stage(1)
        s2_valid, s2_first, s2_last, s2_grp = stage(2)
        s3_valid, s3_first, s3_last, s3_grp = stage(3)
        s4_valid, _, _, s4_grp = stage(4)
        self.pipe_valid = [s1_valid, s2_valid, s3_valid, s4_valid]
        self.s4_valid, self.s4_grp = s4_valid, s4_grp
        m.d.comb += self.x_addr.eq(p_word)
        m.d.sync += [s1_valid.eq(p_run), s1_grp.eq(p_grp),
                     s1_first.eq(p_word == 0), s1_last.eq(p_word == WPN - 1)]
        m.d.sync += [s2_valid.eq(s1_valid), s2_grp.eq(s1_grp),
                     s2_first.eq(s1_first), s2_last.eq(s1_last)]
        m.d.sync += [s3_valid.eq(s2_valid), s3_grp.eq(s2_grp),
                     s3_first.eq(s2_first), s3_last.eq(s2_last)]
        m.d.sync += [s4_valid.eq(s3_valid & s3_last), s4_grp.eq(s3_grp)]
        acc = [Signal(PW, name=f"acc{l}") for l in range(L)]
        self.s4_pot = s4_pot = [Signal(PW, name=f"s4_pot{l}") for l in range(L)]
        self.s4_thl = s4_thl = [Signal(signed(VW), name=f"s4_thl{l}") for l in range(L)]
        for l in range(L):
            s2_and = Signal(W, name=f"s2_and{l}")
            s2_thl = Signal(signed(VW), name=f"s2_thl{l}")
            s3_thl = Signal(signed(VW), name=f"s3_thl{l}")
            parts = popcount_parts(s2_and)
            s3_parts = [Signal(len(v), name=f"s3_part{l}_{i}") for i, v in enumerate(parts)]
            # popcount of AND: this word's contribution to the potential.
            m.d.sync += [s2_and.eq(self.wrd[l].data & self.x_rd.data),
                         s2_thl.eq(self.thl_rd[l].data)]
            m.d.sync += [a.eq(b) for a, b in zip(s3_parts, parts)]
            m.d.sync += s3_thl.eq(s2_thl)
            total = Mux(s3_first, 0, acc[l]) + add_tree(s3_parts)
            with m.If(s3_valid):
                m.d.sync += acc[l].eq(total)
            m.d.sync += [s4_pot[l].eq(total), s4_thl[l].eq(s3_thl)]
            m.d.comb += [self.pot_wr[l].addr.eq(s4_grp), self.pot_wr[l].data.eq(s4_pot[l]),
                         self.pot_wr[l].en.eq(s4_valid)]

    def _winner_reduction(self):
        """Stages 4-5: the winner and the learning winner, reduced in neuron order."""
        m, L, LW, PW, IW = self.m, self.L, self.LW, self.PW, self.IW
        s4_grp, s4_pot, s4_thl = self.s4_grp, self.s4_pot, self.s4_thl
        # Stage 4: per lane, is the neuron active, and eligible for learning
        # (candidate block, pot > threshold_learning)? Stage 5: reduce the lanes in
        # index order, then against the running best (strictly greater replaces,
        # so ties keep the lowest index).
        self.s5_valid = s5_valid = Signal()
        m.d.sync += s5_valid.eq(self.s4_valid)
        s5_pot = [Signal(PW, name=f"s5_pot{l}") for l in range(L)]
        s5_active = [Signal(name=f"s5_active{l}") for l in range(L)]
        s5_elig = [Signal(name=f"s5_elig{l}") for l in range(L)]
        s5_grp = Signal.like(self.p_grp)
        m.d.sync += s5_grp.eq(s4_grp)
        for l in range(L):
            j = Signal(IW + 1, name=f"s4_neuron{l}")
            m.d.comb += j.eq(Cat(Const(l, LW), s4_grp) if LW else s4_grp)
            active = j < self.num_neurons
            cand = self.cand_all | ((j >= self.cand_lo) & (j < self.cand_hi))
            m.d.sync += [s5_pot[l].eq(s4_pot[l]), s5_active[l].eq(active),
                         s5_elig[l].eq(active & cand & (s4_pot[l] > s4_thl[l]))]

        # The running winner and learning winner of the pass.
        best_valid, best_pot, best_idx = (Signal(name="best_valid"),
                                          Signal(PW, name="best_pot"),
                                          Signal(IW, name="best_idx"))
        lrn_valid, lrn_pot, lrn_idx = (Signal(name="lrn_valid"), Signal(PW, name="lrn_pot"),
                                       Signal(IW, name="lrn_idx"))
        self.best_valid, self.best_pot, self.best_idx = best_valid, best_pot, best_idx
        self.lrn_valid, self.lrn_pot, self.lrn_idx = lrn_valid, lrn_pot, lrn_idx
        c_valid, c_pot, c_idx = Const(0, 1), Const(0, PW), Const(0, IW)
        e_valid, e_pot, e_idx = Const(0, 1), Const(0, PW), Const(0, IW)
        for l in range(L):
            j = Cat(Const(l, LW), s5_grp) if LW else s5_grp
            pot, active, elig = s5_pot[l], s5_active[l], s5_elig[l]
            # Each step's result goes through named signals: reusing the expressions
            # would copy the whole chain into every use (exponential Verilog).
            nxt = [Signal(1, name=f"s5_c_valid{l}"), Signal(PW, name=f"s5_c_pot{l}"),
                   Signal(IW, name=f"s5_c_idx{l}"), Signal(1, name=f"s5_e_valid{l}"),
                   Signal(PW, name=f"s5_e_pot{l}"), Signal(IW, name=f"s5_e_idx{l}")]
            take = active & (~c_valid | (pot > c_pot))
            take_e = elig & (~e_valid | (pot > e_pot))
            m.d.comb += [
                nxt[0].eq(c_valid | active), nxt[1].eq(Mux(take, pot, c_pot)),
                nxt[2].eq(Mux(take, j, c_idx)),
                nxt[3].eq(e_valid | elig), nxt[4].eq(Mux(take_e, pot, e_pot)),
                nxt[5].eq(Mux(take_e, j, e_idx)),
            ]
            c_valid, c_pot, c_idx, e_valid, e_pot, e_idx = nxt
        with m.If(s5_valid):
            with m.If(c_valid & (~best_valid | (c_pot > best_pot))):
                m.d.sync += [best_valid.eq(1), best_pot.eq(c_pot), best_idx.eq(c_idx)]
            with m.If(e_valid & (~lrn_valid | (e_pot > lrn_pot))):
                m.d.sync += [lrn_valid.eq(1), lrn_pot.eq(e_pot), lrn_idx.eq(e_idx)]

    def _learning_datapath(self):
        """The learning unit's registers, dividers and spread selector, and the
        winner's words read into ``wq``/``xreg``."""
        m, W, VW, CW, WPN, G = self.m, self.W, self.VW, self.CW, self.WPN, self.G
        self.win_lane, self.win_grp = self.split(self.lrn_idx)
        self.win_base = Signal(range(max(G * WPN, 2)))
        self.win_thswap = Signal(signed(VW))
        self.l_word = Signal(range(max(WPN, 2)))
        self.n_r, self.n_a = Signal(CW, name="n_r"), Signal(CW, name="n_a")
        self.s_ra = Signal(CW)
        self.s_cnt = Signal(CW)
        self.q_r, self.r_r, self.q_a, self.r_a = (Signal(CW, name=n)
                                                  for n in ("q_r", "r_r", "q_a", "r_a"))
        self.scan_a = Signal()                      # 0: R list, 1: A list
        self.wreg = Signal(W)
        self.xreg = Signal(W)                       # the spike word read with wq
        self.mask = Signal(W)
        # ``mask == 0`` and "in SCAN_BITS" as flip-flops: decoded in front of the
        # selector's ``advance``, they were two of the five LUT levels ahead of its
        # flip-flop enables (docs/design/timing-closure.md §3.6, step 15).
        self.mask_empty = Signal()
        self.scan_bits = Signal()
        self.sel_load = Signal()                    # load the selector (registered)
        self.r_parts, self.a_parts = (
            [Signal(len(v), name=f"{x}_part{i}")
             for i, v in enumerate(popcount_parts(self.wreg))] for x in "ra")
        m.submodules.div_r = self.div_r = SeqDivider(CW)
        m.submodules.div_a = self.div_a = SeqDivider(CW)
        m.submodules.select = self.sel = SpreadSelector(CW)

        w_data = Array(p.data for p in self.wrd)[self.win_lane]
        # The winner's weight word straight out of the block RAM into a register: behind
        # wreg's multiplexer the RAM's 5.8 ns clock-to-out limited Fmax.
        self.wq = Signal(W)
        m.d.sync += [self.wq.eq(w_data), self.xreg.eq(self.x_rd.data)]
        self.low = self.mask & -self.mask           # lowest candidate bit, one-hot

    def _host_reads(self):
        """The read pipeline (stage A: the ports' data, stage B: the response) and the
        response stream, shared with INFER/LEARN's result."""
        m, LW, VW, PW, rsp = self.m, self.LW, self.VW, self.PW, self.rsp
        dw = self.core.data_width
        # Reads are pipelined: stage A is the cycle in which the memory read ports
        # show the data, stage B a response register, so that no block RAM output
        # drives rsp.payload combinationally (that path limited Fmax). A read is
        # accepted only when B will be free as A moves on, so A never waits and the
        # ports need no output-hold enable: that enable, fanned out to every block
        # RAM, was the critical path of the extractor + FC core build
        # (docs/design/timing-closure.md §3.6, step 15). Reads run at one per two cycles.
        self.rd_a = rd_a = Signal()                 # a read result is in the ports
        self.rd_a_op = Signal(Op)
        # One-hot source of the read data, decoded when the read is accepted. Stage B
        # keeps the data as the OR of three registers (two pairs of block RAM outputs,
        # the parameter), ORed at rsp.payload: one LUT between a block RAM output
        # (5.8 ns clock-to-out) and a flip-flop; the op-decoded multiplexer was four.
        self.rd_sources = (Op.READ_WEIGHT, Op.READ_THL, Op.READ_THSWAP, Op.READ_POT,
                           Op.READ_PARAM)
        self.rd_a_sel = Signal(len(self.rd_sources))
        self.rd_a_lane = Signal(max(LW, 1))
        self.rd_a_param = Signal(dw)
        self.rd_b = rd_b = Signal()                 # a read response is in rd_q
        rd_q = Signal(self.core.rsp_layout)
        rd_q_b = Signal(max(VW, PW))                # rd_q.data | rd_q_b | rd_q_p: the data
        rd_q_p = Signal(dw)                         # signed parameters read sign-extended
        lane_sel = self.rd_a_lane if LW else Const(0, 1)
        rd_values = [Mux(self.rd_a_sel[k], v, 0) for k, v in enumerate((
            Array(p.data for p in self.wrd)[lane_sel],
            Array(p.data for p in self.thl_rd)[lane_sel].as_unsigned(),
            Array(p.data for p in self.swp_rd)[lane_sel].as_unsigned(),
            Array(p.data for p in self.pot_rd)[lane_sel],
            self.rd_a_param))]
        self.read_ok = ~rd_a & (~rd_b | rsp.ready)
        m.d.sync += rd_a.eq(0)
        with m.If(rd_a):
            m.d.sync += [rd_b.eq(1), rd_q.op.eq(self.rd_a_op),
                         rd_q.data.eq(rd_values[0] | rd_values[1]),
                         rd_q_b.eq(rd_values[2] | rd_values[3]), rd_q_p.eq(rd_values[4])]
        with m.Elif(rsp.ready):
            m.d.sync += rd_b.eq(0)

        # Result of INFER / LEARN (never at the same time as a read response).
        self.res_valid = Signal()
        self.res = Signal(self.core.rsp_layout)
        with m.If(rd_b):
            m.d.comb += [rsp.valid.eq(1), rsp.payload.eq(rd_q),
                         rsp.payload.data.eq(rd_q.data | rd_q_b | rd_q_p)]
        with m.Else():
            m.d.comb += [rsp.valid.eq(self.res_valid), rsp.payload.eq(self.res)]

    def _write_ports(self):
        """Lanes and groups of the host's and ADD_CLASSES' writes; the learning rule's
        new thresholds."""
        N, IW, VW = self.N, self.IW, self.VW
        self.c_lane, self.c_grp = self.split(self.cp.addr[:IW])
        self.add_left = Signal(range(N + 1))        # ADD_CLASSES: new neurons left
        self.add_cls = Signal(range(N + 1))
        self.add_idx = Signal(IW + 1)
        self.a_lane, self.a_grp = self.split(self.add_idx[:IW])

        # Learning-time rule arithmetic, registered in L_S and L_S2 (the subtraction,
        # its clamp and the fan-out to every lane's write port in one cycle were a
        # critical path, docs/design/timing-closure.md §3.6, step 15).
        self.thswap_next = Signal(signed(VW + 1))
        self.thswap_new = Signal(signed(VW))
        self.thl_new = Signal(signed(VW))

    def _candidate_walk(self):
        """The candidate-bit walk of SCAN_BITS, outside the FSM so that its enables
        come from flip-flops (``scan_bits``, ``mask_empty``, the selector's flags)."""
        m, sel, scan_a = self.m, self.sel, self.scan_a
        m.d.comb += [sel.load.eq(self.sel_load), sel.s.eq(self.s_cnt),
                     sel.q.eq(Mux(scan_a, self.q_a, self.q_r)),
                     sel.r.eq(Mux(scan_a, self.r_a, self.r_r)),
                     sel.offset.eq(Mux(scan_a, self.div_a.remainder, self.div_r.remainder)),
                     sel.advance.eq(self.scan_bits & ~self.mask_empty)]
        m.d.sync += self.sel_load.eq(0)
        with m.If(self.scan_bits):
            # wreg and mask are updated outside the ``mask == 0`` test (``low`` is 0
            # then, and ``pick`` is 0 once ``done``: the same values).
            rest = self.mask & ~self.low
            m.d.sync += [self.mask.eq(rest), self.mask_empty.eq(rest == 0)]
            with m.If(sel.pick):
                m.d.sync += self.wreg.eq(self.wreg ^ self.low)

    # -- the state machine ---------------------------------------------------------------
    def build(self):
        with self.m.FSM(name="ctrl"):
            self._host_commands()
            self._pass_control()
            self._learning_counts()
            self._learning_walk()
            self._results()
            self._add_classes()

    def _lane_writes(self, ports, lane, **fields):
        """Drive ``addr``/``data`` of every lane's write port in ``ports`` and enable
        the one of ``lane`` (none if ``lane`` is None)."""
        for l, port in enumerate(ports):
            self.m.d.comb += [getattr(port, k).eq(v) for k, v in fields.items()]
            if lane is not None:
                self.m.d.comb += port.en.eq(lane == l)

    def _host_commands(self):
        """IDLE (one command: the host's reads and writes, the start of a sample or of
        ADD_CLASSES) and LOAD (a sample's further spike words)."""
        m, cmd, cp, W, WPN, VW = self.m, self.cmd, self.cp, self.W, self.WPN, self.VW
        x_wr, c_lane, c_grp = self.x_wr, self.c_lane, self.c_grp
        with m.State("IDLE"):
            # Other commands wait until no read is in flight.
            is_read = ((cp.op == Op.READ_WEIGHT) | (cp.op == Op.READ_THL) |
                       (cp.op == Op.READ_THSWAP) | (cp.op == Op.READ_POT) |
                       (cp.op == Op.READ_PARAM))
            m.d.comb += [
                cmd.ready.eq(Mux(is_read, self.read_ok, ~self.rd_a & ~self.rd_b)),
                self.w_addr.eq(c_grp * WPN + cp.word),
                self.v_addr.eq(c_grp),
                x_wr.addr.eq(0),
                x_wr.data.eq(cp.data[:W]),
            ]
            self._lane_writes(self.wwr, None, addr=c_grp * WPN + cp.word, data=cp.data[:W])
            self._lane_writes(self.thl_wr, None, addr=c_grp, data=cp.data[:VW])
            self._lane_writes(self.swp_wr, None, addr=c_grp, data=cp.data[:VW])
            with m.If(cmd.valid & cmd.ready):
                with m.If(is_read):
                    m.d.sync += [self.rd_a.eq(1), self.rd_a_op.eq(cp.op),
                                 self.rd_a_lane.eq(c_lane),
                                 self.rd_a_sel.eq(Cat(cp.op == o for o in self.rd_sources)),
                                 self.rd_a_param.eq(self.params[cp.addr[:3]])]
                with m.Switch(cp.op):
                    with m.Case(Op.INFER, Op.LEARN):
                        m.d.comb += x_wr.en.eq(1)
                        cls_ok = (cp.label >= 0) & (self.num_classes != 1)
                        m.d.sync += [
                            self.op.eq(cp.op),
                            self.cand_all.eq(~cls_ok),
                            self.cand_lo.eq(cp.label.as_unsigned()[:self.IW] * self.per_class),
                            self.load_word.eq(1),
                        ]
                        if WPN == 1:
                            m.next = "PASS_START"
                        else:
                            m.next = "LOAD"
                    for op, ports in ((Op.WRITE_WEIGHT, self.wwr), (Op.WRITE_THL, self.thl_wr),
                                      (Op.WRITE_THSWAP, self.swp_wr)):
                        with m.Case(op):
                            for l in range(self.L):
                                m.d.comb += ports[l].en.eq(c_lane == l)
                    with m.Case(Op.WRITE_PARAM):
                        m.d.sync += self.params[cp.addr[:3]].eq(cp.data)
                    with m.Case(Op.ADD_CLASSES):
                        m.d.sync += [self.add_cls.eq(cp.data),
                                     self.add_left.eq(self.per_class),
                                     self.add_idx.eq(self.num_neurons)]
                        m.next = "ADD"

        with m.State("LOAD"):
            # Remaining spike words of the sample.
            load_word = self.load_word
            m.d.comb += [cmd.ready.eq(1), x_wr.addr.eq(load_word),
                         x_wr.data.eq(cp.data[:W]), x_wr.en.eq(cmd.valid)]
            with m.If(cmd.valid):
                m.d.sync += load_word.eq(load_word + 1)
                with m.If(load_word == WPN - 1):
                    m.next = "PASS_START"

    def _pass_control(self):
        """PASS_START, PASS: the potential pass's addresses; at its end the result's
        fields and the choice between learning and the result."""
        m, L, WPN = self.m, self.L, self.WPN
        p_run, p_grp, p_word, p_addr = self.p_run, self.p_grp, self.p_word, self.p_addr
        res = self.res
        s1_valid, s2_valid, s3_valid, s4_valid = self.pipe_valid
        with m.State("PASS_START"):
            m.d.sync += [self.best_valid.eq(0), self.lrn_valid.eq(0), p_grp.eq(0),
                         self.cand_hi.eq(self.cand_lo + self.per_class),
                         p_word.eq(0), p_addr.eq(0),
                         self.p_groups.eq((self.num_neurons + L - 1) >> self.LW),
                         p_run.eq(self.num_neurons != 0)]
            m.next = "PASS"

        with m.State("PASS"):
            m.d.comb += [self.w_addr.eq(p_addr), self.v_addr.eq(p_grp)]
            with m.If(p_run):
                m.d.sync += p_addr.eq(p_addr + 1)
                with m.If(p_word == WPN - 1):
                    m.d.sync += [p_word.eq(0), p_grp.eq(p_grp + 1)]
                    with m.If(p_grp == self.p_groups - 1):
                        m.d.sync += p_run.eq(0)
                with m.Else():
                    m.d.sync += p_word.eq(p_word + 1)
            with m.Elif(~s1_valid & ~s2_valid & ~s3_valid & ~s4_valid & ~self.s5_valid):
                m.d.comb += self.cls_div.start.eq(1)
                m.d.sync += [res.neuron.eq(self.best_idx), res.pot.eq(self.best_pot),
                             res.learn_valid.eq(self.lrn_valid),
                             res.learn_neuron.eq(self.lrn_idx), res.swaps.eq(0),
                             res.op.eq(self.op), res.data.eq(0),
                             self.win_base.eq(self.win_grp * WPN), self.l_word.eq(0),
                             self.n_r.eq(0), self.n_a.eq(0)]
                with m.If((self.op == Op.LEARN) & self.lrn_valid):
                    m.next = "L_COUNT"
                with m.Else():
                    m.next = "RESULT_WAIT"

    def _learning_counts(self):
        """L_COUNT ... L_MOD_A: R and A counted over the winner's words, its thswap
        read; s, the divisions of the rule, and the selector loaded for the R list."""
        m, WPN = self.m, self.WPN
        l_word, n_r, n_a, s_cnt = self.l_word, self.n_r, self.n_a, self.s_cnt
        div_r, div_a, win_thswap = self.div_r, self.div_a, self.win_thswap
        wq, xreg = self.wq, self.xreg
        with m.State("L_COUNT"):
            m.d.comb += [self.w_addr.eq(self.win_base + l_word), self.x_addr.eq(l_word),
                         self.v_addr.eq(self.win_grp)]
            m.next = "L_COUNT_REG"
        with m.State("L_COUNT_REG"):
            m.d.sync += win_thswap.eq(Array(p.data for p in self.swp_rd)[self.win_lane])
            m.next = "L_COUNT_PARTS"
        with m.State("L_COUNT_PARTS"):   # wq, xreg: the words read in L_COUNT
            m.d.sync += [a.eq(b) for a, b in zip(self.r_parts, popcount_parts(wq & ~xreg))]
            m.d.sync += [a.eq(b) for a, b in zip(self.a_parts, popcount_parts(~wq & xreg))]
            m.next = "L_COUNT_ACC"
        with m.State("L_COUNT_ACC"):
            m.d.sync += [n_r.eq(n_r + add_tree(self.r_parts)),
                         n_a.eq(n_a + add_tree(self.a_parts))]
            with m.If(l_word == WPN - 1):
                m.next = "L_S"
            with m.Else():
                m.d.sync += l_word.eq(l_word + 1)
                m.next = "L_COUNT"
        with m.State("L_S"):
            # s = min(thswap, |R|, |A|) over two cycles (a three-way min followed
            # by the divider set-up was the critical path); nothing to do if s <= 0.
            m.d.sync += [self.s_ra.eq(Mux(n_r < n_a, n_r, n_a)),
                         self.thswap_next.eq(win_thswap - self.decay)]
            m.next = "L_S2"
        with m.State("L_S2"):
            s_val = Mux(win_thswap < self.s_ra, win_thswap, self.s_ra)
            thswap_next, thswap_min, thl_cap = self.thswap_next, self.thswap_min, self.thl_cap
            m.d.sync += [s_cnt.eq(Mux(s_val > 0, s_val, 0)),
                         self.thswap_new.eq(Mux(thswap_next < thswap_min, thswap_min,
                                                thswap_next)),
                         self.thl_new.eq(Mux(self.lrn_pot > thl_cap, thl_cap, self.lrn_pot))]
            m.next = "L_S3"
        with m.State("L_S3"):
            with m.If(s_cnt == 0):
                m.next = "L_UPDATE"
            with m.Else():
                m.d.comb += [div_r.start.eq(1), div_r.dividend.eq(n_r),
                             div_r.divisor.eq(s_cnt),
                             div_a.start.eq(1), div_a.dividend.eq(n_a),
                             div_a.divisor.eq(s_cnt)]
                m.next = "L_DIV"
        with m.State("L_DIV"):
            with m.If(~div_r.busy & ~div_a.busy):
                m.d.sync += [self.q_r.eq(div_r.quotient), self.r_r.eq(div_r.remainder),
                             self.q_a.eq(div_a.quotient), self.r_a.eq(div_a.remainder)]
                # The R list's first group wraps the offset counter.
                m.d.comb += [div_r.start.eq(1), div_r.dividend.eq(self.offset),
                             div_r.divisor.eq(div_r.quotient + (div_r.remainder != 0))]
                m.next = "L_MOD_R"
        for state, div, a_list in (("L_MOD_R", div_r, 0), ("L_MOD_A", div_a, 1)):
            with m.State(state):
                with m.If(~div.busy):
                    m.d.sync += [self.sel_load.eq(1), self.scan_a.eq(a_list), l_word.eq(0)]
                    m.next = "SCAN_READ"

    def _learning_walk(self):
        """SCAN_READ ... SCAN_WRITE: walk the candidate bits of one word of the winner,
        lowest first, and write it back; after the R list the A list."""
        m, WPN, l_word, sel, scan_a = self.m, self.WPN, self.l_word, self.sel, self.scan_a
        wq, xreg = self.wq, self.xreg
        with m.State("SCAN_READ"):
            m.d.comb += [self.w_addr.eq(self.win_base + l_word), self.x_addr.eq(l_word)]
            m.next = "SCAN_LOAD"
        with m.State("SCAN_LOAD"):       # the words reach wq and xreg
            m.next = "SCAN_MASK"
        with m.State("SCAN_MASK"):
            first = Mux(scan_a, ~wq & xreg, wq & ~xreg)
            m.d.sync += [self.wreg.eq(wq), self.mask.eq(first),
                         self.mask_empty.eq(first == 0), self.scan_bits.eq(1)]
            m.next = "SCAN_BITS"
        with m.State("SCAN_BITS"):       # the walk itself is outside the FSM
            with m.If(self.mask_empty | sel.done):
                m.d.sync += self.scan_bits.eq(0)
                m.next = "SCAN_WRITE"
        with m.State("SCAN_WRITE"):
            self._lane_writes(self.wwr, self.win_lane, addr=self.win_base + l_word,
                              data=self.wreg)
            with m.If(sel.done | (l_word == WPN - 1)):
                with m.If(scan_a):
                    m.d.sync += self.offset.eq(sel.offset_out)
                    m.next = "L_UPDATE"
                with m.Else():
                    m.d.comb += [self.div_a.start.eq(1),
                                 self.div_a.dividend.eq(sel.offset_out),
                                 self.div_a.divisor.eq(self.q_a + (self.r_a != 0))]
                    m.next = "L_MOD_A"
            with m.Else():
                m.d.sync += l_word.eq(l_word + 1)
                m.next = "SCAN_READ"

    def _results(self):
        """L_UPDATE (the winner's thswap and threshold_learning), RESULT_WAIT (the
        class division), RESULT (the response)."""
        m, L, win_lane, win_grp = self.m, self.L, self.win_lane, self.win_grp
        with m.State("L_UPDATE"):
            self._lane_writes(self.swp_wr, win_lane, addr=win_grp, data=self.thswap_new)
            for l in range(L):
                m.d.comb += [self.thl_wr[l].addr.eq(win_grp),
                             self.thl_wr[l].data.eq(self.thl_new),
                             self.thl_wr[l].en.eq((win_lane == l) & (self.s_cnt != 0))]
            m.d.sync += self.res.swaps.eq(self.s_cnt)
            m.next = "RESULT_WAIT"

        with m.State("RESULT_WAIT"):
            with m.If(~self.cls_div.busy):
                m.d.sync += [self.res.cls.eq(self.cls_div.quotient), self.res_valid.eq(1)]
                m.next = "RESULT"
        with m.State("RESULT"):
            with m.If(self.rsp.ready):
                m.d.sync += self.res_valid.eq(0)
                m.next = "IDLE"

    def _add_classes(self):
        """ADD: the new neurons start with thl = 0, thswap = thswap_init."""
        m, N, a_lane = self.m, self.N, self.a_lane
        add_idx, add_left, add_cls = self.add_idx, self.add_left, self.add_cls
        with m.State("ADD"):
            self._lane_writes(self.thl_wr, None, addr=self.a_grp, data=0)
            self._lane_writes(self.swp_wr, None, addr=self.a_grp, data=self.thswap_init)
            with m.If((add_cls == 0) | (add_idx >= N)):
                m.d.sync += [self.num_neurons.eq(add_idx), self.offset.eq(0)]
                m.next = "IDLE"
            with m.Else():
                for l in range(self.L):
                    m.d.comb += [self.thl_wr[l].en.eq(a_lane == l),
                                 self.swp_wr[l].en.eq(a_lane == l)]
                m.d.sync += add_idx.eq(add_idx + 1)
                with m.If(add_left == 1):
                    m.d.sync += [add_left.eq(self.per_class), add_cls.eq(add_cls - 1),
                                 self.num_classes.eq(self.num_classes + 1)]
                with m.Else():
                    m.d.sync += add_left.eq(add_left - 1)
