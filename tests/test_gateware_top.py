"""The board's top level (link + dispatcher + learning core [+ extractor and loader]) at
its UART pins, in ``amaranth.sim``, against the golden-backed emulator.

Every request goes to both: ``protocol.encode_packet`` bytes shifted into ``uart_rx``
(4 clock cycles a bit, the simulation build's rate), and ``Emulator().server.feed``. The
reply bytes seen on ``uart_tx`` must be the emulator's, byte for byte (READ_COUNTERS:
all but the two cycle counters, which only the hardware measures; they are checked
against the core's pass length instead).

A full INFER with a trained extractor takes the extractor's ~40k cycles plus ~20 kB of
weights through the UART: that runs on the Verilator board (``tests/test_simboard.py``).
Here INFER runs once through the extractor with only the last layer's thresholds
loaded (a non-trivial spike pattern from zero weights), marked ``slow``.
"""
from __future__ import annotations

import gc
import struct

import numpy as np
import pytest
from amaranth.sim import Simulator

from edgekws import protocol as p
from edgekws.gateware.dispatcher import Dispatcher
from edgekws.gateware.fc_core import FCLearningCore
from edgekws.gateware.top import SIM_BAUD, SIM_CLK_HZ, SIM_DIVISOR, BoardTop
from edgekws.golden.learning import random_weights
from edgekws.host.emulator import Emulator

C, R = p.Cmd, p.Region


