"""The DS-CNN feature extractor: InputConvolutional then separable layers, Akida 1.0
integer semantics, bit-exact with :mod:`edgekws.golden`.

Architecture (details and measurements in ``docs/design/extractor.md``)
-----------------------------------------------------------------------
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

Parts, each built into the extractor's one module (no hierarchy in the Verilog) by
:meth:`DSCNNExtractor.elaborate`: the memories and the ``pixels``/``load``/``spikes``
ends (here), the op pipeline (:class:`.MacArray`), the post-processor
(:class:`.PostProcessor`) and the sequencer (:class:`.Sequencer`); what they share
is in :mod:`.ops`.

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

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...checks import check_int
from ...golden.quant import POTENTIAL_BITS
from ..ram import NO_RW_CHECK, checked_reads
from ..unused import checking_arguments
from .mac_array import MacArray
from .mult import KINDS as MULT_KINDS
from .mult import resolve as resolve_mult
from .post_processor import PostProcessor
from .sequencer import Sequencer
from .spec import ACT_SLOT, PIXEL_BITS, WEIGHT_SLOT, ExtractorSpec, kws_spec
from .step import THRESHOLD_BITS

__all__ = ["DSCNNExtractor", "Sel", "LOAD_CHUNK"]

#: Bits of data per ``load`` beat.
LOAD_CHUNK = 32

class Sel(enum.Enum, shape=1):
    """Memory written by a ``load`` commit."""
    WEIGHTS = 0
    PARAMS = 1


def _check_int(name, value, lo=1, hi=None):
    # The extractor's messages say "an integer >= 1" where check_int says "a positive
    # integer"; the check itself is the package's one.
    check_int(name, value, lo, hi, expected=None if hi is not None else f"an integer >= {lo}")


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
        with checking_arguments(self):
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

    def chunks(self, sel: Sel) -> int:
        """``load`` beats per word of memory ``sel``."""
        width = self.w_width if sel == Sel.WEIGHTS else self.param_width
        return -(-width // LOAD_CHUNK)

    # ------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        mems = _Memories(m, self)
        flags = _Flags(m, self, mems.img_wr)
        mac = MacArray(m, self, mems, resolve_mult(self.mult, platform))
        post = PostProcessor(m, self, mems, mac, flags)
        seq = Sequencer(m, self, mac, post, flags)
        _load_port(m, self, mems)
        seq.build()
        return m


class _Memories:
    """The extractor's memories and their ports (``<mem>_wr``, ``<mem>_rd``): image,
    weights, neuron parameters, activations and, if the last layer pools, the pooled
    sums (``pool_wr``/``pool_rd``, else ``None``)."""

    def __init__(self, m, ext):
        F, A = ext.spec.filters, ext.act_units
        m.submodules.img = img = memory.Memory(shape=ext.pixel_width,
                                               depth=ext.img_depth, init=[])
        # Weights and parameters are written by the loader only while idle (the write
        # lands before the sequencer's first read), so no read they answer meets a
        # write: ``NO_RW_CHECK`` spares yosys' emulation of a collision, which sat on
        # a critical path (docs/design/timing-closure.md §3.6, step 15).
        m.submodules.weights = wmem = memory.Memory(shape=ext.w_width,
                                                    depth=ext.w_depth, init=[],
                                                    attrs=NO_RW_CHECK)
        m.submodules.params = pmem = memory.Memory(shape=ext.param_width,
                                                   depth=ext.param_depth, init=[],
                                                   attrs=NO_RW_CHECK)
        # Layer l writes its activations to half l % 2 and reads half (l - 1) % 2,
        # and starts only once every write of layer l - 1 has landed (its barrier):
        # no read of a layer meets a write to its address. Layer 0 reads the image;
        # the activation word read alongside is not used.
        m.submodules.act = amem = memory.Memory(shape=F * ACT_SLOT, depth=ext.act_depth,
                                                init=[], attrs=NO_RW_CHECK)
        # (The ports are named after the variables they are assigned to.)
        img_wr, img_rd = img.write_port(), img.read_port(transparent_for=())
        w_wr, w_rd = wmem.write_port(), wmem.read_port(transparent_for=())
        p_wr, p_rd = pmem.write_port(), pmem.read_port(transparent_for=())
        a_wr, a_rd = amem.write_port(), amem.read_port(transparent_for=())
        poison = ext.poison_collisions
        w_rd, p_rd, a_rd = checked_reads(m, [(w_rd, w_wr), (p_rd, p_wr), (a_rd, a_wr)],
                                         poison)
        self.img_wr, self.img_rd, self.w_wr, self.w_rd = img_wr, img_rd, w_wr, w_rd
        self.p_wr, self.p_rd, self.a_wr, self.a_rd = p_wr, p_rd, a_wr, a_rd
        self.pool_wr = self.pool_rd = None
        if ext.spec.pooled:
            # Read-modify-write over 3 registered stages: the same sums are revisited
            # only after a whole job (L/A steps and more), so no forwarding is needed,
            # and no read meets a write to its address.
            m.submodules.pool = poolm = memory.Memory(
                shape=A * POTENTIAL_BITS, depth=F // A, init=[], attrs=NO_RW_CHECK)
            pool_wr = poolm.write_port()
            pool_rd = poolm.read_port(transparent_for=())
            pool_rd, = checked_reads(m, [(pool_rd, pool_wr)], poison)
            self.pool_wr, self.pool_rd = pool_wr, pool_rd


class _Flags:
    """The flags the extractor's parts share, and the stream ends they guard.

    ``credit``: the post-processor can take the next group's sums (cleared by the
    sequencer at a group's last op, set by the post-processor at a job's end).
    ``img_full``: the image memory holds an image (set by the ``pixels`` input at its
    last beat, cleared by the sequencer once the first layer has read it).
    ``spk_valid``/``spk_data``: the ``spikes`` register (set by the post-processor or,
    without pooling, by the sequencer).
    """

    def __init__(self, m, ext, img_wr):
        credit = Signal(init=1)
        img_full = Signal()
        spk_valid = Signal()
        spk_data = Signal(ext.spec.filters * ext.spec.out_bits)
        self.credit, self.img_full, self.spk_valid, self.spk_data = \
            credit, img_full, spk_valid, spk_data
        m.d.comb += [ext.spikes.valid.eq(spk_valid), ext.spikes.payload.eq(spk_data)]
        with m.If(ext.spikes.valid & ext.spikes.ready):
            m.d.sync += spk_valid.eq(0)
        # The image input: one word a beat, until the image is in.
        pix_addr = Signal(range(ext.img_depth))
        m.d.comb += [ext.pixels.ready.eq(~img_full), img_wr.addr.eq(pix_addr),
                     img_wr.data.eq(ext.pixels.payload),
                     img_wr.en.eq(ext.pixels.valid & ~img_full)]
        with m.If(ext.pixels.valid & ~img_full):
            m.d.sync += pix_addr.eq(pix_addr + 1)
            with m.If(pix_addr == ext.img_depth - 1):
                m.d.sync += [pix_addr.eq(0), img_full.eq(1)]


def _load_port(m, ext, mems):
    """The ``load`` input (its ``ready`` is the sequencer's, in ``IDLE``): beats shifted
    into an assembly register, a commit writes the word to the weights or parameters."""
    n_chunks = max(ext.chunks(Sel.WEIGHTS), ext.chunks(Sel.PARAMS))
    asm = Signal(n_chunks * LOAD_CHUNK)
    # The accepted beat is registered before it reaches the assembly register and the
    # RAMs: the handshake (valid & ready, an FSM decode) no longer enables hundreds
    # of flip-flops and the write ports directly (the most congested net of build 7).
    # The write lands one cycle later, still before any read: the sequencer leaves
    # IDLE only in a cycle without a beat, and reads start two cycles after that.
    lp = Signal.like(ext.load.payload)
    load_ok = Signal()
    m.d.sync += [load_ok.eq(ext.load.valid & ext.load.ready), lp.eq(ext.load.payload)]
    new_asm = Cat(asm[LOAD_CHUNK:], lp.data)

    def _word(width):
        lo = (n_chunks - -(-width // LOAD_CHUNK)) * LOAD_CHUNK
        return new_asm[lo:lo + width]
    w_wr, p_wr = mems.w_wr, mems.p_wr
    m.d.comb += [w_wr.addr.eq(lp.addr), w_wr.data.eq(_word(ext.w_width)),
                 w_wr.en.eq(load_ok & lp.commit & (lp.sel == Sel.WEIGHTS)),
                 p_wr.addr.eq(lp.addr), p_wr.data.eq(_word(ext.param_width)),
                 p_wr.en.eq(load_ok & lp.commit & (lp.sel == Sel.PARAMS))]
    with m.If(load_ok):
        m.d.sync += asm.eq(new_asm)
