"""Golden model: the integer semantics of Akida 1.0, bit-exact with the akida engine.

The API mirrors the ``akida`` Python package::

    from edgekws.golden import Model, InputData, FullyConnected, AkidaUnsupervised
    model = Model()
    model.add(InputData((1, 1, 64), input_bits=1))
    model.add(FullyConnected(33 * 15, activation=False))
    model.compile(AkidaUnsupervised(num_weights=26, num_classes=33))
    model.fit(spikes, labels)
    model.predict_classes(spikes, num_classes=33)

Akida 1.0 models of the ``akida`` package come in with ``from_akida(model_or_path)`` and
go back with ``to_akida(model)``.

See ``../shared/akida-v1-semantics.md`` for the rules and ``docs/golden.md`` for where
this model differs from the engine on purpose.
"""
from .akida_api import LayerParams, LayerType, Statistics, Variables
from .fileformat import ModelFileError
from .interop import from_akida, to_akida
from .layers import (FullyConnected, InputConvolutional, InputData, Layer, Padding, PoolType,
                     SeparableConvolutional)
from .learning import LearningParams, LearningState
from .model import AkidaUnsupervised, Model

__all__ = ["Model", "InputData", "InputConvolutional", "SeparableConvolutional",
           "FullyConnected", "Layer", "Padding", "PoolType", "AkidaUnsupervised",
           "LearningParams", "LearningState", "ModelFileError", "LayerType", "LayerParams",
           "Variables", "Statistics", "from_akida", "to_akida"]
