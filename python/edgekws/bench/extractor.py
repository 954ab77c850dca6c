"""Performance of the DS-CNN extractor: cycles per inference against the MAC bound,
what zero-skipping saves, simulation speed, and the FPGA figures.

:func:`measure` is the entry point for ``make bench``::

    from edgekws.bench.extractor import measure
    r = measure(samples=20)           # Verilator run of rtl/dscnn_kws.v
    r["ratio_to_mac_bound"], r["latency_us_at_fmax"]

:func:`run` returns the same figures as rows of :mod:`edgekws.bench` (a suite with
``TITLE`` and ``run(quick)``).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from ..fpga.flow import SYNTH_DIR
from ..gateware.conv.configs import CONFIGS
from ..gateware.conv.extractor import DSCNNExtractor
from ..golden import ops
from ..locations import rtl_dir, testbench_dir

__all__ = ["op_counts", "measure", "run", "TITLE"]

TITLE = "DS-CNN feature extractor (gateware, Verilator)"


def op_counts(ext: DSCNNExtractor, model, x: np.ndarray) -> dict:
    """MAC-array cycles (ops) of one image, issued and dense, per op kind.

    ``dense`` counts every tap including padding and every pointwise channel; ``issued``
    counts what the sequencer issues: taps inside the input (padding skipped) and, in the
    pointwise steps, only the channels whose depthwise sum is not zero (at least one
    op per position and group).
    """
    from ..gateware.conv.codec import conv_layers
    layers = conv_layers(ext, model)
    G = ext.groups
    a = x[None]
    out = {"conv": [0, 0], "dw": [0, 0], "pw": [0, 0]}
    for layer, geom in zip(layers, ext.spec.layers):
        OX, OY = geom.out_xy
        taps = sum((geom.tap_range(0, i)[1] - geom.tap_range(0, i)[0] + 1) *
                   (geom.tap_range(1, j)[1] - geom.tap_range(1, j)[0] + 1)
                   for i in range(OX) for j in range(OY))
        if geom.kind == "conv":
            C = geom.in_shape[2]
            out["conv"][0] += taps * C * G
            out["conv"][1] += OX * OY * geom.taps * C * G
        else:
            out["dw"][0] += taps * G
            out["dw"][1] += OX * OY * geom.taps * G
            d = _depthwise(layer, a)
            nnz = (d[0] != 0).reshape(OX * OY, -1).sum(axis=1)
            out["pw"][0] += int(np.maximum(nnz, 1).sum()) * G
            out["pw"][1] += OX * OY * geom.filters * G
        a = layer.call(a)
    res = {f"{k}_issued": v[0] for k, v in out.items()}
    res.update({f"{k}_dense": v[1] for k, v in out.items()})
    res["issued"] = sum(v[0] for v in out.values())
    res["dense"] = sum(v[1] for v in out.values())
    return res


def _depthwise(layer, a):
    """The golden depthwise sums of a separable layer."""
    from ..golden.layers import Padding
    return ops.depthwise_conv(a, layer.get_variable("weights"), layer.kernel_stride,
                              layer.padding == Padding.Same, (1 << layer.input_bits) - 1)


def _read_summary(name: str) -> dict | None:
    """``build/synth/<name>/summary.json`` (written by ``edgekws fpga build``), or None."""
    path = SYNTH_DIR / name / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def _fmax(summary: dict) -> float | None:
    """The slowest clock's post-route (or estimated) Fmax of a summary, in MHz."""
    return min(summary["fmax_mhz"].values()) if summary.get("fmax_mhz") else None


def _synth_summary(config: str, lanes: int, act_units: int, run_synth: bool) -> dict | None:
    if run_synth:
        from ..fpga.flow import synth_extractor
        return synth_extractor(config, lanes=lanes, act_units=act_units)
    return _read_summary(f"{config}_l{lanes}_a{act_units}")


