"""The DS-CNN feature extractor: InputConvolutional then separable layers, Akida 1.0
integer semantics, bit-exact with :mod:`edgekws.golden`.

Architecture (details and measurements in ``docs/design.md``, "DS-CNN feature
extractor")
-----------------------------------------------------------------------------------
One MAC array of ``lanes`` multiply-accumulate lanes runs the layers one after the
other. Lane ``l`` works on filter (or, in a depthwise step, channel) ``g*lanes + l``
of group ``g``. Every cycle the sequencer issues at most one *op* to the array:

* ``CONV`` (InputConvolutional): one pixel (broadcast) times one weight per lane, for
  each kernel tap and input channel inside the image: padded taps are skipped (they
  add zero), unless ``padding_value`` is not zero;
* ``DW`` (depthwise): one 4-bit activation per lane (its own channel) times that
  channel's tap weight, for each tap inside the input; the sums of a position go to
  the ``d`` registers, with a non-zero mask;
* ``PW`` (pointwise): one depthwise sum ``d[c]`` (broadcast) times one weight per
  lane, **only for the channels whose ``d[c]`` is not zero** (event-driven: a zero
  adds nothing). The next non-zero channel is found with ``x & -x`` on the mask, one
  per cycle.

The op pipeline is: issue (addresses registered) | memory data, registered as read |
operand select (and weight data) | product | product in the fabric | accumulate. When
the last op of a (position, group) reaches the accumulators, the ``lanes`` sums are
copied to the post-processor, which applies the step activation
(:class:`.StepActivation`, ``act_units`` lanes) or adds into the 20-bit saturating
global sum (``POOL``), while the array already works on the next group. Activations
of a position are packed into one ``filters x 4``-bit word of the activation memory
(two halves, ping-pong between layers); the last pooled layer ends with a ``FINAL``
pass that turns the sums into the output spikes.

Memories (``amaranth.lib.memory``): image (``X*Y`` words of ``C*8`` bits), weights
(``lanes*8`` bits a word: all layers' tap/pointwise rows), neuron parameters
(threshold and integer step, ``act_units`` neurons a word), activations
(``2*positions`` words of ``filters*4`` bits), pooled sums.

Interfaces
----------
``load`` (in)
    Writes the weight and parameter memories, 32 bits a beat: beats are shifted into
    an assembly register and ``commit`` writes the assembled word to ``sel`` at
    ``addr``. Accepted only while the extractor is idle. The host side is
    :mod:`edgekws.gateware.conv.codec`.
``pixels`` (in)
    The uint8 image, one beat per position in C order of ``(x, y)`` (``C*8`` bits,
    channel ``c`` in bits ``8c..8c+7``). The image memory is free again once the
    first layer has read it, so the next image loads while layers 1.. compute.
``spikes`` (out)
    One beat per inference: ``filters * out_bits`` bits, neuron ``f`` in bits
    ``f*out_bits..``; for the product (1-bit spikes) bit ``f`` is spike ``f``, the
    FullyConnected input order, so the beat is the ``data`` of the learning core's
    ``INFER`` command. If the last layer does not pool, the beat is 0 and only marks
    the end of the inference.
``trace`` (out)
    Every activation word written (``layer``, ``pos``, ``data``): the intermediate
    activations for verification. Back-pressure on it stalls the post-processor;
    tie ``ready`` high when unused (synthesis then removes the payload registers).
"""
from __future__ import annotations

from amaranth.hdl import (Array, Cat, Const, Module, Mux, ResetSignal, Signal, signed,
                          unsigned)
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...golden.quant import POT_MAX, POT_MIN, POTENTIAL_BITS
from ..popcount import at_most_one
from ..ram import NO_RW_CHECK, checked_reads
from .spec import ACT_SLOT, PIXEL_BITS, WEIGHT_SLOT, ExtractorSpec, kws_spec
from .mult import KINDS as MULT_KINDS
from .mult import registered_product
from .mult import resolve as resolve_mult
from .step import THRESHOLD_BITS, StepActivation

__all__ = ["DSCNNExtractor", "Sel", "LOAD_CHUNK"]

#: Bits of data per ``load`` beat.
LOAD_CHUNK = 32

#: MAC lanes sharing one copy of the broadcast operand register (fan-out per copy).
LANE_GROUP = 8


class Sel(enum.Enum, shape=1):
    """Memory written by a ``load`` commit."""
    WEIGHTS = 0
    PARAMS = 1


class _Kind(enum.Enum, shape=2):
    CONV = 0
    DW = 1
    PW = 2


class _Job(enum.Enum, shape=2):
    ACT = 0          # step activation, write the activation memory
    POOL = 1         # add into the global saturating sums
    FINAL = 2        # step activation of the sums, output spikes


