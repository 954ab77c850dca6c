"""The fused grid forward against a plain int64 definition of the layers.

Models are drawn so that each float choice of the grid is taken: float32, float64 (bounds
past 2**24 from 8-bit weights or large thresholds) and no plan at all (bounds past 2**53
from huge act_steps), where the model runs layer by layer with integers.
"""
import numpy as np
import pytest

from edgekws.golden import (InputConvolutional, Model, PoolType, SeparableConvolutional,
                            FullyConnected, ops)
from edgekws.golden.grid import GridPlan
from edgekws.golden.ops import exact_float
from edgekws.golden.quant import POT_MAX, POT_MIN, integer_step
from edgekws.golden.zoo import randomize


# -- plain integer definition ------------------------------------------------------------
def _conv(x, w, stride, same, value, flip):
    """Per-channel (depthwise, ``flip``: true convolution) or full cross-correlation."""
    kx, ky = w.shape[:2]
    out, pads = ops.conv_geometry(x.shape[1:3], (kx, ky), stride, same)
    xp = np.pad(x.astype(np.int64), ((0, 0), *pads, (0, 0)), constant_values=value)
    acc = 0
    for i in range(kx):
        for j in range(ky):
            win = xp[:, i:i + out[0] * stride[0]:stride[0], j:j + out[1] * stride[1]:stride[1]]
            if flip:
                acc = acc + win * w[kx - 1 - i, ky - 1 - j, :, 0].astype(np.int64)
            else:
                acc = acc + win @ w[i, j].astype(np.int64)
    return acc


