"""Quantizable Keras blocks of the DS-CNN, each with a float mode and a quantized mode.

Float mode (``block.quantized = False``) is an ordinary ``conv -> BatchNorm -> ReLU``
trained on float inputs. Quantized mode computes exactly what an Akida 1.0 layer
computes, with straight-through gradients:

1. the inputs are integer codes ``u`` (uint8 MFCC codes, or the previous block's 4- or
   1-bit activations), worth ``in_scale * u`` in float units;
2. the weights are integers ``round(W / s)`` (8 bits for the first layer with one scale
   per output channel; 4 bits elsewhere: one scale for the depthwise kernel, one per output
   channel for the pointwise kernel), so the potential ``pot`` is an exact integer;
3. the batch norm is folded with its *moving* statistics (frozen during QAT; ``gamma``
   and ``beta`` still train): ``y = A pot + b`` with ``A = a in_scale s`` (divided by the
   number of positions after global average pooling, which Akida computes as a 20-bit
   saturating sum, and so does :func:`saturating_sum`);
4. the activation ``clip(ceil(y / step - 1/2), 0, 2^bits - 1)``, i.e. ReLU rounded to a
   step ``out_step``, becomes Akida's integer step activation with threshold
   ``round(-b/|A| + step/(2|A|))`` and act_step ``round(16 step / |A|) / 16``, evaluated on
   ``sign(A) pot`` (a negative batch-norm scale flips the sign of that output channel's
   weights). Those rounded integers are the ones used in the forward pass, hence the
   conversion to the golden model is exact by construction.

:meth:`QBlock.integer_params` returns the golden variables of a block.
"""
from __future__ import annotations

import numpy as np

from .quant import (THRESHOLD_LIMIT, quantize_weights, round_ste, step_activation_ste,
                    weight_scale)
from .tfsetup import tensorflow

tf = tensorflow()
import keras  # noqa: E402  (after the thread set-up)

#: Akida's global-pooling accumulator is a signed 20-bit saturating sum.
POOL_MIN = -float(1 << 19)
POOL_MAX = float((1 << 19) - 1)


def saturating_sum(pot):
    """Akida's global pooling: positions added in C order of (x, y), clipping to the signed
    20-bit range after every addition (float64, exact). ``(n, X, Y, F) -> (n, F)``."""
    flat = tf.reshape(pot, (-1, pot.shape[1] * pot.shape[2], pot.shape[3]))
    total = tf.reduce_sum(flat, axis=1)
    # Without a partial sum outside the range, the running clip is the plain sum.
    prefix = tf.cumsum(flat, axis=1)
    risky = tf.reduce_any((prefix > POOL_MAX) | (prefix < POOL_MIN))

    def running():
        acc = tf.zeros_like(flat[:, 0])
        for p in range(flat.shape[1]):
            acc = tf.clip_by_value(acc + flat[:, p], POOL_MIN, POOL_MAX)
        return acc

    return tf.cond(risky, running, lambda: total)


