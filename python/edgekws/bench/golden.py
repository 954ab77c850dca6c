"""Golden model against the akida engine: DS-CNN forward and native learning fit."""
from __future__ import annotations

import time

import numpy as np

from edgekws.bench import RUNS, Row, ratios, spread

TITLE = "Golden model vs the akida engine (Akida Execution Engine 2.19.3, software backend)"


#: Pause before each timed call: the engine's worker threads keep spinning for a while
#: after it returns, and would otherwise steal the CPU from whatever is timed next.
SETTLE_S = 1.0


def _timed(fn):
    time.sleep(SETTLE_S)
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _forward_rows(quick):
    from edgekws.golden.engine import to_engine
    from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize
    n = 2000 if quick else 10000
    model = randomize(ds_cnn_kws(33), mfcc_like_inputs(256, seed=1), seed=2)
    eng = to_engine(model)
    x = mfcc_like_inputs(n, seed=3)
    runs = 1 if quick else RUNS
    tg, te = [], []
    for _ in range(runs):  # interleaved: a change of machine load hits both sides
        t, og = _timed(lambda: model.forward(x))
        tg.append(t)
        t, oe = _timed(lambda: eng.forward(x))
        te.append(t)
    exact = bool(np.array_equal(oe, og))
    return [Row(f"DS-CNN forward, {n:,} samples (49x10x1 -> 64 spikes -> FC 33), s",
                spread(tg, "{:.2f}"), f"engine {spread(te, '{:.2f}')} s", ratios(te, tg),
                "make bench",
                f"{1e3 * np.median(tg) / n:.3f} ms/sample (median); bit-exact: "
                f"{'yes' if exact else 'NO'}; random calibrated weights, MFCC-like inputs; "
                f"min / median / max of {runs} runs, each after a 1 s pause")]


def _fit_rows(quick):
    import akida

    from edgekws.golden import AkidaUnsupervised, FullyConnected, InputData, Model
    n, F, K, m, k = (20000 if quick else 94000), 64, 33, 15, 26
    rng = np.random.default_rng(4)
    protos = rng.random((K, F)) < 0.35
    y = rng.integers(0, K, n).astype(np.int32)
    x = (protos[y] ^ (rng.random((n, F)) < 0.1)).astype(np.uint8).reshape(n, 1, 1, F)
    opt = dict(num_weights=k, num_classes=K, learning_competition=0.1)

    def fresh_pair():
        g = Model([InputData((1, 1, F), input_bits=1), FullyConnected(K * m, activation=False)])
        g.compile(AkidaUnsupervised(**opt), seed=5)
        e = akida.Model()
        e.add(akida.InputData((1, 1, F), input_bits=1))
        e.add(akida.FullyConnected(K * m, activation=False))
        e.compile(optimizer=akida.AkidaUnsupervised(**opt))
        e.layers[-1].set_variable("weights", g.layers[-1].get_variable("weights"))
        return g, e

    # Each side's runs back to back, so that both are measured warm: alternating them made
    # each re-fault the 186 MB of potentials the other had just freed (measured).
    runs = 1 if quick else RUNS
    pairs = [fresh_pair() for _ in range(runs)]
    tg = [_timed(lambda: g.fit(x, y))[0] for g, _ in pairs]
    te = [_timed(lambda: e.fit(x, y))[0] for _, e in pairs]
    exact = all(np.array_equal(e.layers[-1].get_variable(v), g.layers[-1].get_variable(v))
                for g, e in pairs for v in ("weights", "threshold_learning", "thswap"))
    return [Row(f"native learning fit, {n:,} x 64-bit spikes into {K} classes x {m} neurons, "
                f"num_weights {k}, s", spread(tg, "{:.2f}"), f"engine {spread(te, '{:.2f}')} s",
                ratios(te, tg), "make bench",
                f"{1e6 * np.median(tg) / n:.1f} us/sample (median); bit-exact weights/thl/"
                f"thswap in every run: {'yes' if exact else 'NO'}; clustered random spikes; "
                f"a fresh model per run, min / median / max of {runs} runs, each after a "
                "1 s pause")]


def run(quick: bool = False):
    return _forward_rows(quick) + _fit_rows(quick)
