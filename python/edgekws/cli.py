"""The ``edgekws`` command line.

Each feature module registers its own sub-commands through an ``add_cli(subparsers)``
function listed in :data:`COMMAND_MODULES`, so the CLI stays next to the code it drives.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that provide ``add_cli(subparsers)``; imported lazily so that
#: ``edgekws --help`` does not pay for TensorFlow or Amaranth.
COMMAND_MODULES = [
    "edgekws.golden.cli",
    "edgekws.tune.cli",
    "edgekws.tutorial.cli",
    "edgekws.data.cli",
    "edgekws.train.cli",
    "edgekws.host.cli",
    "edgekws.evaluate.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgekws",
        description="Keyword spotting with on-chip few-shot learning (Akida 1.0 semantics).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as given, for reports that cite the command that made them.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        # User errors (bad file, bad value) get one clear line, not a traceback.
        print(f"edgekws {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
