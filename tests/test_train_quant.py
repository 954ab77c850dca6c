"""Fake quantizers of edgekws.train.quant against the golden integer semantics."""
import numpy as np
import pytest

from edgekws.golden.quant import step_activation

tfq = pytest.importorskip("edgekws.train.quant")
tf = tfq.tf


def test_round_ste_value_is_exact_and_gradient_is_identity():
    x = tf.constant(np.linspace(-3.3, 3.7, 41) / 0.1, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tfq.round_ste(x)
    assert np.array_equal(np.asarray(y), np.round(np.asarray(x)))
    assert np.array_equal(np.asarray(tape.gradient(y, x)), np.ones(41, np.float32))


def test_quantize_weights_integers_in_range():
    w = tf.constant(np.random.default_rng(0).normal(0, 1, (3, 3, 8, 5)), tf.float32)
    s = tfq.weight_scale(w, 4, axis=-1)
    assert s.shape == (5,)
    q = np.asarray(tfq.quantize_weights(w, s, 4))
    assert np.array_equal(q, np.rint(q)) and q.min() >= -7 and q.max() <= 7
    # The largest weight of each output channel maps to +-7.
    assert np.array_equal(np.abs(q).max(axis=(0, 1, 2)), np.full(5, 7.0))
    assert tfq.weight_scale(w, 8).shape == ()
    with pytest.raises(ValueError, match="weight bits must be 2, 4 or 8, not 3"):
        tfq.qmax(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bits", [1, 4])
def test_step_activation_matches_golden(bits, dtype):
    rng = np.random.default_rng(bits)
    F = 32
    pot = rng.integers(-900_000, 900_000, (400, F)).astype(np.float64)
    pot[:200] //= 200      # small potentials too
    th_real = np.concatenate([rng.uniform(-3000, 3000, F // 2),
                              rng.uniform(-9e5, 9e5, F // 2)])
    sigma = np.exp(rng.uniform(np.log(0.01), np.log(60_000), F))
    q, th, k = tfq.step_activation_ste(tf.constant(pot.astype(dtype)), tf.constant(th_real),
                                       tf.constant(sigma), bits)
    assert q.dtype == dtype
    th, k = np.asarray(th), np.asarray(k)
    assert np.array_equal(th, np.rint(th)) and np.array_equal(k, np.rint(k)) and k.min() >= 1
    want = step_activation(pot.astype(np.int64), th.astype(np.int64), k / 16, bits)
    assert np.array_equal(np.asarray(q).astype(np.uint8), want)
    if bits == 1:
        # 1 bit: fires exactly above the real threshold.
        assert np.array_equal(want, (pot > th_real).astype(np.uint8))


def test_step_activation_gradient_is_clipped_relu():
    pot = tf.constant([[-100.0], [5.0], [40.0], [10_000.0]], tf.float64)
    th = tf.constant([0.0], tf.float64)
    sigma = tf.constant([10.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(pot)
        q, _, _ = tfq.step_activation_ste(pot, th, sigma, 4)
    g = np.asarray(tape.gradient(q, pot)).ravel()
    assert np.allclose(g, [0.0, 0.1, 0.1, 0.0])


def test_step_activation_rejects_other_widths():
    with pytest.raises(ValueError, match="activation bits must be 1 or 4, not 2"):
        tfq.step_activation_ste(tf.zeros((1, 1), tf.float64), tf.zeros(1, tf.float64),
                                tf.ones(1, tf.float64), 2)


def test_best_step():
    y = np.random.default_rng(0).uniform(0, 15, 50_000)
    step = tfq.best_step(y, 4)
    assert 0.9 < step < 1.1          # uniform on [0, 15]: one code per unit
    assert tfq.best_step(-np.ones(10), 4) == 1.0   # all-negative: any step, no error
    with pytest.raises(ValueError, match="finite"):
        tfq.best_step([1.0, np.nan], 4)
    with pytest.raises(ValueError, match="finite"):
        tfq.best_step([], 4)