class QBlock(keras.layers.Layer):
    """Common part of the convolutional blocks: batch norm, scales, activation.

    Parameters
    ----------
    filters : int
    weight_bits : int
        8 (first layer) or 4.
    act_bits : {1, 4}
    pooled : bool
        Global average pooling before the batch norm (Akida: a sum before the threshold).
    """

    def __init__(self, filters: int, weight_bits: int, act_bits: int, pooled: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if act_bits not in (1, 4):
            raise ValueError(f"act_bits must be 1 or 4, not {act_bits!r}")
        self.filters = int(filters)
        self.weight_bits = int(weight_bits)
        self.act_bits = int(act_bits)
        self.pooled = bool(pooled)
        self.quantized = False
        self.bn = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3,
                                                  name=f"{self.name}_bn")

    def _build_common(self, out_shape):
        self.bn.build(out_shape)
        #: Float value of one input code (the previous block's out_step; 1/255 at the input).
        self.in_scale = self.add_weight(name="in_scale", shape=(), trainable=False,
                                        initializer=keras.initializers.Constant(1.0))
        #: Float value of one output code.
        self.out_step = self.add_weight(name="out_step", shape=(), trainable=False,
                                        initializer=keras.initializers.Constant(1.0))

    # -- subclass hooks -------------------------------------------------------------------
    def float_conv(self, x):
        raise NotImplementedError

    def integer_weights(self):
        """Integer-valued kernels (STE) and the float scale per output channel."""
        raise NotImplementedError

    def integer_conv(self, u, kernels):
        raise NotImplementedError

    # -- float mode -----------------------------------------------------------------------
    def preactivation(self, x, training=False):
        """Float-mode batch-norm output (before the ReLU)."""
        z = self.float_conv(x)
        if self.pooled:
            z = tf.reduce_mean(z, axis=[1, 2])
        return self.bn(z, training=training)

    # -- quantized mode -------------------------------------------------------------------
    def _folded(self, scale, positions):
        bn = self.bn
        f64 = tf.float64
        a = tf.cast(bn.gamma, f64) * tf.math.rsqrt(tf.cast(bn.moving_variance, f64) + bn.epsilon)
        b = tf.cast(bn.beta, f64) - a * tf.cast(bn.moving_mean, f64)
        A = a * tf.cast(self.in_scale, f64) * tf.cast(scale, f64) / positions
        return A, b

    def quantized_call(self, u):
        """Codes, and a dict of what the golden layer needs (integer-valued tensors)."""
        kernels, scale = self.integer_weights()
        # Exact integers in float32: |pot| <= 255*127*25 (conv_0) or 15*7*9*7*C (separable).
        pot = self.integer_conv(u, kernels)
        positions = 1.0
        if self.pooled:
            positions = float(pot.shape[1] * pot.shape[2])
            # The sum of 125 positions needs float64; saturated, it fits float32 again.
            pot = tf.cast(saturating_sum(tf.cast(pot, tf.float64)), tf.float32)
        A, b = self._folded(scale, positions)
        sign = tf.where(A < 0, tf.constant(-1.0, tf.float64), tf.constant(1.0, tf.float64))
        A_abs = tf.maximum(tf.abs(A), 1e-30)
        step = tf.cast(self.out_step, tf.float64)
        sigma = tf.minimum(step / A_abs, THRESHOLD_LIMIT)
        th_real = -b / A_abs + 0.5 * sigma
        q, th, k = step_activation_ste(tf.cast(sign, tf.float32) * pot, th_real, sigma,
                                       self.act_bits)
        return q, {"kernels": kernels, "sign": sign, "threshold": th, "step_units": k}

    def call(self, x, training=None):
        if self.quantized:
            return self.quantized_call(x)[0]
        return tf.nn.relu(self.preactivation(x, training=training))

    def integer_params(self) -> dict:
        """The golden variables of this block (numpy), from the current weights."""
        _, kernels, sign, th, k = self._params_now()
        return self._golden_variables(kernels, sign, th, k)

    def _params_now(self):
        # Run the quantized path on a one-sample dummy input to get the parameters from the
        # very same ops as the forward pass.
        shape = (1,) + tuple(int(d) for d in self._input_shape[1:])
        q, p = self.quantized_call(tf.zeros(shape, tf.float32))
        return (q, [np.asarray(k) for k in p["kernels"]], np.asarray(p["sign"]),
                np.asarray(p["threshold"]), np.asarray(p["step_units"]))

    def _golden_variables(self, kernels, sign, th, k):
        raise NotImplementedError

    def build(self, input_shape):
        self._input_shape = tuple(input_shape)
        self._build_kernels(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "weight_bits": self.weight_bits, "act_bits": self.act_bits,
                "pooled": self.pooled}


def _thresholds(th, k):
    th = np.asarray(th)
    if not np.all(np.isfinite(th)) or np.abs(th).max(initial=0) > THRESHOLD_LIMIT:
        raise ValueError(f"thresholds out of range: {th}")
    return th.astype(np.int32), (np.asarray(k, np.float64) / 16.0).astype(np.float32)


