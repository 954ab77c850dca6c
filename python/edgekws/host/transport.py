"""Request/reply over a serial link, with sequence numbers, timeouts and retries."""
from __future__ import annotations

import time
from typing import Callable, Optional

from edgekws import limits
from edgekws import protocol as p
from edgekws.checks import check_int, check_number


class BoardError(RuntimeError):
    """The board answered with an error status, or did not answer."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def check_timeout(timeout) -> float:
    """``timeout`` as float if it is a finite number of seconds in (0, MAX_TIMEOUT]."""
    return check_number("timeout", timeout, f"a finite number of seconds in (0, "
                        f"{limits.MAX_TIMEOUT:g}]", above=0, maximum=limits.MAX_TIMEOUT)


class Transport:
    """One request at a time to a board on ``port`` (any pyserial URL or a serial object).

    Parameters
    ----------
    port : str or serial.Serial-like
        ``/dev/ttyUSB1``, ``socket://localhost:7777``, ``loop://`` or an open port object
        with ``write``, ``read`` and ``timeout``.
    baudrate : int
    timeout : float
        Seconds to wait for a reply before retrying.
    retries : int
        Extra attempts after a timeout, a CRC error or a corrupted reply. Retries of
        non-idempotent commands reuse the sequence number, so the board does not learn
        twice.
    """

    def __init__(self, port, baudrate: int = p.DEFAULT_BAUDRATE, timeout: float = 2.0,
                 retries: int = 3):
        timeout = check_timeout(timeout)
        if isinstance(port, str):
            import serial
            self.serial = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05)
        else:
            self.serial = port
        self.timeout = timeout
        self.retries = check_int("retries", retries, 0)
        self.seq = 0
        self._last_once = None
        self.decoder = p.FrameDecoder()
        self.retried = 0

    def close(self):
        self.serial.close()

    def request(self, cmd: int, payload: bytes = b"",
                expect: Optional[Callable[[bytes], Optional[str]]] = None) -> bytes:
        """Send ``cmd`` and return the reply payload after the status byte.

        ``expect(body)`` says what is wrong with an OK reply's payload (a string), or
        None if it is fine; a malformed reply is retried like a corrupted one (a retry of
        a non-idempotent command is answered from the board's stored reply, never
        executed twice).

        Raises :class:`BoardError` on an error status, or when no valid reply came after
        all retries.
        """
        seq = self.seq
        if cmd not in p.IDEMPOTENT and seq == self._last_once:
            # The board replays its stored reply for a repeated (seq, cmd) of a
            # non-idempotent command: never reuse that seq for a new one.
            seq = (seq + 1) & 0xFF
        self.seq = (seq + 1) & 0xFF
        if cmd not in p.IDEMPOTENT:
            self._last_once = seq
        packet = p.encode_packet(seq, cmd, payload)
        last_problem = "no reply"
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            try:
                self.serial.write(packet)
            except OSError as exc:
                raise BoardError(f"the connection to the board failed: {exc}") from None
            reply = self._await(seq, cmd)
            if isinstance(reply, str):
                last_problem = reply
                continue
            status, body = reply[0], reply[1:]
            if status == p.Status.BAD_CRC:
                last_problem = "the board saw a corrupted request (CRC)"
                continue
            if status != p.Status.OK:
                name = p.Status(status).name if status in iter(p.Status) else str(status)
                raise BoardError(f"board refused {p.Cmd(cmd).name}: {name}", status)
            problem = expect(body) if expect is not None else None
            if problem is not None:
                last_problem = f"a malformed reply ({problem})"
                continue
            return body
        raise BoardError(f"{p.Cmd(cmd).name} failed after {self.retries + 1} attempts: "
                         f"{last_problem}")

    def _await(self, seq, cmd):
        """The reply payload for (seq, cmd), or a string saying what went wrong."""
        deadline = time.monotonic() + self.timeout
        problem = f"no reply within {self.timeout} s"
        while time.monotonic() < deadline:
            try:
                data = self.serial.read(4096)
            except OSError as exc:   # pyserial's SerialException too: the link is gone
                raise BoardError(f"the connection to the board failed: {exc}") from None
            if not data:
                continue
            for frame in self.decoder.feed(data):
                if frame is None:
                    problem = "an over-long reply frame"
                    continue
                try:
                    rseq, rcmd, body = p.decode_packet(frame)
                except p.ProtocolError as exc:
                    if frame.startswith(p.SERVER_TEXT):
                        raise BoardError(_server_message(frame)) from None
                    problem = f"a corrupted reply ({exc})"
                    continue
                if rseq == seq and rcmd == (cmd | p.REPLY_BIT) and body:
                    return body
                if rseq == seq and body and body[0] == p.Status.BAD_CRC:
                    return body
                # A stale reply to an earlier attempt: ignore it.
        return problem


def _server_message(frame: bytes) -> str:
    """What a board server's text line (busy, access denied) tells the user."""
    if frame.startswith(p.SERVER_TEXT + b"token required"):
        return ("this board server needs a token: connect with --token-file FILE (the "
                "file it was started with; Board(..., token_file=FILE))")
    return frame.decode("ascii", "replace").strip()
