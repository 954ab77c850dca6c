"""Native-learning accuracy during QAT (``edgekws train --select val_native``)."""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edgekws.convert import to_golden  # noqa: E402
from edgekws.golden.zoo import mfcc_like_inputs  # noqa: E402
from edgekws.train.model import build_ds_cnn, prepare_qat  # noqa: E402
from edgekws.train.native_eval import (METRIC, native_accuracy,  # noqa: E402
                                       native_callback, spikes_of)
from edgekws.train.pipeline import TrainConfig, _BestWeights  # noqa: E402
from edgekws.tutorial.edge_learning import (accuracy, fit_batches,  # noqa: E402
                                            learning_head, suggest_from_training)


@pytest.fixture(scope="module")
def small_model():
    x = mfcc_like_inputs(64, seed=5).astype(np.float32)
    model = build_ds_cnn(3, filters=8, seed=0)
    prepare_qat(model, x)
    return model, x


def test_spikes_are_the_converted_models(small_model):
    model, x = small_model
    s = spikes_of(model, x, batch_size=24)         # batches that do not divide 64
    assert s.shape == (64, 1, 1, 8) and s.dtype == np.uint8
    h = x
    for layer in to_golden(model).layers:
        h = layer.call(h)
        if layer.name == "separable_4":
            break
    np.testing.assert_array_equal(s.reshape(64, -1), h.reshape(64, -1))
    with pytest.raises(ValueError, match="at least one sample"):
        spikes_of(model, x[:0])


def test_native_accuracy_is_the_tutorials():
    rng = np.random.default_rng(1)
    K, F = 4, 32
    protos = rng.random((K, F)) < 0.3
    y = rng.integers(0, K, 600)
    s = (protos[y] ^ (rng.random((600, F)) < 0.08)).astype(np.uint8).reshape(600, 1, 1, F)
    acc, k = native_accuracy(s[:500], y[:500], s[500:], y[500:], K, neurons_per_class=3,
                             seed=2)
    # The tutorial's own steps (edge_learning.run), batch by batch.
    _, k_tut = suggest_from_training(s[:500], 2)
    head = learning_head(F, K, 3, k_tut, 0.1, 2)
    fit_batches(head, s[:500], y[:500], batch=128, progress=False)
    assert k == k_tut
    assert acc == accuracy(head, s[500:], y[500:], K)
    assert acc > 0.8          # clustered spikes are learnable: the number is not a constant


def test_callback_logs_and_selects_the_native_epoch(small_model):
    model, x = small_model
    y = np.arange(64) % 3
    logs_seen = []
    cb = native_callback(model, x[:48], y[:48], x[48:], y[48:], 3, log=logs_seen.append,
                         neurons_per_class=2)
    logs = {"val_accuracy": 0.5}
    cb.on_epoch_end(0, logs)
    want, k = native_accuracy(spikes_of(model, x[:48]), y[:48], spikes_of(model, x[48:]),
                              y[48:], 3, neurons_per_class=2)
    assert logs[METRIC] == want and logs["native_num_weights"] == k
    assert logs_seen and "native learning" in logs_seen[0]

    best = _BestWeights(METRIC)
    best.set_model(model)
    for epoch, v in enumerate((0.3, 0.7, 0.6)):
        best.on_epoch_end(epoch, {"val_accuracy": 1 - v, METRIC: v})
    assert best.epoch == 1 and best.best == 0.7
    with pytest.raises(KeyError, match="no 'val_native' in the epoch's logs"):
        best.on_epoch_end(3, {"val_accuracy": 0.9})


def test_select_is_checked():
    with pytest.raises(ValueError, match="select must be one of .*, not 'val_loss'"):
        TrainConfig(root="x", select="val_loss")
