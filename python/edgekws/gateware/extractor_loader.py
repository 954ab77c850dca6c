"""Extractor regions of WRITE_MEM/READ_MEM in the protocol's golden byte layout.

The host writes an extractor layer as the golden model stores it
(:class:`edgekws.protocol.Region`: ``EXT_WEIGHTS``, ``EXT_WEIGHTS_PW``,
``EXT_THRESHOLD``, ``EXT_STEP`` + layer, the bytes of
:func:`edgekws.host.board.layer_images`); :class:`.DSCNNExtractor` takes ``load`` beats
in its own memory layout (:mod:`edgekws.gateware.conv.codec`: lane words, flipped
depthwise kernels, ``threshold | S << THRESHOLD_BITS`` parameter words). The
:class:`ExtractorLoader` translates on the fly, so the board needs no host-side re-layout and
any aligned piece of any region can be written in any order.

Why the layouts line up: in a golden weights array the filter (or, depthwise, the
channel) index is the last, fastest axis, so every ``lanes``-aligned run of ``lanes``
bytes is the content of exactly one weight-memory row (lane ``l`` = byte ``l``); only
the row number needs computing. A threshold and a step share one parameter word with
``act_units - 1`` other neurons, so both are kept in a shadow memory and every neuron
write rewrites its whole parameter word (read-modify-write).

:class:`ExtractorLoaderModel` is the pure-Python model of the component, used by the tests;
:func:`regions` is the region table both share.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import protocol
from .conv.extractor import LOAD_CHUNK, DSCNNExtractor, Sel
from .conv.step import THRESHOLD_BITS
from .interfaces import RegionAccessSignature
from .register_slice import RegisterSlice
from .unused import checking_arguments

__all__ = ["OK_LATENCY", "ExtractorLoader", "ExtractorLoaderModel", "RegionInfo", "regions"]

#: Cycles from ``region``/``offset``/``length`` to the ``ok``/``ok_read`` that answer
#: them: the inputs are registered, then the check and the start arithmetic are (so
#: neither sits on a path from the dispatcher's registers to the loader's state).
OK_LATENCY = 2

#: Bytes of one threshold or step value in the golden layout (int32 / u32).
VALUE_BYTES = 4


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _log2(n: int) -> int:
    return n.bit_length() - 1


@dataclass(frozen=True)
class RegionInfo:
    """One extractor region and how its bytes map onto the extractor's memories.

    Attributes
    ----------
    region : int
        The :class:`protocol.Region` value (``EXT_* + layer``).
    kind : {"weights", "threshold", "step"}
    layer : int
    size : int
        Bytes in the region.
    align : int
        Offsets and lengths must be multiples of it.
    base, stride, first, down : int, int, int, bool
        Weights: the ``lanes``-byte run ``t`` (lane group ``g = t % groups``, run
        ``q = t // groups`` within the group) is weight row
        ``base + g * stride + (first - q if down else first + q)``; ``down`` is the
        depthwise kernel flip.
    shadow : int
        Byte address of the region's first byte in the weight shadow (weights), or of
        its first value in the threshold/step shadow (which is indexed by neuron).
    param_base : int
        Parameter-memory address of the layer's first word (threshold/step).
    """
    region: int
    kind: str
    layer: int
    size: int
    align: int
    base: int = 0
    stride: int = 0
    first: int = 0
    down: bool = False
    shadow: int = 0
    param_base: int = 0

    def row(self, t: int, groups: int) -> int:
        """Weight row of the ``t``-th ``lanes``-byte run of the region."""
        g, q = t % groups, t // groups
        return self.base + g * self.stride + (self.first - q if self.down else self.first + q)


def regions(ext: DSCNNExtractor) -> list[RegionInfo]:
    """The extractor regions of ``ext``, in the layouts of :mod:`.conv.codec`."""
    R = protocol.Region
    F, L, A = ext.spec.filters, ext.lanes, ext.act_units
    out = []
    wsh = 0
    for li, (geom, (b0, b1)) in enumerate(zip(ext.spec.layers, ext.w_base)):
        kx, ky = geom.kernel
        C = geom.in_shape[2]
        taps = geom.taps
        if geom.kind == "conv":
            size = kx * ky * C * F
            out.append(RegionInfo(R.EXT_WEIGHTS + li, "weights", li, size, L, base=b0,
                                  stride=taps * C, shadow=wsh))
            wsh += size
        else:
            size = kx * ky * C
            # A depthwise tap (i, j) is stored flipped, at (kx-1-i, ky-1-j): C order
            # reversed, i.e. tap index taps - 1 - q.
            out.append(RegionInfo(R.EXT_WEIGHTS + li, "weights", li, size, L, base=b0,
                                  stride=taps, first=taps - 1, down=True, shadow=wsh))
            wsh += size
            size = C * F
            out.append(RegionInfo(R.EXT_WEIGHTS_PW + li, "weights", li, size, L, base=b1,
                                  stride=F, shadow=wsh))
            wsh += size
        for kind, reg in (("threshold", R.EXT_THRESHOLD), ("step", R.EXT_STEP)):
            out.append(RegionInfo(reg + li, kind, li, VALUE_BYTES * F, VALUE_BYTES,
                                  shadow=li * F, param_base=li * (F // A)))
    return out


def _check(ext, weight_readback):
    if not isinstance(ext, DSCNNExtractor):
        raise TypeError(f"ext must be a DSCNNExtractor, not {ext!r}")
    if not isinstance(weight_readback, bool):
        raise TypeError(f"weight_readback must be a bool, not {weight_readback!r}")
    n = len(ext.spec.layers)
    if n > protocol.MAX_EXT_LAYERS:
        raise ValueError(f"the extractor has {n} layers, more than the protocol's "
                         f"MAX_EXT_LAYERS={protocol.MAX_EXT_LAYERS}")
    # Powers of two turn the run and neuron divisions into bit slices (act_units
    # divides lanes, so it is one too; step_bits <= 26 fits the u32 step).
    for name, v in (("lanes", ext.lanes), ("groups", ext.groups)):
        if not _is_pow2(v):
            raise ValueError(f"ExtractorLoader needs a power-of-two ext.{name}, not {v!r}")


def _ok(info: RegionInfo | None, offset: int, length: int) -> bool:
    return (info is not None and offset % info.align == 0 and length % info.align == 0
            and 0 <= offset and 0 <= length and offset + length <= info.size)


class ExtractorLoaderModel:
    """Pure-Python model of :class:`ExtractorLoader` and of the extractor memories it writes.

    ``weights`` and ``params`` are the extractor's memory images (Python ints, as
    :func:`.conv.codec.weight_words` / :func:`.conv.codec.param_words`), ``threshold`` and
    ``step`` the shadow (per layer and neuron, the step masked to ``ext.step_bits``).
    """

    def __init__(self, ext: DSCNNExtractor, *, weight_readback: bool = True):
        _check(ext, weight_readback)
        self.ext = ext
        self.weight_readback = weight_readback
        self.info = {r.region: r for r in regions(ext)}
        n, F = len(ext.spec.layers), ext.spec.filters
        self.weights = [0] * ext.w_depth
        self.params = [0] * ext.param_depth
        self.threshold = [0] * (n * F)
        self.step = [0] * (n * F)
        self.wshadow = bytearray(sum(r.size for r in self.info.values()
                                     if r.kind == "weights"))

    def ok(self, region: int, offset: int, length: int, read: bool = False) -> bool:
        """Whether the component serves this access (its ``ok`` / ``ok_read``)."""
        info = self.info.get(region)
        if read and info is not None and info.kind == "weights" and not self.weight_readback:
            return False
        return _ok(info, offset, length)

    def write(self, region: int, offset: int, data: bytes) -> None:
        """WRITE_MEM of ``data`` at ``offset`` of ``region``."""
        if not self.ok(region, offset, len(data)):
            raise ValueError(f"write of {len(data)} bytes at {offset} of region "
                             f"{region:#x} is not served")
        info, ext = self.info[region], self.ext
        L = ext.lanes
        if info.kind == "weights":
            self.wshadow[info.shadow + offset:info.shadow + offset + len(data)] = data
            for k in range(0, len(data), L):
                row = info.row((offset + k) // L, ext.groups)
                self.weights[row] = int.from_bytes(data[k:k + L], "little")
            return
        A, slot = ext.act_units, ext.param_slot
        for k in range(0, len(data), VALUE_BYTES):
            n = (offset + k) // VALUE_BYTES
            v = int.from_bytes(data[k:k + VALUE_BYTES], "little")
            if info.kind == "threshold":
                self.threshold[info.shadow + n] = v
            else:
                self.step[info.shadow + n] = v & ((1 << ext.step_bits) - 1)
            n0 = n - n % A
            word = 0
            for j in range(A):
                s = info.shadow + n0 + j
                word |= (self.threshold[s] | self.step[s] << THRESHOLD_BITS) << (j * slot)
            self.params[info.param_base + n // A] = word

    def read(self, region: int, offset: int, length: int) -> bytes:
        """READ_MEM of ``length`` bytes at ``offset`` of ``region``."""
        if not self.ok(region, offset, length, read=True):
            raise ValueError(f"read of {length} bytes at {offset} of region "
                             f"{region:#x} is not served")
        info = self.info[region]
        if info.kind == "weights":
            return bytes(self.wshadow[info.shadow + offset:info.shadow + offset + length])
        src = self.threshold if info.kind == "threshold" else self.step
        vals = src[info.shadow + offset // VALUE_BYTES:
                   info.shadow + (offset + length) // VALUE_BYTES]
        return b"".join(v.to_bytes(VALUE_BYTES, "little") for v in vals)


class ExtractorLoader(wiring.Component):
    """Writes (and reads back) the extractor's regions in the protocol's golden layout.

    Parameters
    ----------
    ext : DSCNNExtractor
        The extractor whose ``load`` port ``load`` drives; every layout constant comes
        from it. ``ext.lanes``, ``ext.groups`` and ``ext.act_units`` must be powers of
        two (all the configurations of :mod:`.conv.configs` are).
    weight_readback : bool
        Keep a byte copy of the weight regions in block RAM so that READ_MEM of
        ``EXT_WEIGHTS``/``EXT_WEIGHTS_PW`` is served. Without it those reads are refused
        (``ok_read`` = 0); writes are served either way, and thresholds and steps are
        always readable (their shadow is needed for writing anyway). For the product
        extractor (20288 weight bytes) ``synth_ecp5`` gives 12 DP16KD, 835 LUT4 and
        450 FF with the copy, 2 DP16KD, 661 LUT4 and 396 FF without.

    Attributes
    ----------
    access : ``In(RegionAccessSignature())``
        The WRITE_MEM/READ_MEM access (:class:`.interfaces.RegionAccessSignature`):

        * ``ok`` says a *write* of ``(region, offset, length)`` is served: the region
          exists for this extractor (``EXT_WEIGHTS_PW`` only for separable layers), it
          holds ``offset + length`` bytes, and offset and length are multiples of
          ``ext.lanes`` (weights) or 4 (thresholds, steps); a zero length is served
          (nothing is written). ``ok_read``: a *read* is served, as ``ok``, and for the
          weight regions only with ``weight_readback``. Both are registered,
          :data:`OK_LATENCY` cycles behind the inputs.
        * ``write`` (while not ``busy`` and ``ok``; ignored otherwise) starts the write:
          ``region``, ``offset`` and ``length`` must have been stable for
          :data:`OK_LATENCY` cycles before the pulse and during it; the ``length`` bytes
          then come on ``wdata`` (``ready`` only while bytes are still due). Step values
          keep their low ``ext.step_bits`` bits: the dispatcher refuses larger ones before
          starting the write.
        * ``read`` (while not ``busy`` and ``ok_read``) sends ``length`` bytes on
          ``rdata``: the golden layout of what was last written (zeros after reset; a
          step as u32 of its low ``ext.step_bits`` bits). The inputs are held as for
          ``write``. ``rdata`` comes out of a register slice (a byte two cycles after
          its read address at the earliest): the shadow memory's output and the byte
          select stay off the path into the reply buffer.
        * ``busy``: from the cycle after ``write``/``read`` until the last ``load`` beat
          or ``rdata`` byte has been taken.
    load : stream of ``ext.load_layout``, out
        To :attr:`DSCNNExtractor.load`. A weight row is sent once its ``lanes`` bytes
        are in; a threshold or step rewrites its whole parameter word.
    """

    def __init__(self, ext: DSCNNExtractor, *, weight_readback: bool = True):
        with checking_arguments(self):
            _check(ext, weight_readback)
            self.ext = ext
            self.weight_readback = weight_readback
            self.infos = regions(ext)
            self.w_bytes = sum(r.size for r in self.infos if r.kind == "weights")
            super().__init__({
                "access": In(RegionAccessSignature()),
                "load": Out(stream.Signature(ext.load_layout)),
            })

    def elaborate(self, platform):
        m = Module()
        _LoaderLogic(self, m).build()
        return m


class _LoaderLogic:
    """:class:`ExtractorLoader`'s shadows, access check, state registers and state machine,
    built into ``m``: one method per part and per group of states (start of an access,
    weight bytes, threshold/step values, reads)."""

    def __init__(self, loader: ExtractorLoader, m: Module):
        self.loader, self.m = loader, m
        ext = self.ext = loader.ext
        self.acc = loader.access
        self.F, self.L, self.G, self.A = (ext.spec.filters, ext.lanes, ext.groups,
                                          ext.act_units)
        self.n_layers = len(ext.spec.layers)
        self.readback = loader.weight_readback
        self._shadows()
        self._access_check()
        self._registers()

    def _shadows(self):
        """The threshold and step shadows (by neuron) and, with readback, the weight
        bytes."""
        m, ext, loader = self.m, self.ext, self.loader
        n = self.n_layers * self.F
        m.submodules.th = th_mem = memory.Memory(shape=THRESHOLD_BITS, depth=n, init=[])
        m.submodules.st = st_mem = memory.Memory(shape=ext.step_bits, depth=n, init=[])
        th_wr, th_rd = th_mem.write_port(), th_mem.read_port(transparent_for=())
        st_wr, st_rd = st_mem.write_port(), st_mem.read_port(transparent_for=())
        self.th_wr, self.th_rd, self.st_wr, self.st_rd = th_wr, th_rd, st_wr, st_rd
        if self.readback:
            m.submodules.wsh = w_mem = memory.Memory(shape=8, depth=loader.w_bytes,
                                                     init=[])
            w_wr, w_rd = w_mem.write_port(), w_mem.read_port(transparent_for=())
            self.w_wr, self.w_rd = w_wr, w_rd

    def _access_check(self):
        """``ok``/``ok_read`` of the access, :data:`OK_LATENCY` cycles behind it."""
        m, acc, infos = self.m, self.acc, self.loader.infos
        # Stage 1 registers the inputs; stage 2 registers the check and, while idle,
        # the start values of every state register, so a write/read pulse only
        # changes state (see OK_LATENCY).
        i_region, i_length = Signal(8), Signal(range(protocol.MAX_PACKET + 1))
        nbits = max(max(r.size for r in infos), 2).bit_length()
        i_off, i_high = Signal(nbits), Signal()            # offset below/above 2**nbits
        self.i_region, self.i_length, self.i_off = i_region, i_length, i_off
        m.d.sync += [i_region.eq(acc.region), i_length.eq(acc.length),
                     i_off.eq(acc.offset[:nbits]), i_high.eq(acc.offset[nbits:] != 0)]
        # A huge offset must not wrap into range: its high bits refuse it.
        end = Signal(nbits + 1)
        m.d.comb += end.eq(i_off + i_length)
        hit = Signal()
        is_weights = Signal()
        with m.Switch(i_region):
            for r in infos:
                with m.Case(r.region):
                    a = _log2(r.align)
                    aligned = ((i_off[:a] == 0) & (i_length[:a] == 0)) if a else 1
                    m.d.comb += [hit.eq(aligned & ~i_high & (end <= r.size)),
                                 is_weights.eq(r.kind == "weights")]
        m.d.sync += [acc.ok.eq(hit),
                     acc.ok_read.eq(hit & (~is_weights if not self.readback else 1))]

    def _registers(self):
        """The state of an access: what is due, where it goes."""
        ext, F, L, G, A = self.ext, self.F, self.L, self.G, self.A
        w_bytes, n_layers = self.loader.w_bytes, self.n_layers
        n_wchunks, n_pchunks = ext.chunks(Sel.WEIGHTS), ext.chunks(Sel.PARAMS)
        self.rem = Signal(range(protocol.MAX_PACKET + 1))      # bytes still due
        self.nbyte = Signal(range(max(L, VALUE_BYTES)))        # byte within row / value
        self.chunk = Signal(LOAD_CHUNK)
        # weights
        self.row = Signal(range(ext.w_depth + 1))
        self.rowq = Signal(range(ext.w_depth + 1))             # the row of lane group 0
        self.g = Signal(range(max(G, 2)))
        self.stride = Signal(range(ext.w_depth + 1))
        self.down = Signal()
        self.waddr = Signal(range(max(w_bytes, 2)))
        # thresholds / steps
        self.is_step = Signal()
        self.sh_base = Signal(range(n_layers * F + 1))
        self.p_base = Signal(range(max(ext.param_depth, 2)))
        self.neuron = Signal(range(F + 1))
        self.j = Signal(range(A + 1))
        self.pword = Signal(n_pchunks * LOAD_CHUNK)
        self.beat = Signal(range(max(n_wchunks, n_pchunks) + 1))
        # reads
        self.raddr = Signal(range(max(w_bytes, VALUE_BYTES * n_layers * F) + 1))
        self.rsrc = Signal(2)                                   # 0 weights, 1 thr, 2 step
        self.rvalid = Signal()
        self.rlane = Signal(2)
        self.kind_w = Signal()                                  # the region holds weights
        self.m.submodules.rdata_slice = self.rslice = RegisterSlice(8)
        wiring.connect(self.m, self.rslice.o, wiring.flipped(self.acc.rdata))

    def build(self):
        m = self.m
        with m.FSM(name="ext_loader") as fsm:
            with m.State("IDLE"):
                self._start()
            self._weight_states()
            self._value_states()
            self._read_state()
        m.d.comb += self.acc.busy.eq(~fsm.ongoing("IDLE") | self.rslice.o.valid)

    def _start(self):
        """In ``IDLE``: the start values of the access on the inputs (registered, see
        :data:`OK_LATENCY`), and the start of a write or read."""
        m, acc, L, G, off = self.m, self.acc, self.L, self.G, self.i_off
        m.d.sync += [self.rem.eq(self.i_length), self.nbyte.eq(0), self.rvalid.eq(0)]
        with m.Switch(self.i_region):
            for r in self.loader.infos:
                with m.Case(r.region):
                    if r.kind == "weights":
                        t = off >> _log2(L)
                        gi = t[:_log2(G)] if G > 1 else Const(0, 1)
                        q = t >> _log2(G)
                        c = r.base + r.first
                        rq = (c - q) if r.down else (c + q)
                        m.d.sync += [self.kind_w.eq(1), self.rowq.eq(rq),
                                     self.row.eq(rq + gi * r.stride),
                                     self.g.eq(gi), self.stride.eq(r.stride),
                                     self.down.eq(r.down),
                                     self.waddr.eq(r.shadow + off)]
                        if self.readback:
                            m.d.sync += [self.rsrc.eq(0), self.raddr.eq(r.shadow + off)]
                    else:
                        m.d.sync += [self.kind_w.eq(0), self.is_step.eq(r.kind == "step"),
                                     self.sh_base.eq(r.shadow),
                                     self.p_base.eq(r.param_base),
                                     self.neuron.eq(off >> _log2(VALUE_BYTES)),
                                     self.rsrc.eq(1 if r.kind == "threshold" else 2),
                                     self.raddr.eq(VALUE_BYTES * r.shadow + off)]
        with m.If(acc.write & acc.ok):
            m.next = "P_BYTES"
            with m.If(self.kind_w):
                m.next = "W_BYTES"
        with m.Elif(acc.read & acc.ok_read):
            m.next = "READ"

    def _weight_states(self):
        """Weights: collect 4 bytes (or the row's end), send one beat."""
        m, acc, L, G = self.m, self.acc, self.L, self.G
        load, lp = self.loader.load, self.loader.load.payload
        rem, nbyte, chunk, row, rowq, g = (self.rem, self.nbyte, self.chunk, self.row,
                                           self.rowq, self.g)
        with m.State("W_BYTES"):
            m.d.comb += acc.wdata.ready.eq(rem != 0)
            with m.If(rem == 0):
                m.next = "IDLE"                          # a zero-length write
            with m.Elif(acc.wdata.valid):
                m.d.sync += [chunk.word_select(nbyte[:2], 8).eq(acc.wdata.payload),
                             rem.eq(rem - 1), self.waddr.eq(self.waddr + 1)]
                if self.readback:
                    m.d.comb += [self.w_wr.addr.eq(self.waddr),
                                 self.w_wr.data.eq(acc.wdata.payload), self.w_wr.en.eq(1)]
                with m.If((nbyte[:2] == 3) | (nbyte == L - 1)):
                    m.next = "W_BEAT"
                with m.Else():
                    m.d.sync += nbyte.eq(nbyte + 1)

        with m.State("W_BEAT"):
            commit = nbyte == L - 1
            m.d.comb += [load.valid.eq(1), lp.sel.eq(Sel.WEIGHTS),
                         lp.addr.eq(row), lp.data.eq(chunk), lp.commit.eq(commit)]
            with m.If(load.ready):
                m.d.sync += [chunk.eq(0), nbyte.eq(nbyte + 1)]
                with m.If(commit):
                    m.d.sync += nbyte.eq(0)
                    # Next run: the next lane group, or the next tap/channel.
                    with m.If(g == G - 1):
                        nq = Mux(self.down, rowq - 1, rowq + 1)
                        m.d.sync += [g.eq(0), rowq.eq(nq), row.eq(nq)]
                    with m.Else():
                        m.d.sync += [g.eq(g + 1), row.eq(row + self.stride)]
                m.next = "W_BYTES"
                with m.If(rem == 0):
                    m.next = "IDLE"

    def _value_states(self):
        """Thresholds / steps: collect a value, store it, rewrite its word."""
        m, acc, A, ext = self.m, self.acc, self.A, self.ext
        load, lp = self.loader.load, self.loader.load.payload
        rem, nbyte, chunk, neuron, j = self.rem, self.nbyte, self.chunk, self.neuron, self.j
        sh_base, pword, beat, slot = self.sh_base, self.pword, self.beat, ext.param_slot
        th_wr, th_rd, st_wr, st_rd = self.th_wr, self.th_rd, self.st_wr, self.st_rd
        n_pchunks = ext.chunks(Sel.PARAMS)
        with m.State("P_BYTES"):
            m.d.comb += acc.wdata.ready.eq(rem != 0)
            with m.If(rem == 0):
                m.next = "IDLE"
            with m.Elif(acc.wdata.valid):
                m.d.sync += [chunk.word_select(nbyte[:2], 8).eq(acc.wdata.payload),
                             rem.eq(rem - 1), nbyte.eq(nbyte + 1)]
                with m.If(nbyte[:2] == VALUE_BYTES - 1):
                    m.d.sync += nbyte.eq(0)
                    m.next = "P_STORE"

        with m.State("P_STORE"):
            m.d.comb += [th_wr.addr.eq(sh_base + neuron), th_wr.data.eq(chunk),
                         th_wr.en.eq(~self.is_step),
                         st_wr.addr.eq(sh_base + neuron), st_wr.data.eq(chunk),
                         st_wr.en.eq(self.is_step)]
            m.d.sync += j.eq(0)
            m.next = "P_GATHER"

        with m.State("P_GATHER"):
            # Read the word's act_units neurons (one a cycle, data a cycle later)
            # and shift them in: the first read ends in slot 0.
            n0 = Cat(Const(0, _log2(A)), neuron[_log2(A):]) if A > 1 else neuron
            m.d.comb += [th_rd.addr.eq(sh_base + n0 + j), st_rd.addr.eq(sh_base + n0 + j),
                         th_rd.en.eq(1), st_rd.en.eq(1)]
            m.d.sync += j.eq(j + 1)
            with m.If(j != 0):
                m.d.sync += pword.eq(Cat(pword[slot:A * slot], th_rd.data, st_rd.data))
            with m.If(j == A):
                m.d.sync += beat.eq(0)
                m.next = "P_BEAT"

        with m.State("P_BEAT"):
            commit = beat == n_pchunks - 1
            m.d.comb += [load.valid.eq(1), lp.sel.eq(Sel.PARAMS),
                         lp.addr.eq(self.p_base + (neuron >> _log2(A))),
                         lp.data.eq(pword[:LOAD_CHUNK]), lp.commit.eq(commit)]
            with m.If(load.ready):
                m.d.sync += [pword.eq(pword >> LOAD_CHUNK), beat.eq(beat + 1)]
                with m.If(commit):
                    m.d.sync += [neuron.eq(neuron + 1), chunk.eq(0)]
                    m.next = "P_BYTES"
                    with m.If(rem == 0):
                        m.next = "IDLE"

    def _read_state(self):
        """Reads: one byte a cycle, the read port holding while ``rdata`` waits."""
        m, rem, raddr, rsrc = self.m, self.rem, self.raddr, self.rsrc
        th_rd, st_rd = self.th_rd, self.st_rd
        with m.State("READ"):
            advance = ~self.rvalid | self.rslice.i.ready
            word = Signal(32)
            with m.Switch(rsrc):
                if self.readback:
                    with m.Case(0):
                        m.d.comb += word.eq(self.w_rd.data)
                with m.Case(1):
                    m.d.comb += word.eq(th_rd.data)
                with m.Case(2):
                    m.d.comb += word.eq(st_rd.data)
            m.d.comb += [self.rslice.i.valid.eq(self.rvalid),
                         self.rslice.i.payload.eq(word.word_select(self.rlane, 8)),
                         th_rd.addr.eq(raddr >> 2), st_rd.addr.eq(raddr >> 2),
                         th_rd.en.eq(advance), st_rd.en.eq(advance)]
            if self.readback:
                m.d.comb += [self.w_rd.addr.eq(raddr), self.w_rd.en.eq(advance)]
            with m.If(advance):
                m.d.sync += self.rvalid.eq(rem != 0)
                with m.If(rem != 0):
                    m.d.sync += [raddr.eq(raddr + 1), rem.eq(rem - 1),
                                 self.rlane.eq(Mux(rsrc == 0, 0, raddr[:2]))]
                with m.Else():
                    m.next = "IDLE"
