"""The loopback TCP front of the emulated and the simulated board: bounded and fair.

One thread runs a ``select`` loop over the listening socket and every client, so no
client can hold the others up: each has its own session (its own frame decoder and
stored reply), a deadline for silence (:data:`~edgekws.limits.SERVER_IDLE_SECONDS`,
which also ends a frame stopped half-way) and one for a reply it does not read
(:data:`~edgekws.limits.SERVER_WRITE_SECONDS` to take all its replies). At most ``max_clients`` are served at
once; one more waits a second for a place, then gets
:data:`edgekws.protocol.BUSY_REPLY` and is closed, and the listening queue is :data:`~edgekws.limits.SERVER_BACKLOG` long.

A session is any object with ``on_data(bytes) -> bytes`` (the replies to send),
``sockets()`` (more sockets it waits on), ``on_ready(sock) -> bytes or None`` (None:
the session is over) and ``close()``; it may have ``greeting`` (bytes sent when the
client is admitted) and ``finished`` (true: send what is pending, then close; see
:class:`edgekws.host.access.AuthSession`). The listening socket may be TCP or
Unix-domain (:func:`edgekws.host.access.listen_unix`). :class:`PacketSession` serves an in-process
:class:`~edgekws.host.packet_server.PacketServer` (the emulator; any number of
clients); :class:`ProxySession` forwards bytes to another server (the Verilator
bridge on its private Unix-domain socket, which has one UART and so takes one client).
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Callable

from edgekws import limits
from edgekws import protocol as p
from edgekws.checks import check_int

__all__ = ["serve_sessions", "listen_loopback", "PacketSession", "ProxySession"]


def listen_loopback(port: int, backlog: int | None = None) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0 = any free port)."""
    port = check_int("port", port, 0, 65535, expected="an integer from 0 to 65535")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("127.0.0.1", port))
        srv.listen(limits.SERVER_BACKLOG if backlog is None else backlog)
    except OSError:
        srv.close()
        raise
    srv.setblocking(False)
    return srv


class PacketSession:
    """One client of an in-process packet server: its own decoder and stored reply."""

    def __init__(self, server):
        self.server = server
        self.session = server.session()

    def on_data(self, data: bytes) -> bytes:
        # Through server.feed, so that a server whose feed is wrapped sees every byte.
        with self.server.using(self.session):
            return self.server.feed(data)

    def sockets(self):
        return ()

    def on_ready(self, sock):  # pragma: no cover - no sockets of its own
        return b""

    def close(self):
        pass


class ProxySession:
    """One client forwarded byte for byte to the server at ``address``: ``(host, port)``
    for TCP, a path for a Unix-domain socket."""

    def __init__(self, address):
        if isinstance(address, tuple):
            self.backend = socket.create_connection(address, timeout=5)
            self.backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self.backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.backend.settimeout(5)
                self.backend.connect(os.fspath(address))
            except OSError:
                self.backend.close()
                raise
        self.backend.settimeout(limits.SERVER_WRITE_SECONDS)

    def on_data(self, data: bytes) -> bytes:
        self.backend.sendall(data)
        return b""

    def sockets(self):
        return (self.backend,)

    def on_ready(self, sock):
        try:
            data = sock.recv(4096)
        except OSError:
            return None
        return data or None

    def close(self):
        self.backend.close()


#: Seconds a new client waits for a free place before it is told the board is busy.
_WAIT_SECONDS = 1.0
#: Reply bytes kept for a client before reading its requests pauses (a client of the
#: host driver has one reply of at most 1 KB pending).
_OUT_LIMIT = 2**18
#: Kernel send buffer of a client connection: replies are small, and a client that does
#: not read must fill this before its write deadline starts.
_SNDBUF = 2**16


class _Client:
    def __init__(self, conn, session, now):
        self.conn, self.session = conn, session
        self.out = bytearray()
        self.last_read = now       # idle deadline: silence, or a frame stopped half-way
        self.drained = now         # write deadline: replies the client does not take


