"""The host driver checks every reply against its request: a malformed OK reply is a
BoardError (after retries), never a struct.error or a nonsense class."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.host.board import Board, BoardError
from edgekws.host.emulator import Emulator
from edgekws.host.packet_server import LocalPort, PacketServer
from edgekws.host.transport import Transport

from test_host_board import spikes_model


class Liar:
    """The emulator, except that the replies of the commands in ``tamper`` are rewritten."""

    def __init__(self, **tamper):
        self.emu = Emulator(extractor=False)
        self.tamper = {p.Cmd[name]: f for name, f in tamper.items()}
        self.calls = {}

    def __call__(self, cmd, payload):
        status, reply = self.emu(cmd, payload)
        self.calls[cmd] = self.calls.get(cmd, 0) + 1
        if status == p.Status.OK and cmd in self.tamper:
            reply = self.tamper[cmd](reply)
        return status, reply


def board_of(liar, load=True):
    board = Board(Transport(LocalPort(PacketServer(liar)), timeout=0.05, retries=1))
    if load:
        board.load(spikes_model(3, 5))
    return board


X = (np.random.default_rng(0).random((2, 1, 1, 64)) < 0.3).astype(np.uint8)


@pytest.mark.parametrize("cmd, tamper, call, message", [
    ("INFER_SPIKES", lambda r: r[:2], lambda b: b.predict_classes(X),
     r"INFER_SPIKES failed after 2 attempts: a malformed reply \(2 bytes, expected 5\)"),
    ("INFER_SPIKES", lambda r: r + b"\0", lambda b: b.predict_classes(X),
     r"INFER_SPIKES failed .* \(6 bytes, expected 5\)"),
    ("LEARN_SPIKES", lambda r: r[:4], lambda b: b.fit(X, 0),
     r"LEARN_SPIKES failed after 2 attempts: a malformed reply \(4 bytes, expected 5\)"),
    ("ADD_CLASSES", lambda r: r[:1], lambda b: b.add_classes(1),
     r"ADD_CLASSES failed after 2 attempts: a malformed reply \(1 bytes, expected 2\)"),
    ("READ_COUNTERS", lambda r: r[:7], lambda b: b.counters(),
     r"READ_COUNTERS failed after 2 attempts: a malformed reply \(7 bytes, expected 20\)"),
    ("READ_MEM", lambda r: r[:-1], lambda b: b.registers(),
     r"READ_MEM failed after 2 attempts: a malformed reply \(15 bytes, expected 16\)"),
    ("INFER_SPIKES", lambda r: p.RESULT_FORMAT.pack(60000, 0, 0), lambda b: b.predict_classes(X),
     r"a malformed reply \(class 60000, winner 0, learned flag 0 for 3 classes of 15 neurons\)"),
    ("INFER_SPIKES", lambda r: p.RESULT_FORMAT.pack(0, 15, 0), lambda b: b.predict_classes(X),
     r"a malformed reply \(class 0, winner 15, learned flag 0"),
    ("LEARN_SPIKES", lambda r: p.RESULT_FORMAT.pack(0, 0, 7), lambda b: b.fit(X, 0),
     r"a malformed reply \(class 0, winner 0, learned flag 7"),
])
def test_malformed_ok_replies_are_board_errors(cmd, tamper, call, message):
    board = board_of(Liar(**{cmd: tamper}))
    with pytest.raises(BoardError, match=message):
        call(board)


@pytest.mark.parametrize("cmd", ["SET_LEARNING", "WRITE_MEM"])
def test_replies_that_should_be_empty_are_checked(cmd):
    board = board_of(Liar(**{cmd: lambda r: r + b"\1"}), load=False)
    with pytest.raises(BoardError, match=rf"{cmd} failed after 2 attempts: a malformed reply "
                                         r"\(1 bytes, expected 0\)"):
        board.load(spikes_model(3, 5))


def test_short_identify_is_a_board_error():
    with pytest.raises(BoardError, match=rf"IDENTIFY failed .* \(3 bytes, expected {p.IDENTIFY_FORMAT.size}\)"):
        board_of(Liar(IDENTIFY=lambda r: r[:3]), load=False)


def test_impossible_registers_are_a_board_error():
    def regs(reply):
        vals = bytearray(reply)
        vals[2 * p.LearnReg.NUM_NEURONS:2 * p.LearnReg.NUM_NEURONS + 2] = b"\xff\xff"
        return bytes(vals)
    board = board_of(Liar(READ_MEM=regs), load=False)
    with pytest.raises(BoardError, match=r"registers hold \d+ classes of 65535 neurons; it has "
                                         r"1024 neurons"):
        board.registers()


def test_a_retry_fixes_a_reply_malformed_once():
    state = {"left": 1}

    def once(reply):
        if state["left"]:
            state["left"] -= 1
            return reply[:1]
        return reply
    liar = Liar(INFER_SPIKES=once)
    board = board_of(liar)
    ref = spikes_model(3, 5)
    np.testing.assert_array_equal(board.predict_classes(X), ref.predict_classes(X, 3))
    assert board.transport.retried == 1


def test_a_malformed_learn_reply_is_not_learned_twice():
    """The retry gets the board's stored reply: the sample is learned once."""
    liar = Liar(LEARN_SPIKES=lambda r: r[:3])
    board = board_of(liar)
    with pytest.raises(BoardError, match="LEARN_SPIKES failed"):
        board.fit(X[:1], 0)
    assert liar.calls[p.Cmd.LEARN_SPIKES] == 1


@pytest.mark.parametrize("timeout", [math.inf, math.nan, 0, -1.0, 1e9, "2", True, None])
def test_timeouts_must_be_finite_and_positive(timeout):
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds in "
                                         rf"\(0, 3600\], not {re_repr(timeout)}"):
        Transport(LocalPort(PacketServer(Liar())), timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be a finite number"):
        Board(LocalPort(PacketServer(Liar())), timeout=timeout)


def re_repr(value):
    import re
    return re.escape(repr(value))
