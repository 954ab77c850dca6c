"""The DS-CNN keyword spotter in Keras, and its float -> quantization-aware switch.

Architecture (the product's, see :func:`edgekws.golden.zoo.ds_cnn_kws`)::

    input 49x10x1 uint8 MFCC codes (float)
    conv_0       5x5 stride 2, 64, BN, ReLU      8-bit weights, 4-bit activations
    separable_1  3x3 dw + 1x1 pw, 64, BN, ReLU   4-bit weights, 4-bit activations
    separable_2  (same)
    separable_3  (same)
    separable_4  3x3 dw + 1x1 pw, 64, global average pool, BN, ReLU -> 1-bit spikes
    dense_5      Dense(num_classes) on the spikes, 4-bit weights

Usage::

    model = build_ds_cnn(num_classes)          # float mode
    compile_model(model, lr); model.fit(...)
    prepare_qat(model, x_calibration)          # equalise, pick steps, switch to quantized
    compile_model(model, lr / 10); model.fit(...)
    golden = edgekws.convert.to_golden(model)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgekws.checks import check_int

from .layers import QBlock, QConvBlock, QDense, QSeparableBlock
from .quant import best_step
from .tfsetup import tensorflow

tf = tensorflow()
import keras  # noqa: E402

INPUT_SHAPE = (49, 10, 1)
#: Input codes are uint8: one code is worth 1/255 in the float model.
INPUT_SCALE = 1.0 / 255.0


class DSCNN(keras.Model):
    """DS-CNN whose blocks run in float or in exact quantized mode (:attr:`quantized`).

    Parameters
    ----------
    num_classes : int
    filters : int
        Channels of every block (64 in the product; fewer for fast tests).
    input_shape : tuple of int
    """

    def __init__(self, num_classes: int, filters: int = 64, input_shape=INPUT_SHAPE,
                 name: str = "ds_cnn_kws", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = check_int("num_classes", num_classes, 2)
        self.filters = check_int("filters", filters)
        self.input_dims = tuple(int(v) for v in input_shape)
        self.blocks = [QConvBlock(self.filters, 5, 2, weight_bits=8, act_bits=4, name="conv_0")]
        for i in range(1, 4):
            self.blocks.append(QSeparableBlock(self.filters, 3, weight_bits=4, act_bits=4,
                                               name=f"separable_{i}"))
        self.blocks.append(QSeparableBlock(self.filters, 3, weight_bits=4, act_bits=1,
                                           pooled=True, name="separable_4"))
        self.dense = QDense(self.num_classes, weight_bits=4, name="dense_5")
        self._quantized = False
        self(np.zeros((1,) + self.input_dims, np.float32))  # build all weights
        self.blocks[0].in_scale.assign(INPUT_SCALE)

    @property
    def quantized(self) -> bool:
        return self._quantized

    @quantized.setter
    def quantized(self, value: bool) -> None:
        self._quantized = bool(value)
        for layer in self.blocks + [self.dense]:
            layer.quantized = self._quantized
        # Traced functions hold the old mode: force a re-trace.
        self.train_function = self.test_function = self.predict_function = None

    def call(self, x, training=None):
        h = x if self._quantized else x * INPUT_SCALE
        for block in self.blocks:
            h = block(h, training=training)
        return self.dense(h, training=training)

    def quantized_outputs(self, x) -> list[np.ndarray]:
        """Quantized mode: codes of every block (uint8) and the float32 logits."""
        if not self._quantized:
            raise ValueError("quantized_outputs needs a quantized model (prepare_qat first)")
        outs = []
        h = tf.convert_to_tensor(np.asarray(x, np.float32))
        for block in self.blocks:
            h = block.quantized_call(h)[0]
            outs.append(np.asarray(h).astype(np.uint8))
        outs.append(np.asarray(self.dense.quantized_call(h)[0]))
        return outs

    def config(self) -> dict:
        return {"num_classes": self.num_classes, "filters": self.filters,
                "input_shape": list(self.input_dims), "quantized": self._quantized}


def build_ds_cnn(num_classes: int, filters: int = 64, seed: int | None = None) -> DSCNN:
    """A float-mode :class:`DSCNN` (weights seeded by ``seed`` when given)."""
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    return DSCNN(num_classes, filters)


def compile_model(model: DSCNN, learning_rate=1e-3) -> DSCNN:
    """Adam + sparse cross-entropy on logits, accuracy metric, no XLA.

    ``learning_rate`` is a positive number or a Keras learning-rate schedule.
    """
    if isinstance(learning_rate, (int, float)) and not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, not {learning_rate!r}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    return model


def _batches(x, batch_size=256):
    for i in range(0, len(x), batch_size):
        yield tf.convert_to_tensor(np.asarray(x[i:i + batch_size], np.float32))


def _set_bn_statistics(block: QBlock, inputs) -> None:
    """Set the block's batch-norm moving mean/variance to the statistics on ``inputs``."""
    total, total_sq, count = 0.0, 0.0, 0
    for v in inputs:
        z = block.float_conv(v)
        if block.pooled:
            z = tf.reduce_mean(z, axis=[1, 2])
        z = np.asarray(z, np.float64).reshape(-1, block.filters)
        total = total + z.sum(axis=0)
        total_sq = total_sq + (z * z).sum(axis=0)
        count += z.shape[0]
    mean = total / count
    var = np.maximum(total_sq / count - mean * mean, 0.0)
    block.bn.moving_mean.assign(mean.astype(np.float32))
    block.bn.moving_variance.assign(var.astype(np.float32))


