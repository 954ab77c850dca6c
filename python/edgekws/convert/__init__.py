"""Conversion of the quantized Keras DS-CNN to the golden integer model, and its check.

::

    from edgekws.convert import to_golden, compare
    golden = to_golden(keras_model)                 # edgekws.golden.Model
    report = compare(keras_model, golden, x_uint8)  # per-layer and class agreement

    golden = convert(keras_sequential)              # any quantized stack of edgekws blocks

See :mod:`edgekws.convert.from_keras` for the mapping and
:mod:`edgekws.convert.sequential` for the layers :func:`convert` takes.
"""
from .from_keras import ConversionError, compare, to_golden
from .sequential import convert

__all__ = ["to_golden", "compare", "convert", "ConversionError"]
