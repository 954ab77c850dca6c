"""PacketLink (gateware/link.py) against the Python model of the protocol, in amaranth.sim.

The model: ``protocol.FrameDecoder`` + ``decode_packet`` give the requests a byte stream
holds, ``host.packet_server.PacketServer`` the counters. All bytes go through the UART
pins at 4 clock cycles per bit.
"""
from __future__ import annotations

import random
import struct

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from amaranth_sim import refused_quietly
from amaranth_sim import run_sim as _run

from edgekws import protocol as p
from edgekws.gateware.link import MAX_BODY, PacketLink, crc16_step
from edgekws.host.packet_server import PacketServer

BAUD = 115_200
DIV = 4
CLK_HZ = DIV * BAUD


# -- model ------------------------------------------------------------------------------------
def model_requests(stream: bytes):
    """(status, bytes) of each request the stream holds, and PacketServer's counters."""
    reqs = []
    for frame in p.FrameDecoder().feed(stream):
        if frame is None:
            reqs.append((p.Status.TOO_LONG, b""))
            continue
        try:
            seq, cmd, payload = p.decode_packet(frame)
        except p.ProtocolError as exc:
            if "CRC" in str(exc):
                reqs.append((p.Status.BAD_CRC, p.cobs_decode(frame)[:-2]))
            continue
        reqs.append((p.Status.OK, bytes((seq, cmd)) + payload))
    server = PacketServer(lambda cmd, payload: (p.Status.OK, b""))
    server.feed(stream)
    return reqs, (server.frames, server.crc_errors, server.framing_errors)


# -- simulation helpers -----------------------------------------------------------------------
def _uart_bits(byte):
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


def _uart_decode(levels, div=DIV):
    """Bytes on a recorded TX line (one level per cycle); stop bits must be high."""
    out = []
    i, n = 0, len(levels)
    while i < n:
        if levels[i]:
            i += 1
            continue
        mid = i + div // 2
        assert mid + 9 * div < n, "a byte is cut off at the end of the recording"
        bits = [levels[mid + k * div] for k in range(10)]
        assert bits[0] == 0 and bits[9] == 1, f"bad start/stop bit at cycle {i}"
        out.append(sum(b << k for k, b in enumerate(bits[1:9])))
        i = mid + 9 * div + 1
    return bytes(out)


def _sender(dut, stream, *, idle_after=lambda frame_len: 0, done=None):
    """Bench: ``stream`` onto the RX pin; ``idle_after(len)`` idle cycles after a delimiter."""
    async def bench(ctx):
        frame_len = 0
        for b in stream:
            for level in _uart_bits(b):
                ctx.set(dut.rx, level)
                await ctx.tick().repeat(DIV)
            if b == p.DELIMITER:
                idle = idle_after(frame_len)
                if idle:
                    await ctx.tick().repeat(idle)
                frame_len = 0
            else:
                frame_len += 1
        await ctx.tick().repeat(4 * DIV)
        if done is not None:
            done.append(True)
    return bench


async def _send_reply(ctx, dut, body):
    """Write ``body`` into the reply RAM, then pulse ``rep.send`` (as the dispatcher does)."""
    for a, b in enumerate(body):
        ctx.set(dut.rep.addr, a)
        ctx.set(dut.rep.data, b)
        ctx.set(dut.rep.we, 1)
        await ctx.tick()
    ctx.set(dut.rep.we, 0)
    ctx.set(dut.rep.len, len(body))
    ctx.set(dut.rep.send, 1)
    await ctx.tick()
    ctx.set(dut.rep.send, 0)


async def _read_request(ctx, dut):
    status, length = ctx.get(dut.req.status), ctx.get(dut.req.len)
    data = bytearray()
    for a in range(length):
        ctx.set(dut.req.addr, a)
        await ctx.tick()
        data.append(ctx.get(dut.req.data))
    return status, bytes(data)


async def _ack(ctx, dut, settle: bool = False):
    """A one-cycle ``req.ack`` pulse (and one more cycle with ``settle``)."""
    ctx.set(dut.req.ack, 1)
    await ctx.tick()
    ctx.set(dut.req.ack, 0)
    if settle:
        await ctx.tick()


async def _take(ctx, dut):
    """The waiting request, read then acked, and one cycle for the ack to land."""
    request = await _read_request(ctx, dut)
    await _ack(ctx, dut, settle=True)
    return request


