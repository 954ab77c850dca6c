"""The DS-CNN feature extractor (:class:`edgekws.gateware.conv.DSCNNExtractor`) in
cocotb on Verilator, against the golden model: its testbench, its cocotb test and the
pytest tests that run it.

:class:`TB` owns the clock, the reset and the four streams of the extractor: it pushes
whole lists of ``load`` or ``pixels`` beats (:class:`streams.StreamSource`, random idle
cycles) and drains ``trace`` and ``spikes`` in the background
(:class:`streams.StreamSink`, random back-pressure).

The pytest tests at the end (``pytest sim/test_conv_extractor.py``, ``-m slow`` for the
long runs; ``edgekws sim conv_extractor``) build (once, cached) the Verilog of a
configuration (the product's is the committed ``rtl/dscnn_kws.v``, the small
configurations' is generated into ``build/test-rtl/``) and run the cocotb test
``extractor`` with a scenario, passed in the environment:

``EDGEKWS_CONV_CONFIG``
    name of the configuration in :data:`edgekws.gateware.conv.configs.CONFIGS`.
``EDGEKWS_CONV_SCENARIO``
    JSON object of overrides of :data:`SCENARIO`.
``EDGEKWS_CONV_OUT``
    where to write the JSON measurements (cycles, wall time;
    :mod:`edgekws.bench.extractor` reads them).

Without ``model`` in the scenario, ``models`` random models each run ``samples`` MFCC-like
images. With ``"model"`` (path of a trained ``.ekws``: its feature extractor, i.e. the
model without a Dense head on the spikes) and ``"inputs"`` (path of a ``.npy`` of uint8
frames, ``(n, 49, 10)`` or ``(n, 49, 10, 1)``), that model runs every given frame, in
chunks of ``chunk`` frames so that the traces of a whole validation set never sit in
memory at once; mismatching frames are counted (and the first few described) before the
test fails, so the results name how many frames differ.

Every layer's activations at every position (from ``trace``) and the output spikes
are compared with the golden layers' ``call``, each layer fed with the golden output
of the previous one, so that a mismatch names the first layer that is wrong.
"""
from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest

import cocotb

from edgekws.gateware.conv import codec
from edgekws.gateware.conv.configs import CONFIGS
from edgekws.gateware.conv.stimulus import images, random_model
from edgekws.gateware.unused import never_elaborated
from edgekws.verilator.runner import build_and_test

from streams import StreamSink, StreamSource, cycle, random_pause, reset, start_clock

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------ testbench
class TB:
    """Clock, reset and the four streams of one extractor.

    Parameters
    ----------
    dut : cocotb handle of the Verilog top.
    seed : int
    idle : float
        Probability of 1 to 4 idle cycles before a pushed beat.
    backpressure : float
        Probability of ``ready`` low for 1 to 8 cycles after a drained beat.

    Attributes
    ----------
    traces : list of (int, int)
        ``(cycle, payload)`` of every ``trace`` beat, in order (callers may empty it).
    spikes : list of (int, int)
        ``(cycle, payload)`` of every ``spikes`` beat.
    pixels_done : list of int
        Cycle at which the last pixel of each image was accepted.
    """

    def __init__(self, dut, *, seed: int = 1, idle: float = 0.2,
                 backpressure: float = 0.3):
        self.dut = dut
        rng = random.Random(seed)
        self._load = StreamSource(dut, "load", random_pause(rng, idle, 4))
        self._pixels = StreamSource(dut, "pixels", random_pause(rng, idle, 4))
        self._sinks = [StreamSink(dut, name, random_pause(rng, backpressure, 8))
                       for name in ("trace", "spikes")]
        self.traces = self._sinks[0].beats
        self.spikes = self._sinks[1].beats
        self.pixels_done: list[int] = []
        start_clock(dut)

    async def reset(self):
        await reset(self.dut)
        for sink in self._sinks:
            sink.start()

    async def load(self, beats):
        """Push ``load`` beats (the extractor takes them only while idle)."""
        await self._load.send(beats)

    async def images(self, images_beats):
        """Push the ``pixels`` beats of several images, back to back."""
        for beats in images_beats:
            await self._pixels.send(beats)
            self.pixels_done.append(cycle())

    async def wait_spikes(self, n: int):
        """Return once ``n`` spike beats in total have been received."""
        await self._sinks[1].wait(n)


