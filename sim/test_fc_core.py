"""The FullyConnected learning core (:class:`edgekws.gateware.fc_core.FCLearningCore`)
in cocotb on Verilator, against the golden model: its testbench, its cocotb tests and
the pytest tests that run them.

:class:`TB` owns the clock, the reset and both streams of the core (a
:class:`streams.StreamSource` on ``cmd``, a :class:`streams.StreamSink` on ``rsp``). It
talks in whole transactions (:meth:`TB.transact`: a list of command beats in, the
expected number of responses out), with random idle cycles on ``cmd`` and random
back-pressure on ``rsp``. The command encoding comes from the core object itself (its
``cmd_layout`` and ``rsp_layout``), and the learning state is
:class:`edgekws.golden.learning.LearningState`.

The pytest tests at the end (``pytest sim/test_fc_core.py``, ``-m slow`` for the long
runs; ``edgekws sim fc_core``) build (once, cached) the committed Verilog of ``rtl/`` and
run one cocotb test each with a scenario, passed in the environment:

``EDGEKWS_FC_CONFIG``
    name of the core configuration in :data:`edgekws.gateware.generate.CONFIGS`.
``EDGEKWS_FC_SCENARIO``
    JSON object of overrides for the learning scenario (see :data:`SCENARIO`).
``EDGEKWS_FC_BENCH_OUT``
    where the ``bench`` test writes its JSON measurements
    (:mod:`edgekws.bench.fc_core_cycles`).

Every learning step is checked against :func:`edgekws.golden.learning.learn`: the
result (winner neuron, class, potential) always; the potentials, weights,
threshold_learning and thswap of every active neuron plus the offset counter every
``full_every`` steps (1 = every step), and in between those of every neuron that
changed in the golden model or that the core says learned.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time

from edgekws.gateware.fc_core import VAR_WIDTH, FCLearningCore, Op, Param
from edgekws.gateware.generate import CONFIGS
from edgekws.gateware.unused import never_elaborated
from edgekws.golden.learning import (LearningParams, LearningState, add_classes,
                                     learn, random_weights)
from edgekws.golden.ops import exact_matmul
from edgekws.verilator.runner import build_and_test

from streams import CLOCK_NS, StreamSink, StreamSource, random_pause, reset, start_clock

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------ testbench
@dataclass
class Result:
    """Decoded response of INFER/LEARN."""
    neuron: int
    cls: int
    pot: int
    learn_valid: int
    learn_neuron: int
    swaps: int


def _signed(v: int, bits: int = VAR_WIDTH) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class Codec:
    """Packs command beats and unpacks responses with the core's struct layouts."""

    def __init__(self, core: FCLearningCore):
        self.core = core
        self.cmd_fields = {n: (f.offset, f.width) for n, f in core.cmd_layout}
        self.rsp_fields = {n: (f.offset, f.width) for n, f in core.rsp_layout}

    def cmd(self, op: Op, addr=0, word=0, label=0, data=0) -> int:
        v = 0
        for name, val in (("op", op.value), ("addr", addr), ("word", word),
                          ("label", label), ("data", data)):
            off, width = self.cmd_fields[name]
            v |= (int(val) & ((1 << width) - 1)) << off
        return v

    def field(self, rsp: int, name: str) -> int:
        off, width = self.rsp_fields[name]
        return (rsp >> off) & ((1 << width) - 1)

    def result(self, rsp: int) -> Result:
        return Result(*(self.field(rsp, n) for n in (
            "neuron", "cls", "pot", "learn_valid", "learn_neuron", "swaps")))

    # -- weights: neuron j, word w = inputs [w*width, (w+1)*width), bit b = input w*width+b
    def weight_words(self, weights: np.ndarray) -> list[list[int]]:
        """``(F, N)`` 0/1 -> ``(N, words)`` Python ints."""
        W = self.core.width
        F, N = weights.shape
        bits = weights.T.reshape(N, F // W, W).astype(np.uint8)
        packed = np.packbits(bits, axis=2, bitorder="little")
        return [[int.from_bytes(packed[j, w].tobytes(), "little")
                 for w in range(F // W)] for j in range(N)]

    def spike_words(self, x: np.ndarray) -> list[int]:
        W = self.core.width
        packed = np.packbits(np.asarray(x, np.uint8).reshape(-1, W), axis=1,
                             bitorder="little")
        return [int.from_bytes(r.tobytes(), "little") for r in packed]


class TB:
    """Clock, reset and the two streams of one FCLearningCore instance.

    Parameters
    ----------
    dut : cocotb handle of the Verilog top.
    core : FCLearningCore
        The (unelaborated) Python object of the same configuration: gives the
        layouts and sizes.
    seed : int
    idle : float
        Probability of 1 to 4 idle cycles before a command beat.
    backpressure : float
        Probability that ``rsp.ready`` drops for 1 to 8 cycles after a response.
    """

    def __init__(self, dut, core: FCLearningCore, *, seed: int = 1,
                 idle: float = 0.2, backpressure: float = 0.3):
        self.dut = dut
        self.core = core
        self.codec = Codec(core)
        rng = random.Random(seed)
        self.cmd = StreamSource(dut, "cmd", random_pause(rng, idle, 4))
        self.rsp = StreamSink(dut, "rsp", random_pause(rng, backpressure, 8))
        start_clock(dut)

    async def reset(self):
        await reset(self.dut)
        self.rsp.start()

    async def transact(self, beats: list[int], n_rsp: int) -> list[int]:
        """Send ``beats`` on ``cmd`` and return the next ``n_rsp`` ``rsp`` payloads.

        Returns right after the edge that moved the last of them (or the last beat).
        """
        assert not self.rsp.beats, \
            f"the core sent {len(self.rsp.beats)} responses nobody asked for"
        await self.cmd.send(beats)
        return await self.rsp.take(n_rsp)

    # ------------------------------------------------------------------ helpers
    async def write_params(self, **values):
        c = self.codec
        beats = [c.cmd(Op.WRITE_PARAM, addr=Param[name.upper()].value, data=v)
                 for name, v in values.items()]
        await self.transact(beats, 0)

    async def read_param(self, name: str) -> int:
        (r,) = await self.transact(
            [self.codec.cmd(Op.READ_PARAM, addr=Param[name.upper()].value)], 1)
        v = self.codec.field(r, "data")
        return _signed(v) if name.upper() not in ("NUM_NEURONS", "NUM_CLASSES",
                                                  "NEURONS_PER_CLASS", "OFFSET") else v

    async def load(self, params: LearningParams, state: LearningState):
        """Load a golden ``(params, state)`` into the core (active neurons = N)."""
        c = self.codec
        F, N = state.weights.shape
        K = params.num_classes
        beats = [c.cmd(Op.WRITE_PARAM, addr=p.value, data=v & 0xFFFF) for p, v in (
            (Param.NUM_NEURONS, N), (Param.NUM_CLASSES, K),
            (Param.NEURONS_PER_CLASS, N // K), (Param.THSWAP_INIT, params.thswap_init),
            (Param.DECAY, params.decay), (Param.THSWAP_MIN, params.thswap_min),
            (Param.THL_CAP, params.thl_cap), (Param.OFFSET, state.offset))]
        beats += self.weight_beats(state.weights, 0)
        for j in range(N):
            beats.append(c.cmd(Op.WRITE_THL, addr=j,
                               data=int(state.threshold_learning[j]) & 0xFFFF))
            beats.append(c.cmd(Op.WRITE_THSWAP, addr=j,
                               data=int(state.thswap[j]) & 0xFFFF))
        await self.transact(beats, 0)

    def weight_beats(self, weights: np.ndarray, first_neuron: int) -> list[int]:
        c = self.codec
        return [c.cmd(Op.WRITE_WEIGHT, addr=first_neuron + j, word=w, data=v)
                for j, row in enumerate(c.weight_words(weights)) for w, v in enumerate(row)]

    async def read_neurons(self, neurons, *, pots=True) -> dict:
        """Weights, thl, thswap (and pots) of ``neurons``; also the offset."""
        c = self.codec
        words = self.core.words
        neurons = list(neurons)
        beats = []
        for j in neurons:
            beats += [c.cmd(Op.READ_WEIGHT, addr=j, word=w) for w in range(words)]
            beats += [c.cmd(Op.READ_THL, addr=j), c.cmd(Op.READ_THSWAP, addr=j)]
            if pots:
                beats.append(c.cmd(Op.READ_POT, addr=j))
        beats.append(c.cmd(Op.READ_PARAM, addr=Param.OFFSET.value))
        rsp = [c.field(r, "data") for r in await self.transact(beats, len(beats))]
        per = words + 2 + int(pots)
        W = self.core.width
        F = self.core.num_inputs
        w = np.zeros((F, len(neurons)), np.uint8)
        thl = np.zeros(len(neurons), np.int64)
        sw = np.zeros(len(neurons), np.int64)
        pt = np.zeros(len(neurons), np.int64)
        for k in range(len(neurons)):
            r = rsp[k * per:(k + 1) * per]
            v = 0
            for i in range(words):
                v |= r[i] << (i * W)
            w[:, k] = [(v >> b) & 1 for b in range(F)]
            thl[k] = _signed(r[words])
            sw[k] = _signed(r[words + 1])
            if pots:
                pt[k] = r[words + 2]
        return dict(weights=w, thl=thl, thswap=sw, pots=pt, offset=rsp[-1])

    async def sample(self, op: Op, x: np.ndarray, label: int = -1) -> Result:
        """Run one INFER or LEARN sample; return its result."""
        c = self.codec
        beats = [c.cmd(op, label=label, data=v) for v in c.spike_words(x)]
        (r,) = await self.transact(beats, 1)
        return c.result(r)

    async def add_classes(self, n_new: int, new_weights: np.ndarray, first_neuron: int):
        """Load the new neurons' weights, then ``ADD_CLASSES``."""
        beats = self.weight_beats(new_weights, first_neuron)
        beats.append(self.codec.cmd(Op.ADD_CLASSES, data=n_new))
        await self.transact(beats, 0)


# ---------------------------------------------------------------------- cocotb tests
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
    res = {}
    for op in (Op.INFER, Op.LEARN):
        cycles = []
        t_wall = time.monotonic()
        t_sim0 = get_sim_time("ns")
        for _ in range(scen["samples"]):
            x, label = source(K)
            t = get_sim_time("ns")
            r = await tb.sample(op, x, label)
            cycles.append((get_sim_time("ns") - t) / CLOCK_NS)
            if op == Op.LEARN:
                cycles[-1] = (cycles[-1], r.learn_valid and r.swaps > 0)
        wall = time.monotonic() - t_wall
        sim_cycles = (get_sim_time("ns") - t_sim0) / CLOCK_NS
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
    await Timer(200_000 * CLOCK_NS, unit="ns")
    res["idle_sim_cycles_per_s"] = 200_000 / (time.monotonic() - t_wall)
    N = K * m
    res.update(config=name, num_inputs=F, num_neurons=N, lanes=core.lanes,
               width=core.width, samples=scen["samples"],
               bound_cycles=-(-N * F // (core.lanes * core.width)))
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


# ---------------------------------------------------------------------- pytest tests
def run(config: str, testcase: str, **scenario):
    """The cocotb test ``testcase`` of this module on the committed Verilog of
    ``config``, with the ``scenario`` overrides."""
    build_and_test(
        toplevel=config,
        verilog_sources=[REPO / "rtl" / f"{config}.v"],
        test_module="test_fc_core",
        test_dirs=[Path(__file__).parent],
        testcase=testcase,
        extra_env={"EDGEKWS_FC_CONFIG": config,
                   "EDGEKWS_FC_SCENARIO": json.dumps(scenario)},
    )


def test_readback_f64():
    run("fc_learning_core", "readback")


def test_label_out_of_range_f64():
    run("fc_learning_core", "label_out_of_range")


def test_inference_f64():
    run("fc_learning_core", "inference", num_classes=8, per_class=8, infer_samples=60)


def test_learning_f64_add_classes():
    # 2 then 4 classes of 16 neurons, 1500 samples, full comparison after every one.
    run("fc_learning_core", "learning", seed=2, num_classes=2, per_class=16,
        add_at=600, add_classes=2, samples=1500)


def test_learning_f64_one_class():
    # K == 1: any label is ignored, every neuron is a candidate.
    run("fc_learning_core", "learning", seed=3, num_classes=1, per_class=24,
        samples=400, unlabeled=0.0)


def test_learning_f64_1024_neurons():
    # 64 classes x 16 neurons (the product size); full comparison every 50 samples,
    # the changed neurons' state after every sample.
    run("fc_learning_core", "learning", seed=4, num_classes=60, per_class=16,
        add_at=150, add_classes=4, samples=300, full_every=50)


def test_readback_f1024():
    run("fc_learning_core_f1024_l2", "readback")


def test_learning_f1024_lanes2():
    run("fc_learning_core_f1024_l2", "learning", seed=5, num_classes=3, per_class=6,
        add_at=100, add_classes=1, samples=250)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 14))
def test_learning_f64_long(seed):
    run("fc_learning_core", "learning", seed=seed, num_classes=5, per_class=8,
        add_at=2000, add_classes=3, samples=5000)


@pytest.mark.slow
def test_learning_f64_1024_neurons_full_every_sample():
    # Full state (1024 potentials, weights, thl, thswap, offset) after every sample.
    run("fc_learning_core", "learning", seed=22, num_classes=63, per_class=16,
        add_at=200, add_classes=1, samples=400, full_every=1)


@pytest.mark.slow
def test_learning_f64_1024_neurons_long():
    run("fc_learning_core", "learning", seed=20, num_classes=62, per_class=16,
        add_at=1000, add_classes=2, samples=3000, full_every=200)


@pytest.mark.slow
def test_learning_lanes8():
    # 8 lanes x 32 bits (two words per neuron); 1024 neurons at the end.
    run("fc_learning_core_l8_w32", "readback")
    run("fc_learning_core_l8_w32", "inference", num_classes=5, per_class=12,
        infer_samples=60)
    run("fc_learning_core_l8_w32", "learning", seed=23, num_classes=5, per_class=12,
        add_at=700, add_classes=3, samples=2000)
    run("fc_learning_core_l8_w32", "learning", seed=24, num_classes=62, per_class=16,
        add_at=100, add_classes=2, samples=300, full_every=20)


@pytest.mark.slow
def test_learning_f1024_long():
    run("fc_learning_core_f1024_l2", "learning", seed=21, num_classes=4, per_class=16,
        add_at=500, add_classes=2, samples=1500, full_every=10)


def test_bench_function():
    """``edgekws.bench.fc_core_cycles.measure_fc_core`` (used by ``make bench``) works."""
    from edgekws.bench.fc_core_cycles import measure_fc_core
    res = measure_fc_core(num_classes=4, per_class=4, samples=5)
    assert res["bound_cycles"] == 16
    assert res["bound_cycles"] <= res["infer_cycles_mean"] <= res["learn_cycles_max"]
    assert res["infer_sim_cycles_per_s"] > 0


def test_learning_f64_real_speech_spikes(tmp_path):
    """Spikes of real speech (FSDD digits, or MFCC-like frames where FSDD is absent)
    through the shipped DS-CNN extractor, learned with the tutorial's parameters."""
    import numpy as np

    from edgekws.golden.zoo import mfcc_like_inputs
    from edgekws.models import shipped_model_path
    from edgekws.tutorial.edge_learning import extractor_of
    extractor, _, extra = extractor_of(shipped_model_path())
    try:
        from edgekws.data.fsdd import list_fsdd, load_fsdd
        from edgekws.data.mfcc import MfccScaling, mfcc
        samples = list_fsdd(digits=range(8))[::5]
        waves, words, _ = load_fsdd(samples)
        x = MfccScaling.from_dict(extra["mfcc_scaling"]).to_uint8(mfcc(waves))[..., None]
        y = np.array([s.digit for s in samples])
    except (FileNotFoundError, ValueError):
        x, y = mfcc_like_inputs(240, seed=3), np.arange(240) % 8
    spikes = extractor.forward(x).reshape(len(x), -1)
    order = np.random.default_rng(0).permutation(len(x))
    np.savez(tmp_path / "spikes.npz", x=spikes[order], y=y[order])
    run("fc_learning_core", "learning", seed=7, num_classes=8, per_class=8, samples=240,
        spikes_file=str(tmp_path / "spikes.npz"), unlabeled=0.05,
        params=dict(num_weights=26, learning_competition=0.1))
