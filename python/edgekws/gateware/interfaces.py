"""The named interfaces between the board's blocks.

:class:`~edgekws.gateware.link.PacketLink` and
:class:`~edgekws.gateware.dispatcher.Dispatcher` meet in three interfaces, the dispatcher
and :class:`~edgekws.gateware.extractor_loader.ExtractorLoader` in one; ``BoardTop`` joins each pair
with ``wiring.connect``. Every signature is written from the side that starts the
transfer (``Out`` members are driven by it):

* :class:`RequestReadSignature`: ``PacketLink.req`` (``Out``), ``Dispatcher.req`` (``In``);
* :class:`ReplyWriteSignature`: ``Dispatcher.rep`` (``Out``), ``PacketLink.rep`` (``In``);
* :class:`LinkCountersSignature`: ``PacketLink.counters`` (``Out``),
  ``Dispatcher.counters`` (``In``);
* :class:`RegionAccessSignature`: ``Dispatcher.loader`` (``Out``), ``ExtractorLoader.access``
  (``In``).

None of them has parameters: their widths are those of :mod:`edgekws.protocol`.
"""
from __future__ import annotations

from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from edgekws.protocol import MAX_PACKET

__all__ = ["RequestReadSignature", "ReplyWriteSignature", "LinkCountersSignature",
           "RegionAccessSignature"]


class _Fixed(wiring.Signature):
    """A signature without parameters: two are equal when their classes are."""

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))


class RequestReadSignature(_Fixed):
    """Read access to the oldest received request (the link's request buffer).

    Members
    -------
    valid : ``Out(1)``
        A request waits; held until ``ack``.
    status : ``Out(3)``
        :class:`~edgekws.protocol.Status`: ``OK``, ``BAD_CRC`` (the bytes are the decoded
        ones, so seq/cmd can be echoed) or ``TOO_LONG`` (no bytes).
    len : ``Out(range(MAX_PACKET + 1))``
        Bytes of ``seq | cmd | payload``, CRC stripped; 0 for TOO_LONG.
    addr : ``In(range(MAX_PACKET))``
        Read address in the request.
    data : ``Out(8)``
        The byte at the ``addr`` of the previous cycle.
    ack : ``In(1)``
        Pulse: the request is done; its buffer takes the next frame.
    """

    def __init__(self):
        super().__init__({
            "valid": Out(1),
            "status": Out(3),
            "len": Out(range(MAX_PACKET + 1)),
            "addr": In(range(MAX_PACKET)),
            "data": Out(8),
            "ack": In(1),
        })


class ReplyWriteSignature(_Fixed):
    """Write access to the link's reply buffer, and the send that empties it.

    Members
    -------
    addr, data, we : ``Out(range(MAX_PACKET))``, ``Out(8)``, ``Out(1)``
        Write port of the reply buffer (``seq, cmd | 0x80, status, payload...``).
    len : ``Out(range(MAX_PACKET + 1))``
        Reply bytes to send, read with ``send``.
    send : ``Out(1)``
        Pulse: send ``len`` bytes with CRC-16 appended as ``00 COBS(...) 00``; ignored
        while ``busy``.
    busy : ``In(1)``
        From the cycle after ``send`` until the last stop bit has left.
    """

    def __init__(self):
        super().__init__({
            "addr": Out(range(MAX_PACKET)),
            "data": Out(8),
            "we": Out(1),
            "len": Out(range(MAX_PACKET + 1)),
            "send": Out(1),
            "busy": In(1),
        })


class LinkCountersSignature(_Fixed):
    """The link's frame counters (READ_COUNTERS) and their reset (RESET).

    Members
    -------
    frames, crc_errors, framing_errors : ``Out(32)``
        As :class:`~edgekws.host.packet_server.PacketServer` counts them.
    clear : ``In(1)``
        Pulse: zero the three counters (wins over a count in the same cycle).
    """

    def __init__(self):
        super().__init__({
            "frames": Out(32),
            "crc_errors": Out(32),
            "framing_errors": Out(32),
            "clear": In(1),
        })


class RegionAccessSignature(_Fixed):
    """A WRITE_MEM/READ_MEM of an extractor region, in the protocol's byte layout.

    Members
    -------
    region, offset, length : ``Out(8)``, ``Out(32)``, ``Out(range(MAX_PACKET + 1))``
        The access: :class:`~edgekws.protocol.Region` value, byte offset, byte count.
    ok, ok_read : ``In(1)``
        A write (``ok``) or a read (``ok_read``) of ``region, offset, length`` is served;
        registered, :data:`~edgekws.gateware.extractor_loader.OK_LATENCY` cycles behind them.
    write : ``Out(1)``
        Pulse (while not ``busy`` and ``ok``): start the write; the ``length`` bytes then
        come on ``wdata``. The access must be held from ``OK_LATENCY`` cycles before.
    wdata : ``Out(stream.Signature(8))``
        The bytes of the write, in order.
    read : ``Out(1)``
        Pulse (while not ``busy`` and ``ok_read``): start the read; its ``length``
        bytes come on ``rdata``.
    rdata : ``In(stream.Signature(8))``
        The bytes read, in order.
    busy : ``In(1)``
        From the cycle after ``write``/``read`` until the last byte has been handled.
    """

    def __init__(self):
        super().__init__({
            "region": Out(8),
            "offset": Out(32),
            "length": Out(range(MAX_PACKET + 1)),
            "ok": In(1),
            "ok_read": In(1),
            "write": Out(1),
            "wdata": Out(stream.Signature(8)),
            "read": Out(1),
            "rdata": In(stream.Signature(8)),
            "busy": In(1),
        })
