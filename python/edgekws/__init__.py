"""edgekws: keyword spotting with on-chip few-shot learning, in the style of Akida 1.0.

Sub-packages: :mod:`edgekws.golden` (bit-exact numpy model of the Akida 1.0 layers and
native learning), :mod:`edgekws.data`, :mod:`edgekws.gateware` and the host driver.
"""
__version__ = "0.1.0"
