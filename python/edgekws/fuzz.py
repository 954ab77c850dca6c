"""Fuzzing the readers, the board and the host driver with fixed seeds: every bad input
refused cleanly.

The targets, each fed inputs from a seeded generator:

* ``model``: ``.ekws`` files, mutated in their JSON (a field set to another value or
  type, deleted, an unknown key added, deep nesting, huge numbers) with the checksum
  recomputed, and in their bytes (flips, truncation, garbage) with or without it;
* ``wav``: WAV files whose header fields (format, channels, rate, bits, chunk sizes) or
  bytes are mutated, or that are cut short;
* ``frames``: random bytes and valid-CRC packets of random commands and payloads sent to
  the emulated board loaded with a learning model, and (``--sim-frames``) to the
  gateware in Verilator;
* ``host driver``: driver operations against boards that misbehave (short, long,
  corrupted, stale or missing replies, garbage, a connection closed mid-reply);
* ``kills``: kill -9 of a process saving a model, and of an enrolment, at random moments.

Each input ends in one outcome: *refused cleanly* (the reader's documented error, an
error status from the board, a ``BoardError`` in the driver), *accepted* (read, served
OK, the right result), a *traceback* (any other exception), a *hang* (no answer within
the time budget) or *data lost* (the board's learned state changed although the request
was refused; a wrong result accepted; a file or an enrolment damaged by a kill). Each
``fuzz_*`` function says what its outcomes mean. ``python -m edgekws.fuzz`` (``make
fuzz``) prints the table; ``tests/test_fuzz.py`` runs a short version.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import signal
import struct
import sys
import tempfile
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Outcome", "Tally", "fuzz_model_files", "fuzz_wav_headers", "fuzz_frames", "run",
           "format_table", "main"]

#: Seconds one input may take before it counts as a hang.
HANG_SECONDS = 10.0
#: The same for one kill -9 of a subprocess (it starts Python and edgekws first).
KILL_HANG_SECONDS = 60.0


class Outcome:
    REFUSED = "refused cleanly"
    ACCEPTED = "accepted"
    TRACEBACK = "tracebacks"
    HANG = "hangs"
    LOST = "data lost"
    ALL = (REFUSED, TRACEBACK, HANG, ACCEPTED, LOST)


@dataclass
class Tally:
    """Outcome counts of one target, and the first few tracebacks for the report."""
    target: str
    counts: dict = field(default_factory=lambda: dict.fromkeys(Outcome.ALL, 0))
    examples: list = field(default_factory=list)
    #: Where the inputs landed, for the kill rows (e.g. ``{"recovered": 31}``).
    where: dict = field(default_factory=dict)

    @property
    def tried(self) -> int:
        return sum(self.counts.values())

    def landed(self, where: str) -> None:
        self.where[where] = self.where.get(where, 0) + 1

    def add(self, outcome: str, example: str | None = None) -> None:
        self.counts[outcome] += 1
        if example and len(self.examples) < 5:
            self.examples.append(example)


class _Hang(Exception):
    pass


@contextmanager
def _deadline(seconds: float):
    """Raise _Hang in the main thread after ``seconds`` (no limit elsewhere)."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum, frame):
        raise _Hang
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _accepted(read, path) -> str:
    read(path)
    return Outcome.ACCEPTED


def _judge(tally: Tally, attempt, clean_errors, seconds: float | None = None) -> None:
    """Run ``attempt()`` (which returns the outcome) and count it; ``clean_errors`` are
    the exceptions that count as a clean refusal; more than ``seconds`` (default
    :data:`HANG_SECONDS`) is a hang."""
    try:
        with _deadline(HANG_SECONDS if seconds is None else seconds):
            outcome = attempt()
    except _Hang:
        tally.add(Outcome.HANG)
        return
    except clean_errors:
        tally.add(Outcome.REFUSED)
        return
    except Exception:  # noqa: BLE001 - counting every other failure is the point
        tally.add(Outcome.TRACEBACK, traceback.format_exc(limit=4))
        return
    tally.add(outcome)


