"""The board driver: an akida-``Model``-like API over the UART protocol.

::

    from edgekws.host.board import Board
    with Board("socket://127.0.0.1:7777") as board:  # or /dev/ttyUSB1, a pty, unix://PATH
        board.load(model)          # golden Model: extractor + compiled learning FC
        classes = board.predict_classes(frames)            # uint8 (n, 49, 10, 1)
        board.add_classes(1, seed=0)
        board.fit(enrol_frames, labels)
        board.to_golden().save("learned.ekws")

Everything goes through :class:`~edgekws.host.transport.Transport` (sequence numbers,
CRC, retries); an error reply raises :class:`BoardError` naming the command and the
status (``board refused LEARN: BAD_ARGUMENT``). The memory map is
:class:`edgekws.protocol.Region`.
"""
from __future__ import annotations

import copy
import secrets
import struct
from dataclasses import dataclass

import numpy as np

from edgekws import protocol as p
from edgekws.checks import check_int
from edgekws.golden import learning as _learning
from edgekws.golden.layers import FullyConnected, InputData
from edgekws.golden.quant import act_step_units, integer_step

from .transport import BoardError, Transport, check_timeout

__all__ = ["Board", "BoardInfo", "BoardError", "layer_images", "set_layer_image",
           "pack_spikes", "unpack_spikes"]


@dataclass(frozen=True)
class BoardInfo:
    """The IDENTIFY reply."""
    version: int
    num_inputs: int
    max_neurons: int
    lanes: int
    has_extractor: bool
    mfcc_frames: int
    mfcc_coefficients: int
    clock_hz: int


# -- region codecs, shared with the emulator ---------------------------------------------------
def layer_images(layer) -> dict:
    """``{region base: bytes}`` of one extractor layer (see :class:`protocol.Region`)."""
    R = p.Region
    out = {R.EXT_WEIGHTS: np.ascontiguousarray(layer.get_variable("weights"), np.int8).tobytes()}
    if "weights_pw" in layer.get_variable_names():
        out[R.EXT_WEIGHTS_PW] = np.ascontiguousarray(layer.get_variable("weights_pw"),
                                                     np.int8).tobytes()
    out[R.EXT_THRESHOLD] = layer.get_variable("threshold").astype("<i4").tobytes()
    S = integer_step(layer.get_variable("act_step"), layer.act_bits)
    if S.max(initial=0) >= 1 << 32:
        raise ValueError(f"layer {layer.name!r}: act_step too large for the u32 step")
    out[R.EXT_STEP] = S.astype("<u4").tobytes()
    return out


def set_layer_image(layer, base: int, data: bytes, keep_act_step=None) -> None:
    """Set ``layer``'s variable from a full region image (inverse of :func:`layer_images`).

    The step gives back ``act_step = units / 16``, or ``keep_act_step`` (e.g. the
    template's float act_step) when that has the same integer step.
    """
    R = p.Region
    if base in (R.EXT_WEIGHTS, R.EXT_WEIGHTS_PW):
        name = "weights" if base == R.EXT_WEIGHTS else "weights_pw"
        shape = layer.get_variable(name).shape
        layer.set_variable(name, np.frombuffer(data, np.int8).reshape(shape))
    elif base == R.EXT_THRESHOLD:
        layer.set_variable("threshold", np.frombuffer(data, "<i4").astype(np.int32))
    elif base == R.EXT_STEP:
        S = np.frombuffer(data, "<u4").astype(np.int64)
        b = layer.act_bits
        if keep_act_step is not None and np.array_equal(
                integer_step(keep_act_step, b), S if b != 1 else np.ones_like(S)):
            layer.set_variable("act_step", keep_act_step)
            return
        if b == 1:
            return  # the step has no effect on 1-bit outputs
        shift = 4 - b
        units = S >> shift
        if S.size and ((S & ((1 << shift) - 1)).any() or units.min() < 1):
            raise ValueError(f"layer {layer.name!r}: an integer step must be a positive "
                             f"multiple of {1 << shift}")
        layer.set_variable("act_step", (units / 16.0).astype(np.float32))
    else:
        raise ValueError(f"region {base:#x} is not an extractor region")


