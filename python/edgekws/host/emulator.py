"""The board emulated with the golden model, served on a pseudo-terminal or loopback TCP.

:class:`Emulator` is a :class:`~edgekws.host.packet_server.PacketServer` handler with
the board's command semantics (``edgekws.protocol``): memory regions hold the same
bytes as the board's memories, INFER runs the golden extractor then the learning core's
rule (winner = highest potential, lowest index on ties), LEARN runs
``golden.learning.learn`` on one sample. :func:`serve_pty` and :func:`serve_tcp` put it
behind a port that :class:`~edgekws.host.board.Board` (any pyserial URL) talks to;
``edgekws board emulate`` starts one.

It is the reference model of the gateware's command semantics: ``tests/test_gateware_top.py``
compares the replies of :class:`edgekws.gateware.top.BoardTop` (whose
:class:`~edgekws.gateware.dispatcher.Dispatcher` executes the commands) with this
emulator's, byte for byte. Only the two cycle counters of READ_COUNTERS differ: the
emulator has no clock and reports 0.
"""
from __future__ import annotations

import os
import select
import threading
import types

import numpy as np

from edgekws import protocol as p
from edgekws.golden import learning as _learning
from edgekws.golden.quant import weight_range

from .board import layer_images, set_layer_image, unpack_spikes
from .packet_server import PacketServer

__all__ = ["Emulator", "serve_pty", "serve_tcp", "serve_unix", "EmulatorServer"]

#: Largest step the extractor's step activation takes (``step_bits`` of the product).
STEP_BITS = p.EXT_STEP_BITS


def _values_fit(layer, base, data) -> bool:
    """Whether the extractor memories hold the written values (the board's pre-check)."""
    R = p.Region
    if base in (R.EXT_WEIGHTS, R.EXT_WEIGHTS_PW):
        lo, hi = weight_range(layer.weights_bits)
        w = data.view(np.int8)
        return not w.size or (lo <= w.min() and w.max() <= hi)
    if base == R.EXT_STEP:
        S = data.view("<u4").astype(np.int64)
        if S.size and S.max() >= 1 << STEP_BITS:
            return False
        if layer.act_bits != 1:
            unit = 1 << (4 - layer.act_bits)
            return not S.size or (not (S % unit).any() and S.min() >= unit)
    return True


class _Refuse(Exception):
    def __init__(self, status):
        self.status = status


