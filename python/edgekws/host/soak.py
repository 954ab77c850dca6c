"""Soak and fault runs: many requests to a board, every accepted answer checked::

    edgekws board soak --target simulated --frames 10000              # soak (make soak)
    edgekws board soak --target simulated --frames 2000 --fault 0.1   # faults (make fault)

A model (the shipped extractor with a fresh learning layer, or a spikes-only one on a
board without extractor) is loaded with the unchanged :class:`~edgekws.host.board.Board`,
then raw requests go through its :class:`~edgekws.host.transport.Transport`: mostly
INFER_SPIKES and LEARN_SPIKES (random spikes, random labels; fast), and every
``--infer-every``-th request a full INFER of an MFCC-like frame. A reference
:class:`~edgekws.host.emulator.Emulator` (the golden model behind the board's command
semantics) gets the same requests; an accepted reply that differs from the reference's
is an *undetected error*, and so is a difference of the learned state (FC weights,
thresholds, registers) read back every ``--check-every`` requests and at the end.

``--fault RATE`` puts a :class:`FaultyPort` between the Transport and the board: with
probability RATE a request attempt is damaged in one of these ways: a flipped bit, a
request with a wrong CRC (valid COBS), a dropped byte, random bytes inserted, half a
frame then a new one (a reset of the stream mid-frame), or a flipped bit in the reply.
A damaged request the transport noticed (a retry or an error) is *detected*; one that
ended with a correct answer is *recovered*; a request that failed after all retries is
reported as *failed* (the caller knows; after a failed learning step the reference
adopts the board's state read back). A board that stops answering is a *hang*. The
table is printed and, with ``--out``, written as JSON; the command exits with 1 when
there was an undetected error or a hang.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from edgekws import protocol as p
from edgekws.checks import check_int, check_number

from .board import Board, pack_spikes
from .emulator import Emulator
from .packet_server import LocalPort
from .transport import BoardError, Transport

__all__ = ["FaultyPort", "SoakResult", "soak", "TARGETS"]

FAULTS = ("bitflip", "crc", "drop", "insert", "truncate", "reply")
#: The boards :func:`soak` serves itself for the run; any other target is a URL.
TARGETS = ("emulator", "simulated")


class FaultyPort:
    """Wraps a port (``write``/``read``/``close``); damages attempts at ``rate``.

    ``damaged`` counts damaged attempts since the caller last reset it.
    """

    def __init__(self, port, rate: float, rng: np.random.Generator):
        rate = check_number("fault rate", rate, "in [0, 1]", minimum=0, maximum=1)
        self.port, self.rate, self.rng = port, rate, rng
        self.damaged = 0
        self.kinds = dict.fromkeys(FAULTS, 0)
        self.recent: list[str] = []   # kinds of the damage since the caller cleared it
        self._spoil_reply = False

    def _pick(self):
        return FAULTS[int(self.rng.integers(len(FAULTS)))]

    def write(self, data):
        data = bytearray(data)
        if self.rate and self.rng.random() < self.rate:
            kind = self._pick()
            self.kinds[kind] += 1
            self.recent.append(kind)
            self.damaged += 1
            inner = len(data) - 2        # 0x00 COBS 0x00: damage the COBS part
            if kind == "bitflip":
                i = 1 + int(self.rng.integers(inner))
                data[i] ^= 1 << int(self.rng.integers(8))
            elif kind == "crc":
                raw = bytearray(p.cobs_decode(bytes(data[1:-1])))
                raw[-1 - int(self.rng.integers(2))] ^= 1 << int(self.rng.integers(8))
                data = bytearray(b"\0" + p.cobs_encode(bytes(raw)) + b"\0")
            elif kind == "drop":
                del data[1 + int(self.rng.integers(inner))]
            elif kind == "insert":
                i = int(self.rng.integers(len(data) + 1))
                data[i:i] = self.rng.integers(0, 256, int(self.rng.integers(1, 9)),
                                              dtype=np.uint8).tobytes()
            elif kind == "truncate":
                data = data[:max(2, len(data) // 2)]   # the next attempt's 0x00 cuts it
            elif kind == "reply":
                self._spoil_reply = True
        self.port.write(bytes(data))

    def read(self, n):
        data = self.port.read(n)
        if self._spoil_reply and data:
            self._spoil_reply = False
            spoilt = bytearray(data)
            spoilt[int(self.rng.integers(len(spoilt)))] ^= 1 << int(self.rng.integers(8))
            data = bytes(spoilt)
        return data

    def close(self):
        self.port.close()


@dataclass
class SoakResult:
    target: str
    frames: int = 0            # requests tried
    infer_frames: int = 0      # of which full INFER (MFCC frame through the extractor)
    corrupted: int = 0         # requests with at least one damaged attempt
    detected: int = 0          # corrupted requests the transport noticed (retry or error)
    recovered: int = 0         # corrupted requests answered correctly in the end
    failed: int = 0            # requests that raised BoardError (reported, not silent)
    retries: int = 0           # attempts beyond the first, in total
    undetected_errors: int = 0  # accepted wrong answers + learned-state mismatches
    hangs: int = 0             # the board stopped answering
    state_checks: int = 0
    seconds: float = 0.0
    frames_per_s: float = 0.0
    infer_seconds: float = 0.0   # wall time of the full INFER requests
    spikes_seconds: float = 0.0  # wall time of the INFER_SPIKES/LEARN_SPIKES requests
    timeout: float = 0.0         # seconds per attempt used (spikes, full INFER)
    infer_timeout: float = 0.0
    board_counters: dict | None = None   # READ_COUNTERS at the end (frames, errors)
    faults: dict | None = None      # damaged attempts by kind
    unnoticed: dict | None = None   # kinds of damage that needed no retry (harmless)
    simulator: dict | None = None   # the simulated board's statistics (cycles, speed)

    def table(self) -> str:
        rows = [("target", self.target), ("frames tried", self.frames),
                ("  full INFER frames", self.infer_frames), ("corrupted", self.corrupted),
                ("detected", self.detected), ("recovered", self.recovered),
                ("failed (reported)", self.failed), ("retries", self.retries),
                ("undetected errors", self.undetected_errors), ("hangs", self.hangs),
                ("state read-back checks", self.state_checks),
                ("time (s)", f"{self.seconds:.1f}"), ("frames/s", f"{self.frames_per_s:.1f}"),
                ("timeouts (s)", f"{self.timeout:.2f} / {self.infer_timeout:.2f}")]
        if self.infer_frames:
            rows.append(("s per full INFER", f"{self.infer_seconds / self.infer_frames:.3f}"))
        n_sp = self.frames - self.infer_frames
        if n_sp:
            rows.append(("s per spikes frame", f"{self.spikes_seconds / n_sp:.4f}"))
        if self.corrupted:
            rows.append(("damage by kind", " ".join(f"{k}:{v}" for k, v in
                                                     self.faults.items())))
            rows.append(("unnoticed (harmless)", " ".join(f"{k}:{v}" for k, v in
                                                          self.unnoticed.items()) or "-"))
        for k in ("frames", "crc_errors", "framing_errors"):
            if self.board_counters:
                rows.append((f"board's {k}", self.board_counters[k]))
        w = max(len(r[0]) for r in rows)
        return "\n".join(f"| {k:<{w}} | {v!s:>10} |" for k, v in rows)


def _soak_model(info, seed):
    """The model to load: shipped extractor + fresh learning FC (or spikes-only)."""
    from edgekws.golden import AkidaUnsupervised, FullyConnected, InputData, Model
    if info.has_extractor:
        from edgekws.models import load_pretrained
        m = load_pretrained()
        m.pop_layer()
    else:
        m = Model()
        m.add(InputData((1, 1, info.num_inputs), input_bits=1))
    m.add(FullyConnected(3 * 5, name="soak", activation=False))
    m.compile(AkidaUnsupervised(num_weights=12, num_classes=3, learning_competition=0.1),
              seed=seed)
    return m


def _regions(N, F):
    """``(region, length)`` of the learning core's state: registers, thresholds, weights."""
    return ((p.Region.LEARN_REGS, 2 * len(p.LearnReg)), (p.Region.FC_THL, 2 * N),
            (p.Region.FC_THSWAP, 2 * N), (p.Region.FC_WEIGHTS, N * ((F + 7) // 8)))


def _read_state(request, N, F):
    """``[(region, bytes)]`` of the learning state, read with ``request(cmd, payload)``."""
    out = []
    for region, length in _regions(N, F):
        out.append((region, b"".join(request(p.Cmd.READ_MEM, payload)
                                     for payload, _ in p.read_mem_payloads(region, length))))
    return out


def _ref_request(ref: Emulator):
    def request(cmd, payload):
        status, body = ref(cmd, payload)
        if status != p.Status.OK:
            raise BoardError(f"reference refused {p.Cmd(cmd).name}: {status}", status)
        return body
    return request


def _adopt(ref: Emulator, state):
    """Make the reference hold the board's learning state (after a failed LEARN)."""
    request = _ref_request(ref)
    for region, data in state:
        for payload in p.write_mem_payloads(region, data):
            request(p.Cmd.WRITE_MEM, payload)


def soak(url: str, frames: int, *, fault: float = 0.0, infer_every: int = 50,
         check_every: int = 500, seed: int = 0, timeout: float | None = None,
         infer_timeout: float | None = None, retries: int = 6, target: str | None = None,
         progress: bool = False) -> SoakResult:
    """Run ``frames`` requests against a board; see the module docstring.

    Parameters
    ----------
    url : str
        ``"emulator"`` (a golden emulator, served on loopback TCP for the run),
        ``"simulated"`` (the Verilator-simulated board, built first unless cached), or
        the pyserial URL of a running board.
    frames : int
        Requests to send.
    fault : float
        Probability that an attempt is damaged (0: a plain soak).
    infer_every, check_every : int
        Every ``infer_every``-th request is a full INFER (0: spikes only); the learned
        state is read back every ``check_every`` requests (0: only at the end).
    seed : int
        Seed of the requests, the model and the damage.
    timeout, infer_timeout : float, optional
        Seconds per attempt of a spikes request and of a full INFER; by default 10x the
        time of one spikes request on the clean link (at least 0.5 s) and 5x that of one
        full INFER (at least 5 s).
    retries : int
        Extra attempts of a request after a timeout or a damaged reply.
    target : str, optional
        The name of the board in the result (default: ``url``).
    progress : bool
        Show a progress bar.

    Raises
    ------
    ValueError
        A bad argument, before any board is started.
    """
    frames = check_int("frames", frames)
    fault = check_number("fault", fault, "a fraction in [0, 1]", minimum=0, maximum=1)
    infer_every = check_int("infer_every", infer_every, 0)
    check_every = check_int("check_every", check_every, 0)
    seed = check_int("seed", seed, 0)
    retries = check_int("retries", retries, 0)
    for name, value in (("timeout", timeout), ("infer_timeout", infer_timeout)):
        if value is not None:
            check_number(name, value, "a positive number of seconds", above=0)
    server = None
    if url == "emulator":
        from .emulator import serve_tcp
        server = serve_tcp(0)
    elif url == "simulated":
        from .simboard import serve_simulated
        server = serve_simulated(0)
    try:
        res = _soak(server.url if server else url, frames, fault, infer_every, check_every,
                    seed, timeout, infer_timeout, retries, progress)
    finally:
        stats = server.close() if server else None
    res.target = target or url
    res.simulator = stats if isinstance(stats, dict) and stats else None
    return res


def _soak(url, frames, fault, infer_every, check_every, seed, timeout, infer_timeout,
          retries, progress) -> SoakResult:
    """:func:`soak` on the board at ``url``, its arguments checked."""
    from .board import open_port
    rng = np.random.default_rng(seed)
    res = SoakResult(url, unnoticed={})
    raw = open_port(url)
    port = FaultyPort(raw, 0.0, np.random.default_rng(seed + 1))
    transport = Transport(port, timeout=infer_timeout or 30.0, retries=retries)
    board = Board(transport)
    model = _soak_model(board.info, seed)
    board.load(model)                          # clean link while loading
    ref = Emulator(extractor=None if board.info.has_extractor else False,
                   num_inputs=board.info.num_inputs, max_neurons=board.info.max_neurons)
    ref_board = Board(Transport(LocalPort(ref.server), timeout=1.0))
    ref_board.load(model)
    N, K, F = model.layers[-1].units, 3, board.info.num_inputs
    from edgekws.golden.zoo import mfcc_like_inputs
    mfcc = mfcc_like_inputs(16, seed=seed) if board.info.has_extractor else None
    # Time one request of each kind on the clean link: a fault costs one timeout, so
    # the timeouts follow the board's speed (the simulated board is slow) unless given.
    t0 = time.monotonic()
    transport.request(p.Cmd.INFER_SPIKES, p.infer_payload(pack_spikes(np.ones(F, np.uint8))))
    t_spikes = time.monotonic() - t0
    if timeout is None:       # generous: a shared machine's scheduling varies a lot
        timeout = max(0.5, 10 * t_spikes)
    if mfcc is not None and infer_every:
        t0 = time.monotonic()
        transport.request(p.Cmd.INFER, p.infer_payload(mfcc[0].tobytes()))
        t_infer = time.monotonic() - t0
        if infer_timeout is None:
            infer_timeout = max(5.0, 5 * t_infer)
    if infer_timeout is None:
        infer_timeout = 30.0
    res.timeout, res.infer_timeout = timeout, infer_timeout
    port.rate = fault

    def check_state():
        res.state_checks += 1
        port.rate, saved = 0.0, port.rate
        transport.timeout = infer_timeout
        try:
            got = _read_state(transport.request, N, F)
        finally:
            port.rate = saved
        for (region, data), (_, exp) in zip(got, _read_state(_ref_request(ref), N, F)):
            if data != exp:
                res.undetected_errors += 1
                print(f"soak: learned state differs in region {p.Region(region).name}",
                      file=sys.stderr)

    it = range(frames)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, unit="frame")
    t_start = time.monotonic()
    for i in it:
        full = mfcc is not None and infer_every and i % infer_every == infer_every - 1
        if full:
            cmd = p.Cmd.INFER
            payload = p.infer_payload(mfcc[int(rng.integers(len(mfcc)))].tobytes(), True)
            transport.timeout = infer_timeout
        else:
            spikes = pack_spikes(rng.random(F) < 0.3)
            if rng.random() < 0.5:
                cmd, payload = p.Cmd.INFER_SPIKES, p.infer_payload(spikes, True)
            else:
                label = int(rng.integers(-1, K))
                cmd, payload = p.Cmd.LEARN_SPIKES, p.learn_payload(label, spikes)
            transport.timeout = timeout
        port.damaged = 0
        port.recent.clear()
        retried0 = transport.retried
        t0 = time.monotonic()
        res.frames += 1
        try:
            got, err = transport.request(cmd, payload), None
        except BoardError as exc:
            got, err = None, exc
        dt = time.monotonic() - t0
        if full:
            res.infer_frames += 1
            res.infer_seconds += dt
        else:
            res.spikes_seconds += dt
        n_retries = transport.retried - retried0
        res.retries += n_retries
        status, want = ref(cmd, payload) if err is None or cmd in p.IDEMPOTENT else (None, None)
        if port.damaged:
            res.corrupted += 1
            if n_retries or err is not None:
                res.detected += 1
            else:
                for kind in port.recent:
                    res.unnoticed[kind] = res.unnoticed.get(kind, 0) + 1
        if err is None:
            if status != p.Status.OK or got != want:
                res.undetected_errors += 1
                if res.undetected_errors <= 5:
                    print(f"soak: request {i} ({cmd.name}) answered {got.hex()}, golden "
                          f"{want.hex()}", file=sys.stderr)
            elif port.damaged:
                res.recovered += 1
        else:
            res.failed += 1
            # The link must come back: a board that stays silent has hung.
            port.rate, saved = 0.0, port.rate
            try:
                transport.timeout = infer_timeout
                transport.request(p.Cmd.IDENTIFY)
                if cmd not in p.IDEMPOTENT:   # the board may or may not have learned
                    _adopt(ref, _read_state(transport.request, N, F))
            except BoardError:
                res.hangs += 1
                print(f"soak: the board stopped answering after request {i}",
                      file=sys.stderr)
                break
            finally:
                port.rate = saved
        if check_every and i % check_every == check_every - 1:
            check_state()
    if not res.hangs and not (check_every and res.frames % check_every == 0):
        check_state()
    res.seconds = time.monotonic() - t_start
    res.faults = dict(port.kinds)
    if not res.hangs:
        port.rate = 0.0
        res.board_counters = board.counters()
    res.frames_per_s = res.frames / res.seconds if res.seconds else 0.0
    board.close()
    return res

