"""Verilator + cocotb simulations of the FullyConnected learning core (``sim/``).

Each test builds (once, cached) the committed Verilog in ``rtl/`` and runs one cocotb
test of ``sim/test_fc_core.py`` with a scenario; the golden model is the reference.
Run just these with ``pytest tests/test_sim_fc_core.py`` (``-m slow`` for the long
runs).
"""
import json
from pathlib import Path

import pytest

from edgekws.verilator.runner import build_and_test

REPO = Path(__file__).resolve().parent.parent


def run(config: str, testcase: str, **scenario):
    build_and_test(
        toplevel=config,
        verilog_sources=[REPO / "rtl" / f"{config}.v"],
        test_module="test_fc_core",
        test_dirs=[REPO / "sim"],
        testcase=testcase,
        extra_env={"EDGEKWS_FC_CONFIG": config,
                   "EDGEKWS_FC_SCENARIO": json.dumps(scenario)},
    )


def test_readback_f64():
    run("fc_learning_core", "readback")


def test_label_out_of_range_f64():
    run("fc_learning_core", "label_out_of_range")


def test_inference_f64():
    run("fc_learning_core", "inference", num_classes=8, per_class=8, infer_samples=60)


def test_learning_f64_add_classes():
    # 2 then 4 classes of 16 neurons, 1500 samples, full comparison after every one.
    run("fc_learning_core", "learning", seed=2, num_classes=2, per_class=16,
        add_at=600, add_classes=2, samples=1500)


def test_learning_f64_one_class():
    # K == 1: any label is ignored, every neuron is a candidate.
    run("fc_learning_core", "learning", seed=3, num_classes=1, per_class=24,
        samples=400, unlabeled=0.0)


def test_learning_f64_1024_neurons():
    # 64 classes x 16 neurons (the product size); full comparison every 50 samples,
    # the changed neurons' state after every sample.
    run("fc_learning_core", "learning", seed=4, num_classes=60, per_class=16,
        add_at=150, add_classes=4, samples=300, full_every=50)


def test_readback_f1024():
    run("fc_learning_core_f1024_l2", "readback")


def test_learning_f1024_lanes2():
    run("fc_learning_core_f1024_l2", "learning", seed=5, num_classes=3, per_class=6,
        add_at=100, add_classes=1, samples=250)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 14))
def test_learning_f64_long(seed):
    run("fc_learning_core", "learning", seed=seed, num_classes=5, per_class=8,
        add_at=2000, add_classes=3, samples=5000)


@pytest.mark.slow
def test_learning_f64_1024_neurons_full_every_sample():
    # Full state (1024 potentials, weights, thl, thswap, offset) after every sample.
    run("fc_learning_core", "learning", seed=22, num_classes=63, per_class=16,
        add_at=200, add_classes=1, samples=400, full_every=1)


@pytest.mark.slow
def test_learning_f64_1024_neurons_long():
    run("fc_learning_core", "learning", seed=20, num_classes=62, per_class=16,
        add_at=1000, add_classes=2, samples=3000, full_every=200)


@pytest.mark.slow
def test_learning_lanes8():
    # 8 lanes x 32 bits (two words per neuron); 1024 neurons at the end.
    run("fc_learning_core_l8_w32", "readback")
    run("fc_learning_core_l8_w32", "inference", num_classes=5, per_class=12,
        infer_samples=60)
    run("fc_learning_core_l8_w32", "learning", seed=23, num_classes=5, per_class=12,
        add_at=700, add_classes=3, samples=2000)
    run("fc_learning_core_l8_w32", "learning", seed=24, num_classes=62, per_class=16,
        add_at=100, add_classes=2, samples=300, full_every=20)


@pytest.mark.slow
def test_learning_f1024_long():
    run("fc_learning_core_f1024_l2", "learning", seed=21, num_classes=4, per_class=16,
        add_at=500, add_classes=2, samples=1500, full_every=10)


def test_bench_function():
    """``edgekws.bench.fc_core_cycles.measure_fc_core`` (used by ``make bench``) works."""
    from edgekws.bench.fc_core_cycles import measure_fc_core
    res = measure_fc_core(num_classes=4, per_class=4, samples=5)
    assert res["bound_cycles"] == 16
    assert res["bound_cycles"] <= res["infer_cycles_mean"] <= res["learn_cycles_max"]
    assert res["infer_sim_cycles_per_s"] > 0


def test_learning_f64_real_speech_spikes(tmp_path):
    """Spikes of real speech (FSDD digits, or MFCC-like frames where FSDD is absent)
    through the shipped DS-CNN extractor, learned with the tutorial's parameters."""
    import numpy as np

    from edgekws.golden.zoo import mfcc_like_inputs
    from edgekws.models import shipped_model_path
    from edgekws.tutorial.edge_learning import extractor_of
    extractor, _, extra = extractor_of(shipped_model_path())
    try:
        from edgekws.data.fsdd import list_fsdd, load_fsdd
        from edgekws.data.mfcc import MfccScaling, mfcc
        samples = list_fsdd(digits=range(8))[::5]
        waves, words, _ = load_fsdd(samples)
        x = MfccScaling.from_dict(extra["mfcc_scaling"]).to_uint8(mfcc(waves))[..., None]
        y = np.array([s.digit for s in samples])
    except (FileNotFoundError, ValueError):
        x, y = mfcc_like_inputs(240, seed=3), np.arange(240) % 8
    spikes = extractor.forward(x).reshape(len(x), -1)
    order = np.random.default_rng(0).permutation(len(x))
    np.savez(tmp_path / "spikes.npz", x=spikes[order], y=y[order])
    run("fc_learning_core", "learning", seed=7, num_classes=8, per_class=8, samples=240,
        spikes_file=str(tmp_path / "spikes.npz"), unlabeled=0.05,
        params=dict(num_weights=26, learning_competition=0.1))