def run_pins(top, requests, expected, timeout=300_000):
    """Send each request on ``uart_rx`` after the previous reply; return what came back
    on ``uart_tx`` for each (as many bytes as the emulator sent, or nothing within 600
    cycles when it sent nothing)."""
    D = SIM_DIVISOR
    rx = bytearray()
    got = []

    async def receiver(ctx):
        while True:
            await ctx.negedge(top.uart_tx)
            await ctx.tick().repeat(D // 2)       # the middle of the start bit
            byte = 0
            for bit in range(8):
                await ctx.tick().repeat(D)
                byte |= ctx.get(top.uart_tx) << bit
            await ctx.tick().repeat(D)            # stop bit
            rx.append(byte)

    async def sender(ctx):
        ctx.set(top.uart_rx, 1)
        await ctx.tick().repeat(10)
        for req, exp in zip(requests, expected):
            for byte in req:
                for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                    ctx.set(top.uart_rx, bit)
                    await ctx.tick().repeat(D)
            waited = 0
            while len(rx) < len(exp) and waited < timeout:
                await ctx.tick().repeat(40)
                waited += 40
            await ctx.tick().repeat(600 if not exp else 12 * D)
            got.append(bytes(rx))
            rx.clear()

    sim = Simulator(top)
    sim.add_clock(1 / SIM_CLK_HZ)
    sim.add_testbench(receiver, background=True)
    sim.add_testbench(sender)
    sim.run()
    return got


def reply(data: bytes):
    """``(seq, cmd, status, payload)`` of one reply frame."""
    assert data[:1] == b"\0" and data[-1:] == b"\0", data.hex()
    seq, cmd, body = p.decode_packet(data[1:-1])
    return seq, cmd, body[0], body[1:]


def check_same(requests, got, expected):
    for k, (req, g, e) in enumerate(zip(requests, got, expected)):
        if e and reply(e)[1] == C.READ_COUNTERS | p.REPLY_BIT:
            gs, ge = reply(g), reply(e)
            assert gs[:3] == ge[:3]
            assert gs[3][8:] == ge[3][8:], f"request {k}: counters differ"
            continue
        assert g == e, (f"request {k} ({req.hex()}): board {g.hex()}, "
                        f"emulator {e.hex()}")


def both(top, emu, requests):
    expected = [emu.server.feed(r) for r in requests]
    got = run_pins(top, requests, expected)
    check_same(requests, got, expected)
    return got, expected


def spikes_top():
    return BoardTop(clk_hz=SIM_CLK_HZ, baud=SIM_BAUD, extractor=False)


def spikes_emulator():
    return Emulator(extractor=False, clock_hz=SIM_CLK_HZ)


def pkt(seq, cmd, payload=b""):
    return p.encode_packet(seq, cmd, payload)


def wmem(seq, region, offset, data):
    return pkt(seq, C.WRITE_MEM, p.write_mem_payload(region, offset, data))


def rmem(seq, region, offset, length):
    return pkt(seq, C.READ_MEM, p.read_mem_payload(region, offset, length))


def set_learning(seq, K, m, thswap_init=3, decay=1, thswap_min=1, cap=40, N=None):
    return pkt(seq, C.SET_LEARNING, p.set_learning_payload(
        K, m, thswap_init, decay, thswap_min, cap, K * m if N is None else N))


def test_identify_status_errors_and_framing():
    """IDENTIFY, every error status of the checks that come before execution, BAD_CRC
    and TOO_LONG, a dropped short frame, and the error counters."""
    good = pkt(9, C.IDENTIFY)
    bad_crc = bytearray(good)
    bad_crc[-2] ^= 0x40                              # a CRC byte (not made zero)
    assert bad_crc[-2] != 0
    reqs = [
        pkt(1, C.IDENTIFY),
        pkt(2, C.IDENTIFY, b"\x01"),                 # BAD_LENGTH
        pkt(3, 0x55),                                # UNKNOWN_CMD
        pkt(4, 0x85, b"\x01\x02"),                   # UNKNOWN_CMD, bit 7 set
        pkt(5, C.INFER, bytes(491)),                 # no extractor: UNKNOWN_CMD
        pkt(6, C.LEARN_SPIKES, p.learn_payload(0, bytes(8))),   # NOT_READY
        pkt(7, C.INFER_SPIKES, b""),                 # BAD_LENGTH before NOT_READY
        pkt(8, C.ADD_CLASSES, b"\x01"),              # NOT_READY
        set_learning(10, 2, 5, N=11),                # BAD_ARGUMENT: K * m != N
        set_learning(11, 0, 5, N=0),                 # BAD_ARGUMENT: K = 0
        set_learning(12, 64, 32),                    # BAD_ARGUMENT: 2048 > capacity
        pkt(13, C.SET_LEARNING, bytes(13)),          # BAD_LENGTH
        pkt(14, C.RESET, b"\x00"),                   # BAD_LENGTH
        pkt(15, C.READ_COUNTERS, b"\x00"),           # BAD_LENGTH
        pkt(16, C.READ_MEM, bytes(6)),               # BAD_LENGTH
        pkt(17, C.WRITE_MEM, bytes(4)),              # BAD_LENGTH
        bytes(bad_crc),                              # BAD_CRC, seq/cmd echoed
        b"\x00\x02\x07\x00",                         # 1 byte: dropped, no reply
        pkt(18, C.READ_COUNTERS),
        pkt(19, C.RESET),
        pkt(20, C.READ_COUNTERS),
    ]
    got, exp = both(spikes_top(), spikes_emulator(), reqs)
    statuses = [reply(e)[2] if e else None for e in exp]
    S = p.Status
    assert statuses[:17] == [S.OK, S.BAD_LENGTH, S.UNKNOWN_CMD, S.UNKNOWN_CMD,
                             S.UNKNOWN_CMD, S.NOT_READY, S.BAD_LENGTH, S.NOT_READY,
                             S.BAD_ARGUMENT, S.BAD_ARGUMENT, S.BAD_ARGUMENT, S.BAD_LENGTH,
                             S.BAD_LENGTH, S.BAD_LENGTH, S.BAD_LENGTH, S.BAD_LENGTH,
                             S.BAD_CRC]
    assert reply(got[16])[:2] == (9, C.IDENTIFY | p.REPLY_BIT) and got[17] == b""
    info = p.IDENTIFY_FORMAT.unpack(reply(got[0])[3])
    assert info == (p.PROTOCOL_VERSION, 64, 1024, 1, 0, 0, 0, SIM_CLK_HZ)
    counters = p.COUNTERS_FORMAT.unpack(reply(got[18])[3])
    assert counters[2:] == (17, 1, 1)           # frames, CRC errors, framing errors
    assert p.COUNTERS_FORMAT.unpack(reply(got[20])[3]) == (0, 0, 1, 0, 0)


@pytest.mark.slow
def test_too_long_frame():
    """An overlong frame (1040 bytes through the UART) is answered TOO_LONG with seq
    0xFF and cmd 0x7F, and the next frame is served."""
    reqs = [b"\x00" + b"\x01" * (p.FrameDecoder.MAX_FRAME + 3) + b"\x00",
            pkt(1, C.IDENTIFY), pkt(2, C.READ_COUNTERS)]
    got, exp = both(spikes_top(), spikes_emulator(), reqs)
    assert reply(got[0])[:3] == (0xFF, 0x7F | p.REPLY_BIT, p.Status.TOO_LONG)
    assert p.COUNTERS_FORMAT.unpack(reply(got[2])[3])[2:] == (2, 0, 1)


def learning_session(rng, K=4, m=5, F=64):
    """Requests of a spikes-in learning session: load, infer, learn, retry, add
    classes, read everything back, reset."""
    N = K * m
    nb = F // 8
    w = random_weights(F, N + 2 * m, 12, rng)              # (F, neurons)
    wbytes = np.packbits(w.T, axis=1, bitorder="little").tobytes()
    x = (rng.random((12, F)) < 0.3).astype(np.uint8)
    xs = [np.packbits(v, bitorder="little").tobytes() for v in x]
    thl = rng.integers(-3, 6, N).astype("<i2").tobytes()
    thswap = rng.integers(1, 6, N).astype("<i2").tobytes()
    reqs = [set_learning(1, K, m, thswap_init=4, decay=1, thswap_min=1, cap=30),
            wmem(2, R.FC_WEIGHTS, 0, wbytes[:5]),           # partial word, then the rest
            wmem(3, R.FC_WEIGHTS, 5, wbytes[5:N * nb]),
            wmem(4, R.FC_THL, 0, thl[:7]),                  # odd split of int16 values
            wmem(5, R.FC_THL, 7, thl[7:]),
            wmem(6, R.FC_THSWAP, 0, thswap),
            wmem(7, R.LEARN_REGS, 2 * p.LearnReg.OFFSET, struct.pack("<H", 5)),
            wmem(8, R.LEARN_REGS, 2 * p.LearnReg.OFFSET, struct.pack("<H", F + 1)),  # refused
            wmem(9, R.FC_POTENTIALS, 0, b"\0\0"),          # read only
            wmem(10, R.FC_WEIGHTS, 1024 * nb - 2, b"\1\2\3"),  # past the end
            wmem(11, 0x7F, 0, b"\1"),                      # no such region
            rmem(12, R.FC_WEIGHTS, 3, N * nb),
            rmem(13, R.FC_THL, 1, 2 * N - 1),
            rmem(14, R.LEARN_REGS, 0, 16),
            rmem(15, R.FC_POTENTIALS, 0, 2 * N + 2),        # only N neurons: refused
            rmem(16, R.FC_WEIGHTS, 0, p.MAX_PACKET - 4),    # longer than a reply
            ]
    seq = 17
    for k in range(4):
        reqs.append(pkt(seq, C.INFER_SPIKES, bytes([k % 2]) + xs[k]))
        seq += 1
    reqs.append(pkt(seq, C.INFER_SPIKES, b"\1" + xs[0][:-1]))  # BAD_LENGTH
    seq += 1
    for k in range(4, 10):
        label = [0, 1, 2, 3, -1, 2][k - 4]
        reqs.append(pkt(seq, C.LEARN_SPIKES, p.learn_payload(label, xs[k])))
        if k == 6:
            reqs.append(reqs[-1])                                 # a retry: not again
        seq += 1
    reqs.append(pkt(seq, C.LEARN_SPIKES, p.learn_payload(1, bytes(nb))))  # no A bits
    seq += 1
    reqs += [pkt(seq, C.LEARN_SPIKES, p.learn_payload(K, xs[10])),    # label >= K
             pkt(seq + 1, C.LEARN_SPIKES, p.learn_payload(-2, xs[10])),
             pkt(seq + 1, C.LEARN_SPIKES, p.learn_payload(-2, xs[10])),  # replayed
             rmem(seq + 2, R.FC_POTENTIALS, 0, 2 * N),
             wmem(seq + 3, R.FC_WEIGHTS, N * nb, wbytes[N * nb:]),
             pkt(seq + 4, C.ADD_CLASSES, b"\2"),
             pkt(seq + 4, C.ADD_CLASSES, b"\2"),                          # replayed
             pkt(seq + 5, C.ADD_CLASSES, b"\0"),                          # n = 0
             pkt(seq + 6, C.ADD_CLASSES, bytes([250])),                   # too many
             pkt(seq + 7, C.LEARN_SPIKES, p.learn_payload(5, xs[11])),
             pkt(seq + 8, C.INFER_SPIKES, b"\1" + xs[11]),
             rmem(seq + 9, R.LEARN_REGS, 0, 16),
             rmem(seq + 10, R.FC_THSWAP, 0, 2 * (N + 2 * m)),
             rmem(seq + 11, R.FC_THL, 0, 2 * (N + 2 * m)),
             rmem(seq + 12, R.FC_WEIGHTS, 0, (N + 2 * m) * nb),
             pkt(seq + 13, C.READ_COUNTERS),
             pkt(seq + 14, C.RESET),
             rmem(seq + 15, R.LEARN_REGS, 0, 16),
             rmem(seq + 16, R.FC_THSWAP, 0, 2 * (N + 2 * m)),
             rmem(seq + 17, R.FC_WEIGHTS, 0, 8),
             set_learning(seq + 18, K, m),
             rmem(seq + 19, R.FC_POTENTIALS, 0, 2 * N)]      # survive RESET
    return reqs


def test_learning_session_matches_emulator():
    """Memories at odd offsets, INFER_SPIKES (with and without potentials),
    LEARN_SPIKES (labels, -1, refused labels), retries not executed twice,
    ADD_CLASSES, read-back of every region and RESET: the emulator's bytes."""
    reqs = learning_session(np.random.default_rng(3))
    got, exp = both(spikes_top(), spikes_emulator(), reqs)
    learned = [reply(e)[3][4] for r, e in zip(reqs, exp)
               if p.decode_packet(r[1:-1])[1] == C.LEARN_SPIKES and reply(e)[2] == 0]
    assert any(learned) and not all(learned), "the session must learn, and not always"
    statuses = [reply(e)[2] for e in exp]
    assert statuses.count(p.Status.BAD_ARGUMENT) >= 8
    assert statuses[6:11] == [p.Status.OK] + [p.Status.BAD_ARGUMENT] * 4  # OFFSET > F, ...
    # RESET keeps the potentials: the last INFER's (inline, 30 neurons) read back after.
    last_infer = [e for r, e in zip(reqs, exp)
                  if p.decode_packet(r[1:-1])[1] == C.INFER_SPIKES][-1]
    assert reply(exp[-1])[3] == reply(last_infer)[3][p.RESULT_FORMAT.size:][:40]
    counters = [p.COUNTERS_FORMAT.unpack(reply(g)[3]) for r, g in zip(reqs, got)
                if p.decode_packet(r[1:-1])[1] == C.READ_COUNTERS]
    infer_cycles, learn_cycles = counters[0][:2]
    # The core's pass is one cycle per neuron (30 neurons, one lane, one word each)
    # plus its pipeline; learning adds the weight update.
    assert 30 < infer_cycles < 30 + 40, infer_cycles
    assert infer_cycles < learn_cycles < infer_cycles + 400, learn_cycles


def test_retry_of_each_non_idempotent_command_is_replayed():
    """A repeated (seq, cmd) of RESET, LEARN_SPIKES, ADD_CLASSES or an unknown command
    gets the stored reply; the same seq with another command, or an idempotent
    command, executes."""
    rng = np.random.default_rng(8)
    x = np.packbits((rng.random(64) < 0.4).astype(np.uint8), bitorder="little").tobytes()
    w = np.packbits(random_weights(64, 8, 10, rng).T, axis=1, bitorder="little").tobytes()
    learn = pkt(40, C.LEARN_SPIKES, p.learn_payload(1, x))
    reqs = [pkt(1, C.RESET), pkt(1, C.RESET), set_learning(2, 2, 2, thswap_init=5),
            wmem(3, R.FC_WEIGHTS, 0, w), wmem(3, R.FC_THSWAP, 0, bytes([5, 0]) * 8),
            learn, learn, rmem(41, R.FC_WEIGHTS, 0, 32), learn,
            pkt(40, C.INFER_SPIKES, b"\1" + x), pkt(40, C.INFER_SPIKES, b"\1" + x),
            pkt(42, C.ADD_CLASSES, b"\1"), pkt(42, C.ADD_CLASSES, b"\1"),
            pkt(42, C.LEARN_SPIKES, p.learn_payload(2, x)),  # same seq, new command
            pkt(43, 0x60), pkt(43, 0x60), rmem(44, R.LEARN_REGS, 0, 16)]
    got, exp = both(spikes_top(), spikes_emulator(), reqs)
    assert reply(exp[5])[3][4] == 1, "the first LEARN must learn"
    assert exp[6] == exp[5] and exp[8] == exp[5]
    assert exp[12] == exp[11] and p.CLASS_COUNT_FORMAT.unpack(reply(exp[11])[3]) == (3,)
    assert reply(exp[13])[1:3] == (C.LEARN_SPIKES | p.REPLY_BIT, p.Status.OK)


def test_many_neurons_registers_written_directly():
    """600 neurons: INFER's potentials no longer fit the reply (read FC_POTENTIALS in
    pieces instead), a winner above 511; then the geometry rewritten through
    LEARN_REGS (not SET_LEARNING), an inconsistent one refused with NOT_READY."""
    rng = np.random.default_rng(11)
    x = (rng.random(64) < 0.5).astype(np.uint8)
    xs = np.packbits(x, bitorder="little").tobytes()
    w = np.packbits(random_weights(64, 10, 30, rng).T, axis=1, bitorder="little").tobytes()
    geometry = struct.pack("<HHH", 20, 3, 60)          # N, K, m: 3 x 20 = 60
    reqs = [set_learning(1, 40, 15),
            wmem(2, R.FC_WEIGHTS, 590 * 8, w),
            pkt(3, C.INFER_SPIKES, b"\1" + xs),          # 600 > MAX_INLINE_POTENTIALS
            rmem(4, R.FC_POTENTIALS, 1000, 200),
            wmem(5, R.LEARN_REGS, 0, geometry),         # 20 != 3 x 60
            pkt(6, C.INFER_SPIKES, b"\1" + xs),
            wmem(7, R.LEARN_REGS, 0, struct.pack("<HHH", 600, 30, 20)),
            pkt(8, C.INFER_SPIKES, b"\1" + xs),
            rmem(9, R.LEARN_REGS, 0, 16)]
    got, exp = both(spikes_top(), spikes_emulator(), reqs)
    cls, winner, _ = p.RESULT_FORMAT.unpack(reply(exp[2])[3])
    assert winner >= 590 and len(reply(exp[2])[3]) == p.RESULT_FORMAT.size
    assert reply(exp[5])[2] == p.Status.NOT_READY
    assert p.RESULT_FORMAT.unpack(reply(exp[7])[3])[:2] == (winner // 20, winner)


@pytest.fixture(scope="module")
def ext_top():
    return BoardTop(clk_hz=SIM_CLK_HZ, baud=SIM_BAUD)


def test_extractor_regions_match_emulator(ext_top):
    """EXT_* writes and reads: alignment, value checks (weight ranges, steps), refused
    writes leave nothing behind, read-back of what was written."""
    rng = np.random.default_rng(4)
    w8 = rng.integers(-128, 128, 64).astype(np.int8).tobytes()
    w4 = rng.integers(-7, 8, 64).astype(np.int8).tobytes()
    th = rng.integers(-2**31, 2**31, 4).astype("<i4").tobytes()
    st = rng.integers(1, 1 << 20, 2).astype("<u4").tobytes()
    reqs = [pkt(1, C.IDENTIFY),
            wmem(2, R.EXT_WEIGHTS, 64, w8),
            wmem(3, R.EXT_WEIGHTS, 32, w8),                      # misaligned offset
            wmem(4, R.EXT_WEIGHTS_PW + 1, 128, w4),
            wmem(5, R.EXT_WEIGHTS + 1, 0, w4[:9] + bytes([8]) + w4[10:]),  # 8 > 7
            wmem(6, R.EXT_WEIGHTS_PW + 0, 0, w4),                 # conv has no pw
            wmem(7, R.EXT_THRESHOLD + 2, 16, th),
            wmem(8, R.EXT_THRESHOLD + 2, 2, th[:4]),             # misaligned
            wmem(9, R.EXT_STEP + 3, 8, st),
            wmem(10, R.EXT_STEP + 3, 0, st[:4] + struct.pack("<I", 0)),   # S = 0
            wmem(11, R.EXT_STEP + 4, 0, struct.pack("<II", 5, 0)),  # 1-bit: any S
            wmem(12, R.EXT_STEP + 4, 8, struct.pack("<I", 1 << 20)),     # too large
            wmem(13, R.EXT_WEIGHTS + 5, 0, w4),                   # no layer 5
            rmem(14, R.EXT_WEIGHTS, 64, 64),
            rmem(15, R.EXT_WEIGHTS_PW + 1, 64, 128),
            rmem(16, R.EXT_THRESHOLD + 2, 12, 24),
            rmem(17, R.EXT_STEP + 3, 4, 16),
            rmem(18, R.EXT_STEP + 4, 0, 12),
            rmem(19, R.EXT_WEIGHTS, 1600 - 64, 128),              # past the end
            rmem(20, R.EXT_STEP + 3, 0, 6),                       # misaligned length
            wmem(21, R.EXT_WEIGHTS_PW + 2, 4096, b""),            # empty, at the end
            rmem(22, R.EXT_THRESHOLD + 1, 256, 0),
            rmem(23, R.EXT_WEIGHTS, 0, 64)]                       # still served
    got, exp = both(ext_top, Emulator(clock_hz=SIM_CLK_HZ), reqs)
    S = p.Status
    assert [reply(e)[2] for e in exp[1:13]] == [
        S.OK, S.BAD_ARGUMENT, S.OK, S.BAD_ARGUMENT, S.BAD_ARGUMENT, S.OK, S.BAD_ARGUMENT,
        S.OK, S.BAD_ARGUMENT, S.OK, S.BAD_ARGUMENT, S.BAD_ARGUMENT]
    assert p.IDENTIFY_FORMAT.unpack(reply(got[0])[3])[4:7] == (1, 49, 10)


@pytest.mark.slow
def test_infer_through_the_extractor(ext_top):
    """INFER and LEARN of an MFCC frame through the extractor: zero weights, and last
    layer thresholds of 0 or -1, so the spikes are (0 > threshold): a set pattern
    through every layer, the pooled sums and the spike path into the core."""
    rng = np.random.default_rng(6)
    th = np.where(rng.random(64) < 0.5, -1, 0).astype("<i4").tobytes()
    frame = rng.integers(0, 256, 490).astype(np.uint8).tobytes()
    w = np.packbits(random_weights(64, 6, 20, rng).T, axis=1, bitorder="little").tobytes()
    reqs = [set_learning(1, 3, 2), wmem(2, R.FC_WEIGHTS, 0, w),
            wmem(3, R.EXT_THRESHOLD + 4, 0, th),
            pkt(4, C.INFER, b"\1" + frame),
            pkt(5, C.LEARN, p.learn_payload(2, frame)),
            pkt(6, C.LEARN, p.learn_payload(2, frame[:-1])),      # BAD_LENGTH
            pkt(7, C.READ_COUNTERS)]
    got, exp = both(ext_top, Emulator(clock_hz=SIM_CLK_HZ), reqs)
    pots = np.frombuffer(reply(exp[3])[3][5:], "<u2")
    assert pots.any(), "the spikes must reach the core"
    infer_cycles = p.COUNTERS_FORMAT.unpack(reply(got[6])[3])[0]
    assert infer_cycles > 10_000, infer_cycles


@pytest.mark.filterwarnings("ignore:.*created but never used")
@pytest.mark.parametrize("kwargs, message", [
    (dict(clk_hz=0), r"clk_hz must be a positive integer below 2\*\*32, not 0"),
    (dict(clk_hz=12e6), r"clk_hz must be a positive integer below 2\*\*32, not 12000000\.0"),
    (dict(core=lambda: FCLearningCore(60, 16)), r"num_inputs=60, width=60"),
    (dict(core=lambda: "core"), r"core must be an FCLearningCore, not 'core'"),
])
def test_dispatcher_bad_parameters(kwargs, message):
    kw = dict(core=lambda: FCLearningCore(64, 16), clk_hz=1_000_000)
    kw.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        Dispatcher(kw.pop("core")(), clk_hz=kw.pop("clk_hz"))
    gc.collect()  # report the half-built objects here, under the filter above