def _consumer(dut, got):
    """Background bench: reads every request as soon as it is valid, then acks it."""
    async def bench(ctx):
        while True:
            if not ctx.get(dut.req.valid):
                await ctx.changed(dut.req.valid)  # cheaper than polling every cycle
                continue
            got.append(await _read_request(ctx, dut))
            await _ack(ctx, dut)
    return bench


def _counters(ctx, dut):
    c = dut.counters
    return ctx.get(c.frames), ctx.get(c.crc_errors), ctx.get(c.framing_errors)


# -- stimulus ---------------------------------------------------------------------------------
def _payload(rng, n, kind):
    if kind == "zeros":
        return bytes(rng.choice((0, 0, 0, rng.randrange(256))) for _ in range(n))
    if kind == "nonzero":
        return bytes(rng.randrange(1, 256) for _ in range(n))
    return bytes(rng.randrange(256) for _ in range(n))


def _longest_frame(rng, body_len):
    """A frame (delimiters included) with a correct CRC that encode_packet would refuse:
    ``body_len`` bytes of seq|cmd|payload, the payload with many zeros (so no COBS block
    is full and the encoding is one byte longer than the packet)."""
    body = bytes((9, p.Cmd.WRITE_MEM)) + _payload(rng, body_len - 2, "zeros")
    raw = body + struct.pack("<H", p.crc16(body))
    return bytes((0,)) + p.cobs_encode(raw) + bytes((0,)), body


def _faulty_items(rng, n_items):
    """Small packets of random sizes and contents, some damaged, with junk between."""
    items = []
    for _ in range(n_items):
        kind = rng.choice(("any", "zeros", "nonzero"))
        n = rng.choice((0, 0, 1, 2, rng.randrange(3, 40), rng.randrange(40, 120)))
        pkt = bytearray(p.encode_packet(rng.randrange(256), rng.randrange(256),
                                        _payload(rng, n, kind)))
        fault = rng.random()
        if fault < 0.12:                            # corrupt a byte inside the frame
            k = rng.randrange(1, len(pkt) - 1)
            pkt[k] ^= rng.randrange(1, 256)
        elif fault < 0.20:                          # drop a byte
            del pkt[rng.randrange(1, len(pkt) - 1)]
        elif fault < 0.26:                          # lose the trailing delimiter
            del pkt[-1]
        elif fault < 0.32:                          # lose the leading delimiter
            del pkt[0]
        items.append(bytes(pkt))
        r = rng.random()
        if r < 0.10:                                # random garbage
            items.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))))
        elif r < 0.16:                              # stray delimiters
            items.append(bytes(rng.randrange(1, 4)))
        elif r < 0.20:                              # a frame of only 1..3 bytes
            items.append(b"\x00" + bytes(rng.randrange(1, 5) for _ in range(rng.randrange(1, 4)))
                         + b"\x00")
    return items


def _large_items(rng, *, garbage):
    """A max-size packet starting with a run of 300 non-zero bytes (more than a COBS
    block), a CRC-valid frame of exactly MAX_FRAME bytes (decoding to MAX_BODY bytes),
    the same one byte longer (TOO_LONG) and, if ``garbage``, an over-long frame of
    random non-zero bytes."""
    run = _payload(rng, 300, "nonzero")
    items = [p.encode_packet(1, p.Cmd.WRITE_MEM,
                             run + _payload(rng, p.MAX_PACKET - 4 - len(run), "any"))]
    frame, body = _longest_frame(rng, MAX_BODY)
    assert len(frame) - 2 == p.FrameDecoder.MAX_FRAME and len(body) == MAX_BODY
    items += [frame, frame[:-1] + b"\x01\x00"]
    if garbage:
        items.append(bytes(rng.randrange(1, 256)
                           for _ in range(p.FrameDecoder.MAX_FRAME + 9)) + b"\x00")
    return items


def _idle_after(frame_len):
    # Reading a request takes a cycle per byte: give the consumer that time after long
    # frames so no request is dropped for want of a buffer (tested separately below).
    return frame_len + 16 if frame_len > 16 else 0


# -- tests ------------------------------------------------------------------------------------
def _check_against_model(stream):
    want, want_counters = model_requests(stream)
    dut = PacketLink(clk_hz=CLK_HZ, baud=BAUD)
    got, counters = [], []

    async def main(ctx):
        await _sender(dut, stream, idle_after=_idle_after)(ctx)
        await ctx.tick().repeat(MAX_BODY + 50)   # the last request is read
        counters.append(_counters(ctx, dut))
        assert not ctx.get(dut.req.valid)

    _run(dut, main, background=[_consumer(dut, got)])
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"request {k}: got {g[0]}/{len(g[1])} bytes, want {w[0]}/{len(w[1])}"
    assert counters[0] == want_counters
    return want, want_counters


