"""Golden model: the integer semantics of Akida 1.0, bit-exact with the akida engine.

The API mirrors the ``akida`` Python package::

    from edgekws.golden import Model, InputData, FullyConnected, AkidaUnsupervised
    model = Model()
    model.add(InputData((1, 1, 64), input_bits=1))
    model.add(FullyConnected(33 * 15, activation=False))
    model.compile(AkidaUnsupervised(num_weights=26, num_classes=33))
    model.fit(spikes, labels)
    model.predict_classes(spikes, num_classes=33)

See ``../shared/akida-v1-semantics.md`` for the rules and ``docs/golden.md`` for where
this model differs from the engine on purpose.
"""
from .fileformat import ModelFileError
from .layers import (FullyConnected, InputConvolutional, InputData, Layer, Padding, PoolType,
                     SeparableConvolutional)
from .learning import LearningParams, LearningState
from .model import AkidaUnsupervised, Model

__all__ = ["Model", "InputData", "InputConvolutional", "SeparableConvolutional",
           "FullyConnected", "Layer", "Padding", "PoolType", "AkidaUnsupervised",
           "LearningParams", "LearningState", "ModelFileError"]
