"""Vectorised integer kernels of the Akida 1.0 layers (no Python loop over samples).

Products and sums are exact integers. Matrix products run in float32 when a bound on
every partial sum is below 2**24 (then every partial sum is an exactly representable
integer, whatever order BLAS adds in), otherwise in float64 (exact below 2**53), else
in int64; :func:`exact_float` picks the type from the bound, :func:`exact_matmul` takes
the bound from the actual operands.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .quant import POT_MAX, POT_MIN

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


def exact_matmul(a: np.ndarray, b: np.ndarray, amax: int | None = None) -> np.ndarray:
    """Integer ``a @ b``, exact: floats whose values are integers, or int64.

    float32 when ``max|a| * max_col(sum|b|)`` (a bound on every partial sum) is below
    2**24, float64 below 2**53, else int64 (numpy's integer product, slower but exact).
    ``amax`` skips the scan of ``a`` when the caller knows a bound.
    """
    if amax is None:
        amax = int(np.abs(a).max()) if a.size else 0
    bcol = int(np.abs(b.astype(np.int64)).sum(axis=0).max()) if b.size else 0
    dt = exact_float(amax * bcol) or np.int64
    return a.astype(dt, copy=False) @ b.astype(dt)


def exact_float(bound: int):
    """The narrowest float type in which integers of magnitude up to ``bound`` are exact.

    float32 below 2**24, float64 below 2**53, else None (only integers are exact).
    """
    bound = int(bound)
    if bound < 0:
        raise ValueError(f"bound must be a magnitude (>= 0), not {bound!r}")
    if bound < _F32_EXACT:
        return np.float32
    if bound < _F64_EXACT:
        return np.float64
    return None


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow 'SAME': ``(out, before, after)``, the smaller half before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def valid_size(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def conv_geometry(shape_xy, kernel, stride, same: bool):
    """Output size and ``((before_x, after_x), (before_y, after_y))`` padding."""
    out, pads = [], []
    for size, k, s in zip(shape_xy, kernel, stride):
        if same:
            o, b, a = same_padding(size, k, s)
        else:
            o, b, a = valid_size(size, k, s), 0, 0
        out.append(o)
        pads.append((b, a))
    return tuple(out), tuple(pads)


def _windows(xp: np.ndarray, kernel, stride, out) -> np.ndarray:
    """``(n, OX, OY, C, kx, ky)`` strided view of the padded input."""
    w = sliding_window_view(xp, tuple(kernel), axis=(1, 2))
    return w[:, :out[0] * stride[0]:stride[0], :out[1] * stride[1]:stride[1]]


def input_conv(x: np.ndarray, w: np.ndarray, stride, same: bool, pad_value: int) -> np.ndarray:
    """Cross-correlation of uint8 images with ``(kx, ky, C, F)`` weights (exact floats)."""
    kx, ky, C, F = w.shape
    out, pads = conv_geometry(x.shape[1:3], (kx, ky), stride, same)
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=pad_value)
    n = x.shape[0]
    wmat = w.transpose(2, 0, 1, 3).reshape(C * kx * ky, F)
    # Window gathering on float32 directly: one copy instead of uint8 then float.
    win = _windows(xp.astype(np.float32), (kx, ky), stride, out)   # (n, OX, OY, C, kx, ky)
    cols = win.reshape(n * out[0] * out[1], C * kx * ky)
    return exact_matmul(cols, wmat, amax=255).reshape(n, out[0], out[1], F)


def depthwise_conv(x: np.ndarray, wd: np.ndarray, stride, same: bool,
                   in_max: int = 15) -> np.ndarray:
    """True convolution (kernel flipped) of each channel with ``(kx, ky, C, 1)`` weights.

    Sums run in int16 when ``in_max * sum|kernel|`` fits (three times faster than float32
    on this memory-bound loop), else in int32.
    """
    kx, ky, C, _ = wd.shape
    out, pads = conv_geometry(x.shape[1:3], (kx, ky), stride, same)
    bound = in_max * int(np.abs(wd.astype(np.int64)).sum(axis=(0, 1)).max())
    dt = np.int16 if bound < (1 << 15) else np.int32
    xp = np.zeros((x.shape[0], x.shape[1] + sum(pads[0]), x.shape[2] + sum(pads[1]), C), dt)
    xp[:, pads[0][0]:pads[0][0] + x.shape[1], pads[1][0]:pads[1][0] + x.shape[2]] = x
    sx, sy = stride
    acc = np.zeros((x.shape[0], out[0], out[1], C), dt)
    tmp = np.empty_like(acc)
    first = True
    for i in range(kx):
        for j in range(ky):
            tap = wd[kx - 1 - i, ky - 1 - j, :, 0].astype(dt)
            if not tap.any():
                continue
            # The first tap writes the sum directly: one pass fewer than adding to zeros.
            np.multiply(xp[:, i:i + out[0] * sx:sx, j:j + out[1] * sy:sy, :], tap,
                        out=acc if first else tmp)
            if not first:
                acc += tmp
            first = False
    return acc


def separable_conv(x, wd, wpw, stride, same: bool, in_max: int = 15) -> np.ndarray:
    """Depthwise (true convolution) then pointwise, exact integers throughout."""
    d = depthwise_conv(x, wd, stride, same, in_max)
    n, ox, oy, C = d.shape
    F = wpw.shape[-1]
    # Bound of |d| from the operands' ranges, which avoids a pass over d.
    amax = in_max * int(np.abs(wd.astype(np.int64)).sum(axis=(0, 1)).max())
    return exact_matmul(d.reshape(-1, C), wpw.reshape(C, F), amax=amax).reshape(n, ox, oy, F)


def max_pool(pot: np.ndarray, size, stride, same: bool) -> np.ndarray:
    """Max over windows; with 'Same' geometry the padded cells never win."""
    out, pads = conv_geometry(pot.shape[1:3], size, stride, same)
    pp = np.pad(pot, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=-np.inf)
    return _windows(pp, size, stride, out).max(axis=(4, 5))


def global_sum_saturating(pot: np.ndarray) -> np.ndarray:
    """Akida's global 'average' pooling: a 20-bit saturating running sum, no division.

    Positions are added in C order of (x, y), clipping after every addition. Where no
    prefix sum leaves the 20-bit range the plain sum is the same, and is used.
    """
    n, ox, oy, F = pot.shape
    positions = ox * oy
    flat = pot.reshape(n, positions, F)
    # Running sums, exact in float64, one position at a time: numpy's cumsum along this
    # middle axis is 2.5x slower (measured on the DS-CNN's 25x5 positions).
    prefix = np.empty((n, positions, F), np.float64)
    prefix[:, 0] = flat[:, 0]
    for p in range(1, positions):
        np.add(prefix[:, p - 1], flat[:, p], out=prefix[:, p])
    out = prefix[:, -1].astype(np.int64)
    # Clipping changes nothing unless some prefix sum leaves the range: only those
    # (sample, channel) pairs need the saturating sum.
    risky = (prefix.max(axis=1) > POT_MAX) | (prefix.min(axis=1) < POT_MIN)
    if risky.any():
        rows, cols = np.nonzero(risky)
        out[rows, cols] = clamped_sum(flat[rows, :, cols].astype(np.int64), POT_MIN, POT_MAX)
    return out.reshape(n, 1, 1, F)


def clamped_sum(steps: np.ndarray, low: int, high: int) -> np.ndarray:
    """Final ``s`` of ``s = clip(s + steps[:, p], low, high)`` for each row, from ``s = 0``.

    With ``low <= 0 <= high``, this is the two-sided Skorokhod map on ``[0, a]``,
    ``a = high - low``, of the path ``psi = prefix sums - low`` (which starts in range),
    for which Kruk, Lehoczky, Ramanan and Shreve (Ann. Probab. 35, 2007) give the explicit
    form at the last time ``T``::

        psi(T) - max(min(0, min_{u <= T} psi(u)),
                     max_{s <= T} min(psi(s) - a, min_{s <= u <= T} psi(u)))

    a few vector passes (a cumulative sum and a reverse cumulative minimum) instead of
    one per position.
    """
    a = np.asarray(steps, np.int64)
    psi = np.empty((a.shape[0], a.shape[1] + 1), np.int64)
    psi[:, 0] = 0
    np.cumsum(a, axis=1, out=psi[:, 1:])
    psi -= low
    tail_min = np.minimum.accumulate(psi[:, ::-1], axis=1)[:, ::-1]
    upper = np.minimum(psi - (high - low), tail_min).max(axis=1)
    lower = np.minimum(psi.min(axis=1), 0)
    return low + psi[:, -1] - np.maximum(lower, upper)


def fc_flatten(x: np.ndarray) -> np.ndarray:
    """``(n, X, Y, C)`` to ``(n, X*Y*C)`` in Akida's order ``i = x + X*(y + Y*c)``."""
    n = x.shape[0]
    return x.transpose(0, 3, 2, 1).reshape(n, -1)