def test_faulty_small_packets_match_the_model():
    rng = random.Random(1)
    stream = b"".join(_faulty_items(rng, 50)) + b"\x00"
    want, counters = _check_against_model(stream)
    # the stream exercises every outcome but TOO_LONG
    assert {s for s, _ in want} == {p.Status.OK, p.Status.BAD_CRC}
    assert all(counters)
    assert any(len(d) == 2 for _, d in want)   # a packet without payload


def test_large_frames_match_the_model():
    rng = random.Random(2)
    items = _large_items(rng, garbage=False) + _faulty_items(rng, 6)
    rng.shuffle(items)
    want, counters = _check_against_model(b"".join(items) + b"\x00")
    lengths = {len(d) for s, d in want if s == p.Status.OK}
    assert {p.MAX_PACKET - 2, MAX_BODY} <= lengths
    assert (p.Status.TOO_LONG, b"") in want


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4])
def test_soak_matches_the_model(seed):
    rng = random.Random(seed)
    items = _large_items(rng, garbage=True) + _faulty_items(rng, 300)
    rng.shuffle(items)
    _check_against_model(b"".join(items) + b"\x00")


def test_ping_pong_and_third_frame_dropped():
    """Two frames fill both buffers while nothing is acked; the third is dropped and
    counted in framing_errors; after the acks the link takes frames again."""
    pkts = [p.encode_packet(10 + i, p.Cmd.INFER, bytes((i,)) * (3 + i)) for i in range(4)]
    dut = PacketLink(clk_hz=CLK_HZ, baud=BAUD)

    async def main(ctx):
        await _sender(dut, pkts[0] + pkts[1] + pkts[2])(ctx)
        assert ctx.get(dut.req.valid)
        assert _counters(ctx, dut) == (2, 0, 1)
        # held until the ack, oldest first
        for i in range(2):
            await ctx.tick().repeat(5)
            assert ctx.get(dut.req.valid) and ctx.get(dut.req.status) == p.Status.OK
            status, data = await _read_request(ctx, dut)
            assert data == p.cobs_decode(pkts[i][1:-1])[:-2]
            await _ack(ctx, dut)
        assert not ctx.get(dut.req.valid)
        # an ack while nothing waits changes nothing
        await _ack(ctx, dut)
        # both buffers are free again: two more frames fill them; a third, with a bad
        # CRC, is dropped too and counted as a framing error, not a CRC error
        bad = bytearray(pkts[1])
        bad[3] ^= 0x10
        assert model_requests(bytes(bad))[0] == [(p.Status.BAD_CRC, bytes(bad[2:-3]))]
        await _sender(dut, pkts[3] + pkts[0] + bytes(bad))(ctx)
        assert _counters(ctx, dut) == (4, 0, 2)
        seen = []
        for _ in range(2):
            seen.append(await _take(ctx, dut))
        assert [d for _, d in seen] == [p.cobs_decode(k[1:-1])[:-2] for k in (pkts[3], pkts[0])]
        assert not ctx.get(dut.req.valid)
        ctx.set(dut.counters.clear, 1)
        await ctx.tick()
        ctx.set(dut.counters.clear, 0)
        assert _counters(ctx, dut) == (0, 0, 0)

    _run(dut, main)


def test_ack_frees_a_buffer():
    """Acking one of two waiting requests frees its buffer for the next frame."""
    pkts = [p.encode_packet(i, p.Cmd.IDENTIFY) for i in range(3)]
    dut = PacketLink(clk_hz=CLK_HZ, baud=BAUD)
    got = []

    async def main(ctx):
        await _sender(dut, pkts[0] + pkts[1])(ctx)
        got.append(await _read_request(ctx, dut))
        await _ack(ctx, dut)
        await _sender(dut, pkts[2])(ctx)
        for _ in range(2):
            got.append(await _take(ctx, dut))
        assert _counters(ctx, dut) == (3, 0, 0)

    _run(dut, main)
    assert got == [(p.Status.OK, bytes((i, p.Cmd.IDENTIFY))) for i in range(3)]


def _crc_with_zero_byte(rng):
    """A reply body whose CRC has a zero byte (COBS must encode it, not the delimiter)."""
    while True:
        body = bytes((rng.randrange(256), 0x81, 0)) + _payload(rng, 4, "nonzero")
        if 0 in struct.pack("<H", p.crc16(body)):
            return body


