"""Integer facts of Akida 1.0 shared by the golden model, the gateware and the host.

Everything here is a constant or a small pure function on integers: the step
activation, the 20-bit saturation, the weight ranges, the act_step truncation.
Gateware generators and testbenches import these rather than restating them.
"""
from __future__ import annotations

import numpy as np

#: FullyConnected potentials and global-average-pool sums saturate to this many bits (signed).
POTENTIAL_BITS = 20
POT_MIN = -(1 << (POTENTIAL_BITS - 1))
POT_MAX = (1 << (POTENTIAL_BITS - 1)) - 1

_F32 = 1 << 24

#: Allowed activation widths.
ACT_BITS = (1, 2, 4)
#: Allowed InputData widths (what a uint8 input can carry; the engine takes any >= 1).
INPUT_BITS = tuple(range(1, 9))
#: Input widths a SeparableConvolutional or FullyConnected layer accepts (engine: <= 4).
LAYER_INPUT_BITS = (1, 2, 3, 4)
#: weights_bits of SeparableConvolutional and FullyConnected (InputConvolutional: 1..8).
WEIGHTS_BITS = (1, 2, 4, 8)
#: act_step is held as a multiple of 1/16; the engine refuses smaller steps.
ACT_STEP_DENOM = 16
ACT_STEP_MIN = 1.0 / ACT_STEP_DENOM

#: Inclusive weight ranges per weights_bits (int8 storage in every case).
WEIGHT_RANGES = {1: (0, 1), 2: (-1, 1), 4: (-7, 7), 8: (-128, 127)}


def weight_range(bits: int) -> tuple[int, int]:
    """Inclusive ``(low, high)`` of a weight of ``bits`` bits."""
    try:
        return WEIGHT_RANGES[bits]
    except KeyError:
        raise ValueError(f"weights_bits must be one of {sorted(WEIGHT_RANGES)}, "
                         f"not {bits!r}") from None


def saturate(pot):
    """Clip to the signed 20-bit range of FullyConnected potentials."""
    return np.clip(pot, POT_MIN, POT_MAX)


def act_step_units(act_step) -> np.ndarray:
    """act_step as an integer count of 1/16 (the engine truncates, it does not round)."""
    return np.floor(np.asarray(act_step, np.float64) * ACT_STEP_DENOM).astype(np.int64)


def integer_step(act_step, act_bits: int) -> np.ndarray:
    """The integer step ``S = floor(16 act_step) * 2**(4 - act_bits)`` of each neuron.

    The unit the hardware divides by (:func:`step_activation`, the extractor's step
    memory, the ``EXT_STEP`` region). With 1-bit activations the output is
    ``pot > threshold`` whatever the step, so ``S`` is 1 there.
    """
    if act_bits == 1:
        return np.ones(np.shape(act_step), np.int64)
    return act_step_units(act_step) << (4 - act_bits)


def step_activation(pot, threshold, act_step, act_bits: int) -> np.ndarray:
    """Akida's quantized step ReLU.

    ``out = clip(ceil(16 (pot - threshold) / S), 0, 2**act_bits - 1)`` with
    ``S = floor(16 act_step) * 2**(4 - act_bits)``: the division rounds *up* and there
    is no offset, so for ``act_bits = 1`` the output is simply ``pot > threshold``.

    Parameters
    ----------
    pot : array_like of int, (..., F)
    threshold : array_like of int, (F,)
    act_step : array_like of float, (F,)
    act_bits : {1, 2, 4}

    Returns
    -------
    ndarray of uint8, same shape as ``pot``
    """
    if act_bits not in ACT_BITS:
        raise ValueError(f"act_bits must be one of {ACT_BITS}, not {act_bits!r}")
    pot = np.asarray(pot)
    th = np.asarray(threshold, np.int64)
    S = integer_step(act_step, act_bits)
    if act_bits == 1:
        # ceil(16 d / S) >= 1 exactly when d > 0, whatever the step.
        return (pot > th).astype(np.uint8) if pot.dtype.kind in "iu" else \
            (pot > th.astype(np.float64)).astype(np.uint8)
    top = (1 << act_bits) - 1
    # Fast exact path in float32: d is first clipped to [-1, cap], past which the output
    # saturates anyway, so |16 d| stays below 2**24 and every step is exact (a float32
    # quotient of integers below 2**24 cannot round onto an integer it is not equal to).
    cap = -(-(top * S) // 16)
    if pot.dtype == np.float32 and np.abs(th).max(initial=0) < _F32 \
            and (16 * cap).max(initial=0) < _F32:
        d = pot - th.astype(np.float32)
        np.clip(d, np.float32(0), cap.astype(np.float32), out=d)  # d <= 0 gives 0 either way
        # d / (S/16) is the same correctly rounded quotient as 16 d / S (both operands
        # only scaled by 16, exactly), one pass fewer.
        d /= (S / 16).astype(np.float32)
        np.ceil(d, out=d)
        np.minimum(d, top, out=d)
        return d.astype(np.uint8)
    d = pot.astype(np.int64) - th
    # ceil(16 d / S) with integers: -floor(-16 d / S).
    q = -((-16 * d) // S)
    return np.clip(q, 0, (1 << act_bits) - 1).astype(np.uint8)