# ---------------------------------------------------------------------- cocotb tests
#: Defaults (overridden by EDGEKWS_CONV_SCENARIO).
SCENARIO = dict(
    seed=1,
    samples=8,            # images per model
    models=2,             # random models, loaded one after the other
    idle=0.2,
    backpressure=0.3,
)


def _config():
    name = os.environ.get("EDGEKWS_CONV_CONFIG", "dscnn_kws")
    scen = dict(SCENARIO)
    scen.update(json.loads(os.environ.get("EDGEKWS_CONV_SCENARIO", "{}")))
    cfg = CONFIGS[name]
    ext = cfg.extractor()
    never_elaborated(ext)      # only its layouts are used here
    return name, cfg, ext, scen


def check_sample(ext, layers, x, traces, spikes_payload, n, wants=None):
    """Compare one inference; return the number of activation values checked.

    ``wants``, optional: the golden layers' outputs for this sample (each ``(1, ...)``),
    when the caller computed them for a whole batch at once.
    """
    a = x[None]
    checked = 0
    for li, layer in enumerate(layers):
        want = layer.call(a) if wants is None else wants[li]
        if li < len(layers) - 1 or not ext.spec.pooled:
            flat = want[0].reshape(-1, want.shape[-1])
            got = traces[:flat.shape[0]]
            del traces[:flat.shape[0]]
            assert len(got) == flat.shape[0], \
                f"sample {n} layer {li}: {len(got)} trace beats, want {flat.shape[0]}"
            for p, (layer_id, pos, acts) in enumerate(got):
                assert (layer_id, pos) == (li, p), \
                    f"sample {n}: trace beat ({layer_id}, {pos}), want ({li}, {p})"
                if not np.array_equal(acts, flat[p]):
                    bad = np.nonzero(acts != flat[p])[0]
                    raise AssertionError(
                        f"sample {n} layer {li} ({layer.name}) position {p}: channels "
                        f"{bad[:8].tolist()} gateware {acts[bad[:8]].tolist()} golden "
                        f"{flat[p][bad[:8]].tolist()}")
            checked += flat.size
        a = want
    if ext.spec.pooled:
        got = codec.decode_spikes(ext, spikes_payload)
        want = a[0, 0, 0]
        assert np.array_equal(got, want), \
            f"sample {n} spikes differ at {np.nonzero(got != want)[0].tolist()}: " \
            f"gateware {got.tolist()} golden {want.tolist()}"
        checked += want.size
    else:
        assert spikes_payload == 0, "end-of-inference beat must be 0 without pooling"
    return checked


def given_frames(path, shape) -> np.ndarray:
    """The uint8 frames of a ``.npy``, as ``(n, *shape)``."""
    x = np.load(path)
    if x.dtype != np.uint8:
        raise ValueError(f"inputs {path} must be uint8 frames, not {x.dtype}")
    given = x.shape
    if x.ndim == len(shape) and shape[-1] == 1:
        x = x[..., None]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape) or not len(x):
        raise ValueError(f"inputs {path} must hold (n, {', '.join(map(str, shape))}) "
                         f"frames, not {given}")
    return x


def extractor_model(path):
    """The feature extractor of a trained ``.ekws`` (without a Dense head on spikes)."""
    from edgekws.tutorial.edge_learning import extractor_of
    return extractor_of(path)[0]


