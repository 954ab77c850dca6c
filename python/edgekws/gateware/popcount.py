"""Population count as a balanced adder tree."""
from amaranth.hdl import Const, Value

__all__ = ["popcount"]


def popcount(value) -> Value:
    """Number of ones in ``value``, as a balanced tree of adders.

    Adding the bits with ``sum()`` gives a chain of ``len(value)`` adders (depth
    ``O(n)``); pairing them level by level keeps the depth at ``ceil(log2(n))``
    adders, each only as wide as its partial count.
    """
    value = Value.cast(value)
    terms = [value[i] for i in range(len(value))]
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]
