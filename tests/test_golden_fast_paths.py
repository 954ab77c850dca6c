"""Fast exact paths of the golden model against their plain integer definitions."""
import numpy as np
import pytest

from edgekws.golden import ops
from edgekws.golden.quant import POT_MAX, POT_MIN, step_activation


def _sequential_clamped_sum(steps, low, high):
    s = np.zeros(len(steps), np.int64)
    for p in range(steps.shape[1]):
        s = np.clip(s + steps[:, p], low, high)
    return s


@pytest.mark.parametrize("positions", [1, 2, 3, 7, 64, 125, 129])
def test_clamped_sum_equals_the_sequential_saturating_sum(positions):
    rng = np.random.default_rng(positions)
    steps = rng.integers(-40, 41, (500, positions)) * rng.integers(1, 30, (500, 1))
    got = ops.clamped_sum(steps, -100, 80)
    np.testing.assert_array_equal(got, _sequential_clamped_sum(steps, -100, 80))
    # The rows do saturate (else this would test nothing).
    assert np.any(got != steps.sum(axis=1))


@pytest.mark.parametrize("low, high", [(0, 0), (0, 50), (-50, 0), (-1, 1), (-300, 7)])
def test_clamped_sum_at_range_edges(low, high):
    rng = np.random.default_rng(high - low)
    steps = rng.integers(-60, 61, (400, 33))
    np.testing.assert_array_equal(ops.clamped_sum(steps, low, high),
                                  _sequential_clamped_sum(steps, low, high))


def test_global_sum_saturating_equals_the_sequential_sum():
    rng = np.random.default_rng(1)
    pot = rng.integers(-60000, 60000, (40, 5, 5, 16)).astype(np.float32)
    pot[:10] += 40000  # these samples run into POT_MAX, others may not
    want = _sequential_clamped_sum(pot.reshape(40, 25, 16).transpose(0, 2, 1)
                                   .reshape(-1, 25).astype(np.int64), POT_MIN, POT_MAX)
    got = ops.global_sum_saturating(pot)
    np.testing.assert_array_equal(got.reshape(-1), want)
    assert np.any(want == POT_MAX) and np.any(want != pot.reshape(40, 25, 16).sum(1).reshape(-1))


@pytest.mark.parametrize("act_bits", [2, 4])
def test_float_step_activation_equals_the_integer_one(act_bits):
    rng = np.random.default_rng(act_bits)
    F = 64
    pot = rng.integers(-3000, 3000, (300, F))
    th = rng.integers(-500, 500, F)
    step = rng.integers(1, 2000, F) / 16 + rng.uniform(0, 1 / 16, F)  # truncated to 1/16
    fast = step_activation(pot.astype(np.float32), th, step, act_bits)
    exact = step_activation(pot.astype(np.int64), th, step, act_bits)
    np.testing.assert_array_equal(fast, exact)
    assert len(np.unique(exact)) == 1 << act_bits
