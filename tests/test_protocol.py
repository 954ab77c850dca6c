"""The UART protocol shared by host and gateware: CRC, COBS, packets, resynchronisation."""
from __future__ import annotations

import __future__
import types

import numpy as np
import pytest

from edgekws import protocol as p


def test_crc16_check_value():
    assert p.crc16(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE catalogue value
    assert p.crc16(b"") == 0xFFFF


@pytest.mark.parametrize("length", [0, 1, 253, 254, 255, 508, 1000])
def test_cobs_round_trip_has_no_zero(length):
    rng = np.random.default_rng(length)
    for zeros in (0.0, 0.1, 1.0):
        data = bytes(np.where(rng.random(length) < zeros, 0,
                              rng.integers(1, 256, length)).astype(np.uint8))
        enc = p.cobs_encode(data)
        assert 0 not in enc
        assert len(enc) <= length + length // 254 + 1
        assert p.cobs_decode(enc) == data


def test_packet_round_trip_and_every_single_bit_flip_is_detected():
    pkt = p.encode_packet(7, p.Cmd.LEARN, b"\x03\x00" + bytes(range(40)))
    assert pkt[0] == pkt[-1] == 0 and 0 not in pkt[1:-1]
    assert p.decode_packet(pkt[1:-1]) == (7, p.Cmd.LEARN, b"\x03\x00" + bytes(range(40)))
    frame = pkt[1:-1]
    for i in range(len(frame)):
        for bit in range(8):
            bad = bytearray(frame)
            bad[i] ^= 1 << bit
            if bad[i] == 0:
                continue  # a zero would split the frame: the decoder sees two frames
            with pytest.raises(p.ProtocolError):
                p.decode_packet(bytes(bad))


def test_decoder_recovers_after_garbage_drops_and_resets():
    rng = np.random.default_rng(1)
    good = [p.encode_packet(i, p.Cmd.INFER, bytes(rng.integers(0, 256, 30).astype(np.uint8)))
            for i in range(5)]
    stream = (b"\x13\x37garbage" + good[0] + good[1][:9] + b"\x00"  # a frame cut short
              + good[2] + bytes(rng.integers(1, 256, 50).astype(np.uint8)) + b"\x00"
              + good[3] + good[4])
    dec = p.FrameDecoder()
    frames = []
    for i in range(0, len(stream), 7):  # arbitrary chunking
        frames += dec.feed(stream[i:i + 7])
    ok = []
    for f in frames:
        try:
            ok.append(p.decode_packet(f)[0])
        except p.ProtocolError:
            pass
    assert ok == [0, 2, 3, 4], "every intact frame is recovered, no broken one accepted"


def test_overlong_frame_is_reported_and_the_next_one_recovered():
    dec = p.FrameDecoder()
    frames = dec.feed(b"\x01" * (p.FrameDecoder.MAX_FRAME + 10) + b"\x00"
                      + p.encode_packet(9, p.Cmd.IDENTIFY))
    assert frames[0] is None
    assert p.decode_packet(frames[1]) == (9, p.Cmd.IDENTIFY, b"")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="seq must be in 0..255, not 256"):
        p.encode_packet(256, p.Cmd.RESET)
    with pytest.raises(ValueError, match="exceeds the"):
        p.encode_packet(0, p.Cmd.WRITE_MEM, bytes(p.MAX_PACKET))
    with pytest.raises(p.ProtocolError, match="shorter than seq\\+cmd\\+crc"):
        p.decode_packet(p.cobs_encode(b"\x01\x02"))
    with pytest.raises(p.ProtocolError, match="runs past the end"):
        p.cobs_decode(b"\x05\x01")


def test_all_names_every_public_definition():
    def defined_here(v):
        if isinstance(v, (type, types.FunctionType)):
            return v.__module__ == p.__name__
        return not isinstance(v, (types.ModuleType, __future__._Feature))

    public = {n for n, v in vars(p).items() if not n.startswith("_") and defined_here(v)}
    assert public == set(p.__all__)


def test_request_payloads_hold_the_documented_fields():
    assert p.write_mem_payload(p.Region.FC_THL, 0x123, b"ab") == b"\x21\x23\x01\x00\x00ab"
    assert p.read_mem_payload(p.Region.EXT_STEP + 2, 4, 960) == b"\x1a\x04\x00\x00\x00\xc0\x03"
    assert p.infer_payload(b"\x05") == b"\x00\x05"
    assert p.infer_payload(b"\x05", potentials=True) == b"\x01\x05"
    assert p.learn_payload(-1, b"\x07") == b"\xff\xff\x07"
    assert p.add_classes_payload(3) == b"\x03"
    assert p.set_learning_payload(2, 5, 3, 1, 1, 40, 10) == \
        bytes([2, 0, 5, 0, 3, 0, 1, 0, 1, 0, 40, 0, 10, 0])


def test_memory_payloads_split_into_chunks():
    data = bytes(range(256)) * 8                                  # 2048 bytes: 960 + 960 + 128
    writes = p.write_mem_payloads(p.Region.FC_WEIGHTS, data, offset=64)
    assert [p.MEM_HEADER.unpack_from(w) for w in writes] == [(0x20, 64), (0x20, 1024),
                                                             (0x20, 1984)]
    assert b"".join(w[p.MEM_HEADER.size:] for w in writes) == data
    reads = p.read_mem_payloads(p.Region.FC_WEIGHTS, 2048)
    assert [(p.READ_MEM_FORMAT.unpack(r), n) for r, n in reads] == [
        ((0x20, 0, 960), 960), ((0x20, 960, 960), 960), ((0x20, 1920, 128), 128)]
    assert p.write_mem_payloads(0x20, b"") == [] and p.read_mem_payloads(0x20, 0) == []
