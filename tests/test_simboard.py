"""The simulated board: Verilator top-level + UART bridge behind the loopback front, driven
by the unchanged Board driver; the same test bodies run against the golden emulator.

* The bridge itself is checked on a loopback stand-in (``uart_tx = uart_rx``): every
  byte comes back bit-exact through two bit-level UART conversions, reconnection works,
  the statistics add up and an idle bridge sleeps. The bridge (no token check) listens
  on no TCP port, only on a socket in a folder of the owner's.
* The Board tests (identify, load the shipped model, infer real FSDD frames, add
  classes, fit, read back) compare every frame's classes, potentials and learned flag,
  and the read-back model, with the golden model, for ``emulator`` and ``simulated``.
* Short soak and fault runs (``edgekws.host.soak``) check that no damaged request is
  accepted with a wrong answer and that the board never hangs; a deliberately wrong
  board shows that the soak's check can fail.
"""
from __future__ import annotations

import copy
import os
import re
import signal
import socket
import stat
import subprocess
import time

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.golden import AkidaUnsupervised, FullyConnected
from edgekws.host.board import Board
from edgekws.host.emulator import Emulator, serve_tcp
from edgekws.host.simboard import (DEFAULT_VERILOG, build_simulated_board, cycles_per_bit,
                                   serve_simulated)
from edgekws.host.soak import soak

from test_host_board import assert_same_model

LOOPBACK_V = """\
module edgekws_board(input wire clk, input wire rst, input wire uart_rx,
                     output wire uart_tx);
  assign uart_tx = uart_rx;   // stand-in: the bridge's UART talks to itself
endmodule
"""

NEEDS_TOP = ("rtl/edgekws_board.v (the gateware top, generated from "
             "edgekws.gateware.top) is not there yet: the simulated board cannot be built")


@pytest.fixture(scope="module")
def loopback_v(tmp_path_factory):
    path = tmp_path_factory.mktemp("loop") / "loopback.v"
    path.write_text(LOOPBACK_V)
    return path


def _recv_exactly(sock, n, timeout=20.0):
    sock.settimeout(timeout)
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("cpb", [4, 7])
def test_bridge_loopback_bit_exact(loopback_v, cpb):
    rng = np.random.default_rng(cpb)
    data = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    with serve_simulated(0, verilog=loopback_v, cpb=cpb) as sim:
        assert sim.url == f"socket://127.0.0.1:{sim.port}"
        with socket.create_connection(("127.0.0.1", sim.port)) as s:
            s.sendall(data)
            assert _recv_exactly(s, len(data)) == data
        # One client at a time, a new one after a disconnect.
        with socket.create_connection(("127.0.0.1", sim.port)) as s:
            s.sendall(b"\x00again\x00")
            assert _recv_exactly(s, 7) == b"\x00again\x00"
        time.sleep(0.3)
        # Idle: the bridge blocks in poll() instead of clocking the design.
        cpu0 = _cpu_seconds(sim.process.pid)
        time.sleep(1.0)
        assert _cpu_seconds(sim.process.pid) - cpu0 < 0.2
    stats = sim.stats
    assert stats["connections"] == 2
    assert stats["bytes_in"] == stats["bytes_out"] == len(data) + 7
    assert stats["uart_framing_errors"] == 0
    # Every byte went through the pins at 10 bits of cpb cycles each, twice (echo).
    assert stats["cycles"] >= 10 * cpb * (len(data) + 7)
    assert stats["cycles_per_s"] > 0


def _socket_inodes(pid):
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:     # closed meanwhile
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    return inodes


def _tcp_listening_ports(pid):
    """The TCP ports (IPv4 and IPv6) on which process ``pid`` holds a listening socket."""
    inodes, ports = _socket_inodes(pid), set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                field = line.split()
                if field[3] == "0A" and field[9] in inodes:     # 0A: TCP_LISTEN
                    ports.add(int(field[1].rsplit(":", 1)[1], 16))
    return ports