def prepare_qat(model: DSCNN, x_calibration, equalize: bool = True,
                recalibrate_bn: bool = True) -> dict:
    """Switch a float-trained model to quantized mode, ready for QAT.

    1. Cross-layer equalisation of the separable blocks (output unchanged).
    2. Block by block, with the previous blocks already quantized: (if
       ``recalibrate_bn``) the batch-norm moving statistics are replaced by the exact
       statistics of the block's input on ``x_calibration``, as the quantized layers
       below deliver it (they are frozen from then on); then the activation step
       that minimises the quantization error of the block's float ReLU output on
       ``x_calibration`` (:func:`~edgekws.train.quant.best_step`); the next block's
       ``in_scale`` is that step.
    3. ``model.quantized = True`` (the batch-norm statistics are frozen from now on).

    Returns
    -------
    dict
        ``{block name: out_step}``.
    """
    x = np.asarray(x_calibration, np.float32)
    if x.ndim != 4 or x.shape[1:] != model.input_dims or len(x) == 0:
        raise ValueError(f"calibration inputs must have shape (n, {model.input_dims}), "
                         f"n >= 1, not {x.shape}")
    if model.quantized:
        raise ValueError("the model is already quantized")
    if equalize:
        for block in model.blocks:
            if isinstance(block, QSeparableBlock):
                block.equalize()
    steps = {}
    codes = [b for b in _batches(x)]
    in_scale = INPUT_SCALE
    for block in model.blocks:
        block.in_scale.assign(in_scale)
        if recalibrate_bn:
            _set_bn_statistics(block, [c * in_scale for c in codes])
        pre = np.concatenate([np.asarray(block.preactivation(c * in_scale)) for c in codes])
        step = best_step(pre, block.act_bits)
        block.out_step.assign(step)
        steps[block.name] = step
        codes = [block.quantized_call(c)[0] for c in codes]
        in_scale = step
    model.dense.in_scale.assign(in_scale)
    model.quantized = True
    return steps


def save_keras(model: DSCNN, folder) -> Path:
    """Write ``model.weights.h5`` and ``model.json`` (architecture and mode) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(folder / "model.weights.h5")
    (folder / "model.json").write_text(json.dumps(model.config(), indent=2) + "\n")
    return folder


def load_keras(folder) -> DSCNN:
    """Read a model written by :func:`save_keras`."""
    folder = Path(folder)
    cfg_path = folder / "model.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"no Keras model in {str(folder)!r} (missing model.json)")
    cfg = json.loads(cfg_path.read_text())
    model = DSCNN(cfg["num_classes"], cfg["filters"], tuple(cfg["input_shape"]))
    model.load_weights(folder / "model.weights.h5")
    model.quantized = bool(cfg["quantized"])
    return model


__all__ = ["DSCNN", "QBlock", "build_ds_cnn", "compile_model", "prepare_qat", "save_keras",
           "load_keras", "INPUT_SHAPE", "INPUT_SCALE"]