def _activate(layer, pot):
    if not layer.activation:
        return pot
    d = pot - layer.get_variable("threshold").astype(np.int64)
    S = integer_step(layer.get_variable("act_step"), layer.act_bits)
    return np.clip(-((-16 * d) // S), 0, (1 << layer.act_bits) - 1)


def _global_sum(pot):
    n, X, Y, F = pot.shape
    s = np.zeros((n, F), np.int64)
    for p in pot.reshape(n, X * Y, F).transpose(1, 0, 2):   # C order of (x, y)
        s = np.clip(s + p, POT_MIN, POT_MAX)
    return s.reshape(n, 1, 1, F)


def _reference(layers, x):
    for layer in layers:
        if isinstance(layer, InputConvolutional):
            pot = _conv(x, layer.get_variable("weights"), layer.kernel_stride, layer._same,
                        layer.padding_value, flip=False)
        elif isinstance(layer, SeparableConvolutional):
            d = _conv(x, layer.get_variable("weights"), layer.kernel_stride, layer._same, 0,
                      flip=True)
            pot = d @ layer.get_variable("weights_pw")[0, 0].astype(np.int64)
            if layer.pool_type == PoolType.Average:
                pot = _global_sum(pot)
        else:
            flat = x.transpose(0, 3, 2, 1).reshape(len(x), -1)
            pot = np.clip(flat @ layer.get_variable("weights")[0, 0].astype(np.int64),
                          POT_MIN, POT_MAX).reshape(len(x), 1, 1, -1)
        x = _activate(layer, pot)
    return x


# -- random models -----------------------------------------------------------------------
def _model(rng, wide=False, pooled=True, dense=True):
    """InputConv then 1-3 separable layers; ``wide``: 8-bit-style magnitudes."""
    X, Y = (int(v) for v in rng.integers(6, 14, 2))
    C = int(rng.choice([1, 2, 3]))
    k0 = tuple(int(v) for v in rng.choice([1, 3, 5], 2))
    filters = int(rng.integers(16, 24) if wide else rng.integers(3, 12))
    act0 = 4 if wide else int(rng.choice([1, 2, 4]))
    m = Model([InputConvolutional((X, Y, C), k0, filters,
                                  kernel_stride=tuple(int(v) for v in rng.integers(1, 3, 2)),
                                  padding=str(rng.choice(["Same", "Valid"])),
                                  weights_bits=8, act_bits=act0,
                                  padding_value=int(rng.integers(0, 256)))])
    layers = int(rng.integers(1, 4))
    for i in range(layers):
        last = pooled and i == layers - 1
        # wide: 5x5 depthwise sums reach 15 * 25 * 128, past int16 (an int32 accumulator).
        m.add(SeparableConvolutional(
            (5, 5) if wide else tuple(int(v) for v in rng.choice([1, 3, 5], 2)),
            int(rng.integers(3, 20)),
            weights_bits=8 if wide else int(rng.choice([1, 2, 4])),
            act_bits=4 if wide else int(rng.choice([1, 2, 4])),
            pool_type=PoolType.Average if last else PoolType.NoPooling))
    if dense:
        m.add(FullyConnected(int(rng.integers(2, 9)), weights_bits=4, activation=False))
    return m


def _inputs(model, rng, n):
    return rng.integers(0, 256, (n, *model.input_shape), dtype=np.uint8)


def _drawn(seed, **kw):
    rng = np.random.default_rng(seed)
    model = _model(rng, **kw)
    randomize(model, _inputs(model, rng, 64), seed=rng, step_fractions=True)
    return model, rng


def _check(model, rng, x=None):
    x = _inputs(model, rng, 37) if x is None else x
    want = _reference(model.layers, x)
    got = model.forward(x, batch_size=int(rng.integers(1, 20)))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model._run(x, model.layers), want)
    return got


def _dtypes(model):
    plan = GridPlan.build(model.layers)
    return None if plan is None else {s.dtype for s in [plan.first, *plan.seps]}


@pytest.mark.parametrize("seed", range(12))
def test_grid_equals_the_integer_definition(seed):
    model, rng = _drawn(seed, pooled=bool(seed % 2), dense=seed % 3 != 0)
    assert _dtypes(model) == {np.float32}
    _check(model, rng)


def test_ds_cnn_runs_on_the_float32_grid():
    # The product's model must not fall back silently to the slower layer-by-layer path.
    from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs
    model = randomize(ds_cnn_kws(33), mfcc_like_inputs(64, seed=1), seed=2)
    plan = GridPlan.build(model.layers)
    assert plan is not None and len(plan.seps) == 4 and plan.rest == model.layers[5:]
    assert {s.dtype for s in [plan.first, *plan.seps]} == {np.float32}
    assert {s.acc_dtype for s in plan.seps} == {np.int16}
    x = mfcc_like_inputs(40, seed=3)
    np.testing.assert_array_equal(model.forward(x), _reference(model.layers, x))


@pytest.mark.parametrize("Y", [1, 2, 3, 4])
def test_grid_kernels_wider_than_the_feature_map(Y):
    # Taps up to 3 columns away on maps 1 to 4 wide: every wrap into a neighbouring row
    # (or sample) must read zeros.
    rng = np.random.default_rng(Y)
    model = Model([InputConvolutional((7, Y, 2), (3, 1), 6, weights_bits=8, act_bits=4),
                   SeparableConvolutional((5, 7), 9, weights_bits=4, act_bits=2),
                   SeparableConvolutional((3, 7), 5, weights_bits=4, act_bits=4)])
    randomize(model, _inputs(model, rng, 64), seed=rng)
    assert _dtypes(model) == {np.float32}
    _check(model, rng)


@pytest.mark.parametrize("seed", range(6))
def test_grid_takes_float64_past_float32_bounds(seed):
    # 8-bit depthwise and pointwise weights: potentials beyond 2**24 are possible.
    model, rng = _drawn(100 + seed, wide=True, pooled=bool(seed % 2))
    # One depthwise kernel at the extreme: 15 * 25 * 128 needs an int32 accumulator.
    sep = model.layers[1]
    wd = sep.get_variable("weights")
    wd[..., 0, 0] = -128
    sep.set_variable("weights", wd)
    assert np.float64 in _dtypes(model)
    assert np.int32 in {s.acc_dtype for s in GridPlan.build(model.layers).seps}
    _check(model, rng)


def test_grid_takes_float64_for_large_thresholds():
    model, rng = _drawn(7)
    layer = model.layers[1]
    th = layer.get_variable("threshold")
    layer.set_variable("threshold", th + np.where(np.arange(th.size) % 2, 2**22, 0))
    assert _dtypes(model) == {np.float32, np.float64}
    _check(model, rng)


def test_no_plan_when_only_integers_are_exact():
    # The first drawn model with a multi-bit activation (1-bit ones ignore act_step).
    model, rng = next((m, r) for m, r in map(_drawn, range(8, 40))
                      if m.layers[1].act_bits > 1)
    layer = model.layers[1]
    step = layer.get_variable("act_step")
    step[0] = 2.0 ** 50      # S = 2**54: the activation bound passes 2**53
    layer.set_variable("act_step", step)
    assert GridPlan.build(model.layers) is None
    out = _check(model, rng)
    assert out.dtype == np.int32


def test_global_sum_saturates_as_the_definition():
    # One sign per channel in the last pointwise weights, 8-bit: running sums saturate.
    model, rng = _drawn(9, wide=True, pooled=True, dense=False)
    *head, last = model.layers
    w = np.abs(last.get_variable("weights_pw"))
    w[..., 1::2] *= -1
    last.set_variable("weights_pw", w)
    x = _inputs(model, rng, 29)
    d = _conv(_reference(head, x), last.get_variable("weights"), (1, 1), True, 0, flip=True)
    sums = _global_sum(d @ w[0, 0].astype(np.int64))
    assert np.any(sums == POT_MAX) and np.any(sums == POT_MIN)
    _check(model, rng, x)


# -- the bound function ------------------------------------------------------------------
@pytest.mark.parametrize("bound, want", [
    (0, np.float32), (2**24 - 1, np.float32), (2**24, np.float64),
    (2**53 - 1, np.float64), (2**53, None), (2**60, None)])
def test_exact_float_chooses_the_narrowest_exact_type(bound, want):
    assert exact_float(bound) is want


def test_exact_float_refuses_a_negative_bound():
    with pytest.raises(ValueError, match=r"bound must be a magnitude \(>= 0\), not -1"):
        exact_float(-1)


def test_exact_float_bound_is_tight():
    # float32 holds every integer below 2**24 and misses 2**24 + 1; float64 at 2**53.
    assert float(np.float32(2**24 - 1)) == 2**24 - 1
    assert int(np.float32(2**24 + 1)) != 2**24 + 1
    assert int(np.float64(2**53 + 1)) != 2**53 + 1


def test_exact_matmul_falls_back_to_integers_past_float64():
    a = np.array([[2**40, 3], [1, -2**41]], np.int64)
    b = np.array([[2**20, 1], [-5, 2**21]], np.int64)
    got = ops.exact_matmul(a, b)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, a @ b)
    assert ops.exact_matmul(a % 100, b % 100).dtype == np.float32