def _unix_listening_paths(pid):
    """The socket paths on which process ``pid`` listens (``/proc/net/unix``)."""
    inodes, paths = _socket_inodes(pid), []
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            field = line.split()
            if int(field[3], 16) & 0x10000 and field[6] in inodes and len(field) > 7:
                paths.append(field[7])              # 0x10000: __SO_ACCEPTCON, listening
    return paths


@pytest.mark.parametrize("front", ["tcp", "tcp+token", "unix+token"])
def test_bridge_listens_on_no_tcp_port(loopback_v, tmp_path, front):
    """Only the public front listens on TCP: the bridge behind it (which has no token
    check) is reachable only through a socket in a folder of the owner's alone."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    token = b"k" * 32 if "token" in front else None
    unix = tmp_path / "front.sock" if front.startswith("unix") else None
    before = _tcp_listening_ports(os.getpid())
    with serve_simulated(0, verilog=loopback_v, cpb=4, token=token, unix=unix) as sim:
        assert _tcp_listening_ports(sim.process.pid) == set()
        public = set() if unix else {sim.port}
        assert _tcp_listening_ports(os.getpid()) - before == public
        private = _unix_listening_paths(sim.process.pid)
        assert len(private) == 1
        folder = os.path.dirname(private[0])
        st = os.stat(folder)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
        if token is None:       # the front still reaches the bridge
            with socket.create_connection(("127.0.0.1", sim.port)) as s:
                s.sendall(b"\x00through\x00")
                assert _recv_exactly(s, 9) == b"\x00through\x00"
    assert not os.path.exists(folder)


def test_bridge_bad_arguments(loopback_v):
    exe = build_simulated_board(loopback_v)
    res = subprocess.run([str(exe), "--cycles-per-bit", "1"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "--cycles-per-bit must be at least 2" in res.stderr
    res = subprocess.run([str(exe), "--cycles-per-bit", "x"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "--cycles-per-bit must be a non-negative integer, not 'x'" in res.stderr
    res = subprocess.run([str(exe), "--cycles-per-bit", "4"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "--unix needs a socket path of 1 to 107 bytes, not ''" in res.stderr
    # TCP is gone: the bridge checks no token, so it must not be reachable by anyone.
    res = subprocess.run([str(exe), "--cycles-per-bit", "4", "--port", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "unknown option '--port'" in res.stderr
    with pytest.raises(ValueError, match="port must be in 0..65535, not 70000"):
        serve_simulated(70000, verilog=loopback_v, cpb=4)
    with pytest.raises(FileNotFoundError, match="no Verilog at .*nothing.v"):
        build_simulated_board(loopback_v.parent / "nothing.v")
    with pytest.raises(ValueError, match="clk_hz must be a positive integer, not 0"):
        cycles_per_bit(0, 1_000_000)


def test_build_error_names_the_log(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module edgekws_board(input wire clk);\n  assign nothing = ;\nendmodule\n")
    with pytest.raises(RuntimeError, match=r"Verilator build of edgekws_board failed "
                                           r"\(exit \d+\); log .*build.log"):
        build_simulated_board(bad)


def test_cli_board_simulate():
    """`edgekws board simulate` prints the URL, serves the unchanged CLI, stops on Ctrl-C."""
    if not DEFAULT_VERILOG.exists():
        pytest.skip(NEEDS_TOP)
    import sys
    build_simulated_board()     # the build is not part of the timing below
    cli = [sys.executable, "-c", "import sys; from edgekws.cli import main; sys.exit(main())"]
    proc = subprocess.Popen([*cli, "board", "simulate"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        out = subprocess.run([*cli, "board", "identify", "--port", url],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "has_extractor: True" in out.stdout and "num_inputs: 64" in out.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert re.search(r"simulated \d+ cycles, \d+ cycles/s while clocking", err), err


def test_bridge_sigterm_reports_stats(loopback_v):
    sim = serve_simulated(0, verilog=loopback_v, cpb=4)
    with socket.create_connection(("127.0.0.1", sim.port)) as s:
        s.sendall(b"x" * 100)
        assert _recv_exactly(s, 100) == b"x" * 100
    sim.process.send_signal(signal.SIGINT)      # Ctrl-C stops it cleanly too
    sim.process.wait(timeout=10)
    stats = sim.close()
    assert sim.process.returncode == 0
    assert stats["bytes_out"] == 100 and stats["cycles"] >= 10 * 4 * 100


# -- the Board driver against the emulator and the simulated board -------------------------
def _server(kind):
    if kind == "emulator":
        return serve_tcp(0)
    if not DEFAULT_VERILOG.exists():
        pytest.skip(NEEDS_TOP)
    return serve_simulated(0)


@pytest.fixture(scope="module", params=["emulator", "simulated"])
def served(request):
    with _server(request.param) as server:
        yield request.param, server


def _edge_model(seed=1):
    """The shipped DS-CNN extractor with a compiled 1-bit learning layer on top."""
    from edgekws.models import load_pretrained
    m = load_pretrained()
    m.pop_layer()
    m.add(FullyConnected(3 * 5, name="edge", activation=False))
    m.compile(AkidaUnsupervised(num_weights=12, num_classes=3, learning_competition=0.1),
              seed=seed)
    return m


def _fsdd_frames(n):
    """``n`` real utterances (several speakers and digits) as the model's uint8 MFCC."""
    try:
        from edgekws.data.fsdd import list_fsdd, load_fsdd
        samples = list_fsdd()
    except (FileNotFoundError, ValueError) as exc:
        pytest.skip(f"FSDD recordings not found ({exc}); set EDGEKWS_FSDD")
    from edgekws.data.mfcc import MfccScaling, mfcc
    from edgekws.models import load_pretrained
    rng = np.random.default_rng(0)
    pick = [samples[i] for i in rng.choice(len(samples), n, replace=False)]
    waves, _, _ = load_fsdd(pick)
    scaling = MfccScaling.from_dict(load_pretrained().extra["mfcc_scaling"])
    return scaling.to_uint8(mfcc(waves))[..., None]