def serve_sessions(listener: socket.socket, make_session: Callable[[], object],
                   stop: threading.Event, max_clients: int | None = None,
                   idle: float | None = None, write_timeout: float | None = None,
                   on_event: Callable[[str], None] | None = None) -> None:
    """Serve clients of ``listener`` until ``stop`` is set (then close them all).

    Parameters
    ----------
    listener : socket
        A listening, non-blocking socket (:func:`listen_loopback`).
    make_session : callable
        A new session for each accepted client.
    max_clients, idle, write_timeout
        Default to :data:`~edgekws.limits.SERVER_MAX_CLIENTS`, ``SERVER_IDLE_SECONDS``
        and ``SERVER_WRITE_SECONDS``.
    on_event : callable, optional
        Called with ``"busy"``, ``"idle"``, ``"write timeout"``, ``"backend closed"`` or
        ``"denied"`` (a finished session) when a client is refused or dropped (for logs
        and tests).
    """
    import select
    max_clients = limits.SERVER_MAX_CLIENTS if max_clients is None else max_clients
    idle = limits.SERVER_IDLE_SECONDS if idle is None else idle
    write_timeout = limits.SERVER_WRITE_SECONDS if write_timeout is None else write_timeout
    clients: list[_Client] = []
    waiting: dict = {}   # connection -> when it arrived, while every place is taken
    event = on_event or (lambda what: None)

    def drop(c, why=None):
        clients.remove(c)
        try:
            c.session.close()
        finally:
            c.conn.close()
        if why:
            event(why)

    try:
        while not stop.is_set():
            owners = {}
            for c in clients:
                owners[c.conn] = c
                for s in c.session.sockets():
                    owners[s] = c
            # A client that does not take its replies is not read either (bounded memory).
            readable = [listener, *(s for s, c in owners.items()
                                    if s is not c.conn or len(c.out) < _OUT_LIMIT)]
            writable = [c.conn for c in clients if c.out]
            r, w, _ = select.select(readable, writable, [], 0.05)
            now = time.monotonic()
            if listener in r:
                _accept(listener, waiting, now)
            _admit(clients, waiting, make_session, max_clients, now, event)
            for sock in r:
                c = owners.get(sock)
                if c is None or c not in clients:
                    continue
                if sock is c.conn:
                    try:
                        data = c.conn.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        drop(c)
                        continue
                    c.last_read = now
                    if getattr(c.session, "finished", False):
                        continue   # refused: what it sends now is dropped
                    try:
                        c.out += c.session.on_data(data)
                    except OSError:
                        drop(c, "backend closed")
                        continue
                else:
                    data = c.session.on_ready(sock)
                    if data is None:
                        drop(c, "backend closed")
                        continue
                    c.out += data
            for c in list(clients):
                if c.conn in w and c.out:
                    try:
                        sent = c.conn.send(c.out)
                    except BlockingIOError:
                        sent = 0
                    except OSError:
                        drop(c)
                        continue
                    del c.out[:sent]
                if not c.out:
                    c.drained = now
                    if getattr(c.session, "finished", False):
                        clients.remove(c)
                        c.session.close()
                        _close_gently(c.conn)
                        event("denied")
                        continue
                # Measured from the last time every reply was taken, not from the last
                # byte taken: a client that takes a trickle is as stuck as one that does not.
                if c.out and now - c.drained > write_timeout:
                    drop(c, "write timeout")
                elif not c.out and now - c.last_read > idle:
                    drop(c, "idle")
    finally:
        for c in list(clients):
            drop(c)
        for conn in waiting:
            _refuse(conn)


def _accept(listener, waiting, now):
    """Queue a new connection: it gets a place when there is one (see :func:`_admit`)."""
    try:
        conn, _ = listener.accept()
    except OSError:
        return
    if conn.family in (socket.AF_INET, socket.AF_INET6):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
    conn.setblocking(False)
    if len(waiting) >= limits.SERVER_BACKLOG:
        _refuse(conn)
    else:
        waiting[conn] = now


def _admit(clients, waiting, make_session, max_clients, now, event):
    """Give free places to waiting connections, oldest first; one that waited
    _WAIT_SECONDS (a client that just left is noticed within one loop) is told the board
    is busy. Its request stays unread meanwhile, and is answered then."""
    for conn, since in sorted(waiting.items(), key=lambda kv: kv[1]):
        if len(clients) < max_clients:
            del waiting[conn]
            try:
                session = make_session()
            except OSError:
                conn.close()
                event("backend closed")
                continue
            client = _Client(conn, session, now)
            client.out += getattr(session, "greeting", b"")
            clients.append(client)
        elif now - since > _WAIT_SECONDS:
            del waiting[conn]
            _refuse(conn)
            event("busy")


def _refuse(conn):
    """Answer BUSY_REPLY and close (see :func:`_close_gently`)."""
    _close_gently(conn, p.BUSY_REPLY)


def _close_gently(conn, last: bytes = b""):
    """Send ``last`` and close. What the client sent is read first: closing with unread
    data resets the connection, and the reset would discard the answer."""
    try:
        for _ in range(16):
            if not conn.recv(65536):
                break
    except OSError:
        pass
    try:
        if last:
            conn.send(last)
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    conn.close()
