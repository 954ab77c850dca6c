"""Who may use a board server: a Unix socket only its owner opens, or a shared secret.

A loopback TCP port is open to every local user. For a machine with several users a
board server (``board emulate``, ``board simulate``) offers two guards, alone or
together:

* **a Unix-domain socket** (``--unix PATH``, clients ``--port unix://PATH``): the socket
  file is created with mode 0600, so only its owner (and root) can connect;
* **a token** (``--token-file FILE``): 32 random bytes in a file of mode 0600, created by
  the server if missing. The server greets each client with a fresh challenge; the
  client answers ``HMAC-SHA256(token, challenge)`` (the token itself never crosses the
  socket) and the server compares with :func:`hmac.compare_digest`. Only then does the
  client's first byte reach the board; a client that sends anything else, or a wrong
  answer, gets one line saying why and is disconnected.

The handshake lines are delimited like packets (``0x00 edgekws: ... \\n 0x00``) but never
decode as one (their CRC does not check), like the server's "busy" line.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import select
import socket
import stat
import time
from pathlib import Path

from edgekws import protocol as p
from edgekws.safeopen import open_regular

__all__ = ["TOKEN_BYTES", "read_token", "load_or_create_token", "AuthSession", "guarded",
           "authenticate", "listen_unix", "close_listener", "unix_path", "tcp_address",
           "SocketPort", "CHALLENGE_TEXT"]

#: Random bytes of a token (stored as hex).
TOKEN_BYTES = 32
#: Start of the server's greeting to a client it wants a token from.
CHALLENGE_TEXT = p.SERVER_TEXT + b"token required (challenge "
_RESPONSE_TEXT = p.SERVER_TEXT + b"response "
_WELCOME_TEXT = p.SERVER_TEXT + b"token accepted"
#: Bytes a client may send before its answer is complete (an answer is about 90).
_MAX_ANSWER = 256
#: Mixed into the HMAC so that the digest is of no use to any other protocol.
_CONTEXT = b"edgekws board access v1|"


# -- token files ---------------------------------------------------------------------------
def read_token(path) -> bytes:
    """The token in ``path``, which must be a regular file of ours that no one else may
    read or write (mode 0600 or stricter), holding 64 hex digits."""
    with open_regular(path, "token file", max_bytes=4 * TOKEN_BYTES) as f:
        st = os.fstat(f.fileno())
        text = f.read()
    if st.st_mode & 0o077:
        raise ValueError(f"{path}: token file has mode {stat.S_IMODE(st.st_mode):04o}; "
                         f"other users could read it: chmod 600 {path}")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ValueError(f"{path}: token file belongs to user {st.st_uid}, not to this "
                         f"user ({os.getuid()})")
    try:
        token = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        token = b""
    if len(token) != TOKEN_BYTES:
        raise ValueError(f"{path}: token file must hold {2 * TOKEN_BYTES} hex digits (as "
                         "`board emulate --token-file` writes it)")
    return token


def load_or_create_token(path) -> bytes:
    """The token in ``path``; if there is no file there, a new random one written to it
    (mode 0600, created whole: a reader never sees half a token)."""
    path = Path(path)
    if not path.exists():
        fd, tmp = _private_temp(path)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(TOKEN_BYTES) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)    # fails if another server created it meanwhile
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return read_token(path)


def _private_temp(path: Path):
    import tempfile
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")


def _digest(token: bytes, challenge: bytes) -> bytes:
    return hmac.new(token, _CONTEXT + challenge, hashlib.sha256).hexdigest().encode()


# -- server side ---------------------------------------------------------------------------
class AuthSession:
    """A session of :func:`edgekws.host.server.serve_sessions` that first asks for the
    token; the real session (``make_inner()``) is made only once it is given.

    ``greeting`` is sent on admission; ``finished`` turns true when the client is
    refused (the server sends what is pending, then closes).
    """

    def __init__(self, make_inner, token: bytes, on_refused=None):
        self.make_inner, self.token = make_inner, token
        self.challenge = secrets.token_hex(16).encode()
        self.greeting = (b"\x00" + CHALLENGE_TEXT + self.challenge +
                         b"); connect with --token-file FILE\n\x00")
        self.inner = None
        self.finished = False
        self._buf = bytearray()
        self._on_refused = on_refused or (lambda why: None)

    def on_data(self, data: bytes) -> bytes:
        if self.inner is not None:
            return self.inner.on_data(data)
        if self.finished:
            return b""
        self._buf += data
        start = len(self._buf) - len(self._buf.lstrip(b"\x00"))
        end = self._buf.find(b"\x00", start)
        if end < 0:
            if len(self._buf) > _MAX_ANSWER:
                return self._refuse("needs a token: connect with --token-file FILE (the "
                                    "file the server was started with)", "no token")
            return b""
        frame, rest = bytes(self._buf[start:end]), bytes(self._buf[end:])
        self._buf.clear()
        if not frame.startswith(_RESPONSE_TEXT):
            return self._refuse("access denied: this board server needs a token: connect "
                                "with --token-file FILE (the file the server was started "
                                "with)", "no token")
        answer = frame[len(_RESPONSE_TEXT):].strip()
        if not hmac.compare_digest(answer, _digest(self.token, self.challenge)):
            return self._refuse("access denied: wrong token (the client's --token-file "
                                "is not the server's)", "wrong token")
        self.inner = self.make_inner()
        out = p.server_line(_WELCOME_TEXT[len(p.SERVER_TEXT):].decode())
        return out + (self.inner.on_data(rest) if rest.strip(b"\x00") else b"")

    def _refuse(self, text, why):
        self.finished = True
        self._on_refused(why)
        return p.server_line(text)

    def sockets(self):
        return self.inner.sockets() if self.inner is not None else ()

    def on_ready(self, sock):
        return self.inner.on_ready(sock)

    def close(self):
        if self.inner is not None:
            self.inner.close()


def guarded(make_session, token: bytes | None):
    """``make_session`` itself without a token, else one that makes :class:`AuthSession`
    around it."""
    if token is None:
        return make_session
    return lambda: AuthSession(make_session, token)


def listen_unix(path, backlog: int | None = None) -> socket.socket:
    """A listening Unix-domain socket at ``path``, mode 0600 (owner only).

    A socket file left by a server that is gone is replaced; anything else at ``path``
    (a file, a live server) is refused.
    """
    from edgekws import limits
    if not hasattr(socket, "AF_UNIX"):
        raise ValueError("Unix-domain sockets are not available on this system: use "
                         "--tcp with --token-file")
    path = os.fspath(path)
    if not path or len(os.fsencode(path)) > 100:
        raise ValueError(f"a Unix socket path must be 1 to 100 bytes long, not {path!r}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise ValueError(f"{path} exists and is not a socket: choose another --unix path")
        if _answers(path):
            raise ValueError(f"a board server already listens on {path}")
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask makes the file private from its creation (a chmod after bind would leave
    # a moment in which others could connect).
    old = os.umask(0o177)
    try:
        srv.bind(path)
    except OSError:
        srv.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    srv.listen(limits.SERVER_BACKLOG if backlog is None else backlog)
    srv.setblocking(False)
    return srv


def close_listener(listener: socket.socket) -> None:
    """Close a listening socket; a Unix-domain one's socket file is removed too."""
    path = listener.getsockname() if listener.family == getattr(socket, "AF_UNIX", None) \
        else None
    listener.close()
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _answers(path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


# -- client side ---------------------------------------------------------------------------
def unix_path(url: str):
    """The socket path of a ``unix://PATH`` URL (``unix:///tmp/b.sock``), else None."""
    if isinstance(url, str) and url.startswith("unix://"):
        path = url[len("unix://"):]
        if not path:
            raise ValueError(f"board port {url!r} names no socket: expected unix://PATH")
        return path
    return None


def tcp_address(url: str):
    """``(host, port)`` of a ``socket://HOST:PORT`` URL, else None."""
    if not (isinstance(url, str) and url.startswith("socket://")):
        return None
    host, _, port = url[len("socket://"):].rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"board port {url!r}: expected socket://HOST:PORT")
    return host, int(port)


