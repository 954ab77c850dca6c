"""Host side of the board: the UART transport, the packet server model, the driver.

* :mod:`.transport`: :class:`Transport` sends requests and waits for replies over any
  pyserial URL (a real port, ``socket://host:port``, ``loop://``), with sequence
  numbers, timeouts and retries.
* :mod:`.packet_server`: the board's packet layer as a pure-Python model (framing, CRC,
  de-duplication of retried non-idempotent commands); the gateware implements the same.
"""
