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


# -- a DS-CNN built in the engine alone --------------------------------------------------------
WEIGHT_RANGE = {1: (0, 1), 2: (-1, 1), 4: (-7, 7), 8: (-128, 127)}


def engine_potentials(eng, i, x):
    """The engine's potentials of layer ``i``: layers 0..i with the activation of i off."""
    d = eng.to_dict()
    d["layers"] = d["layers"][:i + 1]
    d["layers"][-1]["parameters"]["activation"] = 0
    d["learning"] = None
    d["output_shape"] = None
    return akida.Model.from_dict(d).forward(x)


def akida_ds_cnn(rng, units=33, learning=False, probe=None, changes=None):
    """A DS-CNN (the board's topology) in the akida package with random, lively variables.

    Weights come from ``rng``; thresholds and act_steps from the engine's own potentials
    on ``probe`` (uint8 ``(n, 49, 10, 1)``, default 48 random frames), so no golden code
    takes part in making the model golden must then reproduce. ``changes`` maps a layer
    name to constructor arguments that replace the board's (a model that does not fit).
    """
    Same, Avg = akida.Padding.Same, akida.PoolType.Average
    kw = {"conv_0": dict(input_shape=(49, 10, 1), kernel_size=(5, 5), filters=64,
                         kernel_stride=(2, 2), weights_bits=8, act_bits=4, padding=Same)}
    for i in range(1, 5):
        kw[f"separable_{i}"] = dict(kernel_size=(3, 3), filters=64, weights_bits=4,
                                    act_bits=4 if i < 4 else 1,
                                    **({"pool_type": Avg} if i == 4 else {}))
    kw["dense_5"] = dict(units=units, weights_bits=1, activation=False)
    for name, change in (changes or {}).items():
        kw[name].update(change)
    eng = akida.Model()
    eng.add(akida.InputConvolutional(name="conv_0", **kw.pop("conv_0")))
    for name in ("separable_1", "separable_2", "separable_3", "separable_4"):
        eng.add(akida.SeparableConvolutional(name=name, **kw.pop(name)))
    eng.add(akida.FullyConnected(name="dense_5", **kw.pop("dense_5")))
    x = rng.integers(0, 256, (48, 49, 10, 1)).astype(np.uint8) if probe is None else probe
    for i, layer in enumerate(eng.layers):
        bits = layer.parameters.weights_bits
        for name in layer.get_variable_names():
            if name.startswith("weights"):
                lo, hi = WEIGHT_RANGE[bits]
                shape = layer.get_variable(name).shape
                layer.set_variable(name, rng.integers(lo, hi + 1, shape).astype(np.int8))
        if i == len(eng.layers) - 1:
            break
        F = layer.parameters.filters
        pot = engine_potentials(eng, i, x).reshape(-1, F).astype(np.float64)
        th = np.array([np.quantile(pot[:, f], rng.uniform(0.3, 0.7)) for f in range(F)])
        step = np.maximum(pot.std(axis=0), 1.0) / 6 + rng.uniform(0, 1, F)
        layer.set_variable("threshold", th.astype(np.int32))
        layer.set_variable("act_step", step.astype(np.float32))
    if learning:
        params = {"num_weights": 20, "num_classes": 3, "initial_plasticity": 0.8,
                  "min_plasticity": 0.2} if learning is True else learning
        eng.compile(akida.AkidaUnsupervised(**params))
        # The engine draws each neuron's initial connections with a generator that cannot
        # be seeded (akida-v1-semantics.md §8): draw them from ``rng`` instead, so that a
        # model (and which classes win on it) is the same in every run.
        dense = eng.layers[-1]
        w = np.zeros_like(dense.get_variable("weights"))
        for j in range(w.shape[3]):
            w[0, 0, rng.choice(w.shape[2], params["num_weights"], replace=False), j] = 1
        dense.set_variable("weights", w)
    return eng
