"""Bitstreams for the ULX3S (ECP5 25F / 85F) through amaranth-boards.

    edgekws fpga build board --board ulx3s-85f [--freq 45] [--lanes 64] [--design board|fc]
    make fpga BOARD=ulx3s-85f

The design runs in one clock domain made by an EHXPLLL from the board's 25 MHz
oscillator (:class:`ECP5PLL`; reset held until the PLL locks). Its UART pins are the
FTDI's (``uart`` resource 0) at :data:`edgekws.protocol.DEFAULT_BAUDRATE`. Designs:

``board``
    :class:`edgekws.gateware.top.BoardTop` (extractor + FC core + packet link), the
    default once that module exists.
``fc``
    A stand-in to exercise the platform, PLL and UART path: the FC learning core fed
    with raw bytes (a command is the next ``ceil(bits/8)`` bytes, LSB first) and
    answering with the raw response bytes. Not a protocol endpoint.

nextpnr runs without ``--timing-allow-fail``, so a build that misses the clock fails.
Everything lands in ``build/fpga/<board>/`` (``top.bit``, ``top.tim`` = nextpnr's
log, ``top.rpt`` = yosys' log, ``report.json``, ``summary.json``).
"""
from __future__ import annotations

import importlib
import json
import os
import re
import sys
import time
from pathlib import Path

from amaranth.hdl import ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, \
    ResetSignal, Signal
from amaranth.lib import wiring

from edgekws import protocol
from edgekws.checks import check_number

from .flow import FPGA_DIR, PRE_SYNTH, YOWASP_ENV, placer_opts, summarise

__all__ = ["pll_params", "ECP5PLL", "BoardWrapper", "FCByteBridge", "BOARDS",
           "build_board"]

#: Board name -> (amaranth-boards platform class name, default system clock in MHz,
#: default extractor MAC lanes, default nextpnr router, placement options as
#: ``timing_weight``/``critexp`` for the heap placer and ``seed`` for nextpnr (absent:
#: nextpnr's 10 and 2, seed 1)): builds that met timing (docs/design/fpga-builds.md §6).
#: 85F: 60 MHz (25 / 5 * 12 / 10, VCO 600 MHz; 3 Mbaud = /20) with 64 lanes, seed 2
#: (62.9 MHz post-route with router1; seed 1 reached 59.8 MHz); router2 stopped converging
#: on the board (overused wires falling to a few hundred, then rising; three seeds) where
#: router1 routes the same placement. The 25F has 28 MULT18X18D: 16 lanes (plus the FC
#: core's and dispatcher's 4) is the largest power of two that fits; on the same gateware
#: it meets 54.17 MHz too (57.3 MHz post-route, router2).
BOARDS = {
    "ulx3s-85f": ("ULX3S_85F_Platform", 60.0, 64, "router1", {"seed": 2}),
    "ulx3s-25f": ("ULX3S_25F_Platform", 54.0, 16, "router2", {}),
}

# EHXPLLL limits (Lattice TN1263): phase detector and VCO ranges, output range.
_PFD_MHZ = (3.125, 400.0)
_VCO_MHZ = (400.0, 800.0)
_OUT_MHZ = (3.125, 400.0)


def pll_params(fin_mhz: float, fout_mhz: float) -> dict:
    """EHXPLLL dividers for ``fout_mhz`` from ``fin_mhz`` (feedback from CLKOP): the
    closest reachable output, then the VCO nearest the middle of its range (what
    ``ecppll`` picks too: 25 -> 100 MHz gives 1, 4, 6 and a 600 MHz VCO).

    Returns a dict with ``CLKI_DIV``, ``CLKFB_DIV``, ``CLKOP_DIV``, ``fout_mhz`` (what
    the PLL makes) and ``vco_mhz``.
    """
    for name, v in (("fin_mhz", fin_mhz), ("fout_mhz", fout_mhz)):
        check_number(name, v, "a positive number", above=0)
    if not _OUT_MHZ[0] <= fout_mhz <= _OUT_MHZ[1]:
        raise ValueError(f"fout_mhz must be in [{_OUT_MHZ[0]}, {_OUT_MHZ[1]}] MHz, "
                         f"not {fout_mhz!r}")
    best = None
    for idiv in range(1, 129):
        pfd = fin_mhz / idiv
        if not _PFD_MHZ[0] <= pfd <= _PFD_MHZ[1]:
            continue
        for fbdiv in range(1, 81):
            fout = pfd * fbdiv
            for odiv in range(1, 129):
                vco = fout * odiv
                if not _VCO_MHZ[0] <= vco <= _VCO_MHZ[1]:
                    continue
                key = (abs(fout - fout_mhz), abs(vco - sum(_VCO_MHZ) / 2))
                if best is None or key < best[0]:
                    best = (key, dict(CLKI_DIV=idiv, CLKFB_DIV=fbdiv, CLKOP_DIV=odiv,
                                      fout_mhz=fout, vco_mhz=vco))
    if best is None:
        raise ValueError(f"no EHXPLLL setting makes {fout_mhz!r} MHz from {fin_mhz!r} MHz")
    return best[1]


