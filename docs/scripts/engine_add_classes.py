"""What does the akida engine (2.19.3) do after ``add_classes``?  Differential runs
against the golden model (``edgekws.golden``), which implements the product rule:
new neurons appended, k random ones each, threshold_learning 0, thswap = thswap_init,
old neurons untouched, offset counter reset to 0.

Run:  .venv/bin/python docs/scripts/engine_add_classes.py [runs_per_variant] [--controls]
      (default 100 runs; a few seconds of CPU)

Every run: random F, K, m, optimizer; the same weights are set in both models after
compile (threshold and act_step were set to random values before compile); fit;
add_classes(n) (n = 1..3, one or two rounds, with fits between); the
engine's own random weights for the new neurons are copied into the golden model
(``set_variable('weights')`` on the golden side only: it resets the golden offset to 0,
as add_classes does); fit again; weights, threshold_learning, thswap (and the fit
outputs when activation=False), threshold and act_step are compared bit for bit
after every fit. Right after each add_classes the engine's own state is checked against
the rule ("init as the rule").

Variants:
  plain      nothing else touches the engine after add_classes
  setw       new random weights for all neurons set in both models after add_classes
             (engine ``model.layers[-1].set_variable``)
  reload     engine ``save`` + ``akida.Model(path)`` after add_classes (golden too)
  userstate  threshold_learning/thswap of the old neurons set to random values before
             add_classes (are new neurons' values copies, or thswap_init / 0?)
  addfirst   add_classes right after compile, before any fit
The "stale" line counts the runs where a layer handle taken *before* add_classes
(``L = model.layers[-1]``) differs from the model's real state after the next fit.
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

import akida
import edgekws.golden as golden
from edgekws.golden.learning import random_weights

NAMES = ("weights", "threshold_learning", "thswap", "threshold", "act_step")


def state(layer):
    return [layer.get_variable(n) for n in NAMES]


def same(a, b):
    return all(x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y)
               for x, y in zip(a, b))


def data(rng, n, F, K, density, noise, minus_one):
    centers = rng.random((K, F)) < density
    y = rng.integers(0, K, n).astype(np.int32)
    x = centers[y] ^ (rng.random((n, F)) < noise)
    if minus_one:
        y[rng.random(n) < minus_one] = -1
    return x.reshape(n, 1, 1, F).astype(np.uint8), y


def run(seed, variant, tmp):
    rng = np.random.default_rng(seed)
    F = int(rng.choice([16, 32, 64]))
    K = int(rng.integers(1, 4))
    m = int(rng.integers(1, 4))
    N = K * m
    k = int(rng.integers(2, F // 2))
    opt = dict(num_weights=k, num_classes=K,
               initial_plasticity=float(rng.uniform(0.1, 1)),
               learning_competition=float(rng.uniform(0, 0.5)),
               plasticity_decay=float(rng.uniform(0, 0.5)))
    act = bool(rng.random() < 0.3)
    minus_one = 0.2 if rng.random() < 0.3 else 0.0
    eng, gold = akida.Model(), golden.Model()
    eng.add(akida.InputData((1, 1, F), input_bits=1))
    eng.add(akida.FullyConnected(N, activation=act))
    gold.add(golden.InputData((1, 1, F), input_bits=1))
    gold.add(golden.FullyConnected(N, activation=act))
    # threshold/act_step set before compile: compile and add_classes must keep them
    th = rng.integers(-3, k, N).astype(np.int32)
    st = rng.choice([1.0, 1.5, 2.0, 0.25], N).astype(np.float32)
    for mdl in (eng, gold):
        mdl.layers[-1].set_variable("threshold", th)
        mdl.layers[-1].set_variable("act_step", st)
    eng.compile(optimizer=akida.AkidaUnsupervised(**opt))
    gold.compile(golden.AkidaUnsupervised(**opt), seed=seed)
    w = random_weights(F, N, k, rng).reshape(1, 1, F, N).astype(np.int8)
    eng.layers[-1].set_variable("weights", w)
    gold.layers[-1].set_variable("weights", w)
    thswap_init = gold.learning.thswap_init
    adds = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(1, 3)))]
    Kt = K + sum(adds)
    x, y = data(rng, 100 * (len(adds) + 1), F, Kt, rng.uniform(0.2, 0.5),
                rng.uniform(0, 0.15), minus_one)
    r = dict(match=True, init_ok=True, stale_differs=False, new_learned=False,
             old_learned_after=False)

    def fit(xs, ys):
        oe, og = eng.fit(xs, ys), gold.fit(xs, ys)
        if not act and not np.array_equal(oe, og):
            r["match"] = False
        if not same(state(eng.layers[-1]), state(gold.layers[-1])):
            r["match"] = False

    Kc, pos = K, 0
    if variant != "addfirst":
        sel = np.nonzero(y < Kc)[0][:100]
        fit(x[sel], y[sel])
    for n in adds:
        if variant == "userstate":
            for name in ("threshold_learning", "thswap"):
                v = rng.integers(0, k + 1, gold.layers[-1].units).astype(np.int32)
                eng.layers[-1].set_variable(name, v)
                gold.layers[-1].set_variable(name, v)
        stale = eng.layers[-1]
        before = state(gold.layers[-1])
        Nb = before[0].shape[-1]
        eng.add_classes(n)
        gold.add_classes(n, seed=seed)
        Le, Lg = eng.layers[-1], gold.layers[-1]
        se = state(Le)
        wn = se[0][0, 0, :, Nb:]
        # the engine's initial state of the new neurons and of the old ones
        ok = (se[0].shape[-1] == Nb + n * m and se[1].shape == (Nb + n * m,)
              and se[2].shape == (Nb + n * m,)
              and np.array_equal(se[0][..., :Nb], before[0])
              and np.array_equal(se[1][:Nb], before[1]) and np.array_equal(se[2][:Nb], before[2])
              and (wn.sum(axis=0) == k).all() and (se[1][Nb:] == 0).all()
              and (se[2][Nb:] == thswap_init).all()
              and int(eng.learning.num_classes) == Kc + n
              and np.array_equal(Le.get_variable("threshold"), Lg.get_variable("threshold"))
              and np.array_equal(Le.get_variable("act_step"), Lg.get_variable("act_step")))
        r["init_ok"] &= bool(ok)
        Lg.set_variable("weights", se[0])  # same random new neurons; offset 0 on both sides
        if variant == "setw":
            w = random_weights(F, Nb + n * m, k, rng).reshape(1, 1, F, -1).astype(np.int8)
            Le.set_variable("weights", w)
            Lg.set_variable("weights", w)
        if variant == "reload":
            pe, pg = os.path.join(tmp, "e.fbz"), os.path.join(tmp, "g.ekws")
            eng.save(pe)
            eng = akida.Model(pe)
            gold.save(pg)
            gold = golden.Model(pg)
        if not same(state(eng.layers[-1]), state(gold.layers[-1])):
            r["match"] = False
        Kc += n
        pos += 1
        sel = np.nonzero(y < Kc)[0][100 * pos:100 * (pos + 1)]
        fit(x[sel], y[sel])
        after = state(gold.layers[-1])
        r["new_learned"] |= bool((after[1][Nb:] > 0).any())
        r["old_learned_after"] |= bool((after[2][:Nb] != before[2]).any()
                                       or (after[0][..., :Nb] != before[0]).any())
        if not same(state(stale), [a[..., :Nb] for a in state(eng.layers[-1])]):
            r["stale_differs"] = True
    return r


def controls(runs, tmp):
    """Negative controls: replay with a *wrong* rule for the new neurons / offset and count
    how often it still matches the engine (shows the comparison can tell them apart)."""
    import edgekws.golden.learning as gl
    import edgekws.golden.model as gm
    orig = gl.add_classes

    def patched(kind):
        def add_classes(params, st, n, rng=None):
            p, s = orig(params, st, n, rng)
            N = st.weights.shape[1]
            if kind == "thswap copied from old neurons":
                s.thswap[N:] = np.resize(st.thswap, s.thswap[N:].shape)
            elif kind == "thswap = thswap_min":
                s.thswap[N:] = params.thswap_min
            elif kind == "thl copied from old neurons":
                s.threshold_learning[N:] = np.resize(st.threshold_learning,
                                                     s.threshold_learning[N:].shape)
            elif kind == "offset kept (not reset)":
                s.offset = st.offset
            return p, s
        return add_classes

    # In run() the golden side gets set_variable('weights') right after add_classes,
    # which resets its offset: for the offset control, restore it after that call.
    fc = golden.FullyConnected
    orig_set = fc.set_variable

    for kind in ("thswap copied from old neurons", "thswap = thswap_min",
                 "thl copied from old neurons", "offset kept (not reset)"):
        gm._learning.add_classes = patched(kind)
        if kind.startswith("offset"):
            def set_variable(self, name, value, _orig=orig_set):
                keep = self.offset
                _orig(self, name, value)
                if name == "weights" and getattr(self, "_keep_offset", False):
                    self.offset = keep
                    self._keep_offset = False
            orig_grow = fc.grow

            def grow(self, units, _orig=orig_grow):
                _orig(self, units)
                self._keep_offset = True
            fc.set_variable, fc.grow = set_variable, grow
        try:
            res = [run(s, variant, tmp) for variant in ("plain", "userstate")
                   for s in range(runs)]
        finally:
            gm._learning.add_classes = orig
            fc.set_variable = orig_set
            if kind.startswith("offset"):
                fc.grow = orig_grow
        print(f"control, {kind:31s}: still matches the engine in "
              f"{sum(r['match'] for r in res)}/{len(res)} runs")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    runs = int(args[0]) if args else 100
    print(f"akida {akida.__version__}, {runs} random runs per variant")
    with tempfile.TemporaryDirectory() as tmp:
        stale = total = 0
        for variant in ("plain", "setw", "reload", "userstate", "addfirst"):
            res = [run(s, variant, tmp) for s in range(runs)]
            c = lambda key: sum(r[key] for r in res)  # noqa: E731
            print(f"{variant:9s}: engine == golden rule {c('match')}/{runs}; "
                  f"engine init after add_classes as the rule {c('init_ok')}/{runs}; "
                  f"runs where new neurons learned {c('new_learned')}, "
                  f"old neurons learned after add_classes {c('old_learned_after')}")
            stale += c("stale_differs")
            total += runs
        print(f"stale handle (taken before add_classes) differs from the model after the "
              f"next fit: {stale}/{total}")
        if "--controls" in sys.argv:
            controls(runs, tmp)


if __name__ == "__main__":
    main()
