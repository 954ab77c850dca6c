"""Build the same random Akida 1.0 model in the engine (``akida``) and in the golden model.

Differential tests describe a model as a list of ``(layer_class_name, kwargs)``; this module
builds it with both libraries, draws random variables (weights in range, thresholds
near the actual potentials so that activations are neither all 0 nor all saturated,
act_steps that are not multiples of 1/16) and sets them identically in both.
"""
from __future__ import annotations

import numpy as np
import pytest

import edgekws.golden as golden
from edgekws.golden.quant import weight_range

akida = pytest.importorskip("akida", reason="the akida engine (the oracle) is not installed")

_ENUMS = {"padding": ("Padding", golden.Padding), "pool_type": ("PoolType", golden.PoolType)}


def _engine_kwargs(kw):
    out = dict(kw)
    for key, (name, ours) in _ENUMS.items():
        if key in out:
            out[key] = getattr(getattr(akida, name), ours(out[key]).name)
    return out


def build_pair(spec):
    """``(engine_model, golden_model)`` with the layers of ``spec`` and default variables."""
    eng, gold = akida.Model(), golden.Model()
    for i, (cls, kw) in enumerate(spec):
        kw = {"name": f"l{i}", **kw}
        eng.add(getattr(akida, cls)(**_engine_kwargs(kw)))
        gold.add(getattr(golden, cls)(**kw))
    return eng, gold


def set_both(eng_layer, gold_layer, name, value):
    eng_layer.set_variable(name, value)
    gold_layer.set_variable(name, value)


def randomize(eng, gold, rng, x_probe):
    """Random weights, then thresholds/act_steps fitted to the potentials on ``x_probe``."""
    x = x_probe
    for el, gl in zip(eng.layers, gold.layers):
        if isinstance(gl, golden.InputData):
            continue
        for name in gl.get_variable_names():
            if name.startswith("weights"):
                lo, hi = weight_range(gl.weights_bits)
                shape = gl.get_variable(name).shape
                set_both(el, gl, name, rng.integers(lo, hi + 1, shape).astype(np.int8))
        # Potentials of this layer on the probe decide a useful threshold range.
        pot = np.asarray(gl.potentials(x), np.int64)
        F = pot.shape[-1]
        flat = pot.reshape(-1, F)
        q = np.quantile(flat, rng.uniform(0.2, 0.8, F), axis=0).diagonal()
        th = np.round(q).astype(np.int32)
        spread = np.maximum(flat.std(axis=0), 1.0)
        if gl.activation:
            levels = (1 << gl.act_bits) - 1
            step = np.maximum(spread / max(levels, 1) * rng.uniform(0.3, 2.0, F), 1 / 16)
        else:
            step = rng.uniform(1 / 16, 8.0, F)
        # Random sub-1/16 fractions check the truncation of act_step.
        set_both(el, gl, "threshold", th)
        set_both(el, gl, "act_step", (step + rng.uniform(0, 1 / 16, F)).astype(np.float32))
        x = gl.call(x) if gl.activation else x
    return eng, gold


def random_input(model, rng, n, bits=None):
    shape = tuple(model.input_shape)
    first = model.layers[0]
    top = (1 << first.in_bits) - 1 if isinstance(first, golden.InputData) else 255
    return rng.integers(0, top + 1, (n, *shape)).astype(np.uint8)


def assert_same(a, b, what="outputs"):
    """Every element equal, with the first mismatches named when not."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes differ {a.shape} vs {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtypes differ {a.dtype} vs {b.dtype}"
    bad = np.argwhere(a != b)
    assert bad.size == 0, (f"{what}: {len(bad)} of {a.size} elements differ, first at "
                           f"{bad[:3].tolist()}: engine {a[tuple(bad[0])]} golden {b[tuple(bad[0])]}")
