"""Amaranth gateware of edgekws.

* :mod:`.fc_core`: the binary FullyConnected layer with on-chip learning (Akida 1.0
  "AkidaUnsupervised" rule), :class:`~.fc_core.FCLearningCore`; :mod:`.popcount`,
  :mod:`.divider` and :mod:`.spread_select` are its building blocks.
* :mod:`.conv`: the DS-CNN feature extractor, its step activation, configurations and
  stream codec (:mod:`.conv.codec`).
* :mod:`.top`: the board (:class:`~.top.BoardTop`) from :mod:`.link` (UART, COBS, CRC;
  :mod:`.uart`), :mod:`.dispatcher` (one protocol request at a time),
  :mod:`.extractor_loader` (extractor regions in the protocol's byte layout) and the two
  cores, joined by the signatures of :mod:`.interfaces`; :mod:`.register_slice` cuts
  long stream paths. :mod:`.wishbone`: the same engine behind a Wishbone slave.
* :mod:`.ram`: block-RAM attributes; :mod:`.unused`: Amaranth's never-used warning
  where it is noise.
* :mod:`.generate`, :mod:`.conv.generate`, :mod:`.tops` and :mod:`.cli` (``edgekws rtl
  generate|check``): the committed Verilog in ``rtl/``; :mod:`.fusesoc`: FuseSoC runs
  on the committed cores.
"""
