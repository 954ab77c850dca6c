"""The board's packet layer as a small pure-Python model.

It turns received bytes into handler calls and replies, exactly as the gateware framer
does: frames split at delimiters, CRC checked, unknown commands and bad lengths answered
with an error status, and a retried non-idempotent command (same ``seq`` as the last one)
answered from the stored reply instead of being executed twice. The simulated board and
the emulator use it; the gateware's framer is tested against it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from edgekws import protocol as p

#: handler(cmd, payload) -> (status, reply payload)
Handler = Callable[[int, bytes], "tuple[int, bytes]"]


class PacketServer:
    """Feed it bytes, get reply bytes.

    Parameters
    ----------
    handler : callable
        ``handler(cmd, payload) -> (status, payload)`` for a well-formed request; it may
        raise :class:`KeyError` for an unknown command.
    """

    def __init__(self, handler: Handler):
        self.handler = handler
        self.crc_errors = 0
        self.framing_errors = 0
        self.frames = 0
        self._current = Session(self)

    def feed(self, data: bytes) -> bytes:
        """Serve ``data`` on the current stream: the server's own, or the one selected
        by :meth:`using`."""
        out = bytearray()
        session = self._current
        for frame in session.decoder.feed(data):
            out += self._serve(frame, session)
        return bytes(out)

    def session(self) -> "Session":
        """A new stream (client) of this server: its own frame decoder and stored reply,
        the handler and the counters shared."""
        return Session(self)

    @contextmanager
    def using(self, session: "Session"):
        """Make ``session`` the current stream for :meth:`feed` (one thread at a time)."""
        previous, self._current = self._current, session
        try:
            yield
        finally:
            self._current = previous

    def _reply(self, seq, cmd, status, payload=b""):
        return p.encode_packet(seq, (cmd | p.REPLY_BIT) & 0xFF, bytes((status,)) + payload)

    def _serve(self, frame, session) -> bytes:
        if frame is None:
            self.framing_errors += 1
            return self._reply(0xFF, 0x7F, p.Status.TOO_LONG)
        try:
            seq, cmd, payload = p.decode_packet(frame)
        except p.ProtocolError as exc:
            # Answer what we can: the host matches replies by seq and retries.
            if "CRC" in str(exc):
                self.crc_errors += 1
                raw = p.cobs_decode(frame)
                return self._reply(raw[0], raw[1] & 0x7F, p.Status.BAD_CRC)
            self.framing_errors += 1
            return b""
        self.frames += 1
        last = session.last
        if cmd not in p.IDEMPOTENT and last and last[:2] == (seq, cmd):
            return last[2]  # a retry: same answer, not executed twice
        try:
            status, reply = self.handler(cmd, payload)
        except KeyError:
            status, reply = p.Status.UNKNOWN_CMD, b""
        out = self._reply(seq, cmd, status, reply)
        if cmd not in p.IDEMPOTENT:
            session.last = (seq, cmd, out)
        return out


class Session:
    """One stream of requests to a :class:`PacketServer` (a serial line, a TCP client)."""

    def __init__(self, server: PacketServer):
        self.server = server
        self.decoder = p.FrameDecoder()
        self.last: tuple[int, int, bytes] | None = None  # seq, cmd, reply bytes

    def feed(self, data: bytes) -> bytes:
        """The replies to the complete frames in ``data`` (partial frames wait)."""
        with self.server.using(self):
            return self.server.feed(data)


class LocalPort:
    """A serial-port stand-in wired to a :class:`PacketServer` in this process: what is
    written is served at once, and the replies wait to be read."""

    def __init__(self, server: PacketServer):
        self.server = server
        self.inbox = bytearray()

    def write(self, data):
        self.inbox += self.server.feed(data)

    def read(self, n):
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out

    def close(self):
        pass
