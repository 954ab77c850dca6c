"""cnn2snn-style conversion: any quantized Keras Sequential of edgekws blocks -> golden model.

The supported Keras layers are the quantizable blocks of :mod:`edgekws.train.layers`, each of
which computes exactly one Akida 1.0 layer in quantized mode:

=====================  ==========================================================
Keras layer            golden layer
=====================  ==========================================================
``QConvBlock``         ``InputConvolutional`` (first layer only; Same padding)
``QSeparableBlock``    ``SeparableConvolutional`` (stride 1, Same padding)
``QDense``             ``FullyConnected`` without activation (last layer only, after a
                       globally pooled block)
=====================  ==========================================================

Block sizes, strides, bit widths and pooling are read from each layer, so any stack of
these (not only the product's DS-CNN) converts; the first layer of another type is named
in a :class:`~edgekws.convert.ConversionError`.
"""
from __future__ import annotations

from edgekws.golden import (FullyConnected, InputConvolutional, Model, Padding, PoolType,
                            SeparableConvolutional)

from .from_keras import ConversionError

SUPPORTED = ("QConvBlock", "QSeparableBlock", "QDense")


def _keras_layers(keras_model) -> list:
    from edgekws.train.model import DSCNN
    from edgekws.train.tfsetup import tensorflow
    tensorflow()
    import keras
    if isinstance(keras_model, DSCNN):
        return [*keras_model.blocks, keras_model.dense]
    if not isinstance(keras_model, keras.Sequential):
        raise ConversionError(f"convert takes a keras.Sequential (or an edgekws DSCNN), not "
                              f"{type(keras_model).__name__}")
    return [layer for layer in keras_model.layers
            if not isinstance(layer, keras.layers.InputLayer)]


def _golden_layer(layer, index: int, count: int):
    """The golden layer of Keras ``layer``, the ``index``-th of ``count``."""
    kind = type(layer).__name__
    where = f"layer {layer.name!r} ({kind})"
    if kind not in SUPPORTED:
        raise ConversionError(f"{where} cannot be converted: the supported layer types are "
                              f"{', '.join(SUPPORTED)} (edgekws.train.layers)")
    if (index == 0) != (kind == "QConvBlock"):
        raise ConversionError(f"{where}: a QConvBlock (Akida's InputConvolutional) must be "
                              "the first layer, and only the first")
    if kind == "QDense" and index != count - 1:
        raise ConversionError(f"{where}: QDense must be the last layer")
    if kind == "QDense" and len(layer._input_shape) != 2:
        raise ConversionError(f"{where} takes a spatial input {layer._input_shape}: it "
                              "must follow a pooled block (pooled=True)")
    if not getattr(layer, "quantized", False):
        raise ConversionError(f"{where} is in float mode: quantize the model first, so that "
                              "its forward pass is the integer one")
    if kind == "QDense":
        return FullyConnected(layer.units, name=layer.name, weights_bits=layer.weight_bits,
                              activation=False)
    conv = dict(filters=layer.filters, name=layer.name, padding=Padding.Same,
                weights_bits=layer.weight_bits, act_bits=layer.act_bits,
                pool_type=PoolType.Average if layer.pooled else PoolType.NoPooling)
    k = (layer.kernel, layer.kernel)
    if kind == "QConvBlock":
        return InputConvolutional(tuple(int(v) for v in layer._input_shape[1:]), k,
                                  kernel_stride=(layer.strides, layer.strides), **conv)
    return SeparableConvolutional(k, **conv)


def convert(keras_model) -> Model:
    """The golden :class:`~edgekws.golden.Model` of a quantized Keras model.

    Parameters
    ----------
    keras_model : keras.Sequential or edgekws.train.model.DSCNN
        Built, in quantized mode, made of ``QConvBlock`` (first), ``QSeparableBlock`` and
        an optional last ``QDense``.

    Returns
    -------
    edgekws.golden.Model
        Whose ``forward`` gives the blocks' integer codes and whose ``predict`` gives the
        Keras logits, bit for bit.

    Raises
    ------
    ConversionError
        Naming the first layer that cannot be converted, and why.
    """
    layers = _keras_layers(keras_model)
    if not layers:
        raise ConversionError("the Keras model has no layers")
    golden = Model()
    for i, layer in enumerate(layers):
        g = _golden_layer(layer, i, len(layers))
        try:
            golden.add(g)
            for name, value in layer.integer_params().items():
                g.set_variable(name, value)
        except (ValueError, TypeError) as exc:
            raise ConversionError(f"layer {layer.name!r} ({type(layer).__name__}): "
                                  f"{exc}") from None
    return golden
