"""Golden native learning against the akida engine: weights, threshold_learning, thswap
and fit outputs equal after every fit, over random and clustered spike sequences."""
from __future__ import annotations

import numpy as np
import pytest

import edgekws.golden as golden
from akida_twins import akida, assert_same, build_pair
from edgekws.golden.learning import DEFAULT_MIN_PLASTICITY, LearningParams, random_weights


def _learning_pair(shape, units, opt, rng, activation=False):
    eng, gold = build_pair([("InputData", dict(input_shape=shape, input_bits=1)),
                            ("FullyConnected", dict(units=units, activation=activation))])
    eng.compile(optimizer=akida.AkidaUnsupervised(**opt))
    gold.compile(golden.AkidaUnsupervised(**opt), seed=rng)
    # The engine's initial placement cannot be seeded: give both the same weights.
    F = int(np.prod(shape))
    w = random_weights(F, units, opt["num_weights"], rng).reshape(1, 1, F, units)
    eng.layers[-1].set_variable("weights", w.astype(np.int8))
    gold.layers[-1].set_variable("weights", w.astype(np.int8))
    return eng, gold


def _assert_state(eng, gold, what):
    le, lg = eng.layers[-1], gold.layers[-1]
    for name in ("weights", "threshold_learning", "thswap"):
        assert_same(le.get_variable(name), lg.get_variable(name), f"{what}: {name}")


def _clustered(rng, n, shape, K, density, noise, label_minus_one=0.0):
    F = int(np.prod(shape))
    centers = rng.random((K, F)) < density
    labels = rng.integers(0, K, n).astype(np.int32)
    x = centers[labels] ^ (rng.random((n, F)) < noise)
    if label_minus_one:
        labels[rng.random(n) < label_minus_one] = -1
    return x.reshape(n, *shape).astype(np.uint8), labels


