"""The Keras DS-CNN: float/quantized modes, equalisation, calibration, files, errors."""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgekws.golden.zoo import mfcc_like_inputs  # noqa: E402
from edgekws.train.model import (DSCNN, build_ds_cnn, load_keras, prepare_qat,  # noqa: E402
                                 save_keras)


@pytest.fixture(scope="module")
def x():
    return mfcc_like_inputs(120, seed=1)


def test_shapes_and_names():
    m = build_ds_cnn(7, filters=8, seed=0)
    assert [b.name for b in m.blocks] == ["conv_0", "separable_1", "separable_2",
                                          "separable_3", "separable_4"]
    out = m(np.zeros((2, 49, 10, 1), np.float32))
    assert out.shape == (2, 7)
    assert m.blocks[0].w.shape == (5, 5, 1, 8)
    assert m.blocks[4].wd.shape == (3, 3, 8, 1) and m.blocks[4].wp.shape == (1, 1, 8, 8)


def test_equalize_keeps_the_float_output(x):
    m = build_ds_cnn(3, filters=8, seed=1)
    blk = m.blocks[1]
    blk.wd.assign(blk.wd.numpy() * np.linspace(0.1, 3, 8)[None, None, :, None])
    h = np.asarray(m.blocks[0](x[:20].astype(np.float32) / 255))
    before = np.asarray(blk.float_conv(h))
    r = blk.equalize()
    after = np.asarray(blk.float_conv(h))
    assert not np.allclose(r, 1.0)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)
    rd = np.abs(blk.wd.numpy()).max(axis=(0, 1, 3))
    rp = np.abs(blk.wp.numpy()).max(axis=(0, 1, 3))
    np.testing.assert_allclose(rd, rp, rtol=1e-5)


def test_prepare_qat_sets_steps_and_mode(x):
    m = build_ds_cnn(3, filters=8, seed=2)
    steps = prepare_qat(m, x)
    assert m.quantized and all(layer.quantized for layer in m.blocks + [m.dense])
    assert list(steps) == [b.name for b in m.blocks] and min(steps.values()) > 0
    # Each block's input step is the previous block's output step.
    for prev, nxt in zip(m.blocks, m.blocks[1:]):
        assert float(nxt.in_scale) == pytest.approx(float(prev.out_step))
    assert float(m.dense.in_scale) == pytest.approx(float(m.blocks[-1].out_step))
    codes = m.quantized_outputs(x[:10].astype(np.float32))
    assert [c.dtype for c in codes[:5]] == [np.uint8] * 5
    assert codes[0].max() <= 15 and codes[4].max() <= 1 and codes[4].shape == (10, 8)


def test_prepare_qat_errors(x):
    m = build_ds_cnn(3, filters=4, seed=0)
    with pytest.raises(ValueError, match=r"calibration inputs must have shape"):
        prepare_qat(m, x[:, :40])
    prepare_qat(m, x[:20])
    with pytest.raises(ValueError, match="already quantized"):
        prepare_qat(m, x[:20])


def test_build_errors():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, not 1"):
        DSCNN(1)
    with pytest.raises(ValueError, match="filters must be a positive integer, not 0"):
        DSCNN(3, filters=0)
    with pytest.raises(ValueError, match="quantized_outputs needs a quantized model"):
        build_ds_cnn(3, filters=4).quantized_outputs(np.zeros((1, 49, 10, 1)))


def test_keras_files_round_trip(x, tmp_path):
    m = build_ds_cnn(3, filters=8, seed=4)
    prepare_qat(m, x[:40])
    save_keras(m, tmp_path / "k")
    back = load_keras(tmp_path / "k")
    assert back.quantized
    a = m.quantized_outputs(x[:30].astype(np.float32))
    b = back.quantized_outputs(x[:30].astype(np.float32))
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    with pytest.raises(FileNotFoundError, match="missing model.json"):
        load_keras(tmp_path / "nowhere")


def test_saturating_sum_matches_golden():
    from edgekws.golden import ops
    from edgekws.train.layers import saturating_sum, tf

    rng = np.random.default_rng(0)
    pot = rng.integers(-30000, 40000, (20, 25, 5, 6)).astype(np.int64)
    # Channel 0 of sample 0: the running sum saturates, then comes back down; a clip of
    # the final sum would give a different value.
    pot[0, :, :, 0] = 10000
    pot[0, 20:, :, 0] = -10000
    want = ops.global_sum_saturating(pot).reshape(20, 6)
    assert want[0, 0] == 524287 - 25 * 10000
    got = np.asarray(saturating_sum(tf.constant(pot, tf.float64)))
    assert np.array_equal(got, want)
    small = pot // 100   # no saturation: the fast path
    got = np.asarray(saturating_sum(tf.constant(small, tf.float64)))
    assert np.array_equal(got, small.sum(axis=(1, 2)))