def _check_int(name, value, lo=1, hi=None):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or \
            (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be an integer {rng}, not {value!r}")


def _rom(values, width):
    """Constant table indexed by a signal (one spare entry past the end)."""
    values = list(values) + [values[-1]]
    return Array(Const(v, width) for v in values)


def _times(index, k: int, n: int):
    """``index * k`` for ``index < n`` as a table (or a shift): no multiplier, neither
    a DSP block nor a LUT one, on the sequencer's short paths."""
    if k & (k - 1) == 0:
        return index << (k.bit_length() - 1)
    values = [i * k for i in range(n)]
    return _rom(values, max(values[-1], 1).bit_length())[index]


class DSCNNExtractor(wiring.Component):
    """DS-CNN feature extractor for a fixed geometry, weights loaded at run time.

    Parameters
    ----------
    spec : ExtractorSpec, optional
        The geometry (default: the product's :func:`.kws_spec`).
    lanes : int
        Parallel MAC lanes; must divide the number of filters.
    act_units : int
        Step-activation lanes of the post-processor; must divide ``lanes``.
    step_bits : int
        Width of the integer step ``S`` (act_step up to ``2**(step_bits-4)`` for
        4-bit activations).
    mult : str
        The lanes' multipliers (:mod:`.mult`): ``"generic"`` (``a * b`` into a
        register), ``"ecp5"`` (MULT18X18D with its output register) or ``"auto"``
        (``"ecp5"`` when elaborated for an ECP5 platform, else ``"generic"``).
    poison_collisions : bool
        Simulation check of the memories' ``NO_RW_CHECK``: invert the data of a read
        that met a write to its address (:class:`~edgekws.gateware.ram.PoisonedRead`).
        Never for hardware.
    """

    def __init__(self, spec: ExtractorSpec | None = None, *, lanes: int = 64,
                 act_units: int = 4, step_bits: int = 20, mult: str = "auto",
                 poison_collisions: bool = False):
        # No "created but never used" warning for an object whose checks fail.
        self._MustUse__silence = True
        if spec is None:
            spec = kws_spec()
        if not isinstance(spec, ExtractorSpec):
            raise TypeError(f"spec must be an ExtractorSpec, not {spec!r}")
        spec.checked()
        F = spec.filters
        _check_int("lanes", lanes)
        if F % lanes:
            raise ValueError(f"lanes must divide the number of filters ({F}), "
                             f"not {lanes!r}")
        _check_int("act_units", act_units)
        if lanes % act_units:
            raise ValueError(f"act_units must divide lanes ({lanes}), not {act_units!r}")
        _check_int("step_bits", step_bits, 5, 26)
        if mult not in MULT_KINDS:
            raise ValueError(f"mult must be one of {MULT_KINDS}, not {mult!r}")
        self.mult = mult
        self.poison_collisions = bool(poison_collisions)
        self.spec = spec
        self.lanes = lanes
        self.act_units = act_units
        self.step_bits = step_bits
        self.groups = F // lanes

        # -- weight memory layout: per layer, the base of each block ----------------
        self.w_base = []          # conv: taps; sep: (depthwise, pointwise)
        addr = 0
        for g in spec.layers:
            if g.kind == "conv":
                self.w_base.append((addr, None))
                addr += self.groups * g.taps * g.in_shape[2]
            else:
                dw = addr
                addr += self.groups * g.taps
                self.w_base.append((dw, addr))
                addr += self.groups * F
        self.w_depth = addr
        self.w_width = lanes * WEIGHT_SLOT
        self.param_slot = THRESHOLD_BITS + step_bits
        self.param_width = act_units * self.param_slot
        self.param_depth = len(spec.layers) * (F // act_units)
        self.act_depth = 2 * spec.max_positions
        X, Y, C = spec.image_shape
        self.img_depth = X * Y
        self.pixel_width = C * PIXEL_BITS

        addr_bits = max(self.w_depth, self.param_depth, 2).bit_length()
        self.load_layout = data.StructLayout({
            "sel": Sel, "addr": unsigned(addr_bits), "data": unsigned(LOAD_CHUNK),
            "commit": unsigned(1)})
        self.trace_layout = data.StructLayout({
            "layer": unsigned(max(len(spec.layers) - 1, 1).bit_length()),
            "pos": unsigned(max(spec.max_positions - 1, 1).bit_length()),
            "data": unsigned(F * ACT_SLOT)})
        super().__init__({
            "load": In(stream.Signature(self.load_layout)),
            "pixels": In(stream.Signature(unsigned(self.pixel_width))),
            "spikes": Out(stream.Signature(unsigned(F * spec.out_bits))),
            "trace": Out(stream.Signature(self.trace_layout)),
            "busy": Out(1),
        })
        self._MustUse__silence = False

    def chunks(self, sel: Sel) -> int:
        """``load`` beats per word of memory ``sel``."""
        width = self.w_width if sel == Sel.WEIGHTS else self.param_width
        return -(-width // LOAD_CHUNK)

    # ------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        spec, L, A, G, SB = self.spec, self.lanes, self.act_units, self.groups, self.step_bits
        F = spec.filters
        NL = len(spec.layers)
        SA = L // A                     # post-processor steps per group
        FA = F // A                     # ... per FINAL pass
        NPOS = spec.max_positions
        OW, AW = spec.operand_width, spec.acc_width
        PW = spec.pot_width
        X0, Y0, C0 = spec.image_shape
        mult = resolve_mult(self.mult, platform)

        # ------------------------------------------------------------------ memories
        m.submodules.img = img = memory.Memory(shape=self.pixel_width,
                                               depth=self.img_depth, init=[])
        # Weights and parameters are written by the loader only while idle (the write
        # lands before the sequencer's first read), so no read they answer meets a
        # write: ``NO_RW_CHECK`` spares yosys' emulation of a collision, which sat on
        # a critical path (docs/design.md §3.6, step 15).
        m.submodules.weights = wmem = memory.Memory(shape=self.w_width,
                                                    depth=self.w_depth, init=[],
                                                    attrs=NO_RW_CHECK)
        m.submodules.params = pmem = memory.Memory(shape=self.param_width,
                                                   depth=self.param_depth, init=[],
                                                   attrs=NO_RW_CHECK)
        # Layer l writes its activations to half l % 2 and reads half (l - 1) % 2,
        # and starts only once every write of layer l - 1 has landed (its barrier):
        # no read of a layer meets a write to its address. Layer 0 reads the image;
        # the activation word read alongside is not used.
        m.submodules.act = amem = memory.Memory(shape=F * ACT_SLOT, depth=self.act_depth,
                                                init=[], attrs=NO_RW_CHECK)
        img_wr, img_rd = img.write_port(), img.read_port(transparent_for=())
        w_wr, w_rd = wmem.write_port(), wmem.read_port(transparent_for=())
        p_wr, p_rd = pmem.write_port(), pmem.read_port(transparent_for=())
        a_wr, a_rd = amem.write_port(), amem.read_port(transparent_for=())
        poison = self.poison_collisions
        w_rd, p_rd, a_rd = checked_reads(m, [(w_rd, w_wr), (p_rd, p_wr), (a_rd, a_wr)],
                                         poison)
        if spec.pooled:
            # Read-modify-write over 3 registered stages: the same sums are revisited
            # only after a whole job (L/A steps and more), so no forwarding is needed,
            # and no read meets a write to its address.
            m.submodules.pool = poolm = memory.Memory(
                shape=A * POTENTIAL_BITS, depth=FA, init=[], attrs=NO_RW_CHECK)
            pool_wr = poolm.write_port()
            pool_rd = poolm.read_port(transparent_for=())
            pool_rd, = checked_reads(m, [(pool_rd, pool_wr)], poison)

        # ------------------------------------------------------------ shared state
        credit = Signal(init=1)      # the post-processor can take the next group's sums
        img_full = Signal()
        spk_valid = Signal()
        spk_data = Signal(F * spec.out_bits)
        m.d.comb += [self.spikes.valid.eq(spk_valid), self.spikes.payload.eq(spk_data)]
        with m.If(self.spikes.valid & self.spikes.ready):
            m.d.sync += spk_valid.eq(0)

        # ------------------------------------------------------------ image input
        pix_addr = Signal(range(self.img_depth))
        m.d.comb += [self.pixels.ready.eq(~img_full), img_wr.addr.eq(pix_addr),
                     img_wr.data.eq(self.pixels.payload),
                     img_wr.en.eq(self.pixels.valid & ~img_full)]
        with m.If(self.pixels.valid & ~img_full):
            m.d.sync += pix_addr.eq(pix_addr + 1)
            with m.If(pix_addr == self.img_depth - 1):
                m.d.sync += [pix_addr.eq(0), img_full.eq(1)]

        # ------------------------------------------------------- op pipeline stages
        def stage(name):
            return dict(
                valid=Signal(name=f"{name}_valid"), kind=Signal(_Kind, name=f"{name}_kind"),
                first=Signal(name=f"{name}_first"), last=Signal(name=f"{name}_last"),
                g=Signal(range(max(G, 2)), name=f"{name}_g"),
                c=Signal(range(max(F, C0, 2)), name=f"{name}_c"),
                pad=Signal(name=f"{name}_pad"), zero=Signal(name=f"{name}_zero"),
                job=Signal(_Job, name=f"{name}_job"),
                pos=Signal(range(max(NPOS, 2)), name=f"{name}_pos"),
                layer=Signal(range(max(NL, 2)), name=f"{name}_layer"))
        iss = stage("iss")              # comb: the op issued this cycle
        s0, s1, s2, s3, s4, s5 = (stage(f"s{k}") for k in range(6))
        # Read addresses: each is issued as two parts (position part, tap part), each
        # one adder of table lookups, and summed in s0 right before the RAMs: the
        # whole sum in the issue cycle was a chain of 3-4 adders behind the FSM's
        # muxes (12.5 ns post-route). Parts and sums wrap modulo 2**width, so a
        # negative part (a padded position's offset) still gives the right address.
        iss_ra = [Signal(range(max(self.img_depth, self.act_depth)), name=f"iss_ra{k}")
                  for k in (1, 2)]
        iss_wa = [Signal(range(self.w_depth), name=f"iss_wa{k}") for k in (1, 2)]
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
        m.d.comb += [img_rd.addr.eq(s0_raddr), a_rd.addr.eq(s0_raddr),
                     w_rd.addr.eq(s0_waddr)]
        mac_busy = (s0["valid"] | s1["valid"] | s2["valid"] | s3["valid"] |
                    s4["valid"] | s5["valid"])
        # nz lags the d registers by a cycle, its first split (``nz_cur``, ``nz_todo``,
        # ``nz_todo == 0``) by two: they are ready once the MACs were idle in the two
        # cycles before too (in DRAIN nothing new is issued).
        nz_ready = Signal(2)
        m.d.sync += nz_ready.eq(Cat(~mac_busy, nz_ready[0] & ~mac_busy))

        # Depthwise sums of the current position, and their non-zero mask.
        d_regs = [Signal(signed(spec.dw_width), name=f"d{c}", reset_less=True)
                  for c in range(F)]
        nz = Signal(F)

        # Stage 2: the raw memory words, and the pointwise operand picked from d_regs.
        img_q = Signal(self.pixel_width, reset_less=True)
        act_q = Signal(F * ACT_SLOT, reset_less=True)
        w_q = Signal(self.w_width, reset_less=True)
        s2_pwa = Signal(signed(spec.dw_width), reset_less=True)
        m.d.sync += [img_q.eq(img_rd.data), act_q.eq(a_rd.data), w_q.eq(w_rd.data)]
        # The F-to-1 choice of d[c] in two registered steps of <= 8 to 1 (s0 -> s1:
        # within a bank of 8 by c's low bits; s1 -> s2: the bank by the high bits), so
        # synthesis builds two shallow mux trees rather than one deep chain. d is
        # stable while pointwise ops are issued (they start after the drain).
        cw = len(s0["c"])
        lo_bits = min(3, cw)
        banks = [d_regs[k:k + (1 << lo_bits)] for k in range(0, F, 1 << lo_bits)]
        part = [Signal(signed(spec.dw_width), name=f"pwa_part{k}", reset_less=True)
                for k in range(len(banks))]
        # Each bank has its own copy of the low bits of c (``keep``): one register
        # selecting in all banks was the critical route once the zero test was off
        # the accumulator's path (6 ns to a far bank, step 9 of docs/design.md §3.6).
        c_lo = [Signal(lo_bits, name=f"s0_c_lo{k}", reset_less=True, attrs={"keep": 1})
                for k in range(len(banks))]
        m.d.sync += [cl.eq(iss["c"][:lo_bits]) for cl in c_lo]
        m.d.sync += [pt.eq(Array(bank)[cl]) for pt, bank, cl in zip(part, banks, c_lo)]
        m.d.sync += s2_pwa.eq(Array(part)[s1["c"][lo_bits:]] if len(part) > 1 else part[0])
        pixel = (img_q.word_select(s2["c"], PIXEL_BITS) if C0 > 1
                 else img_q[:PIXEL_BITS])
        pad_value = spec.layers[0].padding_value
        conv_a = Mux(s2["pad"], pad_value, pixel) if pad_value else pixel
        act_group = act_q.word_select(s2["g"], L * ACT_SLOT) if G > 1 else act_q
        # Operand a of lane l: its own 4-bit activation in a depthwise op, else the
        # broadcast pixel or d[c]. Above bit ACT_SLOT it is the same in every lane (the
        # activations are zero-extended), so it is computed once and registered in one
        # copy per group of LANE_GROUP lanes: a single register would fan out to every
        # DSP of the array (6-9 ns of routing on the ECP5-85F). The copies are marked
        # ``keep`` and fpga/build.py keeps such flip-flops from being merged.
        bcast = Signal(signed(OW), name="a_bcast")
        with m.Switch(s2["kind"]):
            with m.Case(_Kind.CONV):
                m.d.comb += bcast.eq(conv_a)
            with m.Case(_Kind.PW):
                m.d.comb += bcast.eq(Mux(s2["zero"], 0, s2_pwa))
        NG = -(-L // LANE_GROUP)

        def copies(name, n=NG, **kw):
            return [Signal(name=f"{name}_c{k}", attrs={"keep": 1}, **kw) for k in range(n)]

        # The lanes' operand select, decoded from s1 into one register per group of
        # lanes: decoded from ``s2_kind`` it drove 256 LUTs across the DSP rows (9.8 ns
        # of routing, step 12 of docs/design.md §3.6).
        is_dw = copies("is_dw")
        m.d.sync += [c.eq(s1["kind"] == _Kind.DW) for c in is_dw]
        hi_copies = [Signal(OW - ACT_SLOT, name=f"opa_hi{k}", reset_less=True,
                            attrs={"keep": 1})
                     for k in range(-(-L // LANE_GROUP))]
        m.d.sync += [hc.eq(bcast[ACT_SLOT:]) for hc in hi_copies]
        prods = []
        for l in range(L):
            a_lo = Mux(is_dw[l // LANE_GROUP], act_group[l * ACT_SLOT:(l + 1) * ACT_SLOT],
                       bcast[:ACT_SLOT])
            w_l = w_q[l * WEIGHT_SLOT:(l + 1) * WEIGHT_SLOT].as_signed()
            # Stage 3: registered operands (the operand select stays out of the
            # multiplier's cycle); stage 4: the product.
            ra_lo = Signal(ACT_SLOT, name=f"opa{l}", reset_less=True)
            rw_l = Signal(signed(WEIGHT_SLOT), name=f"opw{l}", reset_less=True)
            ra_l = Cat(ra_lo, hi_copies[l // LANE_GROUP]).as_signed()
            m.d.sync += [ra_lo.eq(a_lo), rw_l.eq(w_l)]
            prod = registered_product(m, ra_l, rw_l, f"prod{l}", mult)
            # Stage 5: the product again, in a fabric flip-flop that the placer can put
            # beside the lane's adder. Straight from the DSP, the route out of the
            # DSP row was in front of the adder and its fan-out (acc, d, shadow): 10.3
            # ns of routing in the extractor + FC core build (step 14, docs/design.md
            # §3.6).
            prod_f = Signal.like(prod, name=f"prodf{l}")
            m.d.sync += prod_f.eq(prod)
            prods.append(prod_f)

        # Stage 6 (s5): accumulate; at the last op of a group hand the sums over.
        acc = [Signal(signed(AW), name=f"acc{l}", reset_less=True) for l in range(L)]
        total = [Signal(signed(AW), name=f"total{l}") for l in range(L)]
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
        acc_clear, hand_over = copies("acc_clear"), copies("hand_over")
        # The accumulate enable too: ``s4_valid`` alone enabled all L accumulators
        # (11 ns, 10.4 of them routing, in the extractor + FC core build, step 14).
        acc_en = copies("acc_en")
        m.d.sync += [c.eq(s4["valid"]) for c in acc_en]
        dw_done = [copies(f"dw_done{gg}") for gg in range(G)]
        m.d.sync += [c.eq(s4_done) for c in acc_clear]
        m.d.sync += [c.eq(s4_done & (s4["kind"] != _Kind.DW)) for c in hand_over]
        m.d.sync += [c.eq(s4_done & (s4["kind"] == _Kind.DW) & (s4["g"] == gg))
                     for gg in range(G) for c in dw_done[gg]]
        for l in range(L):
            m.d.comb += total[l].eq(acc[l] + prods[l])
            with m.If(acc_clear[l // LANE_GROUP] | ResetSignal()):
                m.d.sync += acc[l].eq(0)
            with m.Elif(acc_en[l // LANE_GROUP]):
                m.d.sync += acc[l].eq(total[l])
        for gg in range(G):
            for l in range(L):
                with m.If(dw_done[gg][l // LANE_GROUP]):
                    c = gg * L + l
                    m.d.sync += d_regs[c].eq(total[l])
        # The non-zero mask is tested on the registered sums, one cycle after they land
        # (DRAIN waits that cycle): behind the accumulate adder's carry chain it was
        # the critical path (step 8 of docs/design.md §3.6, 11.1 ns).
        m.d.sync += [nz[c].eq(d_regs[c] != 0) for c in range(F)]
        # The mask's first split (lowest channel, the rest), registered: nz sits by the
        # lanes' d registers, and its route into the subtract's carry chain and on to
        # ``todo`` was the critical path of the extractor + FC core build (6 ns + 4 ns
        # of routing, step 14 of docs/design.md §3.6).
        nz_cur, nz_todo = Signal(F), Signal(F)
        m.d.sync += [nz_cur.eq(nz & -nz), nz_todo.eq(nz & (nz - 1))]
        # The pointwise walk's end test as a flip-flop (``todo == 0``, derived with
        # each new ``todo``): the 64-input OR in front of the walk's enables was the
        # critical path of the extractor + FC core build (step 15, docs/design.md §3.6).
        # From ``nz`` as a tree of flags, it is ready with ``nz_todo`` (step 16).
        nz_todo_empty = Signal()
        m.d.sync += nz_todo_empty.eq(at_most_one(nz))

        # ------------------------------------------------------------ post-processor
        stall = Signal()
        m.d.comb += stall.eq(self.trace.valid & ~self.trace.ready)
        # ``job_active`` is the post-processor's state; ``job_shift`` are copies of it
        # enabling the shadow shift, one per group of lanes. The state has no lanes to
        # drive: shared with group 0's enables it was 4 ns of routing away from the
        # post-processor's control (step 11 of docs/design.md §3.6).
        job_active = Signal()
        job_shift = copies("job_active")
        job_active_c = [job_active, *job_shift]
        job_kind = Signal(_Job)
        job_layer = Signal(range(max(NL, 2)))
        job_pos = Signal(range(max(NPOS, 2)))
        job_g = Signal(range(max(G, 2)))
        job_k = Signal(range(max(FA, 2)))
        shadow = [Signal(signed(AW), name=f"shadow{l}", reset_less=True) for l in range(L)]
        launch_final = Signal()       # from the sequencer
        final_layer = NL - 1
        for l in range(L):
            with m.If(hand_over[l // LANE_GROUP]):
                m.d.sync += shadow[l].eq(total[l])
        with m.If(hand_over[0]):
            m.d.sync += [*(c.eq(1) for c in job_active_c), job_kind.eq(s5["job"]),
                         job_layer.eq(s5["layer"]),
                         job_pos.eq(s5["pos"]), job_g.eq(s5["g"]), job_k.eq(0)]
        with m.If(launch_final):
            m.d.sync += [*(c.eq(1) for c in job_active_c), job_kind.eq(_Job.FINAL),
                         job_layer.eq(final_layer), job_k.eq(0), job_g.eq(0)]

        is_final = job_kind == _Job.FINAL
        step_addr = Mux(is_final, job_k, _times(job_g, SA, G) + job_k)
        m.d.comb += [p_rd.addr.eq(_times(job_layer, FA, NL) + step_addr),
                     p_rd.en.eq(~stall)]
        p1_valid, p1_first, p1_last = Signal(), Signal(), Signal()
        p1_kind = Signal(_Job)
        p1_layer = Signal.like(job_layer)
        p1_pos = Signal.like(job_pos)
        p1_addr = Signal(range(max(FA, 2)))
        p1_pot = [Signal(signed(AW), name=f"p1_pot{a}") for a in range(A)]
        if spec.pooled:
            m.d.comb += [pool_rd.addr.eq(step_addr), pool_rd.en.eq(~stall)]
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
                    m.d.sync += [*(c.eq(0) for c in job_active_c), credit.eq(1)]
            for l in range(L - A):
                with m.If(job_shift[l // LANE_GROUP]):
                    m.d.sync += shadow[l].eq(shadow[l + A])

        # P1: thresholds, steps and sums read; pooled sums updated.
        tops = _rom([(1 << g.act_bits) - 1 for g in spec.layers], 4)
        units = []
        tag_layout = data.StructLayout({"final": 1, "last": 1,
                                        "pos": unsigned(len(job_pos)),
                                        "layer": unsigned(len(job_layer))})
        pool_sum = []
        if spec.pooled:
            # P2: the old sums and the potentials registered; P3: their sum; P4: the
            # saturated sum registered, written.
            p2_valid, p2_first = Signal(), Signal()
            p2_addr, p3_addr, p4_addr = (Signal.like(p1_addr, name=f"p{k}_addr")
                                         for k in (2, 3, 4))
            p3_valid, p4_valid = Signal(), Signal()
            pool_pp_busy = p2_valid | p3_valid | p4_valid
            with m.If(~stall):
                m.d.sync += [p2_valid.eq(p1_valid & (p1_kind == _Job.POOL)),
                             p2_first.eq(p1_first), p2_addr.eq(p1_addr),
                             p3_valid.eq(p2_valid), p3_addr.eq(p2_addr),
                             p4_valid.eq(p3_valid), p4_addr.eq(p3_addr)]
        for a in range(A):
            slot = p_rd.data[a * self.param_slot:(a + 1) * self.param_slot]
            th = slot[:THRESHOLD_BITS].as_signed()
            step = slot[THRESHOLD_BITS:]
            if spec.pooled:
                pool_a = pool_rd.data[a * POTENTIAL_BITS:(a + 1) * POTENTIAL_BITS].as_signed()
                p2_old = Signal(signed(POTENTIAL_BITS), name=f"p2_old{a}")
                p2_pot = Signal(signed(AW), name=f"p2_pot{a}")
                s = Signal(signed(max(AW, POTENTIAL_BITS) + 1), name=f"pool_sum{a}")
                sat = Signal(POTENTIAL_BITS, name=f"pool_sat{a}")
                with m.If(~stall):
                    m.d.sync += [p2_old.eq(pool_a), p2_pot.eq(p1_pot[a]),
                                 s.eq(Mux(p2_first, 0, p2_old) + p2_pot),
                                 sat.eq(Mux(s > POT_MAX, POT_MAX,
                                            Mux(s < POT_MIN, POT_MIN, s))[:POTENTIAL_BITS])]
                pool_sum.append(sat)
                alt, sel_alt = pool_a, p1_kind == _Job.FINAL
            else:
                alt, sel_alt = 0, 0
            unit = StepActivation(PW, SB, tag_width=tag_layout.size)
            m.submodules[f"step{a}"] = unit
            units.append(unit)
            m.d.comb += [unit.ce.eq(~stall),
                         unit.i_valid.eq(p1_valid & (p1_kind != _Job.POOL)),
                         unit.i_pot.eq(p1_pot[a]), unit.i_alt.eq(alt),
                         unit.i_sel_alt.eq(sel_alt), unit.i_th.eq(th), unit.i_step.eq(step),
                         unit.i_top.eq(tops[p1_layer])]
        if spec.pooled:
            m.d.comb += [pool_wr.addr.eq(p4_addr), pool_wr.data.eq(Cat(*pool_sum)),
                         pool_wr.en.eq(p4_valid & ~stall)]
        tag_in = Signal(tag_layout)
        m.d.comb += [tag_in.final.eq(p1_kind == _Job.FINAL), tag_in.last.eq(p1_last),
                     tag_in.pos.eq(p1_pos), tag_in.layer.eq(p1_layer),
                     units[0].i_tag.eq(tag_in)]
        pp_busy = job_active | p1_valid | self.trace.valid
        if spec.pooled:
            pp_busy = pp_busy | pool_pp_busy
        for u in units:
            pp_busy = pp_busy | u.o_busy

        # P7: pack the activations; write a finished word / output the spikes.
        tag = Signal(tag_layout)
        m.d.comb += tag.eq(units[0].o_tag)
        word = Signal(F * ACT_SLOT)
        new_word = Cat(word[A * ACT_SLOT:], *(u.o_act for u in units))
        ob = spec.out_bits
        spk_word = Signal(F * ob)
        new_spk = Cat(spk_word[A * ob:], *(u.o_act[:ob] for u in units))
        out_base = Mux(tag.layer[0], NPOS, 0)
        done = units[0].o_valid & ~stall
        with m.If(self.trace.valid & self.trace.ready):
            m.d.sync += self.trace.valid.eq(0)
        # A finished word is written to the activation RAM a cycle after it is packed,
        # from the trace register and an address register: straight from the
        # activation units, its route to the block RAM was a critical path (step 16 of
        # docs/design.md §3.6). ``trace.valid`` rises with the write pending, so
        # ``pp_busy`` covers it and the barrier waits until it has landed.
        aw_en = Signal()
        aw_addr = Signal.like(a_wr.addr, reset_less=True)
        m.d.sync += aw_en.eq(0)
        m.d.comb += [a_wr.addr.eq(aw_addr), a_wr.data.eq(self.trace.payload.data),
                     a_wr.en.eq(aw_en)]
        with m.If(done & ~tag.final):
            m.d.sync += word.eq(new_word)
            with m.If(tag.last):
                m.d.sync += [aw_en.eq(1), aw_addr.eq(out_base + tag.pos),
                             self.trace.valid.eq(1), self.trace.payload.layer.eq(tag.layer),
                             self.trace.payload.pos.eq(tag.pos),
                             self.trace.payload.data.eq(new_word)]
        with m.If(done & tag.final):
            m.d.sync += spk_word.eq(new_spk)
            with m.If(tag.last):
                m.d.sync += [spk_valid.eq(1), spk_data.eq(new_spk)]

        # --------------------------------------------------------------- sequencer
        ox = Signal(range(max(g.out_xy[0] for g in spec.layers) + 1))
        oy = Signal(range(max(g.out_xy[1] for g in spec.layers) + 1))
        ki = Signal(range(max(g.kernel[0] for g in spec.layers) + 1))
        kj = Signal(range(max(g.kernel[1] for g in spec.layers) + 1))
        gc = Signal(range(max(G, 2)))
        ch = Signal(range(max(F, C0, 2)))
        pos = Signal(range(NPOS + 1))
        todo = Signal(F)
        todo_empty = Signal()                     # todo == 0
        cur = Signal(F)
        pw_first = Signal()
        all_idle = ~mac_busy & ~pp_busy

        # Loader (idle only).
        n_chunks = max(self.chunks(Sel.WEIGHTS), self.chunks(Sel.PARAMS))
        asm = Signal(n_chunks * LOAD_CHUNK)
        # The accepted beat is registered before it reaches the assembly register and the
        # RAMs: the handshake (valid & ready, an FSM decode) no longer enables hundreds
        # of flip-flops and the write ports directly (the most congested net of build 7).
        # The write lands one cycle later, still before any read: the sequencer leaves
        # IDLE only in a cycle without a beat, and reads start two cycles after that.
        lp = Signal.like(self.load.payload)
        load_ok = Signal()
        m.d.sync += [load_ok.eq(self.load.valid & self.load.ready), lp.eq(self.load.payload)]
        new_asm = Cat(asm[LOAD_CHUNK:], lp.data)

        def _word(width):
            lo = (n_chunks - -(-width // LOAD_CHUNK)) * LOAD_CHUNK
            return new_asm[lo:lo + width]
        m.d.comb += [w_wr.addr.eq(lp.addr), w_wr.data.eq(_word(self.w_width)),
                     w_wr.en.eq(load_ok & lp.commit & (lp.sel == Sel.WEIGHTS)),
                     p_wr.addr.eq(lp.addr), p_wr.data.eq(_word(self.param_width)),
                     p_wr.en.eq(load_ok & lp.commit & (lp.sel == Sel.PARAMS))]
        with m.If(load_ok):
            m.d.sync += asm.eq(new_asm)

        def tables(geom):
            OX, OY = geom.out_xy
            ilo, ihi = zip(*(geom.tap_range(0, o) for o in range(OX)))
            jlo, jhi = zip(*(geom.tap_range(1, o) for o in range(OY)))
            w = max(geom.kernel).bit_length()
            return _rom(ilo, w), _rom(ihi, w), _rom(jlo, w), _rom(jhi, w)

        def enter(geom, tabs):
            """Counters at the first position of a layer."""
            ilo, _, jlo, _ = tabs
            return [ox.eq(0), oy.eq(0), pos.eq(0), gc.eq(0), ch.eq(0),
                    ki.eq(ilo[0]), kj.eq(jlo[0])]

        def next_position(geom, tabs, then, end, on_end=()):
            """Advance to the next position (C order), or leave the layer."""
            ilo, _, jlo, _ = tabs
            OX, OY = geom.out_xy
            m.d.sync += [gc.eq(0), pos.eq(pos + 1)]
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

        def input_xy(geom, base=0):
            """Input coordinates of the current tap, and its word address ``base + ...``
            as two parts (position, tap) whose sum is the address."""
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
            return ix, iy, (row0 + y0, _times(ki, IY, geom.kernel[0] + 1) + kj)

        def parts(sigs, values):
            return [sg.eq(v) for sg, v in zip(sigs, values)]

        def group_rom(base, per_group):
            """``base + gc * per_group`` as a table (constant for one group)."""
            return _rom([base + g * per_group for g in range(G)],
                        max(base + (G - 1) * per_group, 1).bit_length())[gc]

        tabs = [tables(g) for g in spec.layers]
        job_of = [_Job.POOL if g.pooled else _Job.ACT for g in spec.layers]

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                m.d.comb += self.load.ready.eq(all_idle)
                with m.If(img_full & ~self.load.valid):
                    m.d.sync += enter(spec.layers[0], tabs[0])
                    m.next = "L0_CONV"

            for li, geom in enumerate(spec.layers):
                ilo, ihi, jlo, jhi = tabs[li]
                OX, OY = geom.out_xy
                IX, IY, C = geom.in_shape
                end_j = kj == jhi[oy]
                end_i = ki == ihi[ox]
                end_g = gc == G - 1
                common = [iss["g"].eq(gc), iss["pos"].eq(pos), iss["layer"].eq(li),
                          iss["job"].eq(job_of[li])]
                barrier = f"L{li}_BARRIER"

                if geom.kind == "conv":
                    with m.State(f"L{li}_CONV"):
                        ix, iy, addr = input_xy(geom)
                        T = geom.taps * C
                        K1 = geom.kernel[1]
                        end_c = ch == C - 1
                        last = end_c & end_j & end_i
                        first = (ki == ilo[ox]) & (kj == jlo[oy]) & (ch == 0)
                        m.d.comb += [
                            iss["kind"].eq(_Kind.CONV), iss["first"].eq(first),
                            iss["last"].eq(last), iss["c"].eq(ch), *common,
                            *parts(iss_ra, addr),
                            *parts(iss_wa, (group_rom(self.w_base[li][0], T) + ch,
                                            _times(ki, K1 * C, geom.kernel[0]) +
                                            _times(kj, C, K1)))]
                        if geom.padding_value:
                            m.d.comb += iss["pad"].eq((ix < 0) | (ix >= IX) |
                                                      (iy < 0) | (iy >= IY))
                        with m.If(~last | credit):
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
                                    m.d.sync += credit.eq(0)
                                    with m.If(~end_g):
                                        m.d.sync += [gc.eq(gc + 1), ki.eq(ilo[ox]),
                                                     kj.eq(jlo[oy])]
                                    with m.Else():
                                        # The image is read (the last read is in flight and
                                        # sees the old word): the next one may load.
                                        next_position(geom, tabs[li], f"L{li}_CONV", barrier,
                                                      on_end=[img_full.eq(0)])
                else:
                    in_base = NPOS if (li - 1) % 2 else 0
                    dw_base, pw_base = self.w_base[li]
                    with m.State(f"L{li}_DW"):
                        ix, iy, addr = input_xy(geom, in_base)
                        last = end_j & end_i
                        m.d.comb += [
                            iss["valid"].eq(1), iss["kind"].eq(_Kind.DW),
                            iss["first"].eq((ki == ilo[ox]) & (kj == jlo[oy])),
                            iss["last"].eq(last), *common,
                            *parts(iss_ra, addr),
                            *parts(iss_wa, (group_rom(dw_base, geom.taps),
                                            _times(ki, geom.kernel[1], geom.kernel[0]) +
                                            kj))]
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
                        with m.If(~mac_busy & nz_ready[1]):
                            m.d.sync += [cur.eq(nz_cur), todo.eq(nz_todo),
                                         todo_empty.eq(nz_todo_empty), pw_first.eq(1)]
                            m.next = f"L{li}_PW"
                    with m.State(f"L{li}_PW"):
                        # ``cur``: the channel issued now (one-hot, 0 if every sum is
                        # zero); ``todo``: the non-zero channels after it. The lowest
                        # of ``todo`` is split off for the next cycle, so the long
                        # subtract never sits on the control path.
                        idx = Signal(range(max(F, 2)), name=f"pw_idx{li}")
                        m.d.comb += idx.eq(
                            Cat(*(Cat(*(cur[k] for k in range(F) if k >> b & 1)).any()
                                  for b in range(max(F - 1, 1).bit_length()))))
                        last = todo_empty
                        m.d.comb += [
                            iss["kind"].eq(_Kind.PW), iss["first"].eq(pw_first),
                            iss["last"].eq(last), iss["c"].eq(idx),
                            iss["zero"].eq(cur == 0), *common,
                            *parts(iss_wa, (group_rom(pw_base, F), idx))]
                        with m.If(~last | credit):
                            m.d.comb += iss["valid"].eq(1)
                            # ``rest == 0`` as a tree of flags: behind the subtract's
                            # carry chain it was the critical path (step 16).
                            m.d.sync += [cur.eq(todo & -todo), todo.eq(todo & (todo - 1)),
                                         todo_empty.eq(at_most_one(todo)), pw_first.eq(0)]
                            with m.If(last):
                                m.d.sync += [credit.eq(0), pw_first.eq(1)]
                                with m.If(~end_g):
                                    m.d.sync += [gc.eq(gc + 1), cur.eq(nz_cur),
                                                 todo.eq(nz_todo),
                                                 todo_empty.eq(nz_todo_empty)]
                                with m.Else():
                                    next_position(geom, tabs[li], f"L{li}_DW", barrier)

                with m.State(barrier):
                    # The next layer reads what this one wrote: wait for every write.
                    if li < NL - 1:
                        with m.If(all_idle):
                            nxt = spec.layers[li + 1]
                            m.d.sync += enter(nxt, tabs[li + 1])
                            m.next = f"L{li + 1}_DW"
                    elif geom.pooled:
                        with m.If(all_idle & ~spk_valid):
                            m.d.comb += launch_final.eq(1)
                            m.d.sync += credit.eq(0)
                            m.next = "IDLE"
                    else:
                        with m.If(all_idle & ~spk_valid):
                            m.d.sync += [spk_valid.eq(1), spk_data.eq(0)]
                            m.next = "IDLE"

            m.d.comb += self.busy.eq(mac_busy | pp_busy | img_full)
        return m
