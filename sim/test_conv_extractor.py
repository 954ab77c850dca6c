"""cocotb tests of the DS-CNN extractor against the golden model.

Run through pytest (``tests/test_sim_conv_extractor.py``), which builds the Verilog of
``rtl/`` and passes the configuration in the environment:

``EDGEKWS_CONV_CONFIG``
    name of the configuration in :data:`edgekws.gateware.conv.configs.CONFIGS`.
``EDGEKWS_CONV_SCENARIO``
    JSON object of overrides of :data:`SCENARIO`.
``EDGEKWS_CONV_OUT``
    where to write the JSON measurements (cycles, wall time).

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
import time

import numpy as np

import cocotb

from edgekws.gateware.conv import codec
from edgekws.gateware.conv.configs import CONFIGS
from edgekws.gateware.conv.stimulus import images, random_model
from edgekws.gateware.unused import never_elaborated

from conv_driver import TB

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
    c0 = tb.cycle()
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
    cycles = tb.cycle() - c0
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
    c0 = tb.cycle()
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
    cycles = tb.cycle() - c0
    periods = np.diff([t for t, _ in tb.spikes])
    result = dict(config=name, samples=n_done, values_checked=total, sim_cycles=cycles,
                  wall_s=round(wall, 2), cycles_per_s=round(cycles / wall),
                  latency_cycles=[int(v) for v in measures],
                  period_cycles=[int(v) for v in periods])
    dut._log.info("%s", result)
    if os.environ.get("EDGEKWS_CONV_OUT"):
        with open(os.environ["EDGEKWS_CONV_OUT"], "w") as f:
            json.dump(result, f)
