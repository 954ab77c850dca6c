"""cocotb tests of the FullyConnected learning core against the golden model.

Run through pytest (``tests/test_sim_fc_core.py``), which builds the Verilog of
``rtl/`` and passes the configuration in the environment:

``EDGEKWS_FC_CONFIG``
    name of the core configuration in :data:`edgekws.gateware.generate.CONFIGS`.
``EDGEKWS_FC_SCENARIO``
    JSON object of overrides for the learning scenario (see :data:`SCENARIO`).
``EDGEKWS_FC_BENCH_OUT``
    where the ``bench`` test writes its JSON measurements.

Every learning step is checked against :func:`edgekws.golden.learning.learn`: the
result (winner neuron, class, potential) always; the potentials, weights,
threshold_learning and thswap of every active neuron plus the offset counter every
``full_every`` steps (1 = every step), and in between those of every neuron that
changed in the golden model or that the core says learned.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time

from edgekws.gateware.fc_core import FCLearningCore, Op
from edgekws.gateware.generate import CONFIGS
from edgekws.gateware.unused import never_elaborated
from edgekws.golden.learning import (LearningParams, LearningState, add_classes,
                                     learn, random_weights)
from edgekws.golden.ops import exact_matmul

from fc_core_driver import TB

#: Defaults of the learning scenario (overridden by EDGEKWS_FC_SCENARIO).
SCENARIO = dict(
    seed=1,
    num_classes=4,          # K at the start
    per_class=16,           # m neurons per class
    add_at=None,            # sample index of an add_classes (None: never)
    add_classes=2,          # classes added there
    samples=500,
    unlabeled=0.15,         # fraction of samples with label -1
    clustered=0.8,          # fraction of samples drawn near a class prototype
    flip=0.12,              # bit-flip probability around the prototype
    full_every=1,           # full state comparison period
    idle=0.2,
    backpressure=0.3,
)


def _config():
    name = os.environ.get("EDGEKWS_FC_CONFIG", "fc_learning_core")
    scen = dict(SCENARIO)
    scen.update(json.loads(os.environ.get("EDGEKWS_FC_SCENARIO", "{}")))
    core = FCLearningCore(**CONFIGS[name])
    never_elaborated(core)   # only its layouts are used here
    return name, core, scen


def _random_params(rng, F, K):
    k = int(rng.integers(max(2, F // 10), max(3, F // 2)))
    return LearningParams.create(
        k, num_classes=K,
        initial_plasticity=float(rng.choice([1.0, rng.uniform(0.2, 1.0)])),
        learning_competition=float(rng.choice([0.0, rng.uniform(0.0, 0.6)])),
        min_plasticity=float(rng.choice([float(np.float32(0.1)), rng.uniform(0.0, 0.5)])),
        plasticity_decay=float(rng.uniform(0.0, 0.6)))


class SampleSource:
    """Random and clustered spike vectors with labels, or recorded ones.

    With ``scen["spikes_file"]`` (an ``.npz`` with ``x`` (n, F) 0/1 and ``y`` labels,
    e.g. the golden feature extractor's spikes of real speech) the samples are taken
    from it in order, cycling.
    """

    def __init__(self, rng, F, scen):
        self.rng, self.F, self.scen = rng, F, scen
        self.protos = []
        self.recorded = None
        if scen.get("spikes_file"):
            data = np.load(scen["spikes_file"])
            self.recorded = (data["x"].reshape(len(data["x"]), -1).astype(np.uint8),
                             data["y"].astype(np.int64))
            assert self.recorded[0].shape[1] == F, "recorded spikes do not fit the core"
            self.next = 0

    def prototypes(self, K):
        while len(self.protos) < K:
            self.protos.append(self.rng.random(self.F) < self.rng.uniform(0.2, 0.6))

    def __call__(self, K):
        rng, scen = self.rng, self.scen
        if self.recorded is not None:
            x, y = self.recorded
            i = self.next % len(x)
            self.next += 1
            label = -1 if rng.random() < scen["unlabeled"] else int(y[i]) % K
            return x[i], label
        self.prototypes(K)
        cls = int(rng.integers(K))
        if rng.random() < scen["clustered"]:
            x = self.protos[cls] ^ (rng.random(self.F) < scen["flip"])
        else:
            x = rng.random(self.F) < rng.uniform(0.05, 0.7)
        label = -1 if rng.random() < scen["unlabeled"] else cls
        return x.astype(np.uint8), label


def _check_equal(what, got, want, step):
    got, want = np.asarray(got), np.asarray(want)
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)[:5].tolist()
        raise AssertionError(f"step {step}: {what} differs at {bad}: "
                             f"core {got[tuple(np.array(bad).T)] if bad else got} "
                             f"golden {want[tuple(np.array(bad).T)] if bad else want}")


async def _compare_full(tb, st, pots, step):
    N = st.weights.shape[1]
    hw = await tb.read_neurons(range(N))
    _check_equal("weights", hw["weights"], st.weights, step)
    _check_equal("threshold_learning", hw["thl"], st.threshold_learning, step)
    _check_equal("thswap", hw["thswap"], st.thswap, step)
    if pots is not None:
        _check_equal("potentials", hw["pots"], pots, step)
    _check_equal("offset", hw["offset"], st.offset, step)


@cocotb.test()
async def readback(dut):
    """Weights, learning variables and parameters read back as written."""
    name, core, scen = _config()
    rng = np.random.default_rng(scen["seed"])
    tb = TB(dut, core, seed=scen["seed"])
    await tb.reset()
    F, N = core.num_inputs, core.num_neurons
    p = LearningParams.create(max(1, F // 4), num_classes=4)
    n = min(N, 64)
    st = LearningState(weights=(rng.random((F, n)) < 0.5).astype(np.uint8),
                       threshold_learning=rng.integers(-300, 300, n).astype(np.int32),
                       thswap=rng.integers(-300, 300, n).astype(np.int32),
                       offset=int(rng.integers(0, F)))
    await tb.load(p, st)
    # Also the last neurons of the capacity (highest lane and address).
    hi = np.arange(N - 2, N)
    w_hi = (rng.random((F, 2)) < 0.5).astype(np.uint8)
    await tb.transact(tb.weight_beats(w_hi, N - 2), 0)
    hw = await tb.read_neurons(range(n), pots=False)
    _check_equal("weights", hw["weights"], st.weights, 0)
    _check_equal("thl", hw["thl"], st.threshold_learning, 0)
    _check_equal("thswap", hw["thswap"], st.thswap, 0)
    _check_equal("offset", hw["offset"], st.offset, 0)
    hw = await tb.read_neurons(hi, pots=False)
    _check_equal("weights", hw["weights"], w_hi, 0)
    for pname, want in (("num_neurons", n), ("num_classes", 4), ("neurons_per_class", n // 4),
                        ("thswap_init", p.thswap_init), ("decay", p.decay),
                        ("thswap_min", p.thswap_min), ("thl_cap", p.thl_cap)):
        got = await tb.read_param(pname)
        assert got == want, f"param {pname}: core {got}, written {want}"


@cocotb.test()
async def inference(dut):
    """Potentials, winner and class of random samples (with many ties)."""
    name, core, scen = _config()
    rng = np.random.default_rng(scen["seed"] + 100)
    tb = TB(dut, core, seed=scen["seed"], idle=scen["idle"],
            backpressure=scen["backpressure"])
    await tb.reset()
    F = core.num_inputs
    K, m = scen["num_classes"], scen["per_class"]
    N = K * m
    # Few weights per neuron: many equal potentials, so the tie rule matters.
    p = LearningParams.create(max(1, F // 16), num_classes=K)
    st = LearningState.initial(p, random_weights(F, N, p.num_weights, rng))
    await tb.load(p, st)
    for step in range(scen.get("infer_samples", 50)):
        x = (rng.random(F) < rng.uniform(0.05, 0.9)).astype(np.uint8)
        pots = exact_matmul(x[None], st.weights, amax=1)[0].astype(np.int64)
        win = int(np.argmax(pots))          # first maximum: ties to the lowest index
        r = await tb.sample(Op.INFER, x)
        assert (r.neuron, r.cls, r.pot) == (win, win // m, pots[win]), \
            f"sample {step}: core {r}, golden neuron {win} pot {pots[win]}"
        if step % 10 == 0:
            hw = await tb.read_neurons(range(N))
            _check_equal("potentials", hw["pots"], pots, step)


@cocotb.test()
async def learning(dut):
    """A learning run compared with the golden model after every sample."""
    name, core, scen = _config()
    rng = np.random.default_rng(scen["seed"])
    tb = TB(dut, core, seed=scen["seed"], idle=scen["idle"],
            backpressure=scen["backpressure"])
    await tb.reset()
    F = core.num_inputs
    K, m = scen["num_classes"], scen["per_class"]
    p = (LearningParams.create(num_classes=K, **scen["params"]) if scen.get("params")
         else _random_params(rng, F, K))
    st = LearningState.initial(p, random_weights(F, K * m, p.num_weights, rng))
    dut._log.info("params %s -> thswap_init %d decay %d thswap_min %d thl_cap %d",
                  p.to_dict(), p.thswap_init, p.decay, p.thswap_min, p.thl_cap)
    await tb.load(p, st)
    source = SampleSource(rng, F, scen)
    learned = 0
    t0 = time.monotonic()
    for step in range(scen["samples"]):
        if scen["add_at"] is not None and step == scen["add_at"]:
            n_old = st.weights.shape[1]
            p, st = add_classes(p, st, scen["add_classes"], rng)
            await tb.add_classes(scen["add_classes"], st.weights[:, n_old:], n_old)
            assert await tb.read_param("num_neurons") == st.weights.shape[1]
            assert await tb.read_param("num_classes") == p.num_classes
            await _compare_full(tb, st, None, step)
        K = p.num_classes
        N = st.weights.shape[1]
        x, label = source(K)
        before = st.copy()
        pots = learn(p, st, x[None], label)[0].astype(np.int64)
        r = await tb.sample(Op.LEARN, x, label)
        win = int(np.argmax(pots))
        assert (r.neuron, r.cls, r.pot) == (win, win // (N // K), pots[win]), \
            f"step {step}: core {r}, golden neuron {win} class {win // (N // K)} pot {pots[win]}"
        changed = set(np.flatnonzero(
            (before.weights != st.weights).any(axis=0)
            | (before.threshold_learning != st.threshold_learning)
            | (before.thswap != st.thswap)).tolist())
        learned += bool(changed)
        if r.learn_valid:
            changed.add(r.learn_neuron)
        if step % scen["full_every"] == 0 or step == scen["samples"] - 1:
            await _compare_full(tb, st, pots, step)
        elif changed:
            idx = sorted(changed)
            hw = await tb.read_neurons(idx)
            _check_equal("weights", hw["weights"], st.weights[:, idx], step)
            _check_equal("threshold_learning", hw["thl"], st.threshold_learning[idx], step)
            _check_equal("thswap", hw["thswap"], st.thswap[idx], step)
            _check_equal("potentials", hw["pots"], pots[idx], step)
            _check_equal("offset", hw["offset"], st.offset, step)
    dut._log.info("%d samples, %d learning events, %d neurons, %.1f s wall",
                  scen["samples"], learned, st.weights.shape[1], time.monotonic() - t0)
    assert learned > scen["samples"] // 20, "too few learning events to mean anything"


@cocotb.test()
async def label_out_of_range(dut):
    """A label >= num_classes selects no neuron: nothing learns (the golden model
    and the engine raise an error instead; the host must not send such labels)."""
    name, core, scen = _config()
    rng = np.random.default_rng(scen["seed"] + 7)
    tb = TB(dut, core, seed=scen["seed"])
    await tb.reset()
    F = core.num_inputs
    K, m = 4, 8
    p = LearningParams.create(max(2, F // 4), num_classes=K)
    st = LearningState.initial(p, random_weights(F, K * m, p.num_weights, rng))
    await tb.load(p, st)
    big = (1 << core.idx_width) - 1
    for label in (K, K + 1, 100, big):
        x = (rng.random(F) < 0.5).astype(np.uint8)
        r = await tb.sample(Op.LEARN, x, label)
        assert not r.learn_valid, f"label {label}: neuron {r.learn_neuron} learned"
    await _compare_full(tb, st, None, -1)


@cocotb.test()
async def bench(dut):
    """Cycles per INFER and LEARN sample and simulator speed (no idle/back-pressure)."""
    out = os.environ.get("EDGEKWS_FC_BENCH_OUT")
    if not out:
        return
    name, core, scen = _config()
    rng = np.random.default_rng(scen["seed"])
    tb = TB(dut, core, seed=scen["seed"], idle=0.0, backpressure=0.0)
    await tb.reset()
    F = core.num_inputs
    K, m = scen["num_classes"], scen["per_class"]
    p = LearningParams.create(max(2, F // 3), num_classes=K)
    st = LearningState.initial(p, random_weights(F, K * m, p.num_weights, rng))
    await tb.load(p, st)
    source = SampleSource(rng, F, scen)
    period = 10  # ns, see TB
    res = {}
    for op in (Op.INFER, Op.LEARN):
        cycles = []
        t_wall = time.monotonic()
        t_sim0 = get_sim_time("ns")
        for _ in range(scen["samples"]):
            x, label = source(K)
            t = get_sim_time("ns")
            r = await tb.sample(op, x, label)
            cycles.append((get_sim_time("ns") - t) / period)
            if op == Op.LEARN:
                cycles[-1] = (cycles[-1], r.learn_valid and r.swaps > 0)
        wall = time.monotonic() - t_wall
        sim_cycles = (get_sim_time("ns") - t_sim0) / period
        key = op.name.lower()
        if op == Op.LEARN:
            swapped = [c for c, s in cycles if s]
            res["learn_cycles_mean"] = float(np.mean([c for c, _ in cycles]))
            res["learn_cycles_max"] = float(np.max([c for c, _ in cycles]))
            res["learn_swap_cycles_mean"] = float(np.mean(swapped)) if swapped else None
            res["learn_events"] = len(swapped)
        else:
            res["infer_cycles_mean"] = float(np.mean(cycles))
            res["infer_cycles_max"] = float(np.max(cycles))
        res[f"{key}_sim_cycles_per_s"] = sim_cycles / wall
    # The model alone: the clock runs, Python only waits.
    t_wall = time.monotonic()
    await Timer(200_000 * period, unit="ns")
    res["idle_sim_cycles_per_s"] = 200_000 / (time.monotonic() - t_wall)
    N = K * m
    res.update(config=name, num_inputs=F, num_neurons=N, lanes=core.lanes,
               width=core.width, samples=scen["samples"],
               bound_cycles=-(-N * F // (core.lanes * core.width)))
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