def pack_spikes(x: np.ndarray) -> bytes:
    """One sample's 0/1 spikes (F,) as ``ceil(F/8)`` bytes, bit ``i`` LSB first = input ``i``."""
    return np.packbits(np.asarray(x, np.uint8).reshape(-1), bitorder="little").tobytes()


def unpack_spikes(data: bytes, F: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[:F]


class _PromptPort:
    """A pyserial port whose ``read(n)`` returns as soon as some bytes are there.

    pyserial's ``read(n)`` waits for ``n`` bytes or the timeout: every reply would cost
    the whole timeout. This waits for the first byte, then drains what is buffered.
    """

    def __init__(self, serial):
        self.serial = serial

    def write(self, data):
        self.serial.write(data)

    def read(self, n):
        data = bytearray(self.serial.read(1))
        while data and len(data) < n:
            try:
                waiting = self.serial.in_waiting
                if not waiting:
                    break
                chunk = self.serial.read(min(n - len(data), waiting))
            except OSError:
                break   # the link closed after these bytes: return them; the next read raises
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def close(self):
        self.serial.close()


def open_port(port, baudrate: int = p.DEFAULT_BAUDRATE, token_file=None,
              timeout: float = 2.0):
    """A prompt serial object for any pyserial URL (``socket://``, a device, a pty) or a
    ``unix://PATH`` board server; with ``token_file`` the server's token challenge is
    answered first (:mod:`edgekws.host.access`)."""
    from .access import SocketPort, authenticate, read_token, tcp_address, unix_path
    token = read_token(token_file) if token_file is not None else None
    # pyserial's socket:// drops what arrives before the first read: the token challenge.
    own = unix_path(port) is not None or (token is not None and tcp_address(port))
    port = SocketPort(port) if own else _open_serial(port, baudrate)
    if token is not None:
        try:
            authenticate(port, token, timeout)
        except BaseException:
            port.close()
            raise
    return port


def _open_serial(port, baudrate):
    import serial
    try:
        s = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05)
    except (serial.SerialException, ValueError) as exc:
        raise OSError(f"cannot open board port {port!r}: {exc}") from None
    return _PromptPort(s)


