"""cocotb bench for :class:`edgekws.gateware.fc_core.FCLearningCore`.

:class:`TB` owns the clock, the reset and both streams of the core. It talks in whole
transactions (:meth:`TB.transact`: a list of command beats in, the expected number of
responses out), with random idle cycles on ``cmd`` and random back-pressure on
``rsp``, and sleeps on ``rsp.valid`` while the core computes, so Python runs only on
cycles where something moves (cocotb + Verilator: about 1M cycles/s when awaiting,
about 50k cycles/s with Python on every cycle).

The command encoding comes from the core object itself (its ``cmd_layout`` and
``rsp_layout``), and the learning state is :class:`edgekws.golden.learning.LearningState`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from edgekws.gateware.fc_core import VAR_WIDTH, FCLearningCore, Op, Param
from edgekws.golden.learning import LearningParams, LearningState

__all__ = ["TB", "Result", "Codec"]


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
    """Clock, reset and stream drivers of one FCLearningCore instance.

    Parameters
    ----------
    dut : cocotb handle of the Verilog top.
    core : FCLearningCore
        The (unelaborated) Python object of the same configuration: gives the
        layouts and sizes.
    seed : int
    idle : float
        Probability of an idle cycle before each command beat.
    backpressure : float
        Probability that ``rsp.ready`` is low on a cycle.
    """

    def __init__(self, dut, core: FCLearningCore, *, seed: int = 1,
                 idle: float = 0.2, backpressure: float = 0.3):
        self.dut = dut
        self.core = core
        self.codec = Codec(core)
        self.rng = random.Random(seed)
        self.idle = idle
        self.backpressure = backpressure
        self._valid_high = False
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        d = self.dut
        d.rst.value = 1
        d.cmd__valid.value = 0
        d.cmd__payload.value = 0
        d.rsp__ready.value = 0
        await ClockCycles(d.clk, 3)
        d.rst.value = 0
        await RisingEdge(d.clk)

    async def transact(self, beats: list[int], n_rsp: int) -> list[int]:
        """Send ``beats`` on ``cmd`` and return the next ``n_rsp`` ``rsp`` payloads.

        Each loop turn is one clock cycle: drive right after the rising edge, look
        at the handshakes in the ReadOnly phase (a transfer happens at the next edge).
        When nothing is left to send and ``rsp.valid`` is low, it sleeps until
        ``rsp.valid`` rises instead of waking up every cycle.
        """
        d = self.dut
        clk = d.clk
        cmd_valid, cmd_ready, cmd_payload = d.cmd__valid, d.cmd__ready, d.cmd__payload
        rsp_valid, rsp_ready, rsp_payload = d.rsp__valid, d.rsp__ready, d.rsp__payload
        rng, idle, bp = self.rng, self.idle, self.backpressure
        out: list[int] = []
        n_beats = len(beats)
        i = 0
        presenting = False       # cmd.valid is high with beats[i]
        ready_now = None
        sleep = False
        while i < n_beats or len(out) < n_rsp:
            if sleep:
                await RisingEdge(rsp_valid)
            else:
                await RisingEdge(clk)
            # -- drive (a beat stays presented until it is accepted)
            if not presenting:
                if i < n_beats and rng.random() >= idle:
                    cmd_payload.value = beats[i]
                    cmd_valid.value = 1
                    presenting = True
                elif self._valid_high:
                    cmd_valid.value = 0
                self._valid_high = presenting
            ready = len(out) < n_rsp and rng.random() >= bp
            if ready != ready_now:
                rsp_ready.value = int(ready)
                ready_now = ready
            # -- sample
            await ReadOnly()
            if presenting and cmd_ready.value:
                i += 1
                presenting = False
            rv = rsp_valid.value
            if rv and ready:
                out.append(rsp_payload.value.to_unsigned())
            # Sleep only once cmd.valid is already low, so no beat repeats.
            sleep = (i == n_beats and not self._valid_high and not rv
                     and len(out) < n_rsp)
        if self._valid_high:
            await RisingEdge(clk)
            cmd_valid.value = 0
            self._valid_high = False
        return out

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
