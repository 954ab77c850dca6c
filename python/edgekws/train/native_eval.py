"""The tutorial's native-learning accuracy, measured on a model while it trains.

The edge-learning tutorial replaces the Dense head by a 1-bit FullyConnected layer that
learns with Akida's rule (:mod:`edgekws.tutorial.edge_learning`). Which QAT epoch gives
the best spikes for that layer is not the epoch with the best Dense head, so
:func:`native_callback` runs the tutorial's offline learning at the end of every epoch,
exactly as the tutorial does (one pass over the training spikes in corpus order,
``neurons_per_class`` neurons per class, ``num_weights`` from the spike statistics of a
random 10 %), and logs its validation accuracy as ``val_native``; ``edgekws train
--select val_native`` keeps that epoch's weights.

The spikes come from the quantized Keras model, which the conversion check shows equal to
the golden model's bit for bit, so ``val_native`` is the number the tutorial reports on the
converted model (tested in ``tests/test_train_native_eval.py``).
"""
from __future__ import annotations

import numpy as np

from edgekws.tutorial.edge_learning import accuracy, learning_head, suggest_from_training

#: Metric name the callback adds to Keras' logs.
METRIC = "val_native"


def spikes_of(model, x, batch_size: int = 500) -> np.ndarray:
    """Output spikes (n, 1, 1, F) uint8 of a quantized :class:`~.model.DSCNN`."""
    if len(x) == 0:
        raise ValueError("spikes_of needs at least one sample")
    out = [model.quantized_outputs(np.asarray(x[i:i + batch_size], np.float32))[-2]
           for i in range(0, len(x), batch_size)]
    s = np.concatenate(out).reshape(len(x), -1)
    if s.max(initial=0) > 1:
        raise ValueError("the model's last block does not output 1-bit spikes "
                         f"(values up to {int(s.max())})")
    return s.astype(np.uint8).reshape(len(x), 1, 1, -1)


def native_accuracy(s_train, y_train, s_val, y_val, num_classes: int,
                    neurons_per_class: int = 15, learning_competition: float = 0.1,
                    seed: int = 0) -> tuple[float, int]:
    """Validation accuracy of the tutorial's offline native learning, and its num_weights."""
    _, k = suggest_from_training(s_train, seed)
    head = learning_head(s_train.shape[-1], num_classes, neurons_per_class, k,
                         learning_competition, seed)
    head.fit(s_train, np.asarray(y_train))
    return accuracy(head, s_val, np.asarray(y_val), num_classes), int(k)


def native_callback(base, x_train, y_train, x_val, y_val, num_classes: int, log=print,
                    **learning):
    """A Keras callback adding :data:`METRIC` (and ``native_num_weights``) to each epoch's
    logs; ``base`` is the quantized model whose spikes are scored (the trained model
    itself, or the one inside a prototype trainer). ``learning``: the keyword arguments
    of :func:`native_accuracy`."""
    import keras

    class NativeAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            acc, k = native_accuracy(spikes_of(base, x_train), y_train,
                                     spikes_of(base, x_val), y_val, num_classes, **learning)
            if logs is not None:
                logs[METRIC] = acc
                logs["native_num_weights"] = k
            log(f"epoch {epoch + 1}: native learning {100 * acc:.2f} % "
                f"(num_weights {k})")

    return NativeAccuracy()
