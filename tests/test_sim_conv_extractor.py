"""Verilator + cocotb simulations of the DS-CNN feature extractor (``sim/``).

Each test builds (once, cached) the Verilog of a configuration and runs the cocotb test
of ``sim/test_conv_extractor.py``: random models and images, every layer's activations
and the spikes compared with the golden model. The product's Verilog is the committed
``rtl/dscnn_kws.v``; the small configurations' is generated into ``build/test-rtl/``. Run just these with
``pytest tests/test_sim_conv_extractor.py`` (``-m slow`` for the long runs).
"""
import json
from pathlib import Path

import numpy as np
import pytest

from edgekws.verilator.runner import build_and_test
from generated_rtl import generated_source

REPO = Path(__file__).resolve().parent.parent


def verilog(config: str) -> Path:
    """The committed Verilog of ``config``, or (not committed) a freshly generated one."""
    from edgekws.gateware.conv.generate import CONFIGS, generate_verilog
    if config in CONFIGS:
        return REPO / "rtl" / f"{config}.v"
    return generated_source(config, generate_verilog, "test-rtl")


def run(config: str, out: Path | None = None, **scenario) -> dict | None:
    env = {"EDGEKWS_CONV_CONFIG": config, "EDGEKWS_CONV_SCENARIO": json.dumps(scenario)}
    if out is not None:
        env["EDGEKWS_CONV_OUT"] = str(out)
    build_and_test(toplevel=config, verilog_sources=[verilog(config)],
                   test_module="test_conv_extractor", test_dirs=[REPO / "sim"],
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


def test_given_frames_shapes_and_errors(tmp_path, monkeypatch):
    """The bench's reading of the scenario's ``inputs``: both frame shapes, and errors
    naming the bad dtype or shape."""
    monkeypatch.syspath_prepend(REPO / "sim")   # the testbench and its driver
    from test_conv_extractor import given_frames
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
    import os
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