class SocketPort:
    """A connected stream socket (``unix://PATH`` or ``socket://HOST:PORT``) with the
    serial-port calls the host driver uses: ``read(n)`` returns what has arrived within
    50 ms (maybe nothing). Unlike pyserial's ``socket://``, it keeps what the server
    sent before the first read (a token challenge)."""

    def __init__(self, url: str):
        path = unix_path(url)
        self.sock = socket.socket(socket.AF_UNIX if path else socket.AF_INET,
                                  socket.SOCK_STREAM)
        try:
            self.sock.settimeout(5)
            self.sock.connect(path or tcp_address(url))
        except OSError as exc:
            self.sock.close()
            raise OSError(f"cannot open board port {url}: {exc.strerror or exc}") from None
        if not path:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)

    def write(self, data):
        self.sock.sendall(data)

    def read(self, n):
        if not select.select([self.sock], [], [], 0.05)[0]:
            return b""
        data = self.sock.recv(n)
        if not data:
            raise OSError("the board server closed the connection")
        return data

    def close(self):
        self.sock.close()


def authenticate(port, token: bytes, timeout: float) -> None:
    """Answer the server's challenge on ``port`` (an open port object) with ``token``.

    Raises :class:`~edgekws.host.transport.BoardError` naming what went wrong: no
    challenge (the server does not ask for a token), a refusal (wrong token), silence.
    """
    from .transport import BoardError
    decoder = p.FrameDecoder()
    deadline = time.monotonic() + timeout
    challenge = None
    while time.monotonic() < deadline:
        try:
            data = port.read(4096)
        except OSError as exc:
            raise BoardError(f"the connection to the board failed: {exc}") from None
        for frame in decoder.feed(data):
            if frame is None:
                continue
            if challenge is None:
                if not frame.startswith(CHALLENGE_TEXT):
                    raise BoardError(_server_text(frame) or "the board server did not ask "
                                     "for a token (it was started without --token-file)")
                challenge = frame[len(CHALLENGE_TEXT):].split(b")", 1)[0]
                try:
                    port.write(b"\x00" + _RESPONSE_TEXT + _digest(token, challenge) +
                               b"\n\x00")
                except OSError as exc:
                    raise BoardError(f"the connection to the board failed: {exc}") from None
            elif frame.startswith(_WELCOME_TEXT):
                return
            else:
                raise BoardError(_server_text(frame) or "the board server did not accept "
                                 "the token")
    raise BoardError(f"no {'answer to the token' if challenge else 'token challenge'} "
                     f"from the board server within {timeout:g} s" +
                     ("" if challenge else " (was it started with --token-file?)"))


def _server_text(frame: bytes) -> str | None:
    if frame.startswith(p.SERVER_TEXT):
        return frame.decode("ascii", "replace").strip()
    return None