class ECP5PLL(Elaboratable):
    """Clock domain ``domain`` at ``fout_mhz`` from ``clk_in`` (an EHXPLLL); its reset is
    held while the PLL is not locked, and for ``rst_in`` if given."""

    def __init__(self, clk_in, fin_mhz: float, fout_mhz: float, *, domain: str = "sync",
                 rst_in=None):
        self.clk_in = clk_in
        self.rst_in = rst_in
        self.fin_mhz = fin_mhz
        self.params = pll_params(fin_mhz, fout_mhz)
        self.domain = domain
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        p = self.params
        cd = ClockDomain(self.domain)
        m.domains += cd
        clk = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.fin_mhz:g}",
            a_FREQUENCY_PIN_CLKOP=f"{p['fout_mhz']:.6g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_CLKI=self.clk_in, i_CLKFB=clk, i_RST=Const(0), i_STDBY=Const(0),
            i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(0),
            i_PHASESTEP=Const(0), i_PHASELOADREG=Const(0), i_PLLWAKESYNC=Const(0),
            i_ENCLKOP=Const(0), o_CLKOP=clk, o_LOCK=self.locked)
        # Reset: released a few cycles after lock, synchronously to the new clock.
        rst_async = ~self.locked if self.rst_in is None else (~self.locked | self.rst_in)
        hold = Signal(4, init=0b1111)
        m.domains.pll_por = ClockDomain("pll_por", async_reset=True, local=True)
        m.d.comb += [ClockSignal("pll_por").eq(clk), ResetSignal("pll_por").eq(rst_async),
                     cd.clk.eq(clk), cd.rst.eq(hold[-1])]
        m.d.pll_por += hold.eq(hold << 1)
        if platform is not None:
            platform.add_clock_constraint(clk, p["fout_mhz"] * 1e6)
        return m


