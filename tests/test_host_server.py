"""The board servers: several clients, stalled clients and idle ones never block the others."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.host.board import Board, BoardError
from edgekws.host.emulator import Emulator, serve_tcp
from edgekws.host.server import PacketSession, ProxySession, listen_loopback, serve_sessions

from test_host_board import spikes_model

X = (np.random.default_rng(0).random((6, 1, 1, 64)) < 0.3).astype(np.uint8)


class Served:
    """``serve_sessions`` on a thread, recording its events."""

    def __init__(self, make_session, **kwargs):
        self.listener = listen_loopback(0)
        self.port = self.listener.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.events = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=serve_sessions, daemon=True, kwargs=dict(
            listener=self.listener, make_session=make_session, stop=self.stop,
            on_event=self.events.append, **kwargs))
        self.thread.start()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port))

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.listener.close()
        assert not self.thread.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def emulated(**kwargs) -> Served:
    """A fresh emulator (no extractor) served by ``serve_sessions`` with ``kwargs``."""
    emu = Emulator(extractor=False)
    return Served(lambda: PacketSession(emu.server), **kwargs)


def wait_for(cond, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_two_clients_at_once_and_stalled_ones_do_not_stop_a_third():
    emu = Emulator(extractor=False)
    with serve_tcp(0, emu) as server:
        port = int(server.url.rsplit(":", 1)[1])
        # A client stopped mid-frame, and one that sends requests but never reads.
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(p.encode_packet(1, p.Cmd.IDENTIFY)[:3])
        deaf = socket.create_connection(("127.0.0.1", port))
        deaf.sendall(b"".join(p.encode_packet(i % 256, p.Cmd.IDENTIFY) for i in range(2000)))
        a = Board(server.url, timeout=2.0, retries=0)
        b = Board(server.url, timeout=2.0, retries=0)
        model = spikes_model(3, 5)
        a.load(model)
        b.attach(model)
        ref = spikes_model(3, 5).predict_classes(X, 3)
        for _ in range(3):   # interleaved requests of two live clients
            np.testing.assert_array_equal(a.predict_classes(X), ref)
            np.testing.assert_array_equal(b.predict_classes(X), ref)
        with Board(server.url, timeout=2.0, retries=0) as third:
            assert third.identify().max_neurons == emu.max_neurons
        for s in (half, deaf):
            s.close()
        a.close()
        b.close()


def test_each_client_has_its_own_stored_reply():
    """Two clients that use the same sequence number both get their LEARN executed."""
    emu = Emulator(extractor=False)
    with serve_tcp(0, emu) as server:
        a = Board(server.url, timeout=2.0)
        b = Board(server.url, timeout=2.0)
        a.load(spikes_model(3, 5))
        b.attach(spikes_model(3, 5))
        a.transport.seq = b.transport.seq = 7
        a.fit(X[:1], 0)
        b.fit(X[1:2], 1)
        ref = spikes_model(3, 5)
        ref.fit(X[:1], 0)
        ref.fit(X[1:2], 1)
        np.testing.assert_array_equal(a.to_golden().layers[-1].get_variable("weights"),
                                      ref.layers[-1].get_variable("weights"))
        a.close()
        b.close()


def test_one_client_too_many_is_told_the_board_is_busy():
    with emulated(max_clients=1) as served:
        first = Board(served.url, timeout=1.0)
        with pytest.raises(BoardError, match=r"edgekws: board busy \(too many clients\); try "
                                             r"again later"):
            Board(served.url, timeout=1.0)
        assert served.events == ["busy"]
        first.close()
        assert wait_for(lambda: Board(served.url, timeout=1.0).info is not None)


def test_an_idle_client_is_dropped_and_its_place_freed():
    with emulated(max_clients=1, idle=0.3) as served:
        idle = served.connect()
        idle.sendall(p.encode_packet(1, p.Cmd.IDENTIFY)[:4])   # a frame stopped half-way
        idle.settimeout(3)
        assert idle.recv(100) == b"", "the idle client is disconnected"
        assert served.events == ["idle"]
        with Board(served.url, timeout=1.0) as board:
            assert board.info.version == p.PROTOCOL_VERSION


def test_a_client_that_does_not_read_is_dropped_after_the_write_deadline():
    with emulated(write_timeout=0.3, idle=60) as served:
        deaf = socket.socket()
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf.connect(("127.0.0.1", served.port))
        request = b"".join(p.encode_packet(i % 256, p.Cmd.READ_MEM, p.read_mem_payload(
            p.Region.FC_WEIGHTS, 0, p.MEM_CHUNK)) for i in range(256))
        deaf.settimeout(0.5)
        sent = 0
        try:
            while sent < 50_000_000 and "write timeout" not in served.events:
                deaf.sendall(request)
                sent += len(request)
        except (socket.timeout, OSError):
            pass   # the server stopped reading (its reply buffer is full) or dropped us
        assert wait_for(lambda: "write timeout" in served.events)
        with Board(served.url, timeout=1.0) as board:
            assert board.info.version == p.PROTOCOL_VERSION
        deaf.close()


def test_the_proxy_forwards_to_another_board_server():
    with serve_tcp(0, Emulator(extractor=False)) as backend:
        port = int(backend.url.rsplit(":", 1)[1])
        served = Served(lambda: ProxySession(("127.0.0.1", port)), max_clients=1)
        try:
            with Board(served.url, timeout=2.0) as board:
                board.load(spikes_model(3, 5))
                np.testing.assert_array_equal(board.predict_classes(X),
                                              spikes_model(3, 5).predict_classes(X, 3))
        finally:
            served.close()


def test_listen_loopback_checks_the_port():
    with pytest.raises(ValueError, match="port must be an integer from 0 to 65535, not 70000"):
        listen_loopback(70000)
    with pytest.raises(ValueError, match="not -1"):
        listen_loopback(-1)


def test_a_client_arriving_while_the_place_is_taken_waits_for_it():
    with emulated(max_clients=1) as served:
        first = Board(served.url, timeout=1.0)
        threading.Timer(0.3, first.close).start()   # leaves while the second waits
        with Board(served.url, timeout=2.0) as second:
            assert second.info.version == p.PROTOCOL_VERSION
        assert served.events == []