def test_reply_path_sends_encode_packet_bytes():
    rng = random.Random(7)
    replies = [
        bytes((5, p.Cmd.IDENTIFY | p.REPLY_BIT, p.Status.OK)),               # no payload
        bytes((6, 0xA0, p.Status.OK)) + _payload(rng, 80, "zeros"),
        bytes((7, 0xA1, p.Status.OK)) + _payload(rng, 40, "any") + b"\x00",  # 0 before CRC
        bytes((8, 0xA1, 1)) + _payload(rng, 251, "nonzero"),                 # 254 non-zero
        bytes((9, 0xA1, 1)) + _payload(rng, 252, "nonzero"),                 # 255: 2 blocks
        bytes((0, 0x91, 2)) + _payload(rng, 510, "nonzero"),                 # 254 + 254 + ...
        _crc_with_zero_byte(rng),
        bytes((255, 0x91, p.Status.OK)) + _payload(rng, p.MAX_PACKET - 5, "any"),  # max size
    ]
    dut = PacketLink(clk_hz=CLK_HZ, baud=BAUD)
    lines = []

    async def main(ctx):
        for body in replies:
            await _send_reply(ctx, dut, body)
            # record the line while busy, and a little after
            levels = []
            async for _, _, busy, tx in ctx.tick().sample(dut.rep.busy, dut.tx):
                if not busy:
                    break
                levels.append(tx)
            tail = []
            for _ in range(3 * DIV):
                tail.append(ctx.get(dut.tx))
                await ctx.tick()
            lines.append((levels, tail))

    _run(dut, main)
    for body, (levels, tail) in zip(replies, lines):
        want = p.encode_packet(body[0], body[1], body[2:])
        # busy ends exactly with the trailing delimiter's stop bit
        assert levels[-DIV:] == [1] * DIV and all(tail)
        got = _uart_decode(levels)
        assert got == want, f"reply of {len(body)} bytes"
        frames = p.FrameDecoder().feed(got)
        assert len(frames) == 1
        assert p.decode_packet(frames[0]) == (body[0], body[1], body[2:])


def test_reply_while_receiving_and_send_ignored_while_busy():
    """Reply and request paths run at once; a rep.send while busy is ignored."""
    req = p.encode_packet(3, p.Cmd.INFER, bytes(range(30)))
    body = bytes((3, p.Cmd.INFER | p.REPLY_BIT, 0)) + bytes(range(1, 40))
    dut = PacketLink(clk_hz=CLK_HZ, baud=BAUD)
    got, levels = [], []

    async def reply(ctx):
        await _send_reply(ctx, dut, body)
        cycle = 0
        async for _, _, busy, tx in ctx.tick().sample(dut.rep.busy, dut.tx):
            if not busy:
                break
            levels.append(tx)
            cycle += 1
            ctx.set(dut.rep.send, cycle in (8, 9))   # a second pulse, ignored
            ctx.set(dut.rep.len, 3)
        await ctx.tick().repeat(40 * DIV)
        assert ctx.get(dut.tx) == 1 and not ctx.get(dut.rep.busy)

    async def request(ctx):
        await _sender(dut, req)(ctx)
        got.append(await _read_request(ctx, dut))

    _run(dut, reply, request)
    assert _uart_decode(levels) == p.encode_packet(body[0], body[1], body[2:])
    assert got == [(p.Status.OK, p.cobs_decode(req[1:-1])[:-2])]


def test_crc16_step_matches_protocol():
    """The XOR network equals the protocol's table CRC for random states and bytes."""
    m = Module()
    crc, byte, out = Signal(16), Signal(8), Signal(16)
    m.d.comb += out.eq(crc16_step(crc, byte))
    rng = random.Random(3)
    cases = [(rng.randrange(1 << 16), rng.randrange(256)) for _ in range(300)]
    cases += [(p.CRC_INIT, 0), (0, 0), (0xFFFF, 0xFF), (0x8000, 0x80)]

    async def bench(ctx):
        for c, b in cases:
            ctx.set(crc, c)
            ctx.set(byte, b)
            assert ctx.get(out) == p.crc16(bytes((b,)), c), (c, b)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_rate_errors_name_the_values():
    with refused_quietly():
        with pytest.raises(ValueError, match=r"clk_hz=9000000 gives 3 clock cycles per bit "
                                             r"at baud=3000000; at least 4 are needed"):
            PacketLink(clk_hz=9_000_000)
        with pytest.raises(ValueError, match=r"clk_hz=25000000 / divisor 8 = 3.125e\+06 baud "
                                             r"misses baud=3000000 by 4.17%"):
            PacketLink(clk_hz=25_000_000)
