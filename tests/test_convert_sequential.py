"""cnn2snn-style ``convert()``: a quantized Keras Sequential that is not the DS-CNN, exactly.

The Sequential here has another input shape, kernel sizes, strides, widths and depth than
the product's DS-CNN; it is calibrated as ``prepare_qat`` does, converted, and its block
codes and logits must equal the golden model's bit for bit. Unsupported layers are refused
by name.
"""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgekws.convert import ConversionError, convert  # noqa: E402
from edgekws.train.layers import QConvBlock, QDense, QSeparableBlock  # noqa: E402
from edgekws.train.model import INPUT_SCALE, _set_bn_statistics  # noqa: E402
from edgekws.train.quant import best_step  # noqa: E402
from edgekws.train.tfsetup import tensorflow  # noqa: E402

tf = tensorflow()
import keras  # noqa: E402

SHAPE = (21, 9, 2)


def _blocks():
    return [QConvBlock(6, kernel=3, strides=1, weight_bits=8, act_bits=1, name="c0"),
            QSeparableBlock(10, kernel=5, weight_bits=4, act_bits=4, name="s1"),
            QSeparableBlock(7, kernel=3, weight_bits=4, act_bits=4, name="s2"),
            QSeparableBlock(12, kernel=1, weight_bits=4, act_bits=1, pooled=True, name="s3")]


def _quantize(model, blocks, dense, x, rng):
    """What prepare_qat does for the DS-CNN, on any stack of blocks."""
    for block in blocks:
        f = block.filters
        gamma = rng.uniform(0.5, 2.0, f) * np.where(rng.random(f) < 0.3, -1, 1)
        block.bn.gamma.assign(gamma.astype(np.float32))
        block.bn.beta.assign(rng.normal(0, 0.5, f).astype(np.float32))
    codes, in_scale = [tf.convert_to_tensor(x.astype(np.float32))], INPUT_SCALE
    for block in blocks:
        block.in_scale.assign(in_scale)
        _set_bn_statistics(block, [c * in_scale for c in codes])
        pre = np.concatenate([np.asarray(block.preactivation(c * in_scale)) for c in codes])
        block.out_step.assign(best_step(pre, block.act_bits))
        codes = [block.quantized_call(c)[0] for c in codes]
        in_scale = float(block.out_step.numpy())
        block.quantized = True
    if dense is not None:
        dense.in_scale.assign(in_scale)
        dense.quantized = True


@pytest.fixture(scope="module")
def sequential():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    blocks, dense = _blocks(), QDense(4, weight_bits=4, name="d4")
    model = keras.Sequential([keras.Input(SHAPE), *blocks, dense])
    x = rng.integers(0, 256, (120, *SHAPE)).astype(np.uint8)
    _quantize(model, blocks, dense, x[:80], rng)
    return model, blocks, x


def test_any_sequential_of_supported_blocks_converts_exactly(sequential):
    model, blocks, x = sequential
    golden = convert(model)
    assert [l.kind for l in golden.layers] == ["InputConv.", "Sep.Conv.", "Sep.Conv.",
                                               "Sep.Conv.", "Fully."]
    assert golden.layers[1].kernel_size == (5, 5) and golden.input_shape == list(SHAPE)
    h, g = tf.convert_to_tensor(x.astype(np.float32)), x
    for block, layer in zip(blocks, golden.layers):
        h, g = block.quantized_call(h)[0], layer.call(g)
        k = np.asarray(h).astype(np.uint8).reshape(g.shape)
        assert 0.02 < (k > 0).mean() < 0.98, f"{block.name} should be lively"
        np.testing.assert_array_equal(k, g, err_msg=block.name)
    logits = np.asarray(model(x.astype(np.float32)))
    np.testing.assert_array_equal(logits, golden.predict(x).reshape(len(x), -1))


def test_a_sequential_without_dense_ends_with_spikes(sequential):
    _, blocks, x = sequential
    golden = convert(keras.Sequential(blocks))
    assert golden.output_shape == [1, 1, 12] and golden.layers[-1].act_bits == 1
    h = tf.convert_to_tensor(x.astype(np.float32))
    for block in blocks:
        h = block.quantized_call(h)[0]
    np.testing.assert_array_equal(np.asarray(h).astype(np.uint8),
                                  golden.forward(x).reshape(len(x), -1))


@pytest.mark.parametrize("build, msg", [
    (lambda b: [b[0], keras.layers.Flatten(name="flat"), QDense(3, name="d")],
     r"layer 'flat' \(Flatten\) cannot be converted: the supported layer types are "
     "QConvBlock, QSeparableBlock, QDense"),
    (lambda b: [b[0], b[1], keras.layers.Dropout(0.1, name="drop"), b[2]],
     r"layer 'drop' \(Dropout\) cannot be converted"),
    (lambda b: [QSeparableBlock(4, name="s9"), b[0]], r"layer 's9' \(QSeparableBlock\): a "
                                                     r"QConvBlock .* must be the first layer"),
    (lambda b: [*b, QDense(3, name="d")],
     r"layer 'd' \(QDense\) is in float mode: quantize the model first"),
    (lambda b: [*b, QDense(3, name="d"), QDense(3, name="e")],
     r"layer 'd' \(QDense\): QDense must be the last layer"),
])
def test_the_first_unsupported_layer_is_named(sequential, build, msg):
    _, blocks, _ = sequential
    layers = build(blocks)
    model = keras.Sequential([keras.Input(SHAPE), *layers])
    with pytest.raises(ConversionError, match=msg):
        convert(model)


def test_dense_after_a_spatial_block_is_refused(sequential):
    _, blocks, x = sequential
    dense = QDense(3, name="d")
    model = keras.Sequential([keras.Input(SHAPE), blocks[0], blocks[1], dense])
    dense.quantized = True
    with pytest.raises(ConversionError, match=r"layer 'd' \(QDense\) takes a spatial input "
                                              r"\(None, 21, 9, 10\): it must follow a pooled"):
        convert(model)
    with pytest.raises(ConversionError, match="takes a keras.Sequential .* not dict"):
        convert({})
