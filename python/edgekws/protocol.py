"""The edgekws UART protocol: one definition for the host driver, the gateware and the
simulated board.

Framing
-------
A packet is ``seq (u8) | cmd (u8) | payload | crc16 (u16, little-endian)``, the CRC being
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection) over ``seq | cmd | payload``.
On the wire each packet is COBS-encoded between two ``0x00`` delimiters. COBS removes
every zero from the encoded bytes, so a receiver that lost sync (dropped or corrupted
bytes, a reset mid-frame) recovers at the next ``0x00``, without timeouts; the leading
delimiter keeps leftover bytes of a broken frame from spoiling the next good one. A
decoded packet that is too short, too long or whose CRC fails is answered with an error
status (never silently executed).

Replies
-------
A reply echoes ``seq``, sets bit 7 of ``cmd`` and starts its payload with a status byte.
The board remembers the sequence number and the reply of the last *non-idempotent*
command (learning, add classes, reset); a retry with the same ``seq`` gets the same
reply again without learning twice. The host numbers its requests 0..255 cyclically.

The command set and payload layouts are defined here too (:class:`Cmd`, :class:`Status`,
``struct`` formats) so that both sides import them.
"""
from __future__ import annotations

import enum
import struct

__all__ = [
    # framing
    "PROTOCOL_VERSION", "DEFAULT_BAUDRATE", "MAX_PACKET", "REPLY_BIT", "DELIMITER",
    "SERVER_TEXT", "BUSY_TEXT", "BUSY_REPLY", "server_line", "Cmd", "Status", "IDEMPOTENT",
    "ProtocolError", "CRC_POLY", "CRC_INIT", "crc16", "cobs_encode", "cobs_decode",
    "encode_packet", "decode_packet", "FrameDecoder",
    # payload layouts
    "IDENTIFY_FORMAT", "LEARNING_FORMAT", "RESULT_FORMAT", "COUNTERS_FORMAT",
    "FLAG_POTENTIALS", "MEM_HEADER", "READ_MEM_FORMAT", "MEM_CHUNK", "MAX_EXT_LAYERS",
    "EXT_STEP_BITS",
    "Region", "LearnReg", "LABEL_FORMAT", "ADD_CLASSES_FORMAT", "CLASS_COUNT_FORMAT",
    "MAX_INLINE_POTENTIALS",
    # request payloads
    "write_mem_payload", "read_mem_payload", "write_mem_payloads", "read_mem_payloads",
    "infer_payload", "learn_payload", "add_classes_payload", "set_learning_payload",
]

PROTOCOL_VERSION = 1
#: 3 Mbaud: the fastest rate the FTDI bridges of common boards (FT231X, FT2232H) support.
DEFAULT_BAUDRATE = 3_000_000
#: Largest decoded packet (seq + cmd + payload + crc) a receiver must accept.
MAX_PACKET = 1024 + 8
REPLY_BIT = 0x80
DELIMITER = 0x00
#: Start of a line of text a board server (not the board) sends a client: delimited like
#: a packet but never a valid one (its CRC does not check; ``cmd`` would be 0x67, which
#: has no reply bit).
SERVER_TEXT = b"edgekws: "


def server_line(text: str) -> bytes:
    """The bytes of a server's text line ``edgekws: <text>``."""
    return b"\x00" + SERVER_TEXT + text.encode("ascii", "replace") + b"\n\x00"


#: What a board server sends a client it cannot take (too many clients), then closes.
BUSY_TEXT = SERVER_TEXT + b"board busy"
BUSY_REPLY = server_line("board busy (too many clients); try again later")


class Cmd(enum.IntEnum):
    """Request codes (a reply carries ``code | REPLY_BIT``)."""
    IDENTIFY = 0x01      #: -> version and build parameters
    RESET = 0x02         #: clear the learning state and counters
    WRITE_MEM = 0x10     #: region u8, offset u32, data: load weights and variables
    READ_MEM = 0x11      #: region u8, offset u32, length u16 -> data
    INFER = 0x20         #: flags u8, MFCC frame (490 x u8) -> class, winner [, potentials]
    LEARN = 0x21         #: label i16, MFCC frame -> class, winner, learned
    INFER_SPIKES = 0x22  #: flags u8, spike bytes -> as INFER (bypasses the extractor)
    LEARN_SPIKES = 0x23  #: label i16, spike bytes -> as LEARN
    ADD_CLASSES = 0x30   #: n u8 -> new class count
    SET_LEARNING = 0x31  #: learning registers (see LEARNING_FORMAT)
    READ_COUNTERS = 0x40  #: -> cycle counters and error counts


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1          #: the packet's CRC did not match
    UNKNOWN_CMD = 2
    BAD_LENGTH = 3       #: the payload length does not fit the command
    BAD_ARGUMENT = 4     #: e.g. a label >= the class count, a region or offset out of range
    TOO_LONG = 5         #: the frame exceeded MAX_PACKET before its delimiter
    NOT_READY = 6        #: e.g. learning before SET_LEARNING


