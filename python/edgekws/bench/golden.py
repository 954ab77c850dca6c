"""Golden model against the akida engine: DS-CNN forward and native learning fit."""
from __future__ import annotations

import time

import numpy as np

from edgekws.bench import RUNS, Row, Timings, ratios, spread

TITLE = "Golden model vs the akida engine (Akida Execution Engine 2.19.3, software backend)"


#: Pause before each timed call: the engine's worker threads keep spinning for a while
#: after it returns, and would otherwise steal the CPU from whatever is timed next.
SETTLE_S = 1.0


def _settled(timings, fn):
    """``timings(fn)`` after the settling pause."""
    time.sleep(SETTLE_S)
    return timings(fn)


def _cpu_note(ours, engine):
    return (f"CPU time (all threads) {spread(ours.cpu, '{:.2f}')} s vs "
            f"{spread(engine.cpu, '{:.2f}')} s, {ratios(engine.cpu, ours.cpu)}")


def _forward_rows(quick):
    from edgekws.golden.engine import to_engine
    from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize
    n = 2000 if quick else 10000
    model = randomize(ds_cnn_kws(33), mfcc_like_inputs(256, seed=1), seed=2)
    eng = to_engine(model)
    x = mfcc_like_inputs(n, seed=3)
    runs = 1 if quick else RUNS
    tg, te = Timings(), Timings()
    for _ in range(runs):  # interleaved: a change of machine load hits both sides
        og = _settled(tg, lambda: model.forward(x))
        oe = _settled(te, lambda: eng.forward(x))
    exact = bool(np.array_equal(oe, og))
    return [Row(f"DS-CNN forward, {n:,} samples (49x10x1 -> 64 spikes -> FC 33), s",
                spread(tg.wall, "{:.2f}"), f"engine {spread(te.wall, '{:.2f}')} s",
                ratios(te.wall, tg.wall), "make bench",
                f"{1e3 * np.median(tg.wall) / n:.3f} ms/sample (median); "
                f"{_cpu_note(tg, te)}; bit-exact: "
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
    tg, te, tread = Timings(), Timings(), Timings()
    outs = [_settled(tg, lambda: g.fit(x, y)) for g, _ in pairs]
    for _, e in pairs:
        out_e = None  # the previous outputs are freed before the next fit, as they were
        out_e = _settled(te, lambda: e.fit(x, y))
    exact = all(np.array_equal(e.layers[-1].get_variable(v), g.layers[-1].get_variable(v))
                for g, e in pairs for v in ("weights", "threshold_learning", "thswap"))
    # The golden fit returns its outputs unbuilt (a LazyArray): building them on first
    # read is timed apart, and the last run's are compared with the engine's.
    for i in range(runs):
        built = _settled(tread, lambda: np.asarray(outs[i]))
        outs[i] = None
    same_out = np.array_equal(built, out_e)
    del built, out_e
    return [Row(f"native learning fit, {n:,} x 64-bit spikes into {K} classes x {m} neurons, "
                f"num_weights {k}, s", spread(tg.wall, "{:.2f}"),
                f"engine {spread(te.wall, '{:.2f}')} s", ratios(te.wall, tg.wall), "make bench",
                f"{1e6 * np.median(tg.wall) / n:.1f} us/sample (median); {_cpu_note(tg, te)}; "
                f"bit-exact weights/thl/"
                f"thswap in every run: {'yes' if exact else 'NO'}, outputs of the last run: "
                f"{'yes' if same_out else 'NO'}; the golden outputs (potentials) are built "
                f"on first read, not in the figure: {spread(tread.wall, '{:.2f}')} s "
                f"(CPU {spread(tread.cpu, '{:.2f}')} s); clustered random spikes; "
                f"a fresh model per run, min / median / max of {runs} runs, each after a "
                "1 s pause")]


def run(quick: bool = False):
    return _forward_rows(quick) + _fit_rows(quick)
