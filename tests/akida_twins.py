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
from edgekws.golden import zoo

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
    """:func:`edgekws.golden.zoo.randomize` on the golden model (with sub-1/16 act_step
    fractions, which the engine truncates), then the same variables in the engine."""
    zoo.randomize(gold, x_probe, rng, step_fractions=True)
    for el, gl in zip(eng.layers, gold.layers):
        for name in gl.get_variable_names():
            el.set_variable(name, gl.get_variable(name))
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
