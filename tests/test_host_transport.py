"""Transport and packet server over a faulty link: no wrong answer accepted, no double
learning, no hang."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.host.packet_server import LocalPort, PacketServer
from edgekws.host.transport import BoardError, Transport


class Counter:
    """A toy board: LEARN adds to a total (not idempotent), INFER echoes."""

    def __init__(self):
        self.total = 0
        self.learned = 0

    def __call__(self, cmd, payload):
        if cmd == p.Cmd.INFER:
            return p.Status.OK, payload[::-1]
        if cmd == p.Cmd.LEARN:
            if len(payload) != 2:
                return p.Status.BAD_LENGTH, b""
            self.total += struct.unpack("<h", payload)[0]
            self.learned += 1
            return p.Status.OK, struct.pack("<i", self.total)
        raise KeyError(cmd)


class FaultyLink(LocalPort):
    """A serial-port stand-in: both directions drop, corrupt or insert bytes at ``rate``."""

    def __init__(self, server, rate=0.0, seed=0):
        super().__init__(server)
        self.rate = rate
        self.rng = np.random.default_rng(seed)
        self.corrupted = 0

    def _mangle(self, data):
        out = bytearray()
        for b in data:
            r = self.rng.random()
            if r < self.rate / 3:
                self.corrupted += 1
                continue                                  # dropped
            if r < 2 * self.rate / 3:
                self.corrupted += 1
                b ^= 1 << int(self.rng.integers(0, 8))    # flipped bit
            elif r < self.rate:
                self.corrupted += 1
                out.append(int(self.rng.integers(0, 256)))  # inserted byte
            out.append(b)
        return bytes(out)

    def write(self, data):
        self.inbox += self._mangle(self.server.feed(self._mangle(data)))


def test_clean_link_round_trip():
    board = Counter()
    t = Transport(FaultyLink(PacketServer(board)), timeout=0.05)
    assert t.request(p.Cmd.INFER, b"abc") == b"cba"
    assert t.request(p.Cmd.LEARN, struct.pack("<h", 5)) == struct.pack("<i", 5)
    with pytest.raises(BoardError, match="board refused LEARN: BAD_LENGTH"):
        t.request(p.Cmd.LEARN, b"\x01")
    with pytest.raises(BoardError, match="UNKNOWN_CMD"):
        t.request(p.Cmd.ADD_CLASSES, b"\x01")


def test_fault_injection_no_undetected_error_no_double_learning():
    board = Counter()
    link = FaultyLink(PacketServer(board), rate=0.004, seed=3)
    t = Transport(link, timeout=0.02, retries=8)
    rng = np.random.default_rng(4)
    expected_total, ok, failed = 0, 0, 0
    for i in range(400):
        if i % 2:
            data = bytes(rng.integers(0, 256, 60).astype(np.uint8))
            try:
                assert t.request(p.Cmd.INFER, data) == data[::-1], "a wrong answer was accepted"
                ok += 1
            except BoardError:
                failed += 1
        else:
            v = int(rng.integers(-100, 100))
            try:
                reply = t.request(p.Cmd.LEARN, struct.pack("<h", v))
                expected_total += v
                assert struct.unpack("<i", reply)[0] == board.total == expected_total
                ok += 1
            except BoardError:
                failed += 1
                expected_total = board.total  # it may or may not have run: re-sync
    assert link.corrupted > 50, "the test must really corrupt the link"
    assert t.retried > 0 and ok > 350
    assert board.learned <= 200, "a retried LEARN must never run twice"


def test_sequence_numbers_never_replay_an_old_learn():
    board = Counter()
    t = Transport(FaultyLink(PacketServer(board)), timeout=0.05)
    t.request(p.Cmd.LEARN, struct.pack("<h", 1))
    for _ in range(255):
        t.request(p.Cmd.INFER, b"x")
    t.request(p.Cmd.LEARN, struct.pack("<h", 1))  # seq wrapped to the same value
    assert board.learned == 2


def test_silent_board_times_out_with_a_clear_error():
    class Mute:
        def write(self, data): pass
        def read(self, n): return b""
    t = Transport(Mute(), timeout=0.02, retries=1)
    with pytest.raises(BoardError, match="IDENTIFY failed after 2 attempts: no reply within"):
        t.request(p.Cmd.IDENTIFY)
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds in \(0, 3600\], not 0"):
        Transport(Mute(), timeout=0)
