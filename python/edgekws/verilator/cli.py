"""``edgekws sim``: the cocotb testbenches of the hardware blocks, on Verilator.

Each block has one file in ``sim/`` of the source checkout, ``sim/test_<block>.py``: its
testbench, its cocotb tests and the pytest tests that build the Verilog and run them
(compared with the golden model). This command runs pytest on those files, so it needs
a source checkout: the testbenches are test code and do not ship with the installed
package. It exits with pytest's status.

Examples::

    edgekws sim                          # every block, the default runs
    edgekws sim fc_core --waves          # VCDs in build/waves/
    edgekws sim conv_extractor --full    # the long runs only
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_cli", "blocks", "pytest_command", "sim_environ"]


def add_cli(sub) -> None:
    from edgekws.cliargs import positive_int
    p = sub.add_parser("sim", help="run the cocotb testbenches of the hardware blocks on "
                       "Verilator (in a source checkout)", description=__doc__)
    p.add_argument("blocks", nargs="*", metavar="BLOCK",
                   help="blocks to simulate, the <block> of sim/test_<block>.py "
                   "(fc_core, conv_extractor, wishbone, ...; default: all)")
    p.add_argument("--full", action="store_true",
                   help="the long runs (the tests marked slow: tens of minutes) instead "
                   "of the default ones")
    p.add_argument("--waves", action="store_true",
                   help="write a VCD of each simulation to build/waves/<test module>-"
                   "<cocotb test>.vcd (a separate, traced build)")
    p.add_argument("-k", dest="select", metavar="EXPR", default=None,
                   help="only the tests whose names match EXPR (pytest's -k)")
    p.add_argument("-j", "--jobs", type=positive_int, default=2,
                   help="simulations at once (pytest-xdist workers; 1: in one process, "
                   "with the tests' printed results shown by -v)")
    p.set_defaults(func=_sim)


def blocks(tb_dir: Path) -> list[str]:
    """The blocks with a testbench in ``tb_dir``: ``<block>`` of each
    ``test_<block>.py``."""
    return sorted(p.stem[len("test_"):] for p in Path(tb_dir).glob("test_*.py"))


def pytest_command(tb_dir: Path, names=(), *, full: bool = False, select: str | None = None,
                   jobs: int = 2, verbose: int = 0, quiet: bool = False) -> list[str]:
    """The pytest command line that runs the testbenches of ``names`` (all when empty)
    in ``tb_dir``.

    Raises
    ------
    ValueError
        For a name that is not a block of ``tb_dir``.
    """
    known = blocks(tb_dir)
    for name in names:
        if name not in known:
            raise ValueError(f"block must be one of {', '.join(known)}, not {name!r}")
    files = [str(Path(tb_dir) / f"test_{name}.py") for name in (names or known)]
    cmd = [sys.executable, "-m", "pytest", *files]
    if full:
        cmd += ["-m", "slow"]          # after pyproject's -m 'not slow', so it wins
    if select is not None:
        cmd += ["-k", select]
    from edgekws.extras import available
    if jobs > 1 and available("xdist"):
        cmd += ["-n", str(jobs)]
    else:
        cmd += ["-p", "no:xdist"]
    cmd += ["-qq"] if quiet else ["-v", "-s"] if verbose else ["-q"]
    return cmd


def sim_environ(waves: bool) -> dict[str, str]:
    """The environment of the pytest run: this process's, with this package first on
    ``PYTHONPATH`` (the checkout's code is what gets tested) and ``EDGEKWS_WAVES=1``
    when ``waves`` (:func:`edgekws.verilator.runner.waves_requested`)."""
    from edgekws.locations import PACKAGE_DIR
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_DIR.parent)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if waves:
        env["EDGEKWS_WAVES"] = "1"
    return env


def _sim(args) -> int:
    from edgekws.extras import require
    from edgekws.locations import testbench_dir
    tb_dir = testbench_dir()          # FileNotFoundError outside a checkout: says so
    cmd = pytest_command(tb_dir, args.blocks, full=args.full, select=args.select,
                         jobs=args.jobs, verbose=args.verbose, quiet=args.quiet)
    for module, name in (("pytest", "pytest"), ("cocotb", "cocotb"),
                         ("verilator", "Verilator")):
        require(module, "sim", "edgekws sim", name)
    return subprocess.run(cmd, cwd=tb_dir.parent, env=sim_environ(args.waves)).returncode
