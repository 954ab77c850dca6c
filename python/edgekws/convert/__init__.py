"""Conversion of the quantized Keras DS-CNN to the golden integer model, and its check.

::

    from edgekws.convert import to_golden, compare
    golden = to_golden(keras_model)                 # edgekws.golden.Model
    report = compare(keras_model, golden, x_uint8)  # per-layer and class agreement

See :mod:`edgekws.convert.from_keras` for the mapping.
"""
from .from_keras import ConversionError, compare, to_golden

__all__ = ["to_golden", "compare", "ConversionError"]
