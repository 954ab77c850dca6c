"""Amaranth gateware of edgekws.

* :mod:`.fc_core` — the binary FullyConnected layer with on-chip learning
  (Akida 1.0 "AkidaUnsupervised" rule), :class:`~.fc_core.FCLearningCore`.
* :mod:`.popcount`, :mod:`.divider`, :mod:`.spread_select` — its building blocks.
* :mod:`.generate` — writes the committed Verilog in ``rtl/``.
"""
