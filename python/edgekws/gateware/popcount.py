"""Population count as a balanced adder tree."""
from amaranth.hdl import Const, Value

__all__ = ["popcount", "popcount_parts", "add_tree", "at_most_one"]


def popcount(value) -> Value:
    """Number of ones in ``value``, as a balanced tree of adders.

    Adding the bits with ``sum()`` gives a chain of ``len(value)`` adders (depth
    ``O(n)``); pairing them level by level keeps the depth at ``ceil(log2(n))``
    adders, each only as wide as its partial count.
    """
    value = Value.cast(value)
    return add_tree([value[i] for i in range(len(value))])


def at_most_one(value) -> Value:
    """1 if at most one bit of ``value`` is set (``popcount(value) <= 1``), as a tree.

    Each node keeps two flags of its half, *any* bit set and *several* set; the
    test ``v & (v - 1) == 0`` gives the same answer behind a ``len(value)``-bit
    subtract, whose carry chain (and the wide OR after it) was a critical path
    (docs/design/timing-closure.md §3.6, step 16).
    """
    value = Value.cast(value)
    nodes = [(value[i], Const(0, 1)) for i in range(len(value))]
    if not nodes:
        return Const(1, 1)
    while len(nodes) > 1:
        paired = [(a0 | a1, s0 | s1 | (a0 & a1))
                  for (a0, s0), (a1, s1) in zip(nodes[0::2], nodes[1::2])]
        if len(nodes) % 2:
            paired.append(nodes[-1])
        nodes = paired
    return ~nodes[0][1]


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
