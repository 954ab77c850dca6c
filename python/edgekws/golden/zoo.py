"""Model architectures of the product, and random (but lively) weights for them.

:func:`ds_cnn_kws` is the tutorials' DS-CNN for 49x10 MFCC inputs. :func:`randomize`
fills any model with random in-range weights and sets each layer's thresholds and
act_steps from the potentials of probe inputs, so that activations are neither all
zero nor all saturated: a stand-in for a trained model in tests and benchmarks.
"""
from __future__ import annotations

import numpy as np

from .layers import (FullyConnected, InputConvolutional, InputData, PoolType,
                     SeparableConvolutional)
from .model import Model

KWS_INPUT_SHAPE = (49, 10, 1)
KWS_FILTERS = 64


def ds_cnn_kws(units: int | None = 33, filters: int = KWS_FILTERS,
               learning_units: bool = False) -> Model:
    """DS-CNN: InputConv 5x5/2 (8-bit weights, 4-bit act) -> 3 x Sep 3x3 (4-bit) ->
    Sep 3x3 with global pooling and 1-bit spikes -> FullyConnected.

    ``units=None`` gives the feature extractor alone. ``learning_units`` makes the last
    layer a binary FullyConnected (1-bit weights, no activation) ready for ``compile``.
    """
    m = Model()
    m.add(InputConvolutional(KWS_INPUT_SHAPE, (5, 5), filters, name="conv_0",
                             kernel_stride=(2, 2), weights_bits=8, act_bits=4))
    for i in range(1, 4):
        m.add(SeparableConvolutional((3, 3), filters, name=f"separable_{i}", weights_bits=4,
                                     act_bits=4))
    m.add(SeparableConvolutional((3, 3), filters, name="separable_4", weights_bits=4,
                                 pool_type=PoolType.Average, act_bits=1))
    if units is not None:
        m.add(FullyConnected(units, name="dense_5", weights_bits=1 if learning_units else 4,
                             activation=False))
    return m


def randomize(model: Model, probe: np.ndarray, seed=0, step_fractions: bool = False) -> Model:
    """Random weights; thresholds at random quantiles of each neuron's potentials on
    ``probe``; act_steps spreading those potentials over the activation levels.

    ``seed`` is an int or a Generator. ``step_fractions`` adds random sub-1/16 parts to
    the act_steps, which the engine truncates: differential tests use it to check that.
    """
    rng = np.random.default_rng(seed)
    x = probe
    for layer in model.layers:
        if isinstance(layer, InputData):
            continue
        for name in layer.get_variable_names():
            if name.startswith("weights"):
                lo, hi = layer.weight_limits()
                layer.set_variable(name, rng.integers(lo, hi + 1, layer.get_variable(name).shape))
        flat = np.asarray(layer.potentials(x), np.float64).reshape(-1, layer.output_dims[-1])
        F = flat.shape[1]
        q = np.array([np.quantile(flat[:, f], rng.uniform(0.2, 0.8)) for f in range(F)])
        spread = np.maximum(flat.std(axis=0), 1.0)
        levels = (1 << layer.act_bits) - 1 if layer.activation else 1
        step = np.maximum(spread / levels * rng.uniform(0.3, 2.0, F), 1 / 16)
        if step_fractions:
            step = step + rng.uniform(0, 1 / 16, F)
        layer.set_variable("threshold", np.round(q).astype(np.int32))
        layer.set_variable("act_step", step.astype(np.float32))
        if layer.activation:
            x = layer.call(x)
    return model


def mfcc_like_inputs(n: int, seed=0) -> np.ndarray:
    """uint8 (n, 49, 10, 1) with smooth time-frequency structure, not white noise."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (n, 49, 10))
    # Smooth along time as speech features are; scale into the uint8 range.
    for _ in range(3):
        base = 0.25 * np.roll(base, 1, 1) + 0.5 * base + 0.25 * np.roll(base, -1, 1)
    base = base / base.std() * 40 + 128 + rng.normal(0, 10, (n, 1, 10))
    return np.clip(np.round(base), 0, 255).astype(np.uint8)[..., None]
