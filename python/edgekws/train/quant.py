"""Fake quantizers with straight-through gradients, and the activation-step search.

Every quantizer returns a tensor whose *value* is exactly the quantized number (not
``x + stop_gradient(q - x)``, which float rounding can leave a hair away from ``q``)
and whose *gradient* is that of a smooth surrogate::

    value = stop_gradient(q) + (s - stop_gradient(s))     # s - s == 0 exactly

The integer step activation of Akida (``clip(ceil(16 (pot - th) / S), 0, 2^b - 1)``,
see :func:`edgekws.golden.quant.step_activation`) is evaluated on exact integers (see
:func:`step_activation_ste` for why float32 is exact), so the Keras forward pass and the
golden model agree bit for bit.
"""
from __future__ import annotations

import numpy as np

from .tfsetup import tensorflow

tf = tensorflow()

#: Largest |threshold| the conversion emits: beyond any potential of the DS-CNN, exact
#: in float32 and in int32.
THRESHOLD_LIMIT = float(1 << 23)
#: Largest act_step (in units of 1/16) emitted; keeps 16*(pot-th)/S exact in float32.
STEP_UNITS_LIMIT = float(1 << 20)


def straight_through(value, surrogate):
    """``value`` forward, the gradient of ``surrogate`` backward (values exact)."""
    return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))


def round_ste(x):
    """Round half to even, identity gradient."""
    return straight_through(tf.round(x), x)


def floor_ste(x):
    """Floor, identity gradient."""
    return straight_through(tf.floor(x), x)


def qmax(bits: int) -> int:
    """Largest weight magnitude of a symmetric ``bits``-bit weight: 127 for 8, 7 for 4."""
    if bits not in (2, 4, 8):
        raise ValueError(f"weight bits must be 2, 4 or 8, not {bits!r}")
    return (1 << (bits - 1)) - 1


def weight_scale(w, bits: int, axis=None):
    """Scale ``max|w| / qmax`` (no gradient), over all of ``w`` or per index of ``axis``.

    ``axis`` names the axes that are *kept* (e.g. ``-1`` for one scale per output
    channel); ``None`` gives one scale for the tensor.
    """
    a = tf.abs(w)
    if axis is None:
        m = tf.reduce_max(a)
    else:
        keep = {axis % len(w.shape)} if isinstance(axis, int) else {x % len(w.shape) for x in axis}
        m = tf.reduce_max(a, axis=[i for i in range(len(w.shape)) if i not in keep])
    return tf.stop_gradient(tf.maximum(m, 1e-8) / qmax(bits))


def quantize_weights(w, scale, bits: int):
    """Integer-valued ``clip(round(w / scale), -qmax, qmax)`` with a straight-through gradient."""
    q = qmax(bits)
    return tf.clip_by_value(round_ste(w / scale), -q, q)


def step_activation_ste(pot, th_real, sigma, bits: int):
    """Akida's step activation on exact integer potentials, with a clipped-ReLU gradient.

    Parameters
    ----------
    pot : tf.Tensor, float32 or float64
        Integer-valued potentials (already sign-corrected), ``(..., F)``; in float32 they
        must stay below 2**24 in magnitude (true of every DS-CNN layer before pooling).
    th_real : tf.Tensor, float64, (F,)
        Real threshold: the code switches from ``k-1`` to ``k`` at ``th_real + (k-1) sigma``.
    sigma : tf.Tensor, float64, (F,)
        Real activation step, in potential units.
    bits : {1, 4}

    Returns
    -------
    q : tf.Tensor, dtype of ``pot``
        Codes in ``[0, 2^bits - 1]``: ``pot > floor(th_real)`` for 1 bit, else
        ``clip(ceil(16 (pot - th) / k), 0, 15)`` with ``th = round(th_real)`` and
        ``k = max(round(16 sigma), 1)`` (the act_step is ``k / 16``).
    th : tf.Tensor, float64
        The integer threshold used.
    k : tf.Tensor, float64
        The act_step in units of 1/16 (1 for 1-bit layers, where it has no effect).

    Notes
    -----
    Exactness in float32: ``th`` is an integer below 2**23 and ``pot - th`` is exact; it is
    clipped to ``[-1, ceil(15 k / 16)]`` (beyond which the code is 0 or 15 anyway), so
    ``16 (pot - th) <= 15 k + 16 < 2**24`` with ``k <= 2**20``, and a float quotient of two
    such integers whose exact value ``n <= 16`` satisfies ``n k < 2**24`` cannot round onto
    an integer it is not equal to: ``ceil`` is exact.
    """
    dt = pot.dtype
    top = float((1 << bits) - 1)
    th_real = tf.clip_by_value(th_real, -THRESHOLD_LIMIT, THRESHOLD_LIMIT)
    surrogate = tf.clip_by_value((pot - tf.cast(th_real, dt)) / tf.cast(sigma, dt) + 0.5,
                                 0.0, top)
    if bits == 1:
        th = floor_ste(th_real)
        k = tf.ones_like(th)
        exact = tf.cast(pot > tf.cast(th, dt), dt)
    elif bits == 4:
        th = round_ste(th_real)
        k = tf.clip_by_value(round_ste(16.0 * sigma), 1.0, STEP_UNITS_LIMIT)
        cap = tf.math.ceil(15.0 * k / 16.0)
        d = tf.clip_by_value(tf.stop_gradient(pot) - tf.cast(tf.stop_gradient(th), dt), -1.0,
                             tf.cast(cap, dt))
        exact = tf.clip_by_value(tf.math.ceil(16.0 * d / tf.cast(tf.stop_gradient(k), dt)),
                                 0.0, top)
    else:
        raise ValueError(f"activation bits must be 1 or 4, not {bits!r}")
    return straight_through(exact, surrogate), th, k


def best_step(values, bits: int, candidates: int = 64) -> float:
    """Activation step ``delta`` minimising the error of ReLU values quantized to codes.

    The codes are ``clip(ceil(y / delta - 1/2), 0, 2^bits - 1)`` (rounding, as the
    quantized layers do) and the reconstruction is ``delta * code``.

    Parameters
    ----------
    values : array_like
        Pre-activation samples (any shape); negative values count as zeros.
    bits : int
    candidates : int
        Number of clip levels tried between 2% and 100% of the largest value.
    """
    y = np.maximum(np.asarray(values, np.float64).ravel(), 0.0)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("step search needs finite pre-activation values")
    top = (1 << bits) - 1
    ymax = float(y.max())
    if ymax <= 0:
        return 1.0
    if y.size > 200_000:
        y = np.random.default_rng(0).choice(y, 200_000, replace=False)
    best, best_err = ymax / top, np.inf
    for frac in np.linspace(0.02, 1.0, candidates):
        delta = ymax * frac / top
        code = np.clip(np.ceil(y / delta - 0.5), 0, top)
        err = float(np.mean((y - delta * code) ** 2))
        if err < best_err:
            best, best_err = delta, err
    return best
