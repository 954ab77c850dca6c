"""Verilator + cocotb simulations of the DS-CNN feature extractor (``sim/``).

Each test builds (once, cached) the committed Verilog in ``rtl/`` and runs the cocotb
test of ``sim/test_conv_extractor.py``: random models and images, every layer's
activations and the spikes compared with the golden model. Run just these with
``pytest tests/test_sim_conv_extractor.py`` (``-m slow`` for the long runs).
"""
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sim.runner import build_and_test  # noqa: E402


def run(config: str, out: Path | None = None, **scenario) -> dict | None:
    env = {"EDGEKWS_CONV_CONFIG": config, "EDGEKWS_CONV_SCENARIO": json.dumps(scenario)}
    if out is not None:
        env["EDGEKWS_CONV_OUT"] = str(out)
    build_and_test(toplevel=config, verilog_sources=[REPO / "rtl" / f"{config}.v"],
                   test_module="test_conv_extractor", testcase="extractor",
                   extra_env=env)
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
