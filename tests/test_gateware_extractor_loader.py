"""ExtractorLoader: golden-layout extractor regions -> DSCNNExtractor ``load`` beats.

The component is simulated with amaranth.sim; its ``load`` stream goes to a Python sink
that assembles beats exactly as the extractor does (checked against
:func:`codec.load_beats`), and the resulting memory images are compared bit for bit with
:func:`codec.weight_words` / :func:`codec.param_words` of a random model.
"""
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from edgekws import protocol
from edgekws.gateware.conv import DSCNNExtractor, ExtractorSpec, codec
from edgekws.gateware.conv.configs import CONFIGS
from edgekws.gateware.conv.extractor import LOAD_CHUNK, Sel
from edgekws.gateware.extractor_loader import (OK_LATENCY, ExtractorLoader, ExtractorLoaderModel,
                                               regions)
from edgekws.gateware.unused import never_elaborated
from edgekws.golden.layers import InputConvolutional, SeparableConvolutional
from edgekws.golden.model import Model
from edgekws.golden.zoo import mfcc_like_inputs, randomize
from edgekws.host.board import layer_images

R = protocol.Region


def _random_model(name, seed):
    cfg = CONFIGS[name]
    model = cfg.model()
    if name == "dscnn_kws":
        probe = mfcc_like_inputs(4, seed)
    else:
        rng = np.random.default_rng(seed)
        probe = rng.integers(0, 256, (8,) + cfg.spec().image_shape).astype(np.uint8)
    return randomize(model, probe, seed)


def _images(ext, model):
    """``{region: bytes}`` of every extractor layer, as the Board sends them."""
    out = {}
    for li, layer in enumerate(model.layers[:len(ext.spec.layers)]):
        for base, data in layer_images(layer).items():
            out[base + li] = data
    return out