class Board:
    """A board (or the emulator) as an akida-like model.

    Parameters
    ----------
    port : str, serial-like or Transport
        Any pyserial URL, an open port object, or a ready :class:`Transport`.
    baudrate, timeout, retries
        As for :class:`Transport` (``timeout`` per attempt, in seconds).
    progress : bool
        Default for the ``progress`` argument of the batch methods (tqdm bars).
    token_file : path, optional
        The token file of a board server started with one (``--token-file``).
    """

    def __init__(self, port, baudrate: int = p.DEFAULT_BAUDRATE, timeout: float = 2.0,
                 retries: int = 3, progress: bool = False, token_file=None):
        if isinstance(port, Transport):
            self.transport = port
        else:
            check_timeout(timeout)   # before a port is opened
            if isinstance(port, str):
                port = open_port(port, baudrate, token_file, timeout)
            elif token_file is not None:
                raise ValueError("token_file needs a port URL, not an open port object")
            self.transport = Transport(port, baudrate=baudrate, timeout=timeout,
                                       retries=retries)
            # A random first seq: a board still holding the stored reply of another
            # session's last LEARN (same seq and cmd) would replay it instead of learning.
            self.transport.seq = secrets.randbelow(256)
        self.progress = progress
        #: Random source of add_classes when no seed is given.
        self.rng = np.random.default_rng()
        try:
            self.info = self.identify()
        except BaseException:
            self.close()
            raise
        self._template = None    # the loaded golden model (structure, float act_steps)
        self._params = None      # its LearningParams, kept up to date by add_classes

    # -- plumbing -------------------------------------------------------------------------
    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, cmd, payload=b"", size=0, check=None):
        """The reply payload of ``cmd``, which must be ``size`` bytes long and pass
        ``check`` (see :meth:`Transport.request`)."""
        def expect(body):
            if len(body) != size:
                return f"{len(body)} bytes, expected {size}"
            return check(body) if check is not None else None
        return self.transport.request(cmd, payload, expect)

    def _result(self, cmd, payload, N, K, potentials=0):
        """``(class, winner, learned, rest)`` of an INFER/LEARN reply, checked against
        the board's ``N`` neurons and ``K`` classes (malformed replies are retried)."""
        def check(body):
            c, w, learned = p.RESULT_FORMAT.unpack_from(body)
            if w >= N or c >= K or learned > 1:
                return (f"class {c}, winner {w}, learned flag {learned} for {K} classes "
                        f"of {N} neurons")
            return None
        reply = self._request(cmd, payload, p.RESULT_FORMAT.size + 2 * potentials, check)
        return (*p.RESULT_FORMAT.unpack_from(reply), reply[p.RESULT_FORMAT.size:])

    def write_mem(self, region: int, data: bytes, offset: int = 0) -> None:
        """WRITE_MEM in chunks of :data:`protocol.MEM_CHUNK`."""
        for payload in p.write_mem_payloads(region, data, offset):
            self._request(p.Cmd.WRITE_MEM, payload)

    def read_mem(self, region: int, length: int, offset: int = 0) -> bytes:
        """READ_MEM in chunks; checks that every chunk has the asked length."""
        return b"".join(self._request(p.Cmd.READ_MEM, payload, n)
                        for payload, n in p.read_mem_payloads(region, length, offset))

    def _progress(self, it, total, desc, progress):
        if self.progress if progress is None else progress:
            from tqdm import tqdm
            return tqdm(it, total=total, desc=desc, unit="frame")
        return it

    # -- board information -----------------------------------------------------------------
    def identify(self) -> BoardInfo:
        reply = self._request(p.Cmd.IDENTIFY, size=p.IDENTIFY_FORMAT.size)
        v = p.IDENTIFY_FORMAT.unpack(reply)
        info = BoardInfo(v[0], v[1], v[2], v[3], bool(v[4]), v[5], v[6], v[7])
        if info.version != p.PROTOCOL_VERSION:
            raise BoardError(f"the board speaks protocol version {info.version}, this host "
                             f"{p.PROTOCOL_VERSION}")
        return info

    def counters(self) -> dict:
        """Cycle counters of the last inference and learning step, frames and errors."""
        reply = self._request(p.Cmd.READ_COUNTERS, size=p.COUNTERS_FORMAT.size)
        names = ("infer_cycles", "learn_cycles", "frames", "crc_errors", "framing_errors")
        return dict(zip(names, p.COUNTERS_FORMAT.unpack(reply)))

    def reset(self) -> None:
        """Clear the learning core and the counters (the model must be loaded again)."""
        self._request(p.Cmd.RESET)
        self._template = self._params = None

    # -- registers -------------------------------------------------------------------------
    def registers(self) -> dict:
        data = self.read_mem(p.Region.LEARN_REGS, 2 * len(p.LearnReg))
        vals = struct.unpack(f"<{len(p.LearnReg)}H", data)
        regs = {r.name: v for r, v in zip(p.LearnReg, vals)}
        if regs["NUM_NEURONS"] > self.info.max_neurons or regs["NUM_CLASSES"] > max(
                regs["NUM_NEURONS"], 1):
            raise BoardError(f"the board's registers hold {regs['NUM_CLASSES']} classes of "
                             f"{regs['NUM_NEURONS']} neurons; it has "
                             f"{self.info.max_neurons} neurons")
        return regs

    @property
    def num_classes(self) -> int:
        return self.registers()["NUM_CLASSES"]

    @property
    def learning(self):
        """The LearningParams of the loaded model (host copy, follows add_classes)."""
        return self._params

    # -- loading ---------------------------------------------------------------------------
    def _check_model(self, model):
        layers = model.layers
        if not layers:
            raise ValueError("the model has no layers")
        fc = layers[-1]
        if not isinstance(fc, FullyConnected) or fc.learning is None:
            raise ValueError("the board needs a model whose last layer is a FullyConnected "
                             "compiled for learning (model.compile(AkidaUnsupervised(...)))")
        if fc.weights_bits != 1 or fc.input_bits != 1 or fc.activation:
            raise ValueError("the learning core runs a FullyConnected with 1-bit weights, "
                             "1-bit inputs and activation=False")
        if np.any(fc.get_variable("threshold") != 0) or np.any(fc.get_variable("act_step") != 1):
            raise ValueError(f"layer {fc.name!r}: the learning core ranks raw potentials: "
                             "threshold must be 0 and act_step 1")
        if fc.num_inputs != self.info.num_inputs:
            raise ValueError(f"layer {fc.name!r} has {fc.num_inputs} inputs; the board's "
                             f"core takes {self.info.num_inputs}")
        if fc.units > self.info.max_neurons:
            raise ValueError(f"{fc.units} neurons exceed the board's {self.info.max_neurons}")
        ext = layers[:-1]
        if isinstance(ext[0], InputData):
            if len(ext) != 1:
                raise ValueError("a spikes-in model must be InputData + FullyConnected")
            return []
        if not self.info.has_extractor:
            raise ValueError("this board has no feature extractor: load a spikes-in model "
                             "(InputData + FullyConnected)")
        want = [self.info.mfcc_frames, self.info.mfcc_coefficients, 1]
        if model.input_shape != want:
            raise ValueError(f"the model takes {model.input_shape} inputs; the board's "
                             f"extractor {want}")
        if len(ext) > p.MAX_EXT_LAYERS:
            raise ValueError(f"{len(ext)} extractor layers exceed {p.MAX_EXT_LAYERS}")
        _check_extractor(ext)
        return ext

    def load(self, model) -> None:
        """Write ``model`` (extractor layers, learning FC and its state) to the board."""
        self._write_model(model, self._check_model(model))

    def restore_learning(self, model) -> None:
        """Write back only the learning layer of ``model``, which the board holds
        otherwise (same extractor, same learning parameters): its registers, weights,
        thresholds and offset, as :meth:`load` writes them. Classes added on the board
        since are dropped. This is how an interrupted enrolment is undone
        (:mod:`edgekws.host.enrolment`)."""
        self._check_model(model)
        lp = model.layers[-1].learning
        regs = self.registers()
        bad = {k: (regs[k], getattr(lp, name)) for name, k in _PARAM_REGS
               if regs[k] != getattr(lp, name)}
        if bad:
            raise ValueError("the board does not hold this model's learning layer (board, "
                             f"model): {bad}; load it first")
        self._write_model(model, [])

    def _write_model(self, model, ext) -> None:
        fc = model.layers[-1]
        lp = fc.learning
        N, K = fc.units, lp.num_classes
        for name in ("thswap_init", "decay", "thswap_min", "thl_cap"):
            if not 0 <= getattr(lp, name) <= 0xFFFF:
                raise ValueError(f"learning parameter {name}={getattr(lp, name)} does not "
                                 "fit the core's 16-bit register")
        state = fc.learning_state()
        for name in ("threshold_learning", "thswap"):
            v = getattr(state, name)
            if v.size and (v.min() < -32768 or v.max() > 32767):
                raise ValueError(f"{name} does not fit the core's 16-bit memory")
        self._request(p.Cmd.SET_LEARNING, p.set_learning_payload(
            K, N // K, lp.thswap_init, lp.decay, lp.thswap_min, lp.thl_cap, N))
        for li, layer in enumerate(ext):
            for base, data in layer_images(layer).items():
                self.write_mem(base + li, data)
        self._write_fc(0, state.weights)
        self.write_mem(p.Region.FC_THL, state.threshold_learning.astype("<i2").tobytes())
        self.write_mem(p.Region.FC_THSWAP, state.thswap.astype("<i2").tobytes())
        self.write_mem(p.Region.LEARN_REGS, struct.pack("<H", state.offset),
                       offset=2 * p.LearnReg.OFFSET)
        self._template = copy.deepcopy(model)
        self._params = lp

    def attach(self, model) -> None:
        """Adopt ``model`` as what the board holds (loaded earlier, e.g. by another
        command) without writing it; the board's learning registers must match it."""
        self._check_model(model)
        fc = model.layers[-1]
        lp = fc.learning
        regs = self.registers()
        want = {"NUM_NEURONS": fc.units, "NUM_CLASSES": lp.num_classes,
                **{k: getattr(lp, name) for name, k in _PARAM_REGS}}
        bad = {k: (regs[k], v) for k, v in want.items() if regs[k] != v}
        if bad:
            raise ValueError("the board does not hold this model (board, model): "
                             f"{bad}; load it first")
        self._template = copy.deepcopy(model)
        self._params = lp

    def _write_fc(self, first_neuron: int, weights: np.ndarray) -> None:
        """Weights ``(F, n)`` of neurons ``first_neuron..`` to FC_WEIGHTS."""
        nb = (weights.shape[0] + 7) // 8
        packed = np.packbits(weights.T.astype(np.uint8), axis=1, bitorder="little")
        self.write_mem(p.Region.FC_WEIGHTS, packed.tobytes(), offset=first_neuron * nb)

    def _need_model(self):
        if self._template is None:
            raise ValueError("no model loaded on this board from this host: call load() "
                             "first")
        return self._template

    @property
    def _spikes_in(self) -> bool:
        return isinstance(self._need_model().layers[0], InputData)

    # -- inference -------------------------------------------------------------------------
    def _frames(self, inputs):
        model = self._need_model()
        x = model._check_input(inputs)   # same checks and messages as the golden model
        if self._spikes_in:
            return p.Cmd.INFER_SPIKES, p.Cmd.LEARN_SPIKES, [pack_spikes(s) for s in x]
        return p.Cmd.INFER, p.Cmd.LEARN, [s.tobytes() for s in x]

    def infer(self, inputs, potentials: bool = False, progress=None):
        """``(classes, winners[, potentials (n, N) int32])`` of a batch, one request each."""
        cmd, _, frames = self._frames(inputs)
        regs = self.registers()
        N, K = regs["NUM_NEURONS"], regs["NUM_CLASSES"]
        inline = potentials and N <= p.MAX_INLINE_POTENTIALS
        classes = np.zeros(len(frames), np.int64)
        winners = np.zeros(len(frames), np.int64)
        pots = np.zeros((len(frames), N), np.int32) if potentials else None
        for i, frame in enumerate(self._progress(frames, len(frames), "infer", progress)):
            c, w, _, rest = self._result(cmd, p.infer_payload(frame, inline), N, K,
                                         N if inline else 0)
            classes[i], winners[i] = c, w
            if potentials:
                if not inline:
                    rest = self.read_mem(p.Region.FC_POTENTIALS, 2 * N)
                pots[i] = np.frombuffer(rest, "<u2")
        return (classes, winners, pots) if potentials else (classes, winners)

    def forward(self, inputs, progress=None) -> np.ndarray:
        """The learning layer's potentials, int32 ``(n, 1, 1, N)``, as golden ``forward``."""
        _, _, pots = self.infer(inputs, potentials=True, progress=progress)
        return pots.reshape(pots.shape[0], 1, 1, -1)

    def predict_classes(self, inputs, num_classes: int | None = None,
                        progress=None) -> np.ndarray:
        """Class of the winning neuron; ``num_classes`` defaults to the board's."""
        classes, winners = self.infer(inputs, progress=progress)
        if num_classes is None:
            return classes
        N = self.registers()["NUM_NEURONS"]
        if num_classes == 0 or num_classes == N:
            return winners
        if N % num_classes:
            raise ValueError(f"{N} neurons cannot be split evenly into {num_classes} classes")
        return winners // (N // num_classes)

    # -- learning --------------------------------------------------------------------------
    def fit(self, inputs, input_labels=-1, progress=None) -> np.ndarray:
        """Learn sample by sample (LEARN); returns each sample's ``learned`` flag.

        Labels are checked by the board: one out of range raises ``BoardError``
        (BAD_ARGUMENT) and the samples before it have been learned.
        """
        _, cmd, frames = self._frames(inputs)
        lab = np.asarray(input_labels)
        if lab.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, not {lab.dtype}")
        lab = np.full(len(frames), int(lab)) if lab.ndim == 0 else lab.reshape(-1)
        if lab.shape[0] != len(frames):
            raise ValueError(f"got {lab.shape[0]} labels for {len(frames)} samples")
        if lab.size and (lab.min() < -32768 or lab.max() > 32767):
            raise ValueError("labels must fit in int16")
        learned = np.zeros(len(frames), bool)
        regs = self.registers()
        for i, frame in enumerate(self._progress(frames, len(frames), "learn", progress)):
            learned[i] = bool(self._result(cmd, p.learn_payload(lab[i], frame),
                                           regs["NUM_NEURONS"], regs["NUM_CLASSES"])[2])
        return learned

    def add_classes(self, num_add_classes: int, seed=None) -> int:
        """Append classes: random weights drawn here (golden ``random_weights``, the same
        draw as ``Model.add_classes(n, seed)``) are written, then ADD_CLASSES.
        Returns the new class count."""
        if self._params is None:
            raise ValueError("add_classes needs a model loaded with load()")
        n = check_int("number of classes to add", num_add_classes, 1, 255, expected="in 1..255")
        regs = self.registers()
        N, K, m = regs["NUM_NEURONS"], regs["NUM_CLASSES"], regs["NEURONS_PER_CLASS"]
        if N + n * m > self.info.max_neurons:
            raise ValueError(f"{N} + {n} x {m} neurons exceed the board's "
                             f"{self.info.max_neurons}")
        rng = self.rng if seed is None else np.random.default_rng(seed)
        w = _learning.random_weights(self.info.num_inputs, int(n) * m,
                                     self._params.num_weights, rng)
        self._write_fc(N, w)
        reply = self._request(p.Cmd.ADD_CLASSES, p.add_classes_payload(n),
                              p.CLASS_COUNT_FORMAT.size)
        (count,) = p.CLASS_COUNT_FORMAT.unpack(reply)
        if count != K + n:
            raise BoardError(f"ADD_CLASSES: the board has {count} classes, expected {K + n}")
        self._params = self._params.with_classes(count)
        return count

    # -- read back -------------------------------------------------------------------------
    def to_golden(self):
        """Read every variable back and return a golden Model (saveable), the loaded
        model's structure and metadata with the board's values."""
        model = copy.deepcopy(self._need_model())
        regs = self.registers()
        N, K = regs["NUM_NEURONS"], regs["NUM_CLASSES"]
        if self._params is None or K != self._params.num_classes:
            raise BoardError(f"the board has {K} classes but this host loaded "
                             f"{getattr(self._params, 'num_classes', None)}: another host "
                             "changed it")
        lp = self._params
        for name, reg in _PARAM_REGS:
            if getattr(lp, name) != regs[reg]:
                raise BoardError(f"the board's {reg} is {regs[reg]}, the loaded model's "
                                 f"{getattr(lp, name)}")
        layers = model.layers
        fc = layers[-1]
        if not isinstance(layers[0], InputData):
            for li, layer in enumerate(layers[:-1]):
                for base, data in layer_images(layer).items():
                    image = self.read_mem(base + li, len(data))
                    keep = layer.get_variable("act_step") if base == p.Region.EXT_STEP else None
                    set_layer_image(layer, base, image, keep_act_step=keep)
        F = fc.num_inputs
        nb = (F + 7) // 8
        raw = np.frombuffer(self.read_mem(p.Region.FC_WEIGHTS, N * nb), np.uint8)
        weights = np.unpackbits(raw.reshape(N, nb), axis=1, bitorder="little")[:, :F].T
        thl = np.frombuffer(self.read_mem(p.Region.FC_THL, 2 * N), "<i2").astype(np.int32)
        thswap = np.frombuffer(self.read_mem(p.Region.FC_THSWAP, 2 * N), "<i2").astype(np.int32)
        if N != fc.units:
            fc.grow(N)
        fc.attach_learning(lp, _learning.LearningState(
            np.ascontiguousarray(weights, np.uint8), thl, thswap, regs["OFFSET"]))
        model.extra = dict(getattr(self._template, "extra", {}) or {})
        return model


#: (LearningParams field, learning register) pairs a load sets and nothing changes after.
_PARAM_REGS = (("thswap_init", "THSWAP_INIT"), ("decay", "DECAY"),
               ("thswap_min", "THSWAP_MIN"), ("thl_cap", "THL_CAP"))

#: Geometry fields an extractor layer must share with the board's (the gateware is built
#: for one geometry; weights, thresholds and steps are what a load changes). The
#: InputConvolutional's padding_value is built in too (separable layers have none).
_GEOMETRY = ("kernel_size", "filters", "padding", "kernel_stride", "pool_type", "pool_size",
             "pool_stride", "activation", "act_bits", "padding_value")


def _check_extractor(ext) -> None:
    """Refuse, naming the layer and the field, an extractor the board's gateware does not
    run: its layers must be the product DS-CNN's (:func:`edgekws.golden.zoo.ds_cnn_kws`)
    in kind and geometry (padding_value included), with weights no wider than its weight
    slots and act_steps its step memory holds."""
    from edgekws.golden.zoo import ds_cnn_kws

    board = ds_cnn_kws(units=None).layers
    if len(ext) != len(board):
        raise ValueError(f"the model's extractor has {len(ext)} layers; the board's has "
                         f"{len(board)} (InputConvolutional + {len(board) - 1} "
                         "SeparableConvolutional)")
    for mine, theirs in zip(ext, board):
        where = f"layer {mine.name!r}"
        if type(mine) is not type(theirs):
            raise ValueError(f"{where} is {type(mine).__name__}; the board's layer there "
                             f"is {type(theirs).__name__}")
        a, b = mine.get_config(), theirs.get_config()
        for field in _GEOMETRY:
            if a.get(field) != b.get(field):
                raise ValueError(f"{where}: {field} {a.get(field)!r}, but the board's "
                                 f"extractor has {b.get(field)!r} there")
        if mine.weights_bits > theirs.weights_bits:
            raise ValueError(f"{where}: {mine.weights_bits}-bit weights, but the board's "
                             f"extractor holds at most {theirs.weights_bits} bits there")
    for layer in ext:   # the values once the whole geometry fits
        _check_steps(layer, f"layer {layer.name!r}")


def _check_steps(layer, where) -> None:
    """Refuse an act_step whose integer step the extractor's step memory cannot hold
    (``1 <= act_step_units < 2**(EXT_STEP_BITS - 4 + act_bits)``), naming the neuron."""
    if layer.act_bits == 1:
        return   # 1-bit outputs are pot > threshold: the step is not used
    act_step = layer.get_variable("act_step")
    units = act_step_units(act_step)
    top = 1 << (p.EXT_STEP_BITS - 4 + layer.act_bits)
    bad = np.nonzero((units < 1) | (units >= top))[0]
    if bad.size:
        f = int(bad[0])
        raise ValueError(f"{where} neuron {f}: act_step {float(act_step[f])!r}, but the "
                         f"board's extractor takes act_steps in [1/16, {top // 16}) "
                         f"({p.EXT_STEP_BITS}-bit integer steps)")
