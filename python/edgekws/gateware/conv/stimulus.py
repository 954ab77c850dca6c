"""Inputs and random models for the extractor configurations, shared by the cocotb
testbench (``sim/test_conv_extractor.py``) and the benchmark
(:func:`edgekws.bench.extractor.measure`), which recomputes what the bench ran from
the same seeds."""
from __future__ import annotations

import numpy as np

from edgekws.golden.zoo import mfcc_like_inputs, randomize

__all__ = ["images", "random_model"]


def images(shape, n, seed) -> np.ndarray:
    """MFCC-like images for the product shape; for other shapes smooth random images
    with some all-zero rows (so zero inputs and zero activations occur)."""
    if tuple(shape) == (49, 10, 1):
        return mfcc_like_inputs(n, seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, *shape))
    x = 0.5 * x + 0.25 * np.roll(x, 1, 1) + 0.25 * np.roll(x, -1, 1)
    x = np.clip(np.round(x * 60 + 110), 0, 255)
    x[:, rng.integers(0, shape[0], 2)] = 0
    return x.astype(np.uint8)


def random_model(cfg, seed):
    """A random model of configuration ``cfg`` whose activations are lively on
    :func:`images` (thresholds set from 48 of them)."""
    model = cfg.model()
    spec = cfg.spec()
    return randomize(model, images(spec.image_shape, 48, seed + 1000), seed=seed)