class FCByteBridge(wiring.Component):
    """Stand-in board design: the FC learning core behind a raw-byte UART (see the
    module docstring). Ports ``uart_rx``, ``uart_tx`` like the real BoardTop."""

    def __init__(self, *, clk_hz: int, baud: int = protocol.DEFAULT_BAUDRATE):
        from amaranth.lib.wiring import In, Out
        self.clk_hz, self.baud = clk_hz, baud
        super().__init__({"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)})

    def elaborate(self, platform):
        from amaranth.hdl import Cat
        from edgekws.gateware.fc_core import FCLearningCore
        from edgekws.gateware.uart import UARTRx, UARTTx
        m = Module()
        m.submodules.rx = rx = UARTRx(clk_hz=self.clk_hz, baud=self.baud)
        m.submodules.tx = tx = UARTTx(clk_hz=self.clk_hz, baud=self.baud)
        m.submodules.core = core = FCLearningCore(64, 1024)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]
        cw = len(core.cmd.payload.as_value())
        rw = len(core.rsp.payload.as_value())
        n_in, n_out = -(-cw // 8), -(-rw // 8)
        cmd_sr, got = Signal(n_in * 8), Signal(range(n_in + 1))
        rsp_sr, left = Signal(n_out * 8), Signal(range(n_out + 1))
        m.d.comb += [core.cmd.payload.eq(cmd_sr[:cw]), core.cmd.valid.eq(got == n_in),
                     rx.data.ready.eq(got != n_in)]
        with m.If(rx.data.valid & rx.data.ready):
            m.d.sync += [cmd_sr.eq(Cat(cmd_sr[8:], rx.data.payload)), got.eq(got + 1)]
        with m.If(core.cmd.valid & core.cmd.ready):
            m.d.sync += got.eq(0)
        m.d.comb += [core.rsp.ready.eq(left == 0), tx.data.payload.eq(rsp_sr[:8]),
                     tx.data.valid.eq(left != 0)]
        with m.If(core.rsp.valid & core.rsp.ready):
            m.d.sync += [rsp_sr.eq(core.rsp.payload.as_value()), left.eq(n_out)]
        with m.If(tx.data.valid & tx.data.ready):
            m.d.sync += [rsp_sr.eq(rsp_sr[8:]), left.eq(left - 1)]
        return m


def _design(name: str | None, clk_hz: int, lanes: int | None):
    """The board design ``name`` (None: BoardTop if it exists, else the stand-in)."""
    if name in (None, "board"):
        try:
            top = importlib.import_module("edgekws.gateware.top")
        except ModuleNotFoundError:
            if name == "board":
                raise
            top = None
        if top is not None:
            kw = {} if lanes is None else {"ext_lanes": lanes}
            return "board", top.BoardTop(clk_hz=clk_hz, baud=protocol.DEFAULT_BAUDRATE, **kw)
    if name in (None, "fc"):
        return "fc", FCByteBridge(clk_hz=clk_hz)
    raise ValueError(f"design must be 'board' or 'fc', not {name!r}")


class BoardWrapper(Elaboratable):
    """The design between the ULX3S's pins: PLL from ``clk25``, FTDI UART, LED 0 = lock."""

    def __init__(self, design, fout_mhz: float):
        self.design = design
        self.fout_mhz = fout_mhz

    def elaborate(self, platform):
        m = Module()
        clk25 = platform.request("clk25", 0)
        m.submodules.pll = pll = ECP5PLL(clk25.i, 25.0, self.fout_mhz)
        uart = platform.request("uart", 0)
        m.submodules.design = d = self.design
        m.d.comb += [d.uart_rx.eq(uart.rx.i), uart.tx.o.eq(d.uart_tx)]
        led = platform.request("led", 0)
        m.d.comb += led.o.eq(pll.locked)
        return m


def build_board(board: str = "ulx3s-85f", *, freq_mhz: float | None = None,
                design: str | None = None, lanes: int | None = None, seed: int | None = None,
                router: str | None = None, timing_weight: int | None = None,
                critexp: int | None = None, tag: str = "", command: str = "") -> dict:
    """Build the bitstream in ``build/fpga/<board>[-<tag>]``; write and return the
    summary (``timing_met`` false and an ``error`` when nextpnr failed, which it does
    when the clock is missed). ``freq_mhz``, ``lanes``, ``router``, ``seed``: None for
    the board's defaults (:data:`BOARDS`), as are ``timing_weight`` and ``critexp``, the
    heap placer's ``--placer-heap-timingweight`` and ``--placer-heap-critexp`` (a board
    without them gets nextpnr's, 10 and 2; without a seed, 1)."""
    if board not in BOARDS:
        raise ValueError(f"board must be one of {sorted(BOARDS)}, not {board!r}")
    if router not in (None, "router1", "router2"):
        raise ValueError(f"router must be 'router1' or 'router2', not {router!r}")
    plat_name, default_mhz, default_lanes, default_router, placement = BOARDS[board]
    lanes = default_lanes if lanes is None else lanes
    router = default_router if router is None else router
    timing_weight = placement.get("timing_weight") if timing_weight is None else timing_weight
    critexp = placement.get("critexp") if critexp is None else critexp
    seed = placement.get("seed", 1) if seed is None else seed
    plat = getattr(importlib.import_module("amaranth_boards.ulx3s"), plat_name)()
    placer = placer_opts(timing_weight, critexp)
    fout = pll_params(25.0, default_mhz if freq_mhz is None else freq_mhz)["fout_mhz"]
    clk_hz = round(fout * 1e6)
    kind, top = _design(design, clk_hz, lanes)
    out = FPGA_DIR / (f"{board}-{tag}" if tag else board)
    out.mkdir(parents=True, exist_ok=True)
    for k, v in {**YOWASP_ENV, "OPENFPGALOADER": "true"}.items():
        os.environ.setdefault(k, v)
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    (out / "report.json").unlink(missing_ok=True)
    t0 = time.monotonic()
    error = None
    try:
        plat.build(BoardWrapper(top, fout), name="top", build_dir=str(out),
                   do_program=False, synth_opts="-abc9", script_after_read=PRE_SYNTH,
                   nextpnr_opts=f"--seed {seed} --router {router} --threads 2 "
                                f"--report report.json{placer}")
    except Exception as e:  # nextpnr's exit status: timing missed, or no fit
        error = f"{type(e).__name__}: {e}"
    summary = {"board": board, "device": plat.device, "package": plat.package,
               "design": kind, "ext_lanes": lanes if kind == "board" else None,
               "clk_mhz": round(fout, 4), "baud": protocol.DEFAULT_BAUDRATE,
               "seed": seed, "router": router, "timing_weight": timing_weight,
               "critexp": critexp,
               "build_s": round(time.monotonic() - t0, 1), "command": command}
    if (out / "report.json").exists() and error is None:
        summary.update(summarise(out / "report.json"))
    summary["timing_met"] = error is None
    if error:
        tim = out / "top.tim"
        log = tim.read_text() if tim.exists() else ""
        summary["error"] = error
        # The last "Max frequency" lines are the post-route ones.
        summary["fmax_log"] = re.findall(r"Max frequency for clock.*", log)[-2:]
        summary["log_tail"] = log.splitlines()[-15:]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
