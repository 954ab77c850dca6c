"""The prototype head (binary templates for the edge-learning layer) and its QAT trainer."""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

import tensorflow as tf  # noqa: E402

from edgekws.golden.zoo import mfcc_like_inputs  # noqa: E402
from edgekws.train.model import build_ds_cnn, prepare_qat  # noqa: E402
from edgekws.train.pipeline import TrainConfig  # noqa: E402
from edgekws.train.prototype import (PrototypeHead, PrototypeTrainer,  # noqa: E402
                                     batch_num_weights, binary_top_k)


def _mask(v, k):
    """numpy model: 1 on the k largest entries of each column."""
    out = np.zeros_like(v)
    for j in range(v.shape[1]):
        out[np.argsort(-v[:, j])[:k], j] = 1
    return out


def test_binary_top_k_forward_and_gradient():
    rng = np.random.default_rng(0)
    v = tf.Variable(rng.normal(size=(16, 6)).astype(np.float32))
    with tf.GradientTape() as tape:
        b = binary_top_k(v, 5, 0.1)
        loss = tf.reduce_sum(b * rng.normal(size=(16, 6)).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(b), _mask(v.numpy(), 5))
    g = np.asarray(tape.gradient(loss, v))
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_batch_num_weights_is_the_tutorial_rule():
    rng = np.random.default_rng(1)
    for n in (7, 8):
        s = (rng.random((n, 64)) < rng.uniform(0.1, 0.5, (n, 1))).astype(np.float32)
        assert int(batch_num_weights(s)) == int(1.2 * np.median(s.sum(axis=1)))
    assert int(batch_num_weights(np.zeros((4, 8), np.float32))) == 1
    assert int(batch_num_weights(np.ones((4, 8), np.float32))) == 8


@pytest.mark.parametrize("num_weights", [6, None])
def test_head_scores_match_a_numpy_model(num_weights):
    rng = np.random.default_rng(2)
    head = PrototypeHead(3, 4, num_weights=num_weights, softness=0.5, name="p")
    head.build((None, 20))
    head.v.assign(rng.normal(size=(20, 12)).astype(np.float32))
    head.log_scale.assign(0.3)
    x = (rng.random((9, 20)) < 0.3).astype(np.float32)
    k = num_weights or int(1.2 * np.median(x.sum(axis=1)))
    pot = (x @ _mask(head.v.numpy(), k)).reshape(9, 3, 4)
    m = pot.max(axis=2, keepdims=True)
    want = np.exp(0.3) * 0.5 * (np.log(np.exp((pot - m) / 0.5).sum(axis=2)) + m[..., 0] / 0.5)
    np.testing.assert_allclose(np.asarray(head(x)), want, rtol=1e-5)


def test_small_softness_scores_the_best_prototype():
    rng = np.random.default_rng(3)
    head = PrototypeHead(2, 5, num_weights=4, softness=1e-3, name="p")
    head.build((None, 10))
    x = (rng.random((6, 10)) < 0.5).astype(np.float32)
    pot = (x @ _mask(head.v.numpy(), 4)).reshape(6, 2, 5)
    np.testing.assert_allclose(np.asarray(head(x)), pot.max(axis=2), atol=1e-2)


def test_init_from_samples_starts_at_class_samples():
    rng = np.random.default_rng(4)
    x = (rng.random((40, 12)) < 0.4).astype(np.float32)
    y = np.repeat([0, 1], 20)
    head = PrototypeHead(2, 3, name="p")
    head.build((None, 12))
    head.init_from_samples(x, y, seed=0)
    signs = (head.v.numpy() > 0).T.astype(np.float32)          # (6, 12)
    for j, row in enumerate(signs):
        same = np.all(x[y == j // 3] == row, axis=1)
        assert same.any(), f"prototype {j} is no sample of class {j // 3}"
    with pytest.raises(ValueError, match="spikes must have 12 columns, not 5"):
        head.init_from_samples(x[:, :5], y)


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="per_class must be a positive integer, not 0"):
        PrototypeHead(3, 0)
    with pytest.raises(ValueError, match="num_weights must be a positive integer or None, "
                                         "not -2"):
        PrototypeHead(3, 2, num_weights=-2)
    with pytest.raises(ValueError, match="temperature must be > 0, not 0"):
        PrototypeHead(3, 2, temperature=0)
    head = PrototypeHead(3, 2, num_weights=9)
    with pytest.raises(ValueError, match="num_weights must be at most the 8 inputs, not 9"):
        head.build((None, 8))
    with pytest.raises(ValueError, match="prototype_weight must be >= 0, not -1"):
        TrainConfig(root="x", prototype_weight=-1)
    with pytest.raises(ValueError, match="init_float or init_qat, not both"):
        TrainConfig(root="x", init_float="a", init_qat="b")


def test_trainer_sends_the_prototype_loss_into_the_extractor():
    x = mfcc_like_inputs(48, seed=5).astype(np.float32)
    y = np.arange(48) % 3
    model = build_ds_cnn(3, filters=8, seed=0)
    head = PrototypeHead(3, 2, name="p")
    with pytest.raises(ValueError, match="quantized model"):
        PrototypeTrainer(model, head)
    prepare_qat(model, x)
    trainer = PrototypeTrainer(model, head, weight=0.5)
    with pytest.raises(ValueError, match="weight must be > 0, not 0"):
        PrototypeTrainer(model, head, weight=0)
    # Predictions are the Dense head's, the spikes those of the quantized model.
    np.testing.assert_array_equal(np.asarray(trainer(x[:8])), np.asarray(model(x[:8])))
    spikes = np.asarray(trainer.spikes(x[:8]))
    np.testing.assert_array_equal(spikes, model.quantized_outputs(x[:8])[-2])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
            y, head(trainer.spikes(x, training=True)), from_logits=True))
    grads = tape.gradient(loss, [model.blocks[0].w, model.blocks[4].wp, head.v])
    assert all(g is not None and np.abs(np.asarray(g)).max() > 0 for g in grads)
