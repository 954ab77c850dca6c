"""Golden model against the akida engine: DS-CNN forward and native learning fit."""
from __future__ import annotations

import time

import numpy as np

from edgekws.bench import Row

TITLE = "Golden model vs the akida engine (Akida Execution Engine 2.19.3, software backend)"


#: Pause before each timed call: the engine's worker threads keep spinning for a while
#: after it returns, and would otherwise steal the CPU from whatever is timed next.
SETTLE_S = 1.0


def _timed(fn):
    time.sleep(SETTLE_S)
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _best(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t, out = _timed(fn)
        best = min(best, t)
    return best, out


def _forward_rows(quick):
    from edgekws.golden.engine import to_engine
    from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize
    n = 2000 if quick else 10000
    model = randomize(ds_cnn_kws(33), mfcc_like_inputs(256, seed=1), seed=2)
    eng = to_engine(model)
    x = mfcc_like_inputs(n, seed=3)
    tg, og = _best(lambda: model.forward(x), 1 if quick else 3)
    te, oe = _best(lambda: eng.forward(x), 1 if quick else 2)
    exact = bool(np.array_equal(oe, og))
    return [Row(f"DS-CNN forward, {n:,} samples (49x10x1 -> 64 spikes -> FC 33)",
                f"{tg:.2f} s ({1e3 * tg / n:.3f} ms/sample)",
                f"engine {te:.2f} s ({1e3 * te / n:.3f} ms/sample)", f"{te / tg:.2f}x faster",
                "make bench",
                f"bit-exact: {'yes' if exact else 'NO'}; random calibrated weights, "
                "MFCC-like inputs; best of runs, each after a 1 s pause")]


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
    reps = 1 if quick else 3
    pairs = [fresh_pair() for _ in range(reps)]
    tg = min(_timed(lambda: g.fit(x, y))[0] for g, _ in pairs)
    te = min(_timed(lambda: e.fit(x, y))[0] for _, e in pairs)
    g, e = pairs[-1]
    exact = all(np.array_equal(e.layers[-1].get_variable(v), g.layers[-1].get_variable(v))
                for v in ("weights", "threshold_learning", "thswap"))
    return [Row(f"native learning fit, {n:,} x 64-bit spikes into {K} classes x {m} neurons, "
                f"num_weights {k}", f"{tg:.2f} s ({1e6 * tg / n:.1f} us/sample)",
                f"engine {te:.2f} s ({1e6 * te / n:.1f} us/sample)", f"{te / tg:.2f}x faster",
                "make bench", f"bit-exact weights/thl/thswap: {'yes' if exact else 'NO'}; "
                "clustered random spikes; best of 3 runs, each after a 1 s pause")]


def run(quick: bool = False):
    return _forward_rows(quick) + _fit_rows(quick)