# -- model files --------------------------------------------------------------------------
def _small_model(inputs: int = 32):
    """A two-layer learning model (spikes in), trained a little: every section present."""
    from edgekws import golden as g
    rng = np.random.default_rng(0)
    m = g.Model([g.InputData((1, 1, inputs), input_bits=1),
                 g.FullyConnected(8, name="fc", activation=False)])
    m.compile(g.AkidaUnsupervised(num_weights=6, num_classes=2), seed=0)
    m.fit((rng.random((6, 1, 1, inputs)) < 0.3).astype(np.uint8), rng.integers(0, 2, 6))
    return m


_ODD_VALUES = [None, True, False, 0, -1, 1, 2**31, 2**63, 2**28, -2**40, 1e308, -0.5, 0.5,
               "", "x", "Same", "float64", [], [1], [1, 2, 3], [-1, -1], [2**28, 1, 1],
               {}, {"a": 1}, [[[[]]]]]


def _paths(node, prefix=()):
    """Every (path, value) inside a JSON value."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutate_meta(meta, rng):
    meta = copy.deepcopy(meta)
    paths = [p for p, _ in _paths(meta) if p]
    path = paths[rng.integers(len(paths))]
    parent = meta
    for k in path[:-1]:
        parent = parent[k]
    kind = rng.integers(5)
    if kind == 0:
        parent[path[-1]] = _ODD_VALUES[rng.integers(len(_ODD_VALUES))]
    elif kind == 1:
        del parent[path[-1]]
    elif kind == 2 and isinstance(parent, dict):
        parent[f"unknown_{rng.integers(100)}"] = 1
    elif kind == 3:
        # Deeper than the limit, not so deep that json.dumps itself gives up.
        parent[path[-1]] = _nest(int(rng.integers(20, 900)))
    else:
        v = parent[path[-1]]
        if isinstance(v, int) and not isinstance(v, bool):
            parent[path[-1]] = v * int(rng.choice([-1, 2, 1000, 2**20]))
        else:
            parent[path[-1]] = _ODD_VALUES[rng.integers(len(_ODD_VALUES))]
    return meta


def _nest(depth: int):
    v = []
    for _ in range(depth):
        v = [v]
    return v


def _model_blob(base: bytes, rng) -> bytes:
    from edgekws.golden import fileformat as ff
    start = ff._HEADER.size
    _, version, _, meta_len = ff._HEADER.unpack_from(base)
    meta = json.loads(base[start:start + meta_len])
    payload = base[start + meta_len:-32]
    kind = rng.integers(6)
    if kind <= 2:      # JSON mutations, checksum recomputed
        text = json.dumps(_mutate_meta(meta, rng)).encode()
        body = ff._HEADER.pack(ff.MAGIC, version, 0, len(text)) + text + payload
        return body + hashlib.sha256(body).digest()
    data = bytearray(base)
    if kind == 3:      # header fields, checksum recomputed
        field_ = int(rng.integers(3))
        off, fmt = [(8, "<H"), (10, "<H"), (12, "<I")][field_]
        struct.pack_into(fmt, data, off, int(rng.integers(0, 2**(8 * struct.calcsize(fmt)))))
    elif kind == 4:    # bit flips in the payload, checksum recomputed or not
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(len(data) - 32))
            data[i] ^= 1 << int(rng.integers(8))
        if rng.random() < 0.5:
            return bytes(data)
    else:              # truncation or garbage
        return bytes(data[:int(rng.integers(len(data)))]) if rng.random() < 0.5 else \
            rng.integers(0, 256, int(rng.integers(1, 2000)), dtype=np.uint8).tobytes()
    body = bytes(data[:-32])
    return body + hashlib.sha256(body).digest()


def fuzz_model_files(n: int, seed: int = 0, folder=None) -> Tally:
    """Load ``n`` mutated model files; ModelFileError is the clean refusal."""
    from edgekws.golden import Model, ModelFileError
    from edgekws.golden import fileformat as ff
    tally = Tally("model files")
    rng = np.random.default_rng(seed)
    base = ff.to_bytes(_small_model(), extra={"words": ["a", "b"]})
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "fuzz.ekws"
        for _ in range(n):
            path.write_bytes(_model_blob(base, rng))
            _judge(tally, lambda: _accepted(Model, path), ModelFileError)
    return tally


# -- WAV headers --------------------------------------------------------------------------
def _wav_bytes(rate=16000, channels=1, bits=16, frames=1600, rng=None) -> bytes:
    block = channels * bits // 8
    data = (rng or np.random.default_rng(0)).integers(0, 256, frames * block,
                                                      dtype=np.uint8).tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " +
            struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data)


#: (offset, struct format) of the header fields of :func:`_wav_bytes`.
_WAV_FIELDS = [(4, "<I"), (16, "<I"), (20, "<H"), (22, "<H"), (24, "<I"), (28, "<I"),
               (32, "<H"), (34, "<H"), (40, "<I")]
_WAV_ODD = [0, 1, 2, 3, 7, 8, 9, 24, 255, 3999, 4000, 44100, 192000, 192001, 2**15, 2**16 - 1,
            2**31, 2**32 - 1]


def _wav_blob(rng) -> bytes:
    rate = int(rng.choice([8000, 16000, 22050, 44100, 48000]))
    data = bytearray(_wav_bytes(rate, int(rng.integers(1, 3)), 16,
                                int(rng.integers(1, 4000)), rng))
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.integers(3)
        if kind == 0:
            off, fmt = _WAV_FIELDS[rng.integers(len(_WAV_FIELDS))]
            if off + struct.calcsize(fmt) > len(data):
                continue   # cut before this field
            top = 2**(8 * struct.calcsize(fmt)) - 1
            value = int(rng.choice(_WAV_ODD)) if rng.random() < 0.7 else int(rng.integers(0, top))
            struct.pack_into(fmt, data, off, min(value, top))
        elif kind == 1:
            i = int(rng.integers(min(len(data), 64)))
            data[i] ^= 1 << int(rng.integers(8))
        else:
            del data[int(rng.integers(len(data))):]
            if not data:
                break
    return bytes(data)


def fuzz_wav_headers(n: int, seed: int = 0, folder=None) -> Tally:
    """Read ``n`` mutated WAV files; ValueError is the clean refusal."""
    from edgekws.data.wavio import read_wav
    tally = Tally("WAV headers")
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "fuzz.wav"
        for _ in range(n):
            path.write_bytes(_wav_blob(rng))
            _judge(tally, lambda: _accepted(read_wav, path), ValueError)
    return tally


# -- frames to the emulator ---------------------------------------------------------------
def _loaded_emulator():
    from edgekws.host.board import Board
    from edgekws.host.emulator import Emulator
    from edgekws.host.packet_server import LocalPort
    from edgekws.host.transport import Transport
    emu = Emulator(extractor=False, num_inputs=32, max_neurons=64)
    model = _small_model()
    Board(Transport(LocalPort(emu.server), timeout=1.0)).load(model)
    return emu


def _state(emu) -> tuple:
    return (emu.fc_w.tobytes(), emu.thl.tobytes(), emu.thswap.tobytes(), emu.regs.tobytes())


def _frame_blob(rng) -> tuple[bytes, bool]:
    """``(bytes, valid_crc)``: random bytes, or a valid packet of a random request."""
    from edgekws import protocol as p
    if rng.random() < 0.4:
        n = int(rng.integers(1, 1200))
        return rng.integers(0, 256, n, dtype=np.uint8).tobytes(), False
    cmds = [int(c) for c in p.Cmd] + [0x00, 0x7F, 0x55]
    cmd = cmds[rng.integers(len(cmds))]
    payload = rng.integers(0, 256, int(rng.choice([0, 1, 2, 5, 7, 14, 100, 1020])),
                           dtype=np.uint8).tobytes()
    packet = p.encode_packet(int(rng.integers(256)), cmd, payload)
    if rng.random() < 0.3:      # damaged in transit: the CRC no longer checks
        raw = bytearray(packet)
        i = int(rng.integers(1, len(raw) - 1))
        raw[i] = (raw[i] ^ (1 << int(rng.integers(8)))) or 1
        return bytes(raw), False
    return packet, True


def fuzz_frames(n: int, seed: int = 0) -> Tally:
    """Send ``n`` random or valid-CRC frames to a loaded emulator.

    A frame answered OK is *accepted* (it may change the state: that is what WRITE_MEM
    and LEARN are for); any other answer or none must leave the learned state as it was,
    else the input counts as *data lost*.
    """
    from edgekws import protocol as p
    tally = Tally("board frames")
    rng = np.random.default_rng(seed)
    emu = _loaded_emulator()

    def attempt(blob):
        before = _state(emu)
        reply = emu.server.feed(blob + b"\x00")
        ok = False
        for frame in p.FrameDecoder().feed(reply):
            _, _, body = p.decode_packet(frame)   # our own replies must decode
            ok |= body[:1] == bytes((p.Status.OK,))
        if ok:
            return Outcome.ACCEPTED
        return Outcome.REFUSED if _state(emu) == before else Outcome.LOST

    for _ in range(n):
        blob, _valid = _frame_blob(rng)
        _judge(tally, lambda: attempt(blob), ())
        if rng.random() < 0.02:     # now and then start again from a loaded board
            emu = _loaded_emulator()
    return tally


# -- misbehaving board servers against the host driver -------------------------------------
#: How a misbehaving board answers a request (applied to a reply at random).
FAULTS = ("short", "long", "flipped bit", "garbage", "stall", "close mid-reply", "stale seq",
          "server line", "byte by byte")


class _Misbehaving:
    """Answers requests from a real (emulated) board, then spoils the reply with one of
    :data:`FAULTS` at ``rate``. ``respond(data)`` gives ``(bytes to send, close after)``."""

    def __init__(self, server, rng, rate):
        self.server, self.rng, self.rate = server, rng, rate

    def respond(self, data):
        from edgekws import protocol as p
        reply = self.server.feed(data)
        if not reply or self.rng.random() >= self.rate:
            return reply, False
        fault = FAULTS[self.rng.integers(len(FAULTS))]
        frames = [f for f in p.FrameDecoder().feed(reply) if f]
        seq, cmd, body = p.decode_packet(frames[-1])
        if fault == "short":
            return p.encode_packet(seq, cmd, body[:int(self.rng.integers(len(body)))]), False
        if fault == "long":
            extra = self.rng.integers(0, 256, int(self.rng.integers(1, 40)), dtype=np.uint8)
            return p.encode_packet(seq, cmd, (body + extra.tobytes())[:p.MAX_PACKET - 4]), False
        if fault == "flipped bit":     # a wrong CRC, or broken COBS
            raw = bytearray(reply)
            i = int(self.rng.integers(1, len(raw) - 1))
            raw[i] = (raw[i] ^ (1 << int(self.rng.integers(8)))) or 1
            return bytes(raw), False
        if fault == "garbage":
            return self.rng.integers(0, 256, int(self.rng.integers(1, 300)),
                                     dtype=np.uint8).tobytes(), False
        if fault == "stall":
            return b"", False
        if fault == "close mid-reply":
            return reply[:int(self.rng.integers(len(reply)))], True
        if fault == "stale seq":
            return p.encode_packet((seq - 1) & 0xFF, cmd, body), False
        if fault == "server line":
            return p.BUSY_REPLY, True
        return reply, False   # byte by byte: the port hands it out one byte per read


class _MisbehavingPort:
    """A serial-port stand-in in front of :class:`_Misbehaving`."""

    def __init__(self, board):
        self.board, self.inbox, self.closed, self.trickle = board, bytearray(), False, False

    def write(self, data):
        if self.closed:
            raise OSError("the board closed the connection")
        out, self.closed = self.board.respond(data)
        self.trickle = self.board.rng.random() < 0.1
        self.inbox += out

    def read(self, n):
        if not self.inbox and self.closed:
            raise OSError("the board closed the connection")
        n = 1 if self.trickle else n
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out

    def close(self):
        self.closed = True


def _serve_misbehaving(board):
    """One TCP client served by :class:`_Misbehaving` on a thread; returns the URL."""
    import socket
    import threading
    from edgekws.host.server import listen_loopback
    srv = listen_loopback(0)
    srv.setblocking(True)
    srv.settimeout(HANG_SECONDS)

    def run():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        finally:
            srv.close()
        with conn:
            conn.settimeout(HANG_SECONDS)
            try:
                while data := conn.recv(4096):
                    out, close = board.respond(data)
                    conn.sendall(out)
                    if close:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
            except OSError:
                return
    threading.Thread(target=run, daemon=True).start()
    return f"socket://127.0.0.1:{srv.getsockname()[1]}"


def _driver_ops(rng, model):
    """One host-driver operation: ``(name, op(board) -> comparable result)``."""
    from edgekws import protocol as p
    x = (rng.random((int(rng.integers(1, 4)), 1, 1, 32)) < 0.3).astype(np.uint8)
    label = int(rng.integers(-1, 2))
    ops = {
        "registers": lambda b: b.registers(),
        "infer": lambda b: [a.tolist() for a in b.infer(x, potentials=True)],
        "fit": lambda b: b.fit(x, label).tolist(),
        "add_classes": lambda b: b.add_classes(1, seed=3),
        "read_mem": lambda b: b.read_mem(p.Region.FC_WEIGHTS, 32),
        "to_golden": lambda b: [v.tolist() for v in (b.to_golden().layers[-1].get_variable(n)
                                                     for n in ("weights",))],
    }
    name = list(ops)[rng.integers(len(ops))]
    return name, ops[name]


def fuzz_host_driver(n: int, seed: int = 0) -> Tally:
    """Run ``n`` host-driver operations against boards that misbehave (:data:`FAULTS`:
    short or long replies with a valid CRC, a flipped bit, garbage, silence, a connection
    closed mid-reply, a stale sequence number, a server's text line, replies that
    trickle in byte by byte), in process or over loopback TCP (one in eight).

    The same operation on a twin board that behaves is the reference: a result equal to
    it is *accepted*; a :class:`BoardError` is *refused cleanly*; a different result, or
    a board whose learned state then differs from the twin's (learned twice), is *data
    lost*.
    """
    from edgekws.host.board import Board, BoardError
    from edgekws.host.packet_server import LocalPort
    from edgekws.host.transport import Transport
    tally = Tally("host driver vs bad boards")
    rng = np.random.default_rng(seed)
    model = _small_model()

    def attempt():
        bad_emu, good_emu = _loaded_emulator(), _loaded_emulator()
        bad = _Misbehaving(bad_emu.server, rng, float(rng.choice([0.1, 0.3, 0.7])))
        retries = int(rng.integers(0, 3))
        name, op = _driver_ops(rng, model)
        good = Board(Transport(LocalPort(good_emu.server), timeout=1.0))
        good.attach(model)
        try:
            if rng.random() < 0.125:
                board = Board(_serve_misbehaving(bad), timeout=0.05, retries=retries)
            else:
                board = Board(Transport(_MisbehavingPort(bad), timeout=0.02, retries=retries))
        except BoardError:
            return Outcome.REFUSED
        try:
            board.attach(model)
            got = op(board)
        except BoardError:
            return Outcome.REFUSED
        finally:
            board.close()
        same = got == op(good) and _state(bad_emu) == _state(good_emu)
        return Outcome.ACCEPTED if same else Outcome.LOST

    for _ in range(n):
        _judge(tally, attempt, ())
    return tally


#: What serve_simulated raises when the simulated board cannot be built here (no
#: Verilator, no rtl/, not a source tree).
_SIM_MISSING = (ImportError, FileNotFoundError, RuntimeError)


# -- the simulated board ------------------------------------------------------------------
def fuzz_sim_frames(n: int, seed: int = 0) -> Tally:
    """:func:`fuzz_frames` against the gateware in Verilator (``board simulate``): each
    frame is followed by an IDENTIFY probe; no probe answer within :data:`HANG_SECONDS`
    is a *hang*; a frame answered with no OK status must leave the learned state (read
    back with READ_MEM) as it was, else *data lost*."""
    from edgekws import protocol as p
    from edgekws.host.access import SocketPort
    from edgekws.host.board import Board, BoardError
    from edgekws.host.simboard import serve_simulated
    from edgekws.host.transport import Transport
    tally = Tally("simulated board frames")
    rng = np.random.default_rng(seed)
    model = _small_model(64)      # the board's learning core takes 64 inputs
    with serve_simulated() as sim:
        port = SocketPort(sim.url)
        board = Board(Transport(port, timeout=5.0))
        board.load(model)

        def state():
            out = []
            for region, size in ((p.Region.LEARN_REGS, 16), (p.Region.FC_WEIGHTS, 32),
                                 (p.Region.FC_THL, 16), (p.Region.FC_THSWAP, 16)):
                try:
                    out.append(board.read_mem(region, size))
                except BoardError as exc:
                    out.append(str(exc))
            return out

        def attempt(blob):
            before = state()
            probe_seq = int(rng.integers(256))
            port.write(blob + b"\x00" + p.encode_packet(probe_seq, p.Cmd.IDENTIFY))
            decoder, ok = p.FrameDecoder(), False
            while True:     # the probe's answer comes last; the fuzz deadline bounds this
                for frame in decoder.feed(port.read(4096)):
                    if frame is None:
                        continue
                    seq, cmd, body = p.decode_packet(frame)
                    if (seq, cmd) == (probe_seq, p.Cmd.IDENTIFY | p.REPLY_BIT):
                        if ok:
                            return Outcome.ACCEPTED
                        return Outcome.REFUSED if state() == before else Outcome.LOST
                    ok |= body[:1] == bytes((p.Status.OK,))

        for i in range(n):
            blob, _valid = _frame_blob(rng)
            _judge(tally, lambda: attempt(blob), ())
            if rng.random() < 0.05:
                board.load(model)
        port.close()
    return tally


# -- kill -9 during saves and enrolments --------------------------------------------------
_SAVE_LOOP = """
import sys
from edgekws import fuzz
from edgekws.golden.fileformat import save
model, path = fuzz._small_model(), sys.argv[1]
print("ready", flush=True)
i = 0
while True:
    i += 1
    save(model, path, extra={"i": i})
