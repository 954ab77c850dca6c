"""The fast learning rule (chunked winners, lazily rebuilt potentials) against a plain
sample-by-sample transcription of ``akida-v1-semantics.md`` §6.3, and its helpers."""
import pickle

import numpy as np
import pytest

from edgekws.golden import fit_history, learning
from edgekws.golden import AkidaUnsupervised, FullyConnected, InputData, Model
from edgekws.golden.fit_history import (ints_from_words, pack_words, unpack_words,
                                        words_from_ints)
from edgekws.golden.lazy_array import LazyArray
from edgekws.golden.learning import LearningParams, LearningState, learn, random_weights
from edgekws.golden.quant import step_activation


def _plain_learn(params, weights, thl, thswap, offset, x, labels):
    """§6.3 step by step with integer arrays: (potentials, weights, thl, thswap, offset)."""
    w = weights.astype(np.int64).copy()
    thl, thswap = thl.astype(np.int64).copy(), thswap.astype(np.int64).copy()
    K, N = params.num_classes, w.shape[1]
    m = N // K
    pots = np.zeros((len(x), N), np.int64)
    for t, (xv, label) in enumerate(zip(x.astype(np.int64), labels)):
        pot = xv @ w
        pots[t] = pot
        cand = np.arange(label * m, label * m + m) if K > 1 and label >= 0 else np.arange(N)
        eligible = cand[pot[cand] > thl[cand]]
        if eligible.size == 0:
            continue
        j = eligible[np.argmax(pot[eligible])]  # the first of the highest
        R = np.flatnonzero((w[:, j] == 1) & (xv == 0))
        A = np.flatnonzero((w[:, j] == 0) & (xv == 1))
        s = min(thswap[j], len(R), len(A))
        if s > 0:
            pr, offset = learning.spread_select(len(R), s, offset)
            pa, offset = learning.spread_select(len(A), s, offset)
            w[R[pr], j] = 0
            w[A[pa], j] = 1
            thl[j] = min(pot[j], params.thl_cap)
        thswap[j] = max(thswap[j] - params.decay, params.thswap_min)
    return pots, w, thl, thswap, offset


def _case(seed, F, K, m, k, n, minus_one=0.2, offset=0):
    rng = np.random.default_rng(seed)
    params = LearningParams.create(k, K, initial_plasticity=rng.uniform(0.2, 1),
                                   learning_competition=rng.uniform(0, 0.5),
                                   plasticity_decay=rng.uniform(0, 0.5))
    w = random_weights(F, K * m, k, rng)
    state = LearningState.initial(params, w)
    state.offset = offset
    centers = rng.random((K, F)) < rng.uniform(0.2, 0.6)
    y = rng.integers(0, K, n)
    x = (centers[y] ^ (rng.random((n, F)) < 0.1)).astype(np.uint8)
    y[rng.random(n) < minus_one] = -1
    return params, state, x, y


def _check_against_plain(params, state, x, y, lazy):
    """Learn both ways, assert the same outcome; whether any weight changed."""
    before = state.weights.copy()
    want = _plain_learn(params, state.weights, state.threshold_learning, state.thswap,
                        state.offset, x, y)
    got = learn(params, state, x, y, lazy=lazy)
    assert isinstance(got, LazyArray if lazy else np.ndarray)
    np.testing.assert_array_equal(np.asarray(got), want[0])
    assert np.asarray(got).dtype == np.int32
    np.testing.assert_array_equal(state.weights, want[1])
    np.testing.assert_array_equal(state.threshold_learning, want[2])
    np.testing.assert_array_equal(state.thswap, want[3])
    assert state.offset == want[4]
    return not np.array_equal(before, want[1])


# (F, K, m, k, n): one neuron per class, num_weights equal to the inputs, inputs not a
# multiple of 8 or 64, several uint64 words, one class, one input, no samples, one
# sample, 600 inputs.
SHAPES = [(64, 33, 15, 26, 700), (64, 5, 1, 20, 300), (40, 3, 2, 40, 200),
          (100, 4, 3, 30, 400), (130, 2, 4, 60, 300), (13, 1, 6, 5, 200), (1, 2, 2, 1, 50),
          (64, 1, 1, 64, 50), (70, 3, 2, 10, 0), (64, 3, 2, 10, 1), (600, 2, 3, 200, 150)]


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "F%d-K%d-m%d-k%d-n%d" % s)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_learn_equals_the_plain_rule(seed, shape, lazy):
    F, K, m, k, n = shape
    changed = _check_against_plain(*_case(seed, *shape, offset=seed * 7), lazy)
    # Weights that changed make chunk-start winners stale; nothing can be swapped when
    # every input is connected.
    if n > 50:
        assert changed == (k < F)


@pytest.mark.parametrize("chunk,block", [(1, 1), (3, 5), (7, 64), (500, 2)])
@pytest.mark.parametrize("seed", [3, 4])
def test_chunk_and_rebuild_block_sizes_do_not_change_the_result(monkeypatch, seed, chunk,
                                                                 block):
    # Small chunks make every block dirty at once; small rebuild blocks put changes on
    # block edges.
    monkeypatch.setattr(learning, "_CHUNK", chunk)
    monkeypatch.setattr(fit_history, "_BUILD_BLOCK", block)
    assert _check_against_plain(*_case(seed, 64, 6, 3, 20, 300, minus_one=0.3), lazy=True)


def test_learning_in_several_calls_equals_one_call():
    params, state, x, y = _case(5, 96, 4, 3, 30, 600)
    whole = state.copy()
    pots = learn(params, whole, x, y)
    parts = [learn(params, state, x[a:b], y[a:b]) for a, b in ((0, 1), (1, 250), (250, 600))]
    np.testing.assert_array_equal(np.concatenate(parts), pots)
    np.testing.assert_array_equal(state.weights, whole.weights)
    assert state.offset == whole.offset