def test_board_matches_golden_frame_by_frame(served):
    kind, server = served
    slow = kind == "simulated"
    model = _edge_model()
    ref = copy.deepcopy(model)
    x = _fsdd_frames(24 if slow else 36)
    with Board(server.url, timeout=120.0 if slow else 2.0) as board:
        assert board.info.has_extractor and board.info.num_inputs == 64
        assert (board.info.mfcc_frames, board.info.mfcc_coefficients) == (49, 10)
        board.load(model)
        classes, winners, pots = board.infer(x, potentials=True)
        np.testing.assert_array_equal(pots, ref.forward(x).reshape(len(x), -1))
        np.testing.assert_array_equal(winners, ref.predict_classes(x))
        np.testing.assert_array_equal(classes, ref.predict_classes(x, num_classes=3))
        assert len(set(winners.tolist())) > 1, "a degenerate test: one winner for all"
        # New classes, then learning frame by frame: each learned flag as golden's.
        assert board.add_classes(2, seed=7) == 5
        ref.add_classes(2, seed=7)
        labels = [3, 4, 3, 4, -1, 0] if slow else [3, 4] * 6 + [-1, 0, 1, 2]
        flags, want = [], []
        for xi, label in zip(x, labels):
            flags.append(bool(board.fit(xi[None], label)[0]))
            w0 = ref.layers[-1].learning_state().weights.copy()
            ref.fit(xi[None], label)
            want.append(not np.array_equal(ref.layers[-1].learning_state().weights, w0))
        assert flags == want and any(flags)
        assert_same_model(board.to_golden(), ref)
        _, _, pots = board.infer(x[:6], potentials=True)
        np.testing.assert_array_equal(pots, ref.forward(x[:6]).reshape(6, -1))