class Emulator:
    """The board's command handler, golden-backed.

    Parameters
    ----------
    extractor : golden Model or None or False
        The extractor geometry (default ``zoo.ds_cnn_kws(units=None)``); ``False`` for a
        board without extractor (spikes only).
    num_inputs, max_neurons : int
        The learning core's F and capacity.
    lanes : int
        The learning core's lanes (reported by IDENTIFY).
    clock_hz : int
        The clock reported by IDENTIFY.
    ext_lanes : int
        The extractor's MAC lanes: the alignment of EXT_WEIGHTS/EXT_WEIGHTS_PW accesses.
    """

    def __init__(self, extractor=None, num_inputs: int = 64, max_neurons: int = 1024,
                 lanes: int = 1, clock_hz: int = 0, ext_lanes: int = 64):
        if extractor is None:
            from edgekws.golden.zoo import ds_cnn_kws
            extractor = ds_cnn_kws(units=None)
        self.ext = extractor or None
        self.F, self.max_neurons, self.lanes, self.clock_hz = num_inputs, max_neurons, lanes, clock_hz
        self.ext_lanes = ext_lanes
        self.nb = (num_inputs + 7) // 8
        self.server = PacketServer(self)
        self.lock = threading.Lock()
        self.fc_w = np.zeros((max_neurons, self.nb), np.uint8)
        self.images = {}
        if self.ext is not None:
            for li, layer in enumerate(self.ext.layers):
                for base, data in layer_images(layer).items():
                    # The board's memories start at zero (the skeleton's weights and
                    # thresholds are zero too; its steps are not).
                    self.images[base + li] = bytearray(len(data))
        # Potentials survive RESET, as the core's potential memory does.
        self.pots = np.zeros(self.max_neurons, np.uint16)
        self._reset_core()

    def _reset_core(self):
        self.thl = np.zeros(self.max_neurons, np.int16)
        self.thswap = np.zeros(self.max_neurons, np.int16)
        self.regs = np.zeros(len(p.LearnReg), np.uint16)
        self.infer_cycles = self.learn_cycles = 0

    # -- the handler -----------------------------------------------------------------------
    def __call__(self, cmd, payload):
        with self.lock:
            try:
                method = self._COMMANDS[cmd]
            except KeyError:
                raise KeyError(cmd) from None
            if method is None or (cmd in (p.Cmd.INFER, p.Cmd.LEARN) and self.ext is None):
                raise KeyError(cmd)
            try:
                return p.Status.OK, method(self, bytes(payload))
            except _Refuse as r:
                return r.status, b""

    def _identify(self, payload):
        self._length(payload, 0)
        if self.ext is not None:
            X, Y, _ = self.ext.input_shape
        else:
            X = Y = 0
        return p.IDENTIFY_FORMAT.pack(p.PROTOCOL_VERSION, self.F, self.max_neurons, self.lanes,
                                      int(self.ext is not None), X, Y, self.clock_hz)

    def _reset(self, payload):
        self._length(payload, 0)
        self._reset_core()
        s = self.server
        s.frames = s.crc_errors = s.framing_errors = 0
        return b""

    def _counters(self, payload):
        self._length(payload, 0)
        s = self.server
        return p.COUNTERS_FORMAT.pack(self.infer_cycles, self.learn_cycles, s.frames,
                                      s.crc_errors, s.framing_errors)

    @staticmethod
    def _length(payload, n, at_least=False):
        if len(payload) < n if at_least else len(payload) != n:
            raise _Refuse(p.Status.BAD_LENGTH)

    # -- memory ----------------------------------------------------------------------------
    def _region(self, region):
        """``(bytes view as a writable numpy uint8 array, writable)`` of a region."""
        R = p.Region
        N = int(self.regs[p.LearnReg.NUM_NEURONS])
        if region in self.images:
            return np.frombuffer(self.images[region], np.uint8), True
        if region == R.FC_WEIGHTS:
            return self.fc_w.reshape(-1), True
        if region == R.FC_THL:
            return self.thl.view(np.uint8), True
        if region == R.FC_THSWAP:
            return self.thswap.view(np.uint8), True
        if region == R.FC_POTENTIALS:
            return self.pots[:N].view(np.uint8), False
        if region == R.LEARN_REGS:
            return self.regs.view(np.uint8), True
        raise _Refuse(p.Status.BAD_ARGUMENT)

    def _write_mem(self, payload):
        self._length(payload, p.MEM_HEADER.size, at_least=True)
        region, offset = p.MEM_HEADER.unpack_from(payload)
        data = np.frombuffer(payload, np.uint8, offset=p.MEM_HEADER.size)
        mem, writable = self._region(region)
        if not writable or offset + data.size > mem.size:
            raise _Refuse(p.Status.BAD_ARGUMENT)
        self._check_aligned(region, offset, data.size)
        if region == p.Region.LEARN_REGS:
            regs = self.regs.copy()
            mem[offset:offset + data.size] = data
            if self.regs[p.LearnReg.OFFSET] > self.F:
                self.regs[:] = regs      # the core's offset never exceeds F
                raise _Refuse(p.Status.BAD_ARGUMENT)
        elif region in self.images:
            base, layer = region & ~7, self.ext.layers[region & 7]
            if not _values_fit(layer, base, data):
                raise _Refuse(p.Status.BAD_ARGUMENT)
            self.images[region][offset:offset + data.size] = data.tobytes()
            try:
                set_layer_image(layer, base, bytes(self.images[region]))
            except ValueError:
                pass  # steps still partly zero (not loaded yet): the layer keeps its own
        else:
            mem[offset:offset + data.size] = data
        return b""

    def _check_aligned(self, region, offset, length):
        """Extractor accesses are whole weight rows / whole u32 values."""
        if region in self.images:
            base = region & ~7
            align = self.ext_lanes if base in (p.Region.EXT_WEIGHTS,
                                               p.Region.EXT_WEIGHTS_PW) else 4
            if offset % align or length % align:
                raise _Refuse(p.Status.BAD_ARGUMENT)

    def _read_mem(self, payload):
        self._length(payload, p.READ_MEM_FORMAT.size)
        region, offset, length = p.READ_MEM_FORMAT.unpack(payload)
        mem, _ = self._region(region)
        if length > p.MAX_PACKET - 5 or offset + length > mem.size:
            raise _Refuse(p.Status.BAD_ARGUMENT)
        self._check_aligned(region, offset, length)
        return mem[offset:offset + length].tobytes()

    # -- learning core ---------------------------------------------------------------------
    def _set_learning(self, payload):
        self._length(payload, p.LEARNING_FORMAT.size)
        K, m, thswap_init, decay, thswap_min, cap, N = p.LEARNING_FORMAT.unpack(payload)
        if K < 1 or m < 1 or K * m != N or N > self.max_neurons:
            raise _Refuse(p.Status.BAD_ARGUMENT)
        R = p.LearnReg
        for reg, v in ((R.NUM_NEURONS, N), (R.NUM_CLASSES, K), (R.NEURONS_PER_CLASS, m),
                       (R.THSWAP_INIT, thswap_init), (R.DECAY, decay),
                       (R.THSWAP_MIN, thswap_min), (R.THL_CAP, cap), (R.OFFSET, 0)):
            self.regs[reg] = v
        return b""

    def _geometry(self):
        R = p.LearnReg
        N, K, m = (int(self.regs[r]) for r in (R.NUM_NEURONS, R.NUM_CLASSES,
                                               R.NEURONS_PER_CLASS))
        if K < 1 or m < 1 or K * m != N or N > self.max_neurons:
            raise _Refuse(p.Status.NOT_READY)
        return N, K, m

    def _weights(self, N):
        """``(F, N)`` 0/1 of the active neurons."""
        return np.unpackbits(self.fc_w[:N], axis=1, bitorder="little")[:, :self.F].T

    def _spikes_of_frame(self, frame):
        X, Y, C = self.ext.input_shape
        if len(frame) != X * Y * C:
            raise _Refuse(p.Status.BAD_LENGTH)
        x = np.frombuffer(frame, np.uint8).reshape(1, X, Y, C)
        out = x
        for layer in self.ext.layers:
            out = layer.call(out)
        from edgekws.golden.ops import fc_flatten
        s = fc_flatten(out)[0]
        if s.shape[0] != self.F:
            raise _Refuse(p.Status.NOT_READY)
        return s.astype(np.uint8)

    def _spikes_of_bytes(self, data):
        if len(data) != self.nb:
            raise _Refuse(p.Status.BAD_LENGTH)
        return unpack_spikes(data, self.F)

    def _winner(self, pots, m):
        w = int(np.argmax(pots))
        return w // m, w

    def _do_infer(self, payload, spikes_in):
        self._length(payload, 1, at_least=True)
        flags = payload[0]
        N, K, m = self._geometry()
        x = self._spikes_of_bytes(payload[1:]) if spikes_in else self._spikes_of_frame(payload[1:])
        pots = x.astype(np.int32) @ self._weights(N).astype(np.int32)
        self.pots[:N] = pots
        c, w = self._winner(pots, m)
        out = p.RESULT_FORMAT.pack(c, w, 0)
        if flags & p.FLAG_POTENTIALS and N <= p.MAX_INLINE_POTENTIALS:
            out += pots.astype("<u2").tobytes()
        self.infer_cycles = 0
        return out

    def _do_learn(self, payload, spikes_in):
        self._length(payload, p.LABEL_FORMAT.size, at_least=True)
        (label,) = p.LABEL_FORMAT.unpack_from(payload)
        N, K, m = self._geometry()
        rest = payload[p.LABEL_FORMAT.size:]
        x = self._spikes_of_bytes(rest) if spikes_in else self._spikes_of_frame(rest)
        if label < -1 or (K > 1 and label >= K):
            raise _Refuse(p.Status.BAD_ARGUMENT)
        R = p.LearnReg
        params = types.SimpleNamespace(num_classes=K, decay=int(self.regs[R.DECAY]),
                                       thswap_min=int(self.regs[R.THSWAP_MIN]),
                                       thl_cap=int(self.regs[R.THL_CAP]))
        w0 = self._weights(N)
        state = _learning.LearningState(w0.copy(), self.thl[:N].astype(np.int32),
                                        self.thswap[:N].astype(np.int32),
                                        int(self.regs[R.OFFSET]))
        pots = _learning.learn(params, state, x[None], label)[0]
        self.pots[:N] = pots
        learned = not np.array_equal(state.weights, w0)
        self.fc_w[:N] = np.packbits(state.weights.T, axis=1, bitorder="little")
        self.thl[:N] = state.threshold_learning
        self.thswap[:N] = state.thswap
        self.regs[R.OFFSET] = state.offset
        c, w = self._winner(pots, m)
        self.learn_cycles = 0
        return p.RESULT_FORMAT.pack(c, w, int(learned))

    def _add_classes(self, payload):
        self._length(payload, p.ADD_CLASSES_FORMAT.size)
        (n,) = p.ADD_CLASSES_FORMAT.unpack(payload)
        N, K, m = self._geometry()
        if n < 1 or N + n * m > self.max_neurons:
            raise _Refuse(p.Status.BAD_ARGUMENT)
        R = p.LearnReg
        self.thl[N:N + n * m] = 0
        self.thswap[N:N + n * m] = self.regs[R.THSWAP_INIT]
        self.regs[R.NUM_NEURONS] = N + n * m
        self.regs[R.NUM_CLASSES] = K + n
        self.regs[R.OFFSET] = 0
        return p.CLASS_COUNT_FORMAT.pack(K + n)

    _COMMANDS = {
        p.Cmd.IDENTIFY: _identify,
        p.Cmd.RESET: _reset,
        p.Cmd.WRITE_MEM: _write_mem,
        p.Cmd.READ_MEM: _read_mem,
        p.Cmd.INFER: lambda self, pl: self._do_infer(pl, False),
        p.Cmd.LEARN: lambda self, pl: self._do_learn(pl, False),
        p.Cmd.INFER_SPIKES: lambda self, pl: self._do_infer(pl, True),
        p.Cmd.LEARN_SPIKES: lambda self, pl: self._do_learn(pl, True),
        p.Cmd.ADD_CLASSES: _add_classes,
        p.Cmd.SET_LEARNING: _set_learning,
        p.Cmd.READ_COUNTERS: _counters,
    }