"""


def fuzz_kill_saves(n: int, seed: int = 0, folder=None) -> Tally:
    """Kill (SIGKILL) a process that saves a model over and over, ``n`` times at random
    moments. The file must then load and be one of the versions written (*accepted*),
    and the next save must leave no temporary file behind; anything else is *data
    lost*."""
    import subprocess
    import time
    from edgekws.golden import Model, ModelFileError
    from edgekws.golden.fileformat import save
    tally = Tally("kill -9 during saves")
    rng = np.random.default_rng(seed)
    model = _small_model()
    weights = model.layers[-1].get_variable("weights")
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "saved.ekws"
        save(model, path, extra={"i": 0})

        def attempt():
            proc = subprocess.Popen([sys.executable, "-c", _SAVE_LOOP, str(path)],
                                    stdout=subprocess.PIPE, env=_child_env())
            try:
                proc.stdout.readline()
                time.sleep(float(rng.uniform(0, 0.05)))
            finally:
                proc.kill()
                proc.wait()
                proc.stdout.close()
            tally.landed("mid-save (a temporary left)" if any(
                f.endswith(".tmp") for f in os.listdir(tmp)) else "between saves")
            try:
                back = Model(path)
            except ModelFileError as exc:
                tally.examples.append(f"after a kill: {exc}")
                return Outcome.LOST
            if not np.array_equal(back.layers[-1].get_variable("weights"), weights):
                return Outcome.LOST
            save(model, path, extra={"i": 0})
            left = [f for f in os.listdir(tmp) if f.endswith(".tmp")]
            if left:
                tally.examples.append(f"temporaries left after the next save: {left}")
                return Outcome.LOST
            return Outcome.ACCEPTED

        for _ in range(n):
            _judge(tally, attempt, (), KILL_HANG_SECONDS)
    return tally


def _child_env():
    """The environment of a child Python: this edgekws first on its path."""
    here = str(Path(__file__).resolve().parents[1])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [here, *filter(None, [os.environ.get("PYTHONPATH")])]))


_ENROL = """
import sys
import numpy as np
from edgekws import fuzz
from edgekws.golden import Model
from edgekws.host.board import Board
from edgekws.host.enrolment import enrol_and_save
url, state = sys.argv[1:3]
with Board(url) as board:
    model = Model(state)
    board.attach(model)
    print("ready", flush=True)
    enrol_and_save(board, model, state, "hum", fuzz._enrol_spikes(), 5)