async def run_given(dut, name, ext, scen, tb):
    """The scenario's model on the scenario's frames; see the module docstring."""
    model = extractor_model(scen["model"])
    layers = codec.conv_layers(ext, model)
    xs = given_frames(scen["inputs"], ext.spec.image_shape)
    chunk = int(scen.get("chunk", 64))
    await tb.load(codec.load_beats(ext, model))
    t0 = time.monotonic()
    c0 = cycle()
    total = mismatches = 0
    errors = []
    for s0 in range(0, len(xs), chunk):
        batch = xs[s0:s0 + chunk]
        # Golden outputs of the whole chunk at once; each layer fed the golden output
        # of the previous one, as check_sample does.
        wants, a = [], batch
        for layer in layers:
            a = layer.call(a)
            wants.append(a)
        await tb.images([codec.pixel_beats(ext, x) for x in batch])
        await tb.wait_spikes(s0 + len(batch))
        traces = [codec.decode_trace(ext, p) for _, p in tb.traces]
        del tb.traces[:]               # the drain keeps appending to this same list
        traced = wants[:len(layers) - 1] if ext.spec.pooled else wants
        per_sample = sum(int(np.prod(w.shape[1:-1])) for w in traced)
        for n, x in enumerate(batch):
            # Each sample gets exactly its own beats, so a mismatch cannot shift the rest.
            mine, traces = traces[:per_sample], traces[per_sample:]
            try:
                total += check_sample(ext, layers, x, mine, tb.spikes[s0 + n][1], s0 + n,
                                      wants=[w[n:n + 1] for w in wants])
            except AssertionError as exc:
                mismatches += 1
                if len(errors) < 5:
                    errors.append(str(exc))
        assert not traces, f"{len(traces)} unexpected trace beats after sample {s0}"
    wall = time.monotonic() - t0
    cycles = cycle() - c0
    periods = np.diff([t for t, _ in tb.spikes])
    latency = [tb.spikes[n][0] - tb.pixels_done[n] for n in range(len(xs))]
    result = dict(config=name, model=str(scen["model"]), inputs=str(scen["inputs"]),
                  samples=len(xs), mismatches=mismatches, errors=errors,
                  values_checked=total, sim_cycles=cycles, wall_s=round(wall, 2),
                  cycles_per_s=round(cycles / wall), s_per_inference=round(wall / len(xs), 4),
                  cycles_per_inference=round(cycles / len(xs)),
                  latency_cycles_mean=round(float(np.mean(latency))),
                  latency_cycles_max=int(np.max(latency)),
                  period_cycles_median=int(np.median(periods)) if len(periods) else None)
    dut._log.info("%s", result)
    if os.environ.get("EDGEKWS_CONV_OUT"):
        with open(os.environ["EDGEKWS_CONV_OUT"], "w") as f:
            json.dump(result, f)
    assert mismatches == 0, f"{mismatches} of {len(xs)} frames differ: {errors}"


@cocotb.test()
async def extractor(dut):
    """Random models and images (or the scenario's model and frames): every activation
    and spike equal to the golden's."""
    name, cfg, ext, scen = _config()
    tb = TB(dut, seed=scen["seed"], idle=scen["idle"], backpressure=scen["backpressure"])
    await tb.reset()
    if scen.get("model"):
        await run_given(dut, name, ext, scen, tb)
        return
    t0 = time.monotonic()
    c0 = cycle()
    total = 0
    n_done = 0
    measures = []
    for k in range(scen["models"]):
        model = random_model(cfg, scen["seed"] * 100 + k)
        layers = codec.conv_layers(ext, model)
        await tb.load(codec.load_beats(ext, model))
        xs = images(ext.spec.image_shape, scen["samples"], scen["seed"] * 100 + k)
        n_trace0 = len(tb.traces)
        p0 = len(tb.pixels_done)
        await tb.images([codec.pixel_beats(ext, x) for x in xs])
        await tb.wait_spikes(n_done + len(xs))
        traces = [codec.decode_trace(ext, p) for _, p in tb.traces[n_trace0:]]
        for n, x in enumerate(xs):
            total += check_sample(ext, layers, x, traces, tb.spikes[n_done + n][1], n)
        assert not traces, f"{len(traces)} unexpected trace beats"
        # Latency of each image: last pixel accepted -> spikes out (the next image
        # loads while the previous computes, so this includes any wait for the engine).
        for n in range(len(xs)):
            measures.append(tb.spikes[n_done + n][0] - tb.pixels_done[p0 + n])
        n_done += len(xs)
    wall = time.monotonic() - t0
    cycles = cycle() - c0
    periods = np.diff([t for t, _ in tb.spikes])
    result = dict(config=name, samples=n_done, values_checked=total, sim_cycles=cycles,
                  wall_s=round(wall, 2), cycles_per_s=round(cycles / wall),
                  latency_cycles=[int(v) for v in measures],
                  period_cycles=[int(v) for v in periods])
    dut._log.info("%s", result)
    if os.environ.get("EDGEKWS_CONV_OUT"):
        with open(os.environ["EDGEKWS_CONV_OUT"], "w") as f:
            json.dump(result, f)