#: Commands that may run twice without harm: retried, not de-duplicated.
IDEMPOTENT = frozenset({Cmd.IDENTIFY, Cmd.WRITE_MEM, Cmd.READ_MEM, Cmd.INFER,
                        Cmd.INFER_SPIKES, Cmd.SET_LEARNING, Cmd.READ_COUNTERS})


class ProtocolError(ValueError):
    """A packet that cannot be decoded: bad COBS, too short, or a CRC mismatch."""


# -- CRC-16/CCITT-FALSE -----------------------------------------------------------------
CRC_POLY = 0x1021
CRC_INIT = 0xFFFF


def _crc_table():
    table = []
    for byte in range(256):
        c = byte << 8
        for _ in range(8):
            c = ((c << 1) ^ CRC_POLY) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE: ``crc16(b"123456789") == 0x29B1``."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


# -- COBS -----------------------------------------------------------------------------------
def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the output has no zero byte."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode`; raises :class:`ProtocolError` on malformed input."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("COBS data contains a zero byte")
        end = i + code
        if end > n:
            raise ProtocolError("COBS block runs past the end of the frame")
        block = data[i + 1:end]
        if 0 in block:
            raise ProtocolError("COBS data contains a zero byte")
        out += block
        i = end
        if code < 255 and i < n:
            out.append(0)
    return bytes(out)


# -- packets ---------------------------------------------------------------------------------
def encode_packet(seq: int, cmd: int, payload: bytes = b"") -> bytes:
    """The bytes to send: ``0x00 COBS(seq | cmd | payload | crc16) 0x00``."""
    if not 0 <= seq <= 255:
        raise ValueError(f"seq must be in 0..255, not {seq!r}")
    if not 0 <= cmd <= 255:
        raise ValueError(f"cmd must be in 0..255, not {cmd!r}")
    body = bytes((seq, cmd)) + bytes(payload)
    if len(body) + 2 > MAX_PACKET:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the "
                         f"{MAX_PACKET - 4}-byte packet limit")
    return (bytes((DELIMITER,)) + cobs_encode(body + struct.pack("<H", crc16(body)))
            + bytes((DELIMITER,)))


def decode_packet(frame: bytes) -> tuple[int, int, bytes]:
    """``(seq, cmd, payload)`` of one frame (without its delimiter), CRC checked."""
    raw = cobs_decode(frame)
    if len(raw) < 4:
        raise ProtocolError(f"packet of {len(raw)} bytes is shorter than seq+cmd+crc")
    body, (crc,) = raw[:-2], struct.unpack("<H", raw[-2:])
    if crc16(body) != crc:
        raise ProtocolError(f"CRC mismatch (got {crc:#06x}, computed {crc16(body):#06x})")
    return body[0], body[1], body[2:]


class FrameDecoder:
    """Splits a byte stream into frames at delimiters; survives garbage and resets.

    ``feed(data)`` returns the complete frames (delimiter stripped) found so far. A frame
    longer than the COBS encoding of :data:`MAX_PACKET` is dropped and reported as
    ``None`` so the receiver can answer TOO_LONG.
    """

    #: COBS adds one byte per 254 plus one.
    MAX_FRAME = MAX_PACKET + MAX_PACKET // 254 + 2

    def __init__(self):
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list:
        frames = []
        for b in data:
            if b == DELIMITER:
                if self._overflow:
                    frames.append(None)
                elif self._buf:
                    frames.append(bytes(self._buf))
                self._buf.clear()
                self._overflow = False
            elif not self._overflow:
                self._buf.append(b)
                if len(self._buf) > self.MAX_FRAME:
                    self._overflow = True
                    self._buf.clear()
        return frames


