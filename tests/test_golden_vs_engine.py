"""Golden inference against the akida engine: every output element must be equal."""
from __future__ import annotations

import numpy as np
import pytest

from akida_twins import assert_same, build_pair, random_input, randomize

ACTS = [dict(activation=False), dict(act_bits=1), dict(act_bits=2), dict(act_bits=4)]


def _check(spec, seed, n=64):
    rng = np.random.default_rng(seed)
    eng, gold = build_pair(spec)
    return _compare(eng, gold, rng, n)


def _compare(eng, gold, rng, n):
    x = random_input(gold, rng, n)
    randomize(eng, gold, rng, x)
    assert_same(eng.forward(x), gold.forward(x), f"forward of {gold.layers}")
    return eng, gold, x


def _check_drawn(draw, seed, n=48):
    """Draw configurations until one is valid; the engine must agree on validity."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        spec = draw(rng)
        try:
            eng, gold = build_pair(spec)
        except (ValueError, RuntimeError):
            _refused_by_both(spec)  # both libraries must refuse the same geometries
            continue
        return _compare(eng, gold, rng, n)
    raise AssertionError("no valid configuration drawn")


def _refused_by_both(spec):
    import akida
    import edgekws.golden as golden
    from akida_twins import _engine_kwargs
    for lib, conv in ((akida, _engine_kwargs), (golden, dict)):
        with pytest.raises((ValueError, RuntimeError)):
            m = lib.Model()
            for i, (cls, kw) in enumerate(spec):
                m.add(getattr(lib, cls)(**conv({"name": f"l{i}", **kw})))


# -- FullyConnected ---------------------------------------------------------------------
@pytest.mark.parametrize("input_bits", [1, 2, 4])
@pytest.mark.parametrize("weights_bits", [1, 2, 4])
@pytest.mark.parametrize("act", range(len(ACTS)))
def test_fully_connected(input_bits, weights_bits, act):
    seed = 100 * input_bits + 10 * weights_bits + act
    C = int(np.random.default_rng(seed).choice([64, 300]))
    _check([("InputData", dict(input_shape=(1, 1, C), input_bits=input_bits)),
            ("FullyConnected", dict(units=64, weights_bits=weights_bits, **ACTS[act]))], seed)


@pytest.mark.parametrize("seed", range(6))
def test_fully_connected_spatial_flatten_order(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(2, 6, 3))
    _check([("InputData", dict(input_shape=shape, input_bits=4)),
            ("FullyConnected", dict(units=16, weights_bits=4, activation=False))], seed)


def test_fully_connected_20bit_saturation():
    rng = np.random.default_rng(7)
    eng, gold = build_pair([("InputData", dict(input_shape=(1, 1, 8192), input_bits=4)),
                            ("FullyConnected", dict(units=8, weights_bits=4, activation=False))])
    w = np.where(rng.random((1, 1, 8192, 8)) < 0.5, 7, -7).astype(np.int8)
    w[..., :4] = 7  # all-positive neurons certainly saturate at +2**19 - 1
    w[..., 4:6] = -7
    for layer in (eng.layers[-1], gold.layers[-1]):
        layer.set_variable("weights", w)
    x = rng.integers(10, 16, (20, 1, 1, 8192)).astype(np.uint8)
    out = gold.forward(x)
    assert out.max() == 2**19 - 1 and out.min() == -2**19
    assert_same(eng.forward(x), out)


# -- InputConvolutional -----------------------------------------------------------------
POOLS = [dict(), dict(pool_type=1, pool_size=(2, 2), pool_stride=(2, 2)), dict(pool_type=2)]


@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("act", range(len(ACTS)))
@pytest.mark.parametrize("pool", range(len(POOLS)))
def test_input_conv_kws_geometry(padding, act, pool):
    _check([("InputConvolutional", dict(input_shape=(49, 10, 1), kernel_size=(5, 5),
                                        filters=16, kernel_stride=(2, 2), weights_bits=8,
                                        padding=padding, **ACTS[act], **POOLS[pool]))],
           seed=1000 + 100 * padding + 10 * act + pool)


def _draw_input_conv(rng):
    k = tuple(int(v) for v in rng.choice([1, 3, 5, 7], 2))
    shape = (int(rng.integers(3, 24)), int(rng.integers(3, 24)), int(rng.integers(1, 5)))
    pool = POOLS[int(rng.integers(0, 3))]
    if pool.get("pool_type") == 1:
        pool = dict(pool_type=1, pool_size=tuple(int(v) for v in rng.integers(1, 4, 2)),
                    pool_stride=tuple(int(v) for v in rng.integers(1, 4, 2)))
    return [("InputConvolutional", dict(
        input_shape=shape, kernel_size=k, filters=int(rng.integers(1, 12)),
        kernel_stride=tuple(int(v) for v in rng.integers(1, 4, 2)),
        weights_bits=int(rng.integers(1, 9)), padding=int(rng.integers(0, 2)),
        padding_value=int(rng.integers(0, 256)), **ACTS[int(rng.integers(0, 4))], **pool))]


@pytest.mark.parametrize("seed", range(24))
def test_input_conv_random(seed):
    _check_drawn(_draw_input_conv, 2000 + seed)


# -- SeparableConvolutional ----------------------------------------------------------------
@pytest.mark.parametrize("input_bits", [1, 4])
@pytest.mark.parametrize("act", range(len(ACTS)))
@pytest.mark.parametrize("pool", range(len(POOLS)))
def test_separable_kws_geometry(input_bits, act, pool):
    _check([("InputData", dict(input_shape=(25, 5, 64), input_bits=input_bits)),
            ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=64, weights_bits=4,
                                            **ACTS[act], **POOLS[pool]))],
           seed=3000 + 100 * input_bits + 10 * act + pool, n=32)


def _draw_separable(rng):
    k = tuple(int(v) for v in rng.choice([1, 3, 5], 2))
    # Stride > 1 and Valid padding are a hypothesis in the spec; they match (measured).
    padding = int(rng.integers(0, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    shape = (int(rng.integers(5, 16)), int(rng.integers(5, 16)), int(rng.integers(1, 20)))
    pool = POOLS[int(rng.integers(0, 3))]
    return [("InputData", dict(input_shape=shape, input_bits=int(rng.integers(1, 5)))),
            ("SeparableConvolutional", dict(
                kernel_size=k, filters=int(rng.integers(1, 20)),
                weights_bits=int(rng.choice([1, 2, 4, 8])), padding=padding, kernel_stride=stride,
                **ACTS[int(rng.integers(0, 4))], **pool))]


@pytest.mark.parametrize("seed", range(32))
def test_separable_random(seed):
    _check_drawn(_draw_separable, 4000 + seed)


def test_global_average_pool_saturates_in_order():
    """Large same-sign potentials push the running sum into the 20-bit clamp."""
    rng = np.random.default_rng(5)
    eng, gold = build_pair([("InputData", dict(input_shape=(25, 5, 64), input_bits=4)),
                            ("SeparableConvolutional", dict(kernel_size=(3, 3), filters=8,
                                                            weights_bits=4, activation=False,
                                                            pool_type=2))])
    wd = rng.integers(-7, 8, (3, 3, 64, 1)).astype(np.int8)
    wpw = np.where(rng.random((1, 1, 64, 8)) < 0.5, 7, -7).astype(np.int8)
    for el, gl in zip(eng.layers[1:], gold.layers[1:]):
        el.set_variable("weights", wd); gl.set_variable("weights", wd)
        el.set_variable("weights_pw", wpw); gl.set_variable("weights_pw", wpw)
    x = rng.integers(0, 16, (40, 25, 5, 64)).astype(np.uint8)
    out = gold.forward(x)
    assert (np.abs(out) >= 2**19 - 1).any(), "the test must reach the clamp"
    assert_same(eng.forward(x), out)


@pytest.mark.parametrize("layer", ["InputConvolutional", "SeparableConvolutional"])
@pytest.mark.parametrize("act", [0, 3])
def test_max_pooled_potentials_saturate_to_20_bits(layer, act):
    """Found with 8-bit weights: the engine clips max-pooled potentials to 20 bits,
    while unpooled convolution potentials stay exact."""
    conv = dict(kernel_size=(5, 5), filters=4, weights_bits=8, pool_type=1, pool_size=(2, 2),
                **ACTS[act])
    spec = ([("InputConvolutional", dict(input_shape=(9, 9, 4), **conv))]
            if layer == "InputConvolutional" else
            [("InputData", dict(input_shape=(9, 9, 8), input_bits=4)),
             ("SeparableConvolutional", conv)])
    eng, gold = build_pair(spec)
    rng = np.random.default_rng(act)
    names = gold.layers[-1].get_variable_names()
    for name in (n for n in names if n.startswith("weights")):
        w = rng.integers(40, 128, gold.layers[-1].get_variable(name).shape).astype(np.int8)
        w[..., 2:] *= -1 if name != "weights" or layer == "InputConvolutional" else 1
        for m in (eng, gold):
            m.layers[-1].set_variable(name, w)
    for m in (eng, gold):
        m.layers[-1].set_variable("threshold", np.full(4, 500000, np.int32))
        m.layers[-1].set_variable("act_step", np.full(4, 3000.0, np.float32))
    x = random_input(gold, rng, 16)
    out = gold.forward(x)
    if not ACTS[act].get("activation", True):
        assert out.max() == 2**19 - 1 and out.min() == -2**19, "the test must reach the clamp"
    assert_same(eng.forward(x), out)


# -- The whole DS-CNN chain -------------------------------------------------------------------
def ds_cnn_spec(units=33):
    spec = [("InputConvolutional", dict(input_shape=(49, 10, 1), kernel_size=(5, 5),
                                        filters=64, kernel_stride=(2, 2), weights_bits=8,
                                        act_bits=4))]
    spec += [("SeparableConvolutional", dict(kernel_size=(3, 3), filters=64, weights_bits=4,
                                             act_bits=4))] * 3
    spec += [("SeparableConvolutional", dict(kernel_size=(3, 3), filters=64, weights_bits=4,
                                             act_bits=1, pool_type=2)),
             ("FullyConnected", dict(units=units, weights_bits=1, activation=False))]
    return spec


@pytest.mark.parametrize("seed", range(3))
def test_ds_cnn_chain(seed):
    eng, gold, x = _check(ds_cnn_spec(), 5000 + seed, n=200)
    spikes_e = np.asarray(__import__("akida").Model(eng.layers[:-1]).forward(x))
    assert 0.05 < spikes_e.mean() < 0.95, "the chain should produce a useful spike density"
    assert_same(eng.predict(x), gold.predict(x), "predict")
    for k in (0, 3, 11, 33):
        assert_same(eng.predict_classes(x, num_classes=k),
                    gold.predict_classes(x, num_classes=k), f"predict_classes({k})")


def test_predict_classes_ties_go_to_lowest_neuron():
    eng, gold = build_pair([("InputData", dict(input_shape=(1, 1, 8), input_bits=1)),
                            ("FullyConnected", dict(units=12, weights_bits=1,
                                                    activation=False))])
    w = np.zeros((1, 1, 8, 12), np.int8)
    w[:, :, :4, [2, 5, 9]] = 1  # three neurons in three classes tie
    for layer in (eng.layers[-1], gold.layers[-1]):
        layer.set_variable("weights", w)
    x = np.ones((3, 1, 1, 8), np.uint8)
    assert gold.predict_classes(x, num_classes=4).tolist() == [0, 0, 0]
    assert gold.predict_classes(x).tolist() == [2, 2, 2]
    assert_same(eng.predict_classes(x, num_classes=4), gold.predict_classes(x, num_classes=4))
