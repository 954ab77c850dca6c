"""Fuzzing the readers and the board with fixed seeds: every bad input refused cleanly.

Three targets, each fed mutated inputs from a seeded generator:

* ``model``: ``.ekws`` files, mutated in their JSON (a field set to another value or
  type, deleted, an unknown key added, deep nesting, huge numbers) with the checksum
  recomputed, and in their bytes (flips, truncation, garbage) with or without it;
* ``wav``: WAV files whose header fields (format, channels, rate, bits, chunk sizes) or
  bytes are mutated, or that are cut short;
* ``frames``: random bytes and valid-CRC packets of random commands and payloads sent to
  the emulated board loaded with a learning model.

Each input ends in one outcome: *refused cleanly* (the reader's documented error, or an
error status from the board), *accepted* (read, or served OK), a *traceback* (any other
exception), a *hang* (no answer within the time budget) or *data lost* (the board's
learned state changed although the request was refused). ``python -m edgekws.fuzz``
(``make fuzz``) prints the table; ``tests/test_fuzz.py`` runs a short version.
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

    @property
    def tried(self) -> int:
        return sum(self.counts.values())

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


def _judge(tally: Tally, attempt, clean_errors) -> None:
    """Run ``attempt()`` (which returns the outcome) and count it; ``clean_errors`` are
    the exceptions that count as a clean refusal."""
    try:
        with _deadline(HANG_SECONDS):
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
def _small_model():
    """A two-layer learning model (spikes in), trained a little: every section present."""
    from edgekws import golden as g
    rng = np.random.default_rng(0)
    m = g.Model([g.InputData((1, 1, 32), input_bits=1),
                 g.FullyConnected(8, name="fc", activation=False)])
    m.compile(g.AkidaUnsupervised(num_weights=6, num_classes=2), seed=0)
    m.fit((rng.random((6, 1, 1, 32)) < 0.3).astype(np.uint8), rng.integers(0, 2, 6))
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


# -- the run ------------------------------------------------------------------------------
def run(n: int, seed: int = 0) -> list[Tally]:
    """``n`` inputs for each target, seeds ``seed``, ``seed + 1``, ``seed + 2``."""
    return [fuzz_model_files(n, seed), fuzz_wav_headers(n, seed + 1), fuzz_frames(n, seed + 2)]


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
    ap.add_argument("--inputs", type=positive_int, default=4000, help="inputs per target")
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
    tallies = run(args.inputs, args.seed)
    print(format_table(tallies))
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