def test_the_lazy_potentials_do_not_depend_on_later_changes_of_the_inputs():
    params, state, x, y = _case(6, 64, 3, 4, 20, 300)
    want = _plain_learn(params, state.weights, state.threshold_learning, state.thswap,
                        state.offset, x, y)[0]
    got = learn(params, state, x, y, lazy=True)
    x[:] = 1 - x  # the caller reuses its buffer before reading the potentials
    state.weights[:] = 0
    assert not got.built
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("F", [1, 7, 8, 63, 64, 65, 128, 200])
def test_packed_words_round_trip(F):
    rng = np.random.default_rng(F)
    rows = (rng.random((9, F)) < 0.5).astype(np.uint8)
    rows[0] = 1
    words = pack_words(rows)
    assert words.shape == (9, max(1, -(-F // 64))) and words.dtype == np.uint64
    np.testing.assert_array_equal(unpack_words(words, F), rows)
    ints = ints_from_words(words)
    assert ints[0] == (1 << F) - 1
    assert [sum(int(b) << i for i, b in enumerate(r)) for r in rows] == ints
    np.testing.assert_array_equal(words_from_ints(ints, words.shape[1]), words)


def test_plans_equal_spread_select_and_the_bit_picks_follow_them():
    for n in range(1, 40):
        for s in range(1, n + 1):
            for offset in (0, 1, 5, 37, 200):
                picks, new = learning.spread_select(n, s, offset)
                assert learning._plan(n, s, offset) == (tuple(picks), new)
    rng = np.random.default_rng(0)
    for _ in range(200):
        bits = int(rng.integers(1, 1 << 62)) << int(rng.integers(0, 80))
        pos = [i for i in range(bits.bit_length()) if bits >> i & 1]
        s, offset = int(rng.integers(1, len(pos) + 1)), int(rng.integers(0, 30))
        picks, new = learning.spread_select(len(pos), s, offset)
        assert learning._pick_bits(bits, len(pos), s, offset) == (
            sum(1 << pos[p] for p in picks), new)


# -- the LazyArray that Model.fit returns -----------------------------------------------
def _lazy(values):
    calls = []

    def build():
        calls.append(1)
        return values
    return LazyArray(values.shape, values.dtype, build), calls


def test_lazy_array_builds_once_on_first_read_and_acts_as_the_array():
    a = np.arange(24, dtype=np.int32).reshape(4, 6)
    lz, calls = _lazy(a)
    assert (lz.shape, lz.dtype, lz.ndim, lz.size, lz.nbytes, len(lz)) == (
        a.shape, a.dtype, 2, 24, 96, 4)
    assert not calls and not lz.built
    np.testing.assert_array_equal(lz, a)
    assert calls == [1] and lz.built
    assert np.asarray(lz) is a
    assert np.array_equal(lz + 1, a + 1) and np.array_equal(1 - lz, 1 - a)
    assert np.array_equal(lz == a, np.ones_like(a, bool))
    assert np.array_equal(np.concatenate([lz, a]), np.concatenate([a, a]))
    assert lz.argmax(axis=1).tolist() == [5, 5, 5, 5]
    assert lz[1:3, 2].tolist() == [8, 14] and lz.tolist() == a.tolist()
    assert np.array_equal(lz[lz > 20], [21, 22, 23])
    assert [r.sum() for r in lz] == [15, 51, 87, 123]
    assert np.asarray(lz, np.float64).dtype == np.float64
    assert np.asarray(lz, copy=True) is not a
    assert np.array_equal(pickle.loads(pickle.dumps(lz)), a)
    assert calls == [1]


def test_lazy_array_checks_what_it_was_built_as():
    lz = LazyArray((2, 3), np.int32, lambda: np.zeros((3, 2), np.int32))
    with pytest.raises(RuntimeError, match=r"built as \(3, 2\) int32, announced as "
                                           r"\(2, 3\) int32"):
        np.asarray(lz)


def test_lazy_array_of_no_dimension_has_no_length():
    with pytest.raises(TypeError, match="len"):
        len(LazyArray((), np.int32, lambda: np.zeros((), np.int32)))


@pytest.mark.parametrize("act_bits", [1, 2])
def test_model_fit_outputs_use_the_activation_as_it_was_at_fit_time(act_bits):
    rng = np.random.default_rng(act_bits)
    F, K, m = 64, 3, 2
    g = Model([InputData((1, 1, F), input_bits=1),
               FullyConnected(K * m, activation=True, act_bits=act_bits)])
    g.layers[-1].set_variable("threshold", rng.integers(5, 12, K * m).astype(np.int32))
    g.compile(AkidaUnsupervised(num_weights=20, num_classes=K), seed=1)
    layer = g.layers[-1]
    plain = layer.learning_state()
    x = (rng.random((80, 1, 1, F)) < 0.4).astype(np.uint8)
    y = rng.integers(0, K, 80)
    th, step = layer.get_variable("threshold"), layer.get_variable("act_step")
    out = g.fit(x, y)
    pots = learn(g.learning, plain, x.reshape(80, F), y)
    layer.set_variable("threshold", np.zeros(K * m, np.int32))  # after fit, before reading
    want = step_activation(pots.reshape(80, 1, 1, K * m), th, step, act_bits)
    assert out.dtype == np.uint8 and out.shape == (80, 1, 1, K * m)
    np.testing.assert_array_equal(out, want)
    assert 0 < want.mean() < (1 << act_bits) - 1