# -- serving -------------------------------------------------------------------------------
class EmulatorServer:
    """A served emulator: ``url`` for pyserial/Board, ``close()`` to stop (joins the thread)."""

    def __init__(self, emulator, url, run, cleanup):
        self.emulator, self.url = emulator, url
        self._stop = threading.Event()
        self._cleanup = cleanup
        self.thread = threading.Thread(target=run, args=(self._stop,), daemon=True,
                                       name="edgekws-emulator")
        self.thread.start()

    def close(self):
        self._stop.set()
        self.thread.join(timeout=2)
        self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait(self):
        """Serve until interrupted (Ctrl-C)."""
        try:
            while self.thread.is_alive():
                self.thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()


def serve_pty(emulator: Emulator | None = None) -> EmulatorServer:
    """Serve on a new pseudo-terminal; ``url`` is the slave's path (``/dev/pts/N``)."""
    import tty
    emulator = emulator or Emulator()
    master, slave = os.openpty()
    tty.setraw(slave)
    # A pty slave is group-writable (tty group: `write`, `wall`): keep it this user's.
    os.fchmod(slave, 0o600)
    path = os.ttyname(slave)

    def run(stop):
        while not stop.is_set():
            r, _, _ = select.select([master], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:   # no client has the slave open right now
                continue
            reply = emulator.server.feed(data)
            if reply:
                os.write(master, reply)

    def cleanup():
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass

    return EmulatorServer(emulator, path, run, cleanup)


def serve_tcp(port: int = 0, emulator: Emulator | None = None, host: str = "127.0.0.1",
              max_clients: int | None = None, idle: float | None = None,
              write_timeout: float | None = None, token: bytes | None = None) -> EmulatorServer:
    """Serve on loopback TCP; ``url`` is ``socket://127.0.0.1:PORT`` (0 picks a free port).

    Several clients at once (:mod:`edgekws.host.server`: at most ``max_clients``, each
    dropped after ``idle`` seconds of silence or ``write_timeout`` seconds of not reading
    its replies; one more is told the board is busy). Each client has its own sequence
    numbers and stored reply; they share the board. With a ``token``
    (:func:`edgekws.host.access.load_or_create_token`) only clients that prove they hold
    it are served.
    """
    from .server import listen_loopback
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the emulator only listens on loopback, not {host!r}")
    srv = listen_loopback(port)
    return _serve(srv, f"socket://127.0.0.1:{srv.getsockname()[1]}", srv.close, emulator,
                  token, max_clients=max_clients, idle=idle, write_timeout=write_timeout)


def serve_unix(path, emulator: Emulator | None = None, max_clients: int | None = None,
               idle: float | None = None, write_timeout: float | None = None,
               token: bytes | None = None) -> EmulatorServer:
    """Serve on a Unix-domain socket at ``path`` (mode 0600: this user only); ``url`` is
    ``unix://PATH``. Otherwise as :func:`serve_tcp`; the socket file is removed on close."""
    from .access import close_listener, listen_unix
    srv = listen_unix(path)
    return _serve(srv, f"unix://{os.path.abspath(path)}", lambda: close_listener(srv),
                  emulator, token, max_clients=max_clients, idle=idle,
                  write_timeout=write_timeout)


def _serve(listener, url, cleanup, emulator, token, **limits) -> EmulatorServer:
    from .access import guarded
    from .server import PacketSession, serve_sessions
    emulator = emulator or Emulator()
    make = guarded(lambda: PacketSession(emulator.server), token)

    def run(stop):
        serve_sessions(listener, make, stop, **limits)

    return EmulatorServer(emulator, url, run, cleanup)