@pytest.mark.parametrize("reset", [False, True])
def test_simulated_reset_on_connect(reset):
    if not DEFAULT_VERILOG.exists():
        pytest.skip(NEEDS_TOP)
    regs = p.LEARNING_FORMAT.pack(3, 5, 4, 2, 1, 100, 15)
    with serve_simulated(0, reset_on_connect=reset) as sim:
        with Board(sim.url, timeout=30.0) as board:
            board._request(p.Cmd.SET_LEARNING, regs)
            assert board.registers()["NUM_NEURONS"] == 15
        with Board(sim.url, timeout=30.0) as board:   # a new client
            assert board.registers()["NUM_NEURONS"] == (0 if reset else 15)
    assert sim.stats["connections"] == 2


def test_simulated_sleeps_after_a_dropped_frame():
    """A frame the link drops silently (malformed COBS) gets no reply: the bridge must
    stop waiting for one and go idle, and the board must still answer afterwards."""
    if not DEFAULT_VERILOG.exists():
        pytest.skip(NEEDS_TOP)
    with serve_simulated(0, extra_args=["--reply-wait-cycles", "50000"]) as sim:
        with socket.create_connection(("127.0.0.1", sim.port)) as s:
            s.sendall(b"\x00\x09\x01\x02\x00")     # COBS block runs past the frame
            time.sleep(1.5)
            cpu0 = _cpu_seconds(sim.process.pid)
            time.sleep(1.0)
            assert _cpu_seconds(sim.process.pid) - cpu0 < 0.2
        with Board(sim.url, timeout=30.0) as board:
            assert board.counters()["framing_errors"] == 1


# -- soak and fault --------------------------------------------------------------------------
def test_soak_and_fault_short(served):
    kind, server = served
    # Spikes frames with a few full INFERs; the fault run damages 10 % of the attempts.
    clean = soak(server.url, 300, infer_every=100, check_every=100, seed=1, target=kind)
    assert clean.frames == 300 and clean.infer_frames == 3
    assert (clean.undetected_errors, clean.hangs, clean.failed) == (0, 0, 0)
    assert clean.state_checks >= 3
    faulty = soak(server.url, 300, fault=0.1, infer_every=100, check_every=100, seed=2,
                  target=kind)
    print(clean.table(), faulty.table(), sep="\n")
    assert faulty.corrupted > 10                 # faults were really injected ...
    assert faulty.detected >= faulty.corrupted - 5   # ... noticed, except harmless ones
    assert faulty.undetected_errors == 0 and faulty.hangs == 0
    assert faulty.recovered + faulty.failed >= faulty.corrupted


class _WrongEmulator(Emulator):
    """Answers INFER_SPIKES with the second-best neuron now and then."""

    def _winner(self, pots, m):
        c, w = super()._winner(pots, m)
        if int(pots.sum()) % 7 == 0:
            w = (w + 1) % len(pots)
        return w // m, w


def test_soak_catches_a_wrong_board():
    with serve_tcp(0, _WrongEmulator()) as server:
        res = soak(server.url, 200, infer_every=0, check_every=0, seed=3)
    assert res.undetected_errors > 0


class _DyingEmulator(Emulator):
    """Stops answering anything after 50 spikes requests."""

    def __init__(self):
        super().__init__()
        self.spikes_requests = 0
        real_feed = self.server.feed
        self.server.feed = lambda data: b"" if self.spikes_requests >= 50 else real_feed(data)

    def __call__(self, cmd, payload):
        if cmd in (p.Cmd.INFER_SPIKES, p.Cmd.LEARN_SPIKES):
            self.spikes_requests += 1
        return super().__call__(cmd, payload)


def test_soak_reports_a_silent_board():
    with serve_tcp(0, _DyingEmulator()) as server:
        res = soak(server.url, 300, infer_every=0, check_every=0, seed=4, timeout=0.05,
                   infer_timeout=0.2, retries=1)
    assert res.hangs == 1 and 40 < res.frames < 60


def test_soak_spikes_only_board():
    """A board without extractor gets a spikes-only model and no full INFER."""
    with serve_tcp(0, Emulator(extractor=False)) as server:
        res = soak(server.url, 200, check_every=50, seed=5)
    assert res.infer_frames == 0 and res.frames == 200 and res.state_checks == 4
    assert (res.undetected_errors, res.hangs, res.failed) == (0, 0, 0)