# -- payload layouts (little-endian) ---------------------------------------------------------
#: IDENTIFY reply after the status: protocol version, num_inputs, max_neurons, lanes,
#: has_extractor, mfcc frames, mfcc coefficients, clock Hz.
IDENTIFY_FORMAT = struct.Struct("<HHHHBBBI")
#: SET_LEARNING request: num_classes, neurons_per_class, thswap_init, decay, thswap_min,
#: thl_cap, active neurons.
LEARNING_FORMAT = struct.Struct("<HHHHHHH")
#: INFER/LEARN reply after the status: class, winning neuron, learned flag.
RESULT_FORMAT = struct.Struct("<HHB")
#: READ_COUNTERS reply after the status: cycles of the last inference, of the last learning
#: step, frames served, CRC errors, framing errors. The board counts clock cycles from
#: the end of the request's checks to the learning core's result (for INFER/LEARN that
#: includes the extractor; for LEARN, the weight update); the emulator has no clock and
#: reports 0 for both. RESET zeroes all five.
COUNTERS_FORMAT = struct.Struct("<IIIII")
#: INFER flags.
FLAG_POTENTIALS = 0x01


# -- memory regions (WRITE_MEM / READ_MEM) ---------------------------------------------------
#: WRITE_MEM request: region u8, offset u32, then the data bytes.
#: READ_MEM request: region u8, offset u32, length u16; the reply holds the data.
MEM_HEADER = struct.Struct("<BI")
READ_MEM_FORMAT = struct.Struct("<BIH")
#: Largest data chunk of one WRITE_MEM or READ_MEM the host sends: fits MAX_PACKET with
#: the headers and is a multiple of 64, so the chunks of a region stay aligned to the
#: extractor's weight rows (64 lanes) and to whole FC neurons of 64 inputs.
MEM_CHUNK = 960
#: Extractor layers addressable (regions ``EXT_* + layer``).
MAX_EXT_LAYERS = 8
#: Width of the extractor's integer step ``S`` (the ``step_bits`` of the board's
#: extractor): a step of ``2**EXT_STEP_BITS`` or more does not fit.
EXT_STEP_BITS = 20


class Region(enum.IntEnum):
    """Memory regions of WRITE_MEM/READ_MEM; ``offset`` is in bytes, little-endian values.

    Extractor, layer ``l`` (0 = InputConvolutional, 1.. = SeparableConvolutional) at
    region ``EXT_* + l`` (what ``gateware/conv/codec.py`` loads through the ``load``
    stream, before its re-layout into lane words):

    * ``EXT_WEIGHTS``: the golden ``weights`` variable as int8 in C order, ``(kx, ky, C,
      F)`` for the InputConvolutional, ``(kx, ky, C, 1)`` (depthwise, not flipped) for a
      separable layer. The board's bridge does the lane layout and the depthwise flip.
    * ``EXT_WEIGHTS_PW``: ``weights_pw`` ``(1, 1, C, F)`` int8 (separable layers only).
    * ``EXT_THRESHOLD``: int32 per neuron.
    * ``EXT_STEP``: the integer step ``S = act_step_units(act_step) << (4 - act_bits)`` as
      u32 per neuron (``S = 1`` for 1-bit layers): :func:`edgekws.golden.quant.integer_step`.

    Extractor accesses (reads and writes) are aligned: offset and length multiples of
    the extractor's MAC lanes (64 on the board, the ``ext_lanes`` of the emulator) for
    ``EXT_WEIGHTS``/``EXT_WEIGHTS_PW``, of 4 for ``EXT_THRESHOLD``/``EXT_STEP``. A write
    whose values the layer cannot hold (a weight outside its ``weights_bits`` range, a
    step ``>= 2**EXT_STEP_BITS``, or for ``act_bits`` > 1 a step that is not a positive
    multiple of ``2**(4 - act_bits)``) is refused whole. The extractor's memories read back as zeros
    until written; load every region of a layer before inferring with it.

    FullyConnected learning core (``docs/design/fc-core.md`` §1.2):

    * ``FC_WEIGHTS``: neuron ``n`` at ``n * ceil(F / 8)``; bit ``i`` of the neuron's bytes
      (LSB first) is input ``i`` (= WRITE_WEIGHT/READ_WEIGHT words, little-endian).
    * ``FC_THL``: ``threshold_learning``, int16 per neuron (WRITE_THL/READ_THL).
    * ``FC_THSWAP``: ``thswap``, int16 per neuron (WRITE_THSWAP/READ_THSWAP).
    * ``FC_POTENTIALS``: read only, u16 per active neuron: potentials of the last
      INFER/LEARN (READ_POT; for LEARN, before the update); RESET does not clear them.
    * ``LEARN_REGS``: u16 per :class:`LearnReg` at ``2 * reg`` (WRITE_PARAM/READ_PARAM);
      SET_LEARNING writes all but OFFSET (and clears OFFSET); OFFSET is written here. A
      write leaving OFFSET above the number of inputs F (which learning never
      produces) is refused whole.

    A region or a range the board does not have is refused with BAD_ARGUMENT.
    """
    EXT_WEIGHTS = 0x00
    EXT_WEIGHTS_PW = 0x08
    EXT_THRESHOLD = 0x10
    EXT_STEP = 0x18
    FC_WEIGHTS = 0x20
    FC_THL = 0x21
    FC_THSWAP = 0x22
    FC_POTENTIALS = 0x23
    LEARN_REGS = 0x30