# ---------------------------------------------------------------------- pytest tests
def verilog(config: str) -> Path:
    """The committed Verilog of ``config``, or (not committed) a freshly generated one."""
    from edgekws.gateware.conv.generate import CONFIGS, generate_verilog
    if config in CONFIGS:
        return REPO / "rtl" / f"{config}.v"
    from generated_rtl import generated_source      # tests/: only pytest imports it
    return generated_source(config, generate_verilog, "test-rtl")


def run(config: str, out: Path | None = None, **scenario) -> dict | None:
    """The cocotb test ``extractor`` on the Verilog of ``config`` with the ``scenario``
    overrides; its results (JSON written to ``out``) when ``out`` is given."""
    env = {"EDGEKWS_CONV_CONFIG": config, "EDGEKWS_CONV_SCENARIO": json.dumps(scenario)}
    if out is not None:
        env["EDGEKWS_CONV_OUT"] = str(out)
    build_and_test(toplevel=config, verilog_sources=[verilog(config)],
                   test_module="test_conv_extractor", test_dirs=[Path(__file__).parent],
                   testcase="extractor", extra_env=env)
    return json.loads(out.read_text()) if out is not None else None


def test_unit_a_layers():
    """Odd shapes, 2 lane groups, 2-channel image, pooled 1-bit output."""
    run("dscnn_unit_a", seed=1, samples=6, models=3)


def test_unit_b_layers():
    """Padding value 5, Valid and strided separable layers, 2-bit acts, no pooling."""
    run("dscnn_unit_b", seed=2, samples=6, models=3)


def test_kws_extractor(tmp_path):
    """The product: 2 random ds_cnn_kws models x 12 MFCC-like images."""
    r = run("dscnn_kws", tmp_path / "r.json", seed=3, samples=12, models=2)
    assert r["samples"] == 24


@pytest.mark.slow
def test_kws_extractor_many(tmp_path):
    """Hundreds of images through the product configuration."""
    r = run("dscnn_kws", tmp_path / "r.json", seed=4, samples=100, models=4,
            idle=0.05, backpressure=0.1)
    assert r["samples"] == 400


# -- the shipped model on real MFCC frames -----------------------------------------------
SHIPPED = REPO / "python" / "edgekws" / "models" / "ds_cnn_kws.ekws"


def run_shipped(tmp_path, frames, out: Path | None = None, **scenario) -> dict:
    """The shipped model's extractor on ``frames`` (uint8 ``(n, 49, 10)``); every layer's
    activations and the spikes must equal the golden model's on every frame."""
    inputs = tmp_path / "frames.npy"
    np.save(inputs, np.ascontiguousarray(frames, dtype=np.uint8))
    scenario = dict(dict(seed=5, idle=0.05, backpressure=0.1), **scenario)
    r = run("dscnn_kws", out or tmp_path / "r.json", model=str(SHIPPED),
            inputs=str(inputs), **scenario)
    assert r["samples"] == len(frames) and r["mismatches"] == 0, r
    return r


def _scaling():
    from edgekws.data.mfcc import MfccScaling
    from edgekws.golden import Model
    return MfccScaling.from_dict(Model(SHIPPED).extra["mfcc_scaling"])


def test_given_frames_shapes_and_errors(tmp_path):
    """The bench's reading of the scenario's ``inputs``: both frame shapes, and errors
    naming the bad dtype or shape."""
    shape = (49, 10, 1)
    for k, a in enumerate([np.arange(2 * 490).reshape(2, 49, 10),
                           np.arange(2 * 490).reshape(2, 49, 10, 1)]):
        np.save(tmp_path / f"{k}.npy", (a % 256).astype(np.uint8))
        got = given_frames(tmp_path / f"{k}.npy", shape)
        assert got.shape == (2, 49, 10, 1) and got[1, 0, 1, 0] == (490 + 1) % 256
    np.save(tmp_path / "f.npy", np.zeros((2, 49, 10), np.float32))
    with pytest.raises(ValueError, match="must be uint8 frames, not float32"):
        given_frames(tmp_path / "f.npy", shape)
    np.save(tmp_path / "s.npy", np.zeros((2, 49, 11), np.uint8))
    with pytest.raises(ValueError, match=r"must hold \(n, 49, 10, 1\) frames, not \(2, 49, 11\)"):
        given_frames(tmp_path / "s.npy", shape)