"""


def _enrol_spikes():
    """The samples the killed enrolments learn (spikes of :func:`_small_model`)."""
    return (np.random.default_rng(7).random((40, 1, 1, 32)) < 0.3).astype(np.uint8)


def _which(got, want, before) -> str:
    return "enrolled" if got == want else "as before" if got == before else "different"


def fuzz_kill_enrolments(n: int, seed: int = 0, folder=None) -> Tally:
    """Kill an enrolment (a subprocess running
    :func:`edgekws.host.enrolment.enrol_and_save`, as ``board enrol`` does, of 40
    samples) ``n`` times at random moments, most of them once it has started on the
    board, against an emulated board; then recover as the next ``board`` command does
    (:func:`~edgekws.host.enrolment.recover`).

    *Accepted*: the host copy and the board then hold exactly what the uninterrupted
    enrolment gives (whether it had finished, or was recovered), or both are as before
    (killed before its journal was written, it had not touched the board). *Refused cleanly*: the
    recovery refused with a clear error. *Data lost*: anything else (a host copy that
    does not load, another learned state, a journal left behind).
    """
    import subprocess
    import time
    from edgekws.golden import Model
    from edgekws.golden.fileformat import to_bytes
    from edgekws.host.board import Board
    from edgekws.host.emulator import Emulator, serve_tcp
    from edgekws.host.enrolment import enrol_and_save, journal_path, recover, save_state
    tally = Tally("kill -9 during enrolments")
    rng = np.random.default_rng(seed)
    start = _small_model()
    start.extra = {"words": ["a", "b"]}
    emu = Emulator(extractor=False, num_inputs=32, max_neurons=64)
    with tempfile.TemporaryDirectory(dir=folder) as tmp, serve_tcp(0, emu) as server:
        state = Path(tmp) / "board.ekws"

        def fresh():
            save_state(start, state)
            with Board(server.url) as board:
                board.load(start)

        def held():
            """(host copy, board's learned state) as bytes, after recovery if needed."""
            with Board(server.url) as board:
                model = recover(board, Model(state), state, say=lambda line: None)
                board.attach(model)
                return to_bytes(model, extra=model.extra), to_bytes(board.to_golden())

        fresh()
        before = held()
        with Board(server.url) as board:
            board.attach(start)
            t0 = time.monotonic()
            enrol_and_save(board, start, state, "hum", _enrol_spikes(), 5)
            span = time.monotonic() - t0
        want = held()

        def attempt():
            fresh()
            proc = subprocess.Popen([sys.executable, "-c", _ENROL, server.url, str(state)],
                                    stdout=subprocess.PIPE, env=_child_env())
            try:
                if rng.random() < 0.8:      # most kills once the board is being changed
                    proc.stdout.readline()
                time.sleep(float(rng.uniform(0, 1.5 * span)))
            finally:
                proc.kill()
                proc.wait()
                proc.stdout.close()
            journal = journal_path(state).exists()
            try:
                got = held()
            except ValueError:
                return Outcome.REFUSED
            tally.landed("recovered (journal found)" if journal else
                         "finished" if got == want else "not started")
            # Killed before its journal was written, it has not touched the board.
            if got in (want, before) and not journal_path(state).exists():
                return Outcome.ACCEPTED
            tally.examples.append(f"after a kill: host copy {_which(got[0], want[0], before[0])}"
                                  f", board {_which(got[1], want[1], before[1])}")
            return Outcome.LOST

        for _ in range(n):
            _judge(tally, attempt, (), KILL_HANG_SECONDS)
    return tally


# -- the run ------------------------------------------------------------------------------
def run(n: int, seed: int = 0, driver: int | None = None, kills: int = 0,
        sim_frames: int = 0) -> list[Tally]:
    """``n`` inputs for each reader and the emulator, ``driver`` (default ``n // 4``) for
    the host driver, ``kills`` kills for saves and for enrolments, ``sim_frames`` frames
    for the simulated board; seeds ``seed``, ``seed + 1``, ... in that order."""
    tallies = [fuzz_model_files(n, seed), fuzz_wav_headers(n, seed + 1),
               fuzz_frames(n, seed + 2),
               fuzz_host_driver(n // 4 if driver is None else driver, seed + 3)]
    if kills:
        tallies += [fuzz_kill_saves(kills, seed + 4), fuzz_kill_enrolments(kills, seed + 5)]
    if sim_frames:
        try:
            tallies.append(fuzz_sim_frames(sim_frames, seed + 6))
        except _SIM_MISSING as exc:
            print(f"simulated board frames: skipped ({exc})", file=sys.stderr)
    return tallies


def format_table(tallies: list[Tally]) -> str:
    cols = ["inputs tried", *Outcome.ALL]
    rows = [[t.target, t.tried, *(t.counts[c] for c in Outcome.ALL)] for t in tallies]
    rows.append(["total", *(sum(r[i] for r in rows) for i in range(1, len(cols) + 1))])
    width = [max(len(str(x)) for x in col) for col in zip(["target", *cols], *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, width)))
    return "\n".join([line(["target", *cols]), *(line(r) for r in rows)])


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgekws.fuzz", description=__doc__.split(
        "\n\n")[0])
    from edgekws.cliargs import nonneg_int, positive_int
    ap.add_argument("--inputs", type=positive_int, default=4000,
                    help="inputs per reader and for the emulated board")
    ap.add_argument("--driver-inputs", type=nonneg_int, default=None,
                    help="operations of the host driver against misbehaving boards "
                         "(default: a quarter of --inputs)")
    ap.add_argument("--kills", type=nonneg_int, default=40,
                    help="kill -9 of a saving process, and of an enrolment")
    ap.add_argument("--sim-frames", type=nonneg_int, default=0,
                    help="frames for the simulated board (Verilator; about a second each)")
    ap.add_argument("--seed", type=nonneg_int, default=0)
    ap.add_argument("--memory-mb", type=positive_int, default=512,
                    help="address-space growth allowed during the run (an allocation above "
                         "it fails, and counts as a traceback)")
    args = ap.parse_args(argv)
    import resource
    import time
    with open(f"/proc/{os.getpid()}/statm") as f:
        vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm + args.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    t0 = time.monotonic()
    tallies = run(args.inputs, args.seed, args.driver_inputs, args.kills, args.sim_frames)
    print(format_table(tallies))
    for t in tallies:
        if t.where:
            print(f"{t.target}: " + ", ".join(f"{n} {k}" for k, n in sorted(t.where.items())))
    print(f"seed {args.seed}, {time.monotonic() - t0:.1f} s, address space limited to "
          f"{args.memory_mb} MB above the start, peak RSS {_peak_rss_mb():.0f} MB")
    bad = 0
    for t in tallies:
        bad += sum(t.counts[c] for c in (Outcome.TRACEBACK, Outcome.HANG, Outcome.LOST))
        for ex in t.examples:
            print(f"--- {t.target}:\n{ex}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