class LearnReg(enum.IntEnum):
    """The learning core's registers (``Param`` of ``gateware/fc_core.py``), u16 each."""
    NUM_NEURONS = 0
    NUM_CLASSES = 1
    NEURONS_PER_CLASS = 2
    THSWAP_INIT = 3
    DECAY = 4
    THSWAP_MIN = 5
    THL_CAP = 6
    OFFSET = 7


#: LEARN/LEARN_SPIKES request header: label (-1 = any neuron), then the frame or spikes.
LABEL_FORMAT = struct.Struct("<h")
#: ADD_CLASSES request: number of classes; the reply holds the new class count (u16). The
#: new neurons' weights are written to FC_WEIGHTS beforehand.
ADD_CLASSES_FORMAT = struct.Struct("<B")
CLASS_COUNT_FORMAT = struct.Struct("<H")
#: Spikes (INFER_SPIKES/LEARN_SPIKES) are ``ceil(F / 8)`` bytes, bit ``i`` (LSB first) =
#: input ``i``; INFER with FLAG_POTENTIALS appends u16 potentials of the active neurons
#: when they fit in the reply (at most MAX_INLINE_POTENTIALS), else none: read
#: FC_POTENTIALS then.
MAX_INLINE_POTENTIALS = (MAX_PACKET - 4 - 1 - RESULT_FORMAT.size) // 2


# -- request payloads: built here only, for the driver, the soak test and the tests ----------
def write_mem_payload(region: int, offset: int, data: bytes = b"") -> bytes:
    """WRITE_MEM: ``region``, ``offset``, then ``data``."""
    return MEM_HEADER.pack(int(region), int(offset)) + bytes(data)


def read_mem_payload(region: int, offset: int, length: int) -> bytes:
    """READ_MEM of ``length`` bytes at ``offset`` of ``region``."""
    return READ_MEM_FORMAT.pack(int(region), int(offset), int(length))


def write_mem_payloads(region: int, data: bytes, offset: int = 0) -> list[bytes]:
    """The WRITE_MEM payloads of ``data`` at ``offset``, :data:`MEM_CHUNK` bytes each."""
    data = bytes(data)
    return [write_mem_payload(region, offset + i, data[i:i + MEM_CHUNK])
            for i in range(0, len(data), MEM_CHUNK)]


def read_mem_payloads(region: int, length: int, offset: int = 0) -> list[tuple[bytes, int]]:
    """``[(payload, chunk length)]`` of the READ_MEMs of ``length`` bytes at ``offset``."""
    return [(read_mem_payload(region, offset + i, min(MEM_CHUNK, length - i)),
             min(MEM_CHUNK, length - i)) for i in range(0, length, MEM_CHUNK)]


def infer_payload(data: bytes, potentials: bool = False) -> bytes:
    """INFER (an MFCC frame) or INFER_SPIKES (spike bytes), with FLAG_POTENTIALS when
    ``potentials``."""
    return bytes((FLAG_POTENTIALS if potentials else 0,)) + bytes(data)


def learn_payload(label: int, data: bytes) -> bytes:
    """LEARN (an MFCC frame) or LEARN_SPIKES (spike bytes) with ``label`` (-1: any neuron)."""
    return LABEL_FORMAT.pack(int(label)) + bytes(data)


def add_classes_payload(count: int) -> bytes:
    """ADD_CLASSES of ``count`` classes."""
    return ADD_CLASSES_FORMAT.pack(int(count))


def set_learning_payload(num_classes: int, neurons_per_class: int, thswap_init: int,
                         decay: int, thswap_min: int, thl_cap: int, neurons: int) -> bytes:
    """SET_LEARNING: the learning registers (:data:`LEARNING_FORMAT`); ``neurons`` is the
    number of active neurons."""
    return LEARNING_FORMAT.pack(num_classes, neurons_per_class, thswap_init, decay,
                                thswap_min, thl_cap, neurons)
