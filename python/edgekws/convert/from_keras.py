"""Quantized Keras DS-CNN (:class:`edgekws.train.model.DSCNN`) -> golden integer model.

Mapping, block by block (the arithmetic is in :mod:`edgekws.train.layers`):

* weights: the integers ``round(W / s)`` of the forward pass; the scales ``s`` (one per
  output channel for conv_0, the pointwise kernels and dense_5; one per depthwise kernel)
  and the folded batch norm live in the threshold and the act_step;
* a negative batch-norm scale flips the sign of that output channel's weights (the
  conv_0 kernel or the pointwise column), so the activation still grows with ``pot``;
* the depthwise kernel is flipped in both spatial axes: Akida's depthwise step is a true
  convolution, Keras's a cross-correlation;
* global average pooling is Akida's 20-bit saturating *sum*: the folded scale is divided
  by the 125 positions, so the threshold lives on the scale of the sum;
* the act_step is ``k / 16`` with the very integer ``k`` used in the forward pass, so the
  engine's truncation to 1/16 changes nothing; thresholds are the forward pass's integers;
* dense_5 becomes a FullyConnected without activation whose ``predict``,
  ``(pot - th) / act_step`` in float32, is the Keras model's logits bit for bit.

The pooled sum saturates to 20 bits after every addition in both models
(:func:`edgekws.train.layers.saturating_sum`); :func:`compare` counts the samples where
that saturation happened (information is lost there, in both models alike).
"""
from __future__ import annotations

import numpy as np

from edgekws.golden import Model
from edgekws.golden.quant import POT_MAX, POT_MIN
from edgekws.golden.zoo import ds_cnn_kws


class ConversionError(ValueError):
    """The Keras model cannot be converted (not quantized, wrong architecture...)."""


def _check_model(keras_model):
    from edgekws.train.model import DSCNN

    if not isinstance(keras_model, DSCNN):
        raise ConversionError(f"can only convert an edgekws.train DSCNN, not "
                              f"{type(keras_model).__name__}")
    if not keras_model.quantized:
        raise ConversionError("the Keras model is in float mode: quantize it first "
                              "(edgekws.train.model.prepare_qat) so that its forward pass "
                              "is the integer one")
    if tuple(keras_model.input_dims) != (49, 10, 1):
        raise ConversionError(f"the golden DS-CNN takes 49x10x1 inputs, the Keras model "
                              f"{keras_model.input_dims}")


def to_golden(keras_model, learning_units: bool = False) -> Model:
    """The golden :class:`~edgekws.golden.Model` of a quantized Keras DS-CNN.

    Parameters
    ----------
    keras_model : edgekws.train.model.DSCNN
        In quantized mode.
    learning_units : bool
        Leave out dense_5 and end with a binary, learning-ready FullyConnected of
        ``num_classes`` units instead (weights to be set by ``compile``).
    """
    _check_model(keras_model)
    units = keras_model.num_classes
    golden = ds_cnn_kws(units, filters=keras_model.filters, learning_units=learning_units)
    for block in keras_model.blocks:
        layer = golden.get_layer(block.name)
        for name, value in block.integer_params().items():
            try:
                layer.set_variable(name, value)
            except (ValueError, TypeError) as exc:
                raise ConversionError(f"block {block.name!r}: {exc}") from None
    if not learning_units:
        params = keras_model.dense.integer_params()
        step = params["act_step"]
        if step.min() < 1 / 16:
            raise ConversionError(f"dense_5 act_step {step.min()} is below 1/16")
        layer = golden.get_layer("dense_5")
        for name, value in params.items():
            layer.set_variable(name, value)
    return golden


def _pooled_sum_risk(golden, x) -> np.ndarray:
    """Samples whose separable_4 running sum leaves the 20-bit range."""
    layers = golden.layers
    h = x
    for layer in layers:
        if layer.name == "separable_4":
            from edgekws.golden import ops
            pot = ops.separable_conv(h, layer.get_variable("weights"),
                                     layer.get_variable("weights_pw"), layer.kernel_stride,
                                     True, (1 << layer.input_bits) - 1)
            n, ox, oy, F = pot.shape
            prefix = np.cumsum(pot.reshape(n, ox * oy, F).astype(np.int64), axis=1)
            return ((prefix.max(axis=1) > POT_MAX) | (prefix.min(axis=1) < POT_MIN)).any(axis=1)
        h = layer.call(h)
    return np.zeros(len(x), bool)


def compare(keras_model, golden: Model, x, labels=None, batch_size: int = 500) -> dict:
    """Agreement between the quantized Keras model and the golden model on ``x``.

    Parameters
    ----------
    keras_model : DSCNN, quantized
    golden : edgekws.golden.Model
        From :func:`to_golden` (with dense_5).
    x : numpy.ndarray
        uint8 ``(n, 49, 10, 1)``.
    labels : array_like of int, optional
        When given, both accuracies are reported too.

    Returns
    -------
    dict
        ``samples``; ``layers``: per block, the fraction of equal activations and of
        samples whose activations are all equal; ``logits_equal`` (fraction of samples
        with bit-identical logits); ``class_agreement``; ``keras_accuracy`` and
        ``golden_accuracy`` with labels; ``pool_saturation_samples``; ``mismatch_indices``
        (first 20 samples whose class differs).
    """
    _check_model(keras_model)
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise ValueError(f"inputs must be uint8 MFCC codes, not {x.dtype}")
    names = [b.name for b in keras_model.blocks]
    equal = {n: 0 for n in names}
    sample_equal = {n: 0 for n in names}
    total = {n: 0 for n in names}
    logits_equal = 0
    k_cls, g_cls = [], []
    sat = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        k_outs = keras_model.quantized_outputs(xb.astype(np.float32))
        h = xb
        for layer, k_out in zip(golden.layers, k_outs):
            h = layer.call(h)
            if layer.name in equal:
                g = h.reshape(k_out.shape)
                same = g == k_out
                equal[layer.name] += int(same.sum())
                total[layer.name] += same.size
                sample_equal[layer.name] += int(same.reshape(len(xb), -1).all(axis=1).sum())
        g_logits = golden.predict(xb).reshape(len(xb), -1)
        k_logits = k_outs[-1]
        logits_equal += int((g_logits == k_logits).all(axis=1).sum())
        k_cls.append(np.argmax(k_logits, axis=1))
        g_cls.append(np.argmax(g_logits, axis=1))
        sat.append(_pooled_sum_risk(golden, xb))
    n = len(x)
    k_cls, g_cls, sat = np.concatenate(k_cls), np.concatenate(g_cls), np.concatenate(sat)
    out = {
        "samples": n,
        "layers": {name: {"activation_agreement": equal[name] / max(total[name], 1),
                          "sample_agreement": sample_equal[name] / max(n, 1)}
                   for name in names},
        "logits_equal": logits_equal / max(n, 1),
        "class_agreement": float(np.mean(k_cls == g_cls)) if n else 1.0,
        "pool_saturation_samples": int(sat.sum()),
        "mismatch_indices": np.nonzero(k_cls != g_cls)[0][:20].tolist(),
    }
    if labels is not None:
        y = np.asarray(labels).ravel()
        if y.shape != (n,):
            raise ValueError(f"labels must have {n} entries, not {y.shape}")
        out["keras_accuracy"] = float(np.mean(k_cls == y))
        out["golden_accuracy"] = float(np.mean(g_cls == y))
    return out