def _pieces(ext, images, rng, max_len):
    """Every region split into random aligned pieces, all shuffled together."""
    info = {r.region: r for r in regions(ext)}
    out = []
    for region, data in images.items():
        a = info[region].align
        off = 0
        while off < len(data):
            n = min(len(data) - off, a * rng.randint(1, max(max_len // a, 1)))
            out.append((region, off, data[off:off + n]))
            off += n
    rng.shuffle(out)
    return out


class Sink:
    """The extractor's loader: beats shift into an assembly register, ``commit``
    writes the word's last ``chunks(sel)`` beats to memory ``sel`` at ``addr``."""

    def __init__(self, ext):
        self.ext = ext
        self.fo = codec.field_offsets(ext.load_layout)
        self.n = max(ext.chunks(Sel.WEIGHTS), ext.chunks(Sel.PARAMS))
        self.asm = 0
        self.mem = {Sel.WEIGHTS: [0] * ext.w_depth, Sel.PARAMS: [0] * ext.param_depth}
        self.beats = 0

    def take(self, payload: int):
        def get(name):
            off, width = self.fo[name]
            return (payload >> off) & ((1 << width) - 1)
        self.beats += 1
        self.asm = (self.asm >> LOAD_CHUNK) | (get("data") << ((self.n - 1) * LOAD_CHUNK))
        if get("commit"):
            sel = Sel(get("sel"))
            width = self.ext.w_width if sel == Sel.WEIGHTS else self.ext.param_width
            lo = (self.n - self.ext.chunks(sel)) * LOAD_CHUNK
            addr = get("addr")
            assert addr < len(self.mem[sel]), (sel, addr)
            self.mem[sel][addr] = (self.asm >> lo) & ((1 << width) - 1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_sink_matches_host_layout(name):
    """The test's sink is the extractor's loader: codec.load_beats fill it as designed."""
    ext = never_elaborated(CONFIGS[name].extractor())
    model = _random_model(name, 1)
    sink = Sink(ext)
    for b in codec.load_beats(ext, model):
        sink.take(b)
    assert sink.mem[Sel.WEIGHTS] == codec.weight_words(ext, model)
    assert sink.mem[Sel.PARAMS] == codec.param_words(ext, model)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", [0, 1])
def test_model_any_order_any_chunking(name, seed):
    ext = never_elaborated(CONFIGS[name].extractor())
    model = _random_model(name, seed)
    images = _images(ext, model)
    ldr = ExtractorLoaderModel(ext)
    for region, off, data in _pieces(ext, images, random.Random(seed), protocol.MEM_CHUNK):
        ldr.write(region, off, data)
    assert ldr.weights == codec.weight_words(ext, model)
    assert ldr.params == codec.param_words(ext, model)
    for region, data in images.items():
        assert ldr.read(region, 0, len(data)) == data


def test_model_rewrites_keep_the_other_half():
    """A threshold write keeps the step of the same neuron and its word neighbours."""
    ext = never_elaborated(CONFIGS["dscnn_unit_a"].extractor())
    ldr = ExtractorLoaderModel(ext)
    ldr.write(R.EXT_STEP + 1, 0, (5).to_bytes(4, "little") + (7).to_bytes(4, "little"))
    ldr.write(R.EXT_THRESHOLD + 1, 4, (-3).to_bytes(4, "little", signed=True))
    slot = ext.param_slot
    word = ldr.params[ext.spec.filters // ext.act_units]
    assert word == (5 << 32) | (((2**32 - 3) | 7 << 32) << slot)
    with pytest.raises(ValueError, match="write of 4 bytes at 2 of region 0x11"):
        ldr.write(R.EXT_THRESHOLD + 1, 2, bytes(4))


def test_mem_chunk_aligns_with_the_regions():
    """The Board's WRITE_MEM/READ_MEM chunks must fall on region alignments."""
    for name in CONFIGS:
        ext = never_elaborated(CONFIGS[name].extractor())
        for r in regions(ext):
            assert protocol.MEM_CHUNK % r.align == 0, (name, r.region, protocol.MEM_CHUNK)


# -- simulation ---------------------------------------------------------------------------
class Bench:
    """Drives an ExtractorLoader cycle by cycle: write/read accesses, random back-pressure."""

    def __init__(self, ctx, dut, rng, p_valid=0.8, p_ready=0.7):
        self.ctx, self.dut, self.rng = ctx, dut, rng
        self.p_valid, self.p_ready = p_valid, p_ready
        self.sink = Sink(dut.ext)
        self.cycles = 0

    async def cycle(self):
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.load.ready, self.rng.random() < self.p_ready)
        if ctx.get(dut.load.valid) and ctx.get(dut.load.ready):
            self.sink.take(ctx.get(dut.load.payload.as_value()))
        await ctx.tick()
        self.cycles += 1

    async def access(self, region, offset, length):
        """Present the access; ``(ok, ok_read)`` once they answer it (OK_LATENCY cycles)."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.access.region, region)
        ctx.set(dut.access.offset, offset)
        ctx.set(dut.access.length, length)
        for _ in range(OK_LATENCY):
            self.before = ctx.get(dut.access.ok), ctx.get(dut.access.ok_read)
            await self.cycle()
        return ctx.get(dut.access.ok), ctx.get(dut.access.ok_read)

    async def write(self, region, offset, data):
        ctx, dut = self.ctx, self.dut
        ok, _ = await self.access(region, offset, len(data))
        assert ok, (region, offset, len(data))
        ctx.set(dut.access.write, 1)
        await self.cycle()
        ctx.set(dut.access.write, 0)
        i = 0
        while ctx.get(dut.access.busy):
            valid = i < len(data) and self.rng.random() < self.p_valid
            ctx.set(dut.access.wdata.valid, valid)
            ctx.set(dut.access.wdata.payload, data[i] if i < len(data) else 0)
            if valid and ctx.get(dut.access.wdata.ready):
                i += 1
            await self.cycle()
        ctx.set(dut.access.wdata.valid, 0)
        assert i == len(data), (region, offset, i, len(data))

    async def read(self, region, offset, length):
        ctx, dut = self.ctx, self.dut
        _, ok = await self.access(region, offset, length)
        assert ok, (region, offset, length)
        ctx.set(dut.access.read, 1)
        await self.cycle()
        ctx.set(dut.access.read, 0)
        out = bytearray()
        while ctx.get(dut.access.busy):
            ready = self.rng.random() < self.p_ready
            ctx.set(dut.access.rdata.ready, ready)
            if ready and ctx.get(dut.access.rdata.valid):
                out.append(ctx.get(dut.access.rdata.payload))
            await self.cycle()
        ctx.set(dut.access.rdata.ready, 0)
        return bytes(out)


def _simulate(dut, bench_fn, seed=0):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    result = {}

    async def tb(ctx):
        b = Bench(ctx, dut, random.Random(seed))
        result["bench"] = b
        await bench_fn(b)
    sim.add_testbench(tb)
    sim.run()
    return result["bench"]


@pytest.mark.parametrize("name", ["dscnn_unit_a", "dscnn_unit_b"])
def test_random_orders_and_chunkings(name):
    """Every region in random aligned pieces, shuffled, with random stalls on both
    streams; then the whole images read back, also in pieces."""
    ext = never_elaborated(CONFIGS[name].extractor())
    model = _random_model(name, 3)
    images = _images(ext, model)
    rng = random.Random(3)
    pieces = _pieces(ext, images, rng, 48)
    reads = _pieces(ext, images, rng, 40)
    dut = ExtractorLoader(ext)
    got = {}

    async def run(b):
        # Before any write the shadows read as zeros.
        assert await b.read(R.EXT_STEP + 2, 0, 8) == bytes(8)
        for region, off, data in pieces:
            await b.write(region, off, data)
        for region, off, data in reads:
            got[(region, off)] = await b.read(region, off, len(data))
    b = _simulate(dut, run, seed=3)
    assert b.sink.mem[Sel.WEIGHTS] == codec.weight_words(ext, model)
    assert b.sink.mem[Sel.PARAMS] == codec.param_words(ext, model)
    for region, off, data in reads:
        assert got[(region, off)] == data, (region, off)


def test_kws_load_in_board_chunks():
    """The product extractor: the Board's order (per layer, in MEM_CHUNK pieces),
    without stalls, gives load_beats' memory images; the beat count is load_beats' plus
    the parameter-word rewrites."""
    ext = never_elaborated(DSCNNExtractor())
    model = _random_model("dscnn_kws", 0)
    images = _images(ext, model)
    dut = ExtractorLoader(ext)
    chunk = protocol.MEM_CHUNK

    async def run(b):
        for region, data in images.items():
            for off in range(0, len(data), chunk):
                await b.write(region, off, data[off:off + chunk])
        for region in (R.EXT_WEIGHTS + 1, R.EXT_THRESHOLD + 4):
            assert await b.read(region, 0, len(images[region])) == images[region]
    b = _simulate(dut, run, seed=0)
    assert b.sink.mem[Sel.WEIGHTS] == codec.weight_words(ext, model)
    assert b.sink.mem[Sel.PARAMS] == codec.param_words(ext, model)
    neurons = len(ext.spec.layers) * ext.spec.filters
    assert b.sink.beats == (ext.w_depth * ext.chunks(Sel.WEIGHTS)
                            + 2 * neurons * ext.chunks(Sel.PARAMS))


def test_ok_cases():
    """``ok``/``ok_read`` against the model; refused accesses start nothing."""
    ext = never_elaborated(CONFIGS["dscnn_unit_a"].extractor())
    info = {r.region: r for r in regions(ext)}
    wsz, tsz = info[R.EXT_WEIGHTS].size, info[R.EXT_THRESHOLD].size
    L = ext.lanes
    cases = [
        # (region, offset, length, ok, ok_read with readback)
        (R.EXT_WEIGHTS, 0, wsz, 1, 1),
        (R.EXT_WEIGHTS, wsz - L, L, 1, 1),
        (R.EXT_WEIGHTS, 0, 0, 1, 1),
        (R.EXT_WEIGHTS_PW + 1, 0, L, 1, 1),
        (R.EXT_STEP + 2, tsz - 4, 4, 1, 1),
        (R.EXT_WEIGHTS, wsz, L, 0, 0),                 # past the end
        (R.EXT_WEIGHTS, wsz - L, 2 * L, 0, 0),
        (R.EXT_THRESHOLD, 2**32 - 4, 8, 0, 0),         # offset + length wraps 32 bits
        (R.EXT_THRESHOLD, 2**31, 4, 0, 0),             # only a high offset bit set
        (R.EXT_THRESHOLD, 0, tsz + 4, 0, 0),
        (R.EXT_WEIGHTS, L // 2, L, 0, 0),              # misaligned offset
        (R.EXT_WEIGHTS, 0, L + 1, 0, 0),               # misaligned length
        (R.EXT_THRESHOLD, 2, 4, 0, 0),
        (R.EXT_STEP, 0, 6, 0, 0),
        (R.EXT_WEIGHTS_PW, 0, L, 0, 0),                # InputConvolutional has none
        (R.EXT_WEIGHTS + 3, 0, L, 0, 0),               # layer 3 does not exist
        (R.EXT_THRESHOLD + 7, 0, 4, 0, 0),
        (R.FC_WEIGHTS, 0, 1, 0, 0),
        (0xFF, 0, 0, 0, 0),
    ]
    models = {rb: ExtractorLoaderModel(ext, weight_readback=rb) for rb in (True, False)}
    for rb in (True, False):
        dut = ExtractorLoader(ext, weight_readback=rb)

        async def run(b):
            # The answer to the previous access; first, to the reset inputs (0, 0, 0).
            prev = (models[rb].ok(0, 0, 0), models[rb].ok(0, 0, 0, read=True))
            for region, off, n, ok, ok_read in cases:
                if not rb and info.get(region) and info[region].kind == "weights":
                    ok_read = 0
                assert await b.access(region, off, n) == (ok, ok_read), (region, off, n, rb)
                # One cycle earlier the outputs still answered the previous access.
                assert b.before == prev, (region, off, n, rb)
                prev = (ok, ok_read)
                assert (ok, ok_read) == (models[rb].ok(region, off, n),
                                         models[rb].ok(region, off, n, read=True))
                if not ok:
                    b.ctx.set(b.dut.access.write, 1)
                    await b.cycle()
                    b.ctx.set(b.dut.access.write, 0)
                if not ok_read:
                    b.ctx.set(b.dut.access.read, 1)
                    await b.cycle()
                    b.ctx.set(b.dut.access.read, 0)
                await b.cycle()
                assert not b.ctx.get(b.dut.access.busy), (region, off, n)
            # A zero-length write is served and ends at once.
            await b.write(R.EXT_THRESHOLD, 0, b"")
        b = _simulate(dut, run)
        assert b.sink.beats == 0


def test_without_weight_readback_params_still_read():
    ext = never_elaborated(CONFIGS["dscnn_unit_b"].extractor())
    model = _random_model("dscnn_unit_b", 5)
    images = _images(ext, model)
    dut = ExtractorLoader(ext, weight_readback=False)
    got = {}

    async def run(b):
        for region, data in images.items():
            await b.write(region, 0, data)
        for region in (R.EXT_THRESHOLD + 1, R.EXT_STEP + 2):
            got[region] = await b.read(region, 0, len(images[region]))
    b = _simulate(dut, run, seed=5)
    assert b.sink.mem[Sel.WEIGHTS] == codec.weight_words(ext, model)
    assert b.sink.mem[Sel.PARAMS] == codec.param_words(ext, model)
    for region, data in got.items():
        assert data == images[region]


def test_step_keeps_step_bits():
    """A step wider than step_bits keeps its low bits, in the word and on readback
    (the dispatcher refuses such steps; this is what the hardware holds)."""
    ext = never_elaborated(DSCNNExtractor(CONFIGS["dscnn_unit_b"].spec(), lanes=8, act_units=8,
                                 step_bits=5))
    data = (0x25).to_bytes(4, "little") + (0xFFFFFFFF).to_bytes(4, "little")
    model = ExtractorLoaderModel(ext)
    model.write(R.EXT_STEP, 0, data)
    got = {}

    async def run(b):
        await b.write(R.EXT_STEP, 0, data)
        got["r"] = await b.read(R.EXT_STEP, 0, 8)
    b = _simulate(ExtractorLoader(ext), run)
    assert got["r"] == model.read(R.EXT_STEP, 0, 8) == bytes([5, 0, 0, 0, 31, 0, 0, 0])
    assert b.sink.mem[Sel.PARAMS] == model.params


# -- constructor errors ----------------------------------------------------------------
def _ext(filters, lanes, n_sep=1):
    m = Model()
    m.add(InputConvolutional((5, 4, 1), (3, 3), filters, name="conv_0", weights_bits=8,
                             act_bits=4))
    for i in range(n_sep):
        m.add(SeparableConvolutional((3, 3), filters, name=f"sep_{i}", weights_bits=4,
                                     act_bits=4))
    return never_elaborated(DSCNNExtractor(ExtractorSpec.from_model(m), lanes=lanes, act_units=1))


@pytest.mark.parametrize("make, exc, match", [
    (lambda: ExtractorLoader("ext"), TypeError, "ext must be a DSCNNExtractor, not 'ext'"),
    (lambda: ExtractorLoader(_ext(8, 8), weight_readback=1), TypeError,
     "weight_readback must be a bool, not 1"),
    (lambda: ExtractorLoader(_ext(12, 12)), ValueError,
     "ExtractorLoader needs a power-of-two ext.lanes, not 12"),
    (lambda: ExtractorLoader(_ext(12, 4)), ValueError,
     "ExtractorLoader needs a power-of-two ext.groups, not 3"),
    (lambda: ExtractorLoader(_ext(8, 8, n_sep=8)), ValueError,
     "the extractor has 9 layers, more than the protocol's MAX_EXT_LAYERS=8"),
    (lambda: ExtractorLoaderModel(_ext(12, 12)), ValueError,
     "ExtractorLoader needs a power-of-two ext.lanes, not 12"),
])
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_connects_to_the_extractor():
    """``load`` has the extractor's own signature: wiring.connect accepts the pair."""
    from amaranth.hdl import Fragment, Module
    from amaranth.lib import wiring
    ext = CONFIGS["dscnn_unit_b"].extractor()
    ldr = ExtractorLoader(ext)
    m = Module()
    m.submodules.ext, m.submodules.ldr = ext, ldr
    wiring.connect(m, ldr.load, ext.load)
    Fragment.get(m, None)