def measure(samples: int = 20, *, seed: int = 0, config: str = "dscnn_kws",
            synth: bool = False) -> dict:
    """Run ``samples`` MFCC-like images through the Verilator model of ``config``
    (random lively weights, no idle cycles, no back-pressure) and return the figures.

    Parameters
    ----------
    samples : int
    seed : int
    config : str
        A name of :data:`.configs.CONFIGS` (its ``rtl/<config>.v`` is simulated).
    synth : bool
        Run the ECP5 synthesis (minutes); otherwise the last summary in
        ``build/synth/`` is used if there is one.

    Returns
    -------
    dict
        ``cycles_latency`` (last pixel in to spikes out, first image),
        ``cycles_per_inference`` (mean period, back to back: the next image loads
        while the previous computes), ``mac_bound`` (dense MACs / lanes),
        ``ratio_to_mac_bound``, ``ops`` (issued and dense MAC-array ops, mean per
        image), ``sim_cycles_per_s``, ``sim_s_per_inference``, ``synth`` (LUT, FF,
        BRAM, DSP, Fmax; or None), ``latency_us_at_fmax``.
    """
    from ..gateware.conv.stimulus import images, random_model
    from ..verilator.runner import build_and_test

    cfg = CONFIGS[config]
    ext = cfg.extractor()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        scen = dict(seed=seed, samples=samples, models=1, idle=0.0, backpressure=0.0)
        build_and_test(toplevel=config, verilog_sources=[rtl_dir() / f"{config}.v"],
                       test_module="test_conv_extractor", test_dirs=[testbench_dir()],
                       testcase="extractor",
                       extra_env={"EDGEKWS_CONV_CONFIG": config,
                                  "EDGEKWS_CONV_SCENARIO": json.dumps(scen),
                                  "EDGEKWS_CONV_OUT": str(out)})
        sim = json.loads(out.read_text())
    # The same model and images as the simulation (same seeds).
    model = random_model(cfg, seed * 100)
    xs = images(ext.spec.image_shape, samples, seed * 100)
    counts = [op_counts(ext, model, x) for x in xs]
    mean_ops = {k: float(np.mean([c[k] for c in counts])) for k in counts[0]}
    bound = ext.spec.macs() / ext.lanes
    period = float(np.mean(sim["period_cycles"])) if sim["period_cycles"] else None
    latency = sim["latency_cycles"][0]
    per_inf = period if period is not None else latency
    syn = _synth_summary(config, ext.lanes, ext.act_units, synth)
    fmax = _fmax(syn) if syn else None
    return {
        "config": config, "lanes": ext.lanes, "act_units": ext.act_units,
        "samples": samples,
        "macs_dense": ext.spec.macs(),
        "mac_bound": bound,
        "cycles_latency": latency,
        "cycles_per_inference": per_inf,
        "ratio_to_mac_bound": per_inf / bound,
        "ops": mean_ops,
        "pw_skipped_fraction": 1 - mean_ops["pw_issued"] / mean_ops["pw_dense"],
        "sim_cycles_per_s": sim["cycles_per_s"],
        "sim_s_per_inference": sim["wall_s"] / samples,
        "synth": syn,
        "fmax_mhz": fmax,
        "latency_us_at_fmax": latency / fmax if fmax else None,
        "period_us_at_fmax": per_inf / fmax if fmax else None,
    }


def run(quick: bool = False):
    """Rows for :mod:`edgekws.bench` (one of its ``SUITES``)."""
    from . import Row
    r = measure(samples=5 if quick else 20)
    cmd = "edgekws.bench.extractor.measure()"
    rows = [
        Row("extractor cycles per inference (back to back)",
            f"{r['cycles_per_inference']:.0f}", f"{r['mac_bound']:.0f} (MACs / lanes)",
            f"{r['ratio_to_mac_bound']:.3f}", cmd, f"lanes={r['lanes']}"),
        Row("extractor latency, last pixel to spikes (cycles)", f"{r['cycles_latency']}",
            command=cmd),
        Row("pointwise ops skipped (zero depthwise sums)",
            f"{100 * r['pw_skipped_fraction']:.1f} %", command=cmd,
            note="random lively model, MFCC-like inputs"),
        Row("Verilator speed (cycles/s)", f"{r['sim_cycles_per_s']}", command=cmd),
    ]
    if r["fmax_mhz"]:
        s = r["synth"]
        rows += [
            Row("extractor ECP5-85F: LUT / FF / DP16KD / MULT18", f"{s['luts']} / {s['ffs']} / "
                f"{s['bram_dp16kd']} / {s['dsp_mult18']}", command=s["command"]),
            Row("extractor Fmax (MHz)", f"{r['fmax_mhz']}", "100", command=s["command"],
                note="post-route" if s.get("routed", True) else
                "pre-route estimate (nextpnr --no-route)"),
            Row("latency per keyword at Fmax (us)", f"{r['latency_us_at_fmax']:.1f}", "500",
                command=cmd),
        ]
    rows += _system_rows(r, cmd)
    return rows


def _system_rows(r: dict, cmd: str) -> list:
    """Extractor + FC core in one placement (``edgekws fpga build system``): resources,
    Fmax, and a keyword's latency there: the extractor's latency plus the core's
    INFER, measured in simulation now."""
    from . import Row
    s = _read_summary(f"system_l{r['lanes']}")
    fmax = _fmax(s) if s else None
    if not fmax or not s.get("routed", True):
        return []
    from .fc_core_cycles import measure_fc_core
    fc = measure_fc_core(samples=10)["infer_cycles_mean"]
    cycles = r["cycles_latency"] + fc
    return [
        Row("extractor + FC core ECP5-85F: LUT / FF / DP16KD / MULT18",
            f"{s['luts']} / {s['ffs']} / {s['bram_dp16kd']} / {s['dsp_mult18']}",
            command=s["command"]),
        Row("extractor + FC core Fmax (MHz)", f"{fmax}", "100", command=s["command"],
            note="post-route, one placement"),
        Row("latency per keyword, extractor + FC core INFER, at that Fmax (us)",
            f"{cycles / fmax:.1f}", "500",
            command=f"{cmd} + python -m edgekws.bench.fc_core_cycles",
            note=f"{r['cycles_latency']} + {fc:.0f} cycles"),
    ]
