"""The MAC lanes' registered product: generic, or an ECP5 DSP with its output register.

``registered_product(m, a, b, name, kind)`` returns a signal that holds ``a * b`` one
clock after ``a`` and ``b`` (both signed), as ``m.d.sync += p.eq(a * b)`` does.

* ``"generic"``: exactly that; yosys maps the multiply to a MULT18X18D without
  registers, and the flip-flop sits in the fabric behind it (nextpnr: 3.9 ns through
  the multiplier, then the route out of the DSP row to the slice).
* ``"ecp5"``: a ``MULT18X18D`` instance with ``REG_OUTPUT_CLK = CLK0``: the register
  is the DSP's own output register, so the route out of the DSP is off the
  multiplier's path (nextpnr's ``MULT18X18D_REGS_OUTPUT`` timing). Same function and
  latency; only for ECP5 builds (Verilator has no model of the primitive), chosen by
  :func:`resolve` when the platform is an ECP5 one.
"""
from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Signal, signed

__all__ = ["KINDS", "resolve", "registered_product"]

#: Accepted ``mult`` settings of the extractor.
KINDS = ("auto", "generic", "ecp5")

_DSP_WIDTH = 18


def resolve(kind: str, platform) -> str:
    """``"auto"`` -> ``"ecp5"`` on an amaranth ECP5 platform, else ``"generic"``."""
    if kind != "auto":
        return kind
    try:
        from amaranth.vendor import LatticeECP5Platform
    except ImportError:  # pragma: no cover - amaranth without vendor platforms
        return "generic"
    return "ecp5" if isinstance(platform, LatticeECP5Platform) else "generic"


def registered_product(m, a, b, name: str, kind: str):
    """``a * b`` (signed), registered; see the module docstring for ``kind``."""
    width = len(a) + len(b)
    p = Signal(signed(width), name=name, reset_less=True)
    if kind == "generic":
        m.d.sync += p.eq(a * b)
        return p
    if kind != "ecp5":
        raise ValueError(f"kind must be 'generic' or 'ecp5', not {kind!r}")
    if len(a) > _DSP_WIDTH or len(b) > _DSP_WIDTH:
        raise ValueError(f"operands of {len(a)} x {len(b)} bits do not fit a "
                         f"{_DSP_WIDTH}x{_DSP_WIDTH} multiplier")
    a18 = Signal(signed(_DSP_WIDTH), name=f"{name}_a")
    b18 = Signal(signed(_DSP_WIDTH), name=f"{name}_b")
    p36 = Signal(2 * _DSP_WIDTH, name=f"{name}_p")
    m.d.comb += [a18.eq(a), b18.eq(b), p.eq(p36[:width])]
    ports = {f"i_A{k}": a18[k] for k in range(_DSP_WIDTH)}
    ports.update({f"i_B{k}": b18[k] for k in range(_DSP_WIDTH)})
    ports.update({f"i_C{k}": Const(0) for k in range(_DSP_WIDTH)})
    ports.update({f"o_P{k}": p36[k] for k in range(2 * _DSP_WIDTH)})
    m.submodules[f"{name}_dsp"] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="NONE", p_REG_INPUTB_CLK="NONE", p_REG_INPUTC_CLK="NONE",
        p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        p_CLK0_DIV="ENABLED", p_GSR="DISABLED", p_RESETMODE="SYNC",
        p_SOURCEB_MODE="B_SHIFT", p_MULT_BYPASS="DISABLED", p_CAS_MATCH_REG="FALSE",
        i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
        i_CLK0=ClockSignal(), i_CE0=Const(1), i_RST0=Const(0),
        **ports)
    return p