class QConvBlock(QBlock):
    """First layer: ``kernel x kernel`` convolution, stride ``strides``, Same padding."""

    def __init__(self, filters: int, kernel: int = 5, strides: int = 2, weight_bits: int = 8,
                 act_bits: int = 4, **kwargs):
        super().__init__(filters, weight_bits, act_bits, **kwargs)
        self.kernel = int(kernel)
        self.strides = int(strides)

    def _build_kernels(self, input_shape):
        cin = int(input_shape[-1])
        self.w = self.add_weight(name="kernel", shape=(self.kernel, self.kernel, cin,
                                                       self.filters),
                                 initializer="glorot_uniform")
        out = (input_shape[0], -(-input_shape[1] // self.strides),
               -(-input_shape[2] // self.strides), self.filters)
        self._build_common((None, self.filters) if self.pooled else out)

    def _conv(self, x, w):
        return tf.nn.conv2d(x, w, strides=self.strides, padding="SAME")

    def float_conv(self, x):
        return self._conv(x, self.w)

    def integer_weights(self):
        s = weight_scale(self.w, self.weight_bits, axis=-1)
        return [quantize_weights(self.w, s, self.weight_bits)], s

    def integer_conv(self, u, kernels):
        return self._conv(u, kernels[0])

    def _golden_variables(self, kernels, sign, th, k):
        w = np.rint(kernels[0] * sign).astype(np.int8)
        threshold, act_step = _thresholds(th, k)
        return {"weights": w, "threshold": threshold, "act_step": act_step}

    def get_config(self):
        return {**super().get_config(), "kernel": self.kernel, "strides": self.strides}


class QSeparableBlock(QBlock):
    """3x3 depthwise (stride 1, Same) then 1x1 pointwise, as Akida's SeparableConvolutional."""

    def __init__(self, filters: int, kernel: int = 3, weight_bits: int = 4, act_bits: int = 4,
                 **kwargs):
        super().__init__(filters, weight_bits, act_bits, **kwargs)
        self.kernel = int(kernel)

    def _build_kernels(self, input_shape):
        cin = int(input_shape[-1])
        self.wd = self.add_weight(name="depthwise_kernel",
                                  shape=(self.kernel, self.kernel, cin, 1),
                                  initializer="glorot_uniform")
        self.wp = self.add_weight(name="pointwise_kernel", shape=(1, 1, cin, self.filters),
                                  initializer="glorot_uniform")
        out = tuple(input_shape[:3]) + (self.filters,)
        self._build_common((None, self.filters) if self.pooled else out)

    def _conv(self, x, wd, wp):
        d = tf.nn.depthwise_conv2d(x, wd, strides=[1, 1, 1, 1], padding="SAME")
        return tf.nn.conv2d(d, wp, strides=1, padding="VALID")

    def float_conv(self, x):
        return self._conv(x, self.wd, self.wp)

    def integer_weights(self):
        sd = weight_scale(self.wd, self.weight_bits)
        sp = weight_scale(self.wp, self.weight_bits, axis=-1)
        return ([quantize_weights(self.wd, sd, self.weight_bits),
                 quantize_weights(self.wp, sp, self.weight_bits)], sd * sp)

    def integer_conv(self, u, kernels):
        return self._conv(u, kernels[0], kernels[1])

    def equalize(self) -> np.ndarray:
        """Cross-layer equalisation of the depthwise and pointwise kernels (float-exact).

        Channel ``c`` of the depthwise kernel is multiplied by
        ``r_c = sqrt(max|wp[c, :]| / max|wd[..., c]|)`` and row ``c`` of the pointwise
        kernel divided by it, so both have the same range per channel; the block's output
        does not change, but the per-tensor depthwise quantization loses less. Returns r.
        """
        wd, wp = self.wd.numpy(), self.wp.numpy()
        rd = np.abs(wd).max(axis=(0, 1, 3))
        rp = np.abs(wp).max(axis=(0, 1, 3))
        ok = (rd > 1e-12) & (rp > 1e-12)
        r = np.where(ok, np.sqrt(np.where(ok, rp, 1.0) / np.where(ok, rd, 1.0)), 1.0)
        self.wd.assign((wd * r[None, None, :, None]).astype(np.float32))
        self.wp.assign((wp / r[None, None, :, None]).astype(np.float32))
        return r

    def _golden_variables(self, kernels, sign, th, k):
        # Akida's depthwise step is a true convolution: flip the kernel in both spatial axes.
        wd = np.rint(kernels[0][::-1, ::-1]).astype(np.int8)
        wp = np.rint(kernels[1] * sign).astype(np.int8)
        threshold, act_step = _thresholds(th, k)
        return {"weights": np.ascontiguousarray(wd), "weights_pw": wp,
                "threshold": threshold, "act_step": act_step}

    def get_config(self):
        return {**super().get_config(), "kernel": self.kernel}


class QDense(keras.layers.Layer):
    """Classifier on the spikes: float Dense, or 4-bit weights with integer thresholds.

    Quantized, the logits are ``(pot - th) / act_step`` in float32, with one weight scale
    ``s_j`` per output, ``act_step_j = max(1 / (in_scale s_j), 1/16)`` and
    ``th_j = round(-bias_j act_step_j)``: the very numbers the golden ``predict`` computes.
    """

    def __init__(self, units: int, weight_bits: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.weight_bits = int(weight_bits)
        self.quantized = False

    def build(self, input_shape):
        cin = int(input_shape[-1])
        self._input_shape = tuple(input_shape)
        self.w = self.add_weight(name="kernel", shape=(cin, self.units),
                                 initializer="glorot_uniform")
        self.b = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.in_scale = self.add_weight(name="in_scale", shape=(), trainable=False,
                                        initializer=keras.initializers.Constant(1.0))

    def quantized_call(self, u):
        s = weight_scale(self.w, self.weight_bits, axis=-1)
        wq = quantize_weights(self.w, s, self.weight_bits)
        pot = tf.matmul(u, wq)
        A = tf.cast(self.in_scale, tf.float64) * tf.cast(s, tf.float64)
        step64 = tf.maximum(1.0 / A, 1.0 / 16.0)
        step = tf.cast(step64, tf.float32)
        th = tf.clip_by_value(round_ste(-tf.cast(self.b, tf.float64) * step64),
                              -THRESHOLD_LIMIT, THRESHOLD_LIMIT)
        logits = (pot - tf.cast(th, tf.float32)) / step
        return logits, {"kernels": [wq], "threshold": th, "act_step": step}

    def call(self, x, training=None):
        if self.quantized:
            return self.quantized_call(x)[0]
        return tf.matmul(x, self.w) + self.b

    def integer_params(self) -> dict:
        _, p = self.quantized_call(tf.zeros((1,) + self._input_shape[1:], tf.float32))
        w = np.rint(np.asarray(p["kernels"][0])).astype(np.int8)[None, None]
        th = np.asarray(p["threshold"])
        return {"weights": w, "threshold": th.astype(np.int32),
                "act_step": np.asarray(p["act_step"], np.float32)}

    def get_config(self):
        return {**super().get_config(), "units": self.units, "weight_bits": self.weight_bits}
