"""Golden model against the akida engine: DS-CNN forward and native learning fit."""
from __future__ import annotations

import time

import numpy as np

from edgekws.bench import Row

TITLE = "Golden model vs the akida engine (Akida Execution Engine 2.19.3, software backend)"


def _best(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _forward_rows(quick):
    from edgekws.golden.engine import to_engine
    from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize
    n = 2000 if quick else 10000
    model = randomize(ds_cnn_kws(33), mfcc_like_inputs(256, seed=1), seed=2)
    eng = to_engine(model)
    x = mfcc_like_inputs(n, seed=3)
    te, oe = _best(lambda: eng.forward(x), 1 if quick else 2)
    tg, og = _best(lambda: model.forward(x), 1 if quick else 3)
    exact = bool(np.array_equal(oe, og))
    return [Row(f"DS-CNN forward, {n:,} samples (49x10x1 -> 64 spikes -> FC 33)",
                f"{tg:.2f} s ({1e3 * tg / n:.3f} ms/sample)",
                f"engine {te:.2f} s ({1e3 * te / n:.3f} ms/sample)", f"{te / tg:.2f}x faster",
                "make bench",
                f"bit-exact: {'yes' if exact else 'NO'}; random calibrated weights, "
                "MFCC-like inputs; best of runs")]


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

    tg = te = float("inf")
    for _ in range(1 if quick else 2):
        g, e = fresh_pair()
        t = time.perf_counter(); e.fit(x, y); te = min(te, time.perf_counter() - t)
        t = time.perf_counter(); g.fit(x, y); tg = min(tg, time.perf_counter() - t)
    exact = all(np.array_equal(e.layers[-1].get_variable(v), g.layers[-1].get_variable(v))
                for v in ("weights", "threshold_learning", "thswap"))
    return [Row(f"native learning fit, {n:,} x 64-bit spikes into {K} classes x {m} neurons, "
                f"num_weights {k}", f"{tg:.2f} s ({1e6 * tg / n:.1f} us/sample)",
                f"engine {te:.2f} s ({1e6 * te / n:.1f} us/sample)", f"{te / tg:.2f}x faster",
                "make bench", f"bit-exact weights/thl/thswap: {'yes' if exact else 'NO'}; "
                "clustered random spikes; best of runs")]


def run(quick: bool = False):
    return _forward_rows(quick) + _fit_rows(quick)
