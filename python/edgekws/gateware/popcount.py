"""Population count as a balanced adder tree."""
from amaranth.hdl import Const, Value

__all__ = ["popcount", "popcount_parts", "add_tree"]


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


def popcount_parts(value, chunk: int = 16) -> list[Value]:
    """Popcounts of consecutive ``chunk``-bit slices of ``value``.

    Registering these partial counts and adding them in the next cycle splits a
    wide popcount over two pipeline stages.
    """
    value = Value.cast(value)
    return [popcount(value[i:i + chunk]) for i in range(0, len(value), chunk)]


def add_tree(terms) -> Value:
    """Sum of ``terms`` as a balanced adder tree."""
    terms = [Value.cast(t) for t in terms]
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]