def test_kws_shipped_model_fsdd(tmp_path):
    """The shipped model on 256 real FSDD recordings (all speakers and digits)."""
    try:
        from edgekws.data.fsdd import list_fsdd, load_fsdd
        samples = list_fsdd()
    except (FileNotFoundError, ValueError) as exc:
        pytest.skip(f"FSDD recordings not found ({exc}); set EDGEKWS_FSDD "
                    "(test_kws_shipped_model_synthetic_words still runs)")
    from edgekws.data.mfcc import mfcc
    rng = np.random.default_rng(0)
    pick = [samples[i] for i in rng.choice(len(samples), 256, replace=False)]
    waves, _, _ = load_fsdd(pick)
    frames = _scaling().to_uint8(mfcc(waves))
    assert frames.shape == (256, 49, 10)
    r = run_shipped(tmp_path, frames)
    print(json.dumps({k: v for k, v in r.items() if k != "errors"}))


def test_kws_shipped_model_synthetic_words(tmp_path):
    """The check that never depends on a data set: the shipped model on spoken words
    synthesised with eSpeak NG (several voices, rates and pitches)."""
    from scipy.signal import resample_poly
    from edgekws.data import espeak
    from edgekws.data.mfcc import mfcc, pad_or_crop
    if not espeak.available():
        pytest.fail("espeakng-loader is not installed: the synthetic-word check of the "
                    "shipped extractor cannot run")
    es = espeak.get_espeak()
    words = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
             "zero", "one", "two", "three", "four", "five"]
    rng = np.random.default_rng(1)
    waves = []
    for k in range(48):
        raw = es.synth(words[k % len(words)], ("en-us", "en")[k % 2],
                       rate=int(rng.integers(140, 220)), pitch=int(rng.integers(20, 80)))
        w = resample_poly(raw.astype(np.float64) / 32768.0, 16000, es.sample_rate)
        start = int(rng.integers(0, max(1, 16000 - len(w))))
        waves.append(np.roll(pad_or_crop(w[None], 16000)[0], start if len(w) < 16000 else 0))
    frames = _scaling().to_uint8(mfcc(np.stack(waves)))
    assert frames.shape == (48, 49, 10) and frames.std() > 10
    r = run_shipped(tmp_path, frames)
    print(json.dumps({k: v for k, v in r.items() if k != "errors"}))


@pytest.mark.slow
def test_kws_shipped_model_validation_set(tmp_path):
    """The whole validation split of the tutorial's corpus (``EDGEKWS_CORPUS``, default
    build/corpus-s500; features cached in ``EDGEKWS_FEATURES``, default build/features)
    through the shipped model; ``EDGEKWS_CONV_FULL_OUT`` keeps the results JSON."""
    from edgekws.tutorial.edge_learning import offline_dataset, split_features
    from edgekws.tutorial.edge_learning import NEW_WORDS
    corpus = Path(os.environ.get("EDGEKWS_CORPUS", REPO / "build" / "corpus-s500"))
    if not (corpus / "corpus.json").exists() and not (corpus / "validation_list.txt").exists():
        pytest.skip(f"no corpus at {corpus}: build it with `edgekws data synth --out "
                    f"{corpus} --speakers 500`")
    ds = offline_dataset(corpus, NEW_WORDS, 0)
    val = split_features(ds, "validation",
                         os.environ.get("EDGEKWS_FEATURES", REPO / "build" / "features"),
                         progress=False)
    frames = _scaling().to_uint8(val.x)
    out = os.environ.get("EDGEKWS_CONV_FULL_OUT")
    r = run_shipped(tmp_path, frames, Path(out) if out else None, chunk=128)
    print(json.dumps({k: v for k, v in r.items() if k != "errors"}))