def _random_opt(rng, F, K):
    opt = dict(num_weights=int(rng.integers(1, max(2, F // 2))), num_classes=K,
               initial_plasticity=float(rng.uniform(0.05, 1)),
               learning_competition=float(rng.uniform(0, 1)),
               plasticity_decay=float(rng.uniform(0, 0.6)))
    if rng.random() < 0.7:  # else keep the float32 default
        opt["min_plasticity"] = float(rng.uniform(0, 0.5))
    return opt


@pytest.mark.parametrize("seed", range(48))
def test_learning_random_configurations(seed):
    rng = np.random.default_rng(seed)
    C = int(rng.choice([32, 64, 100, 256]))
    K = int(rng.integers(1, 6))
    m = int(rng.integers(1, 5))
    opt = _random_opt(rng, C, K)
    eng, gold = _learning_pair((1, 1, C), K * m, opt, rng, activation=bool(rng.random() < 0.3))
    x, y = _clustered(rng, 300, (1, 1, C), K, rng.uniform(0.1, 0.5), rng.uniform(0, 0.2),
                      label_minus_one=0.2 if seed % 3 == 0 else 0.0)
    cuts = sorted(rng.choice(np.arange(1, 300), int(rng.integers(0, 4)), replace=False))
    for a, b in zip([0, *cuts], [*cuts, 300]):
        out_e = eng.fit(x[a:b], y[a:b])
        out_g = gold.fit(x[a:b], y[a:b])
        if not gold.layers[-1].activation:
            assert_same(out_e, out_g, "fit outputs")
        _assert_state(eng, gold, f"after samples {a}:{b}")


def test_learning_kws_sized_layer():
    """33 classes x 15 neurons, k=26 on 64 spikes, as the tutorial; scalar-label fits too."""
    rng = np.random.default_rng(33)
    opt = dict(num_weights=26, num_classes=33, learning_competition=0.1)
    eng, gold = _learning_pair((1, 1, 64), 33 * 15, opt, rng)
    x, y = _clustered(rng, 3000, (1, 1, 64), 33, 0.35, 0.12)
    for i in range(0, 3000, 1000):
        assert_same(eng.fit(x[i:i + 1000], y[i:i + 1000]), gold.fit(x[i:i + 1000], y[i:i + 1000]))
    assert_same(eng.fit(x[:50], 7), gold.fit(x[:50], 7), "scalar label")
    _assert_state(eng, gold, "kws-sized")
    assert (gold.layers[-1].get_variable("threshold_learning") > 0).mean() > 0.5


@pytest.mark.parametrize("seed", range(6))
def test_learning_spatial_inputs_use_fc_flatten_order(seed):
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(v) for v in rng.integers(2, 6, 3))
    K = int(rng.integers(1, 4))
    opt = _random_opt(rng, int(np.prod(shape)), K)
    eng, gold = _learning_pair(shape, K * 3, opt, rng)
    x, y = _clustered(rng, 200, shape, K, 0.3, 0.1)
    assert_same(eng.fit(x, y), gold.fit(x, y))
    _assert_state(eng, gold, "spatial")


def test_offset_persists_through_inference_and_resets_on_set_variable():
    rng = np.random.default_rng(7)
    opt = dict(num_weights=20, num_classes=2, initial_plasticity=0.5, plasticity_decay=0.1)
    eng, gold = _learning_pair((1, 1, 64), 6, opt, rng)
    x, y = _clustered(rng, 400, (1, 1, 64), 2, 0.4, 0.2)
    for a, b, between in [(0, 100, "forward"), (100, 200, "predict"), (200, 300, "set"),
                          (300, 400, None)]:
        eng.fit(x[a:b], y[a:b]); gold.fit(x[a:b], y[a:b])
        _assert_state(eng, gold, f"before {between}")
        if between == "forward":
            assert_same(eng.forward(x[:20]), gold.forward(x[:20]))
        elif between == "predict":
            assert_same(eng.predict(x[:20]), gold.predict(x[:20]))
        elif between == "set":
            assert gold.layers[-1].offset != 0
            th = eng.layers[-1].get_variable("threshold")
            eng.layers[-1].set_variable("threshold", th)
            gold.layers[-1].set_variable("threshold", th)
            assert gold.layers[-1].offset == 0
    _assert_state(eng, gold, "end")


def test_learning_on_top_of_ds_cnn():
    from test_golden_vs_engine import ds_cnn_spec
    from akida_twins import random_input, randomize
    rng = np.random.default_rng(11)
    eng, gold = build_pair(ds_cnn_spec(units=10 * 4))
    x = random_input(gold, rng, 300)
    randomize(eng, gold, rng, x[:64])
    opt = dict(num_weights=20, num_classes=10, learning_competition=0.1)
    eng.compile(optimizer=akida.AkidaUnsupervised(**opt))
    gold.compile(golden.AkidaUnsupervised(**opt))
    w = random_weights(64, 40, 20, rng).reshape(1, 1, 64, 40).astype(np.int8)
    eng.layers[-1].set_variable("weights", w); gold.layers[-1].set_variable("weights", w)
    y = rng.integers(0, 10, 300).astype(np.int32)
    assert_same(eng.fit(x, y), gold.fit(x, y))
    _assert_state(eng, gold, "ds-cnn fit")
    assert_same(eng.predict_classes(x, num_classes=10), gold.predict_classes(x, num_classes=10))


def test_compile_sets_engine_initial_state():
    rng = np.random.default_rng(3)
    opt = dict(num_weights=10, num_classes=2, initial_plasticity=0.35)
    eng, gold = _learning_pair((1, 1, 32), 4, opt, rng)
    for name in ("threshold_learning", "thswap", "threshold", "act_step"):
        assert_same(eng.layers[-1].get_variable(name), gold.layers[-1].get_variable(name), name)
    assert gold.layers[-1].get_variable("thswap").tolist() == [4] * 4  # round(3.5) = 4


def test_derived_parameters():
    p = LearningParams.create(10)
    assert (p.thswap_init, p.decay, p.thswap_min, p.thl_cap) == (10, 3, 2, 10)
    # The float32 default of min_plasticity gives 2 for k=10; an explicit 0.1 gives 1.
    assert DEFAULT_MIN_PLASTICITY > 0.1
    assert LearningParams.create(10, min_plasticity=0.1).thswap_min == 1
    # Halves round away from zero, as C's std::round.
    assert LearningParams.create(5, initial_plasticity=0.5).thswap_init == 3
    assert LearningParams.create(5, learning_competition=0.5).thl_cap == 3


def test_engine_and_golden_refuse_out_of_range_labels():
    rng = np.random.default_rng(1)
    eng, gold = _learning_pair((1, 1, 16), 6, dict(num_weights=4, num_classes=3), rng)
    x = np.ones((2, 1, 1, 16), np.uint8)
    with pytest.raises(Exception):
        eng.fit(x, np.array([0, 3], np.int32))
    with pytest.raises(ValueError, match="label 3 is out of range: the layer has 3 classes"):
        gold.fit(x, np.array([0, 3], np.int32))


def test_to_engine_continues_learning_identically():
    """A golden model handed to the engine (offset 0) learns on exactly as the golden one."""
    from edgekws.golden.engine import to_engine
    rng = np.random.default_rng(21)
    gold = golden.Model([golden.InputData((1, 1, 48), input_bits=1),
                         golden.FullyConnected(12, activation=False)])
    gold.compile(golden.AkidaUnsupervised(num_weights=12, num_classes=4,
                                          learning_competition=0.2), seed=4)
    x, y = _clustered(rng, 400, (1, 1, 48), 4, 0.3, 0.1)
    gold.fit(x[:200], y[:200])
    gold.layers[-1].set_variable("thswap", gold.layers[-1].get_variable("thswap"))  # offset 0
    eng = to_engine(gold)
    assert_same(eng.fit(x[200:], y[200:]), gold.fit(x[200:], y[200:]))
    _assert_state(eng, gold, "after handing over")


def test_outputs_built_later_are_the_engines(monkeypatch):
    """fit's outputs are built when first read, from the record of weight changes: read
    after a further fit (small rebuild blocks put changes on block edges)."""
    from edgekws.golden import fit_history
    monkeypatch.setattr(fit_history, "_BUILD_BLOCK", 37)
    rng = np.random.default_rng(30)
    opt = dict(num_weights=10, num_classes=5, learning_competition=0.1)
    eng, gold = _learning_pair((1, 1, 40), 5 * 3, opt, rng)
    x, y = _clustered(rng, 3000, (1, 1, 40), 5, 0.3, 0.1, label_minus_one=0.2)
    first_e, first_g = eng.fit(x[:2000], y[:2000]), gold.fit(x[:2000], y[:2000])
    assert not first_g.built
    assert_same(eng.fit(x[2000:], y[2000:]), gold.fit(x[2000:], y[2000:]))
    assert_same(first_e, first_g)
    _assert_state(eng, gold, "outputs built later")
    with pytest.raises(ValueError, match="out of range"):  # refused at once, not when read
        gold.fit(x[:2], np.array([0, 9], np.int32))
