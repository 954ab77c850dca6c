"""The Wishbone wrapper (:class:`edgekws.gateware.wishbone.WishboneKWS`) in cocotb on
Verilator, through a Wishbone B4 classic master: its testbench, its cocotb tests and the
pytest tests that run them.

The pytest tests at the end (``pytest sim/test_wishbone.py``; ``edgekws sim wishbone``)
write the spikes-only wrapper's Verilog under ``build/wishbone/`` (the file the Verilator
lint of ``tests/test_gateware_wishbone.py`` checks), build it once (cached) and drive it
without and with idle cycles between accesses. The learning session's replies must be
the golden-backed emulator's (:mod:`edgekws.host.emulator`), byte for byte, with RESULT
and STATUS as ``docs/wishbone.md`` says. They pass in the environment:

``EDGEKWS_WB_IDLE``
    probability of idle cycles (``cyc`` low) before each bus access (default 0).
``EDGEKWS_WB_SESSION``
    JSON file with ``requests``: hex strings of mailbox requests (``seq, cmd,
    payload``), for the ``session`` test.
``EDGEKWS_WB_OUT``
    where ``session`` writes, for each request, the reply (hex), ``RESULT`` and
    ``STATUS`` read after it.

The session, the emulator's replies and their check are shared with the Amaranth
simulation of the wrapper: ``tests/wishbone_cases.py``.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from edgekws import protocol as p
from edgekws.gateware.wishbone import (ID_VALUE, REP_WINDOW, REQ_WINDOW, Ctrl, Reg,
                                       Status)
from edgekws.verilator.runner import build_and_test

from streams import pause_cycles, random_pause, reset, start_clock


# ------------------------------------------------------------------------ testbench
class TB:
    """Clock, reset and a Wishbone B4 classic master (single reads and writes).

    Parameters
    ----------
    dut : cocotb handle of the Verilog top (ports ``bus__cyc``, ``bus__stb``, ...).
    idle : float
        Probability of 1 to 3 idle cycles (``cyc`` and ``stb`` low) before an access.
    seed : int
    """

    def __init__(self, dut, *, idle: float = 0.0, seed: int = 1):
        self.dut = dut
        self.idle = random_pause(random.Random(seed), idle, 3)
        start_clock(dut)

    async def reset(self):
        for name in ("cyc", "stb", "we", "adr", "dat_w", "sel"):
            getattr(self.dut, f"bus__{name}").value = 0
        await reset(self.dut)

    async def _access(self, adr: int, we: int, data: int = 0, sel: int = 0xF) -> int:
        """One classic cycle: drive right after an edge, hold until ``ack`` is seen
        (ReadOnly phase), end at the next edge; the ``dat_r`` sampled with ``ack``."""
        d = self.dut
        idle = pause_cycles(self.idle)
        if idle:
            d.bus__cyc.value = d.bus__stb.value = 0
            await ClockCycles(d.clk, idle)
        d.bus__adr.value, d.bus__we.value = adr, we
        d.bus__dat_w.value, d.bus__sel.value = data, sel
        d.bus__cyc.value = d.bus__stb.value = 1
        for _ in range(16):
            await ReadOnly()
            if d.bus__ack.value:
                value = d.bus__dat_r.value.to_unsigned()
                await RisingEdge(d.clk)
                d.bus__cyc.value = d.bus__stb.value = d.bus__we.value = 0
                return value
            await RisingEdge(d.clk)
        raise AssertionError(f"no ack in 16 cycles for {'write' if we else 'read'} "
                             f"of word {adr:#x}")

    async def write(self, adr: int, data: int, sel: int = 0xF):
        """Write ``data`` to word ``adr``, only the bytes selected by ``sel``."""
        await self._access(adr, 1, data, sel)

    async def read(self, adr: int) -> int:
        """The word at ``adr``."""
        return await self._access(adr, 0)

    async def wait_done(self, timeout: int = 2_000_000) -> int:
        """Poll STATUS (every 64 cycles) until DONE; the STATUS read."""
        waited = 0
        while not (status := await self.read(Reg.STATUS)) & Status.DONE:
            assert waited < timeout, f"no DONE in {timeout} cycles (STATUS {status:#x})"
            await ClockCycles(self.dut.clk, 64)
            waited += 64
        return status

    async def mailbox(self, request: bytes) -> bytes:
        """Write ``request`` (seq, cmd, payload) into the request window, REQ_LEN,
        CTRL.START, wait for DONE; the reply (REP_LEN bytes of the reply window)."""
        for i in range(0, len(request), 4):
            chunk = request[i:i + 4]
            # The last word's missing bytes are not selected (nor written).
            await self.write(REQ_WINDOW + i // 4, int.from_bytes(chunk, "little"),
                             sel=(1 << len(chunk)) - 1)
        await self.write(Reg.REQ_LEN, len(request))
        await self.write(Reg.CTRL, Ctrl.START)
        await self.wait_done()
        n = await self.read(Reg.REP_LEN)
        words = [await self.read(REP_WINDOW + k) for k in range((n + 3) // 4)]
        return b"".join(w.to_bytes(4, "little") for w in words)[:n]


# ---------------------------------------------------------------------- cocotb tests
def _tb(dut) -> TB:
    return TB(dut, idle=float(os.environ.get("EDGEKWS_WB_IDLE", "0")))


@cocotb.test()
async def registers(dut):
    """ID and STATUS after reset; REQ_LEN out of 2 .. MAX_PACKET sets LEN_ERROR and
    starts nothing; a good request then clears it and gets its reply."""
    tb = _tb(dut)
    await tb.reset()
    ident = await tb.read(Reg.ID)
    assert ident == ID_VALUE == 0x53574B45, f"ID {ident:#x}"
    assert await tb.read(Reg.STATUS) == 0
    for bad in (0, 1, p.MAX_PACKET + 1):
        await tb.write(Reg.REQ_LEN, bad)
        assert await tb.read(Reg.REQ_LEN) == bad
        await tb.write(Reg.CTRL, Ctrl.START)
        status = await tb.read(Reg.STATUS)
        assert status == Status.LEN_ERROR, f"REQ_LEN {bad}: STATUS {status:#x}"
    reply = await tb.mailbox(bytes([7, p.Cmd.IDENTIFY]))
    status = await tb.read(Reg.STATUS)
    assert status & (Status.BUSY | Status.DONE | Status.LEN_ERROR) == Status.DONE, \
        f"STATUS {status:#x}"
    assert reply[:3] == bytes([7, p.Cmd.IDENTIFY | 0x80, p.Status.OK]), reply.hex()
    assert await tb.read(Reg.RESULT + 1) == 0       # unmapped


@cocotb.test()
async def session(dut):
    """The requests of EDGEKWS_WB_SESSION through the mailbox; each reply, RESULT and
    STATUS go to EDGEKWS_WB_OUT."""
    with open(os.environ["EDGEKWS_WB_SESSION"]) as f:
        requests = [bytes.fromhex(r) for r in json.load(f)["requests"]]
    tb = _tb(dut)
    await tb.reset()
    got = []
    for request in requests:
        reply = await tb.mailbox(request)
        got.append([reply.hex(), await tb.read(Reg.RESULT), await tb.read(Reg.STATUS)])
    with open(os.environ["EDGEKWS_WB_OUT"], "w") as f:
        json.dump(got, f)


# ---------------------------------------------------------------------- pytest tests
@pytest.fixture(scope="module")
def verilog():
    from wishbone_cases import write_wishbone_verilog     # tests/: only pytest imports it
    return write_wishbone_verilog()[0]


def run(verilog, testcase, idle, **env):
    """The cocotb test ``testcase`` of this module on ``verilog``, accesses preceded by
    idle cycles with probability ``idle``."""
    from wishbone_cases import TOPLEVEL
    build_and_test(toplevel=TOPLEVEL, verilog_sources=[verilog],
                   test_module="test_wishbone", test_dirs=[Path(__file__).parent],
                   testcase=testcase,
                   extra_env={"EDGEKWS_WB_IDLE": str(idle), **env})


@pytest.mark.parametrize("idle", [0.0, 0.5])
def test_registers_and_length_error(verilog, idle):
    run(verilog, "registers", idle)


@pytest.mark.parametrize("idle", [0.0, 0.5])
def test_learning_session_matches_emulator(verilog, idle, tmp_path):
    from edgekws.host.emulator import Emulator
    from wishbone_cases import (CLK_HZ, check_learning_session, check_replies,
                                emulator_reply, learning_session)
    requests = learning_session()
    session, out = tmp_path / "session.json", tmp_path / "replies.json"
    session.write_text(json.dumps({"requests": [r.hex() for r in requests]}))
    run(verilog, "session", idle, EDGEKWS_WB_SESSION=str(session),
        EDGEKWS_WB_OUT=str(out))
    got = [(bytes.fromhex(rep), result, status)
           for rep, result, status in json.loads(out.read_text())]
    emu = Emulator(extractor=False, clock_hz=CLK_HZ)
    check_replies(requests, [emulator_reply(emu, r) for r in requests], got)
    check_learning_session([g[0] for g in got])
