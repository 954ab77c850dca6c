"""Auxiliary "prototype" head: trains the feature extractor for 1-bit template matching.

The edge-learning layer (Akida's native learning, :mod:`edgekws.golden.learning`) scores a
sample by the best of its class's neurons, a neuron's potential being the number of the
sample's spikes that fall on its ``num_weights`` binary weights. The Dense head that QAT
trains can use negative weights and 4-bit magnitudes instead, so an extractor trained for
it alone need not make that binary overlap count discriminative. This head does the
native layer's computation in a differentiable way, and its cross-entropy is added to the
Dense head's during QAT (:class:`PrototypeTrainer`):

* every class has ``per_class`` prototypes; prototype ``j`` is a real vector ``v_j``
  whose ``k`` largest entries are its binary weights (``k = num_weights``, or
  ``int(1.2 x median spikes)`` of the batch, as the tutorial picks it);
* the forward pass uses the exact binary weights; the gradient flows through
  ``sigmoid((v - t_j) / temperature)`` (``t_j`` the ``k``-th largest entry of ``v_j``,
  held constant), a straight-through estimator;
* the class score is a soft maximum over the class's prototypes,
  ``logsumexp(pot / softness) * softness``, times a learned positive scale.

The spikes reach the head through the quantized ``separable_4`` block, whose
straight-through step activation passes the gradient on to the extractor.
"""
from __future__ import annotations

import numpy as np

from edgekws.checks import check_int, check_number

from .quant import straight_through
from .tfsetup import tensorflow

tf = tensorflow()
import keras  # noqa: E402  (after the thread set-up)


def batch_num_weights(spikes, factor: float = 1.2):
    """``int(factor x median spikes per sample)`` of a batch, at least 1 (int32 tensor)."""
    counts = tf.sort(tf.reduce_sum(tf.cast(spikes, tf.float32), axis=1))
    n = tf.shape(counts)[0]
    median = 0.5 * (tf.gather(counts, (n - 1) // 2) + tf.gather(counts, n // 2))
    k = tf.cast(tf.floor(factor * median), tf.int32)
    return tf.clip_by_value(k, 1, tf.shape(spikes)[1])


def binary_top_k(v, k, temperature: float):
    """Per column of ``v`` (F, N): 1 on its ``k`` largest entries, else 0, with the
    gradient of ``sigmoid((v - t) / temperature)`` (``t`` the k-th largest, constant)."""
    vt = tf.transpose(v)                                   # (N, F)
    ranked = tf.sort(vt, axis=1, direction="DESCENDING")
    t = tf.stop_gradient(tf.gather(ranked, k - 1, axis=1))[:, None]
    hard = tf.cast(vt >= t, v.dtype)
    soft = tf.sigmoid((vt - t) / temperature)
    return tf.transpose(straight_through(hard, soft))


class PrototypeHead(keras.layers.Layer):
    """Class scores of 1-bit spikes from binary prototypes (see the module docstring).

    Parameters
    ----------
    num_classes : int
    per_class : int
        Prototypes per class (the tutorial's neurons per class, 15).
    num_weights : int or None
        Ones per prototype; None: ``int(1.2 x median spikes)`` of each batch.
    temperature : float
        Width of the sigmoid that carries the prototypes' gradient.
    softness : float
        Temperature of the soft maximum over a class's prototypes (in spike counts).
    """

    def __init__(self, num_classes: int, per_class: int = 15, num_weights: int | None = None,
                 temperature: float = 0.1, softness: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int("num_classes", num_classes)
        self.per_class = check_int("per_class", per_class)
        self.num_weights = None if num_weights is None else check_int(
            "num_weights", num_weights, expected="a positive integer or None")
        for name, v in (("temperature", temperature), ("softness", softness)):
            check_number(name, v, "> 0", above=0)
        self.temperature = float(temperature)
        self.softness = float(softness)

    def build(self, input_shape):
        f = int(input_shape[-1])
        if self.num_weights is not None and self.num_weights > f:
            raise ValueError(f"num_weights must be at most the {f} inputs, "
                             f"not {self.num_weights!r}")
        self.v = self.add_weight(name="prototypes", shape=(f, self.num_classes * self.per_class),
                                 initializer=keras.initializers.RandomNormal(stddev=0.1))
        self.log_scale = self.add_weight(name="log_scale", shape=(),
                                         initializer="zeros")

    def init_from_samples(self, spikes, labels, seed=0) -> None:
        """Prototype ``j`` of class ``c`` starts at a random class-``c`` sample's spikes
        (centred, plus a little noise), like a native neuron after its first sample."""
        spikes = np.asarray(spikes, np.float32).reshape(len(spikes), -1)
        labels = np.asarray(labels).reshape(-1)
        rng = np.random.default_rng(seed)
        f, n = self.v.shape
        if spikes.shape[1] != f:
            raise ValueError(f"spikes must have {f} columns, not {spikes.shape[1]}")
        v = rng.normal(0.0, 0.05, (f, n)).astype(np.float32)
        for c in range(self.num_classes):
            idx = np.flatnonzero(labels == c)
            if not len(idx):
                continue
            pick = rng.choice(idx, self.per_class, replace=len(idx) < self.per_class)
            v[:, c * self.per_class:(c + 1) * self.per_class] += (spikes[pick] - 0.5).T
        self.v.assign(v)

    def weights_binary(self, k):
        return binary_top_k(self.v, k, self.temperature)

    def call(self, spikes):
        x = tf.cast(spikes, tf.float32)
        k = self.num_weights if self.num_weights is not None else batch_num_weights(x)
        pot = tf.matmul(x, self.weights_binary(k))                  # (n, K m)
        pot = tf.reshape(pot, (-1, self.num_classes, self.per_class))
        score = self.softness * tf.reduce_logsumexp(pot / self.softness, axis=2)
        return tf.exp(self.log_scale) * score

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "per_class": self.per_class, "num_weights": self.num_weights,
                "temperature": self.temperature, "softness": self.softness}


class PrototypeTrainer(keras.Model):
    """Trains a quantized :class:`~edgekws.train.model.DSCNN` with the loss
    ``CE(Dense head) + weight x CE(prototype head)``; predicts with the Dense head only, so
    validation metrics (and the best-epoch choice) are the model's own."""

    def __init__(self, base, head: PrototypeHead, weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not base.quantized:
            raise ValueError("the prototype head trains a quantized model (prepare_qat first)")
        if not isinstance(weight, (int, float)) or not weight > 0:
            raise ValueError(f"weight must be > 0, not {weight!r}")
        self.base = base
        self.head = head
        self.weight = float(weight)
        self.aux_tracker = keras.metrics.Mean(name="proto_loss")
        self._ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def build(self, input_shape):
        # Both parts are built already (the model by its constructor, the head by the
        # caller or its first call).
        self.built = True

    def spikes(self, x, training=None):
        h = x
        for block in self.base.blocks:
            h = block(h, training=training)
        return h

    def call(self, x, training=None):
        return self.base(x, training=training)

    def train_step(self, data):
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            s = self.spikes(x, training=True)
            y_pred = self.base.dense(s, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=None,
                                      training=True)
            aux = self._ce(y, self.head(s))
            total = loss + self.weight * aux
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        self.aux_tracker.update_state(aux)
        variables = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        out = self.compute_metrics(x, y, y_pred)
        return {**out, "proto_loss": self.aux_tracker.result()}

    @property
    def metrics(self):
        return super().metrics + [self.aux_tracker]


__all__ = ["PrototypeHead", "PrototypeTrainer", "binary_top_k", "batch_num_weights"]
