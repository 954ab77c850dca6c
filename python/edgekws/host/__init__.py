"""Host side of the board: the driver, the boards it talks to, and what runs on them.

* :mod:`.transport`: :class:`Transport` sends requests and waits for replies over any
  pyserial URL (a real port, ``socket://host:port``, ``loop://``), with sequence
  numbers, timeouts and retries.
* :mod:`.board`: the driver, an akida-``Model``-like API over the protocol, and the
  extractor regions' codecs; :mod:`.edge` what ``board load`` and ``board enrol`` do to
  a model; :mod:`.enrolment` enrolment that survives being killed.
* :mod:`.packet_server`: the board's packet layer as a pure-Python model (framing, CRC,
  de-duplication of retried non-idempotent commands); the gateware implements the same.
* :mod:`.emulator`: the board emulated with the golden model; :mod:`.simboard`: the
  gateware in Verilator; both served by :mod:`.server` (loopback TCP) and guarded by
  :mod:`.access`.
* :mod:`.listen` and :mod:`.hitrule`: keyword spotting on an audio stream.
* :mod:`.soak`: soak and fault runs; :mod:`.cli`: ``edgekws board ...``.
"""
