"""Where the package finds the files it does not hold as Python modules, and where it
writes what it builds, in a source checkout and in an installed wheel alike.

A *source checkout* is the git tree this package was imported from (``python/edgekws``
beside ``pyproject.toml``, ``rtl/`` and ``sim/``). There the committed Verilog is
``rtl/``, the cocotb testbenches are ``sim/`` and builds go to ``build/``. An installed
wheel has no such tree: it carries a copy of ``rtl/*.v`` as package data
(``edgekws/rtl/``) and builds go to the user's cache folder.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PACKAGE_DIR", "source_tree", "build_dir", "rtl_dir", "shipped_rtl_dir",
           "testbench_dir"]

#: The folder of the imported ``edgekws`` package.
PACKAGE_DIR = Path(__file__).resolve().parent


def source_tree() -> Path | None:
    """The root of the source checkout the package runs from, or None (an install)."""
    root = PACKAGE_DIR.parents[1]
    if PACKAGE_DIR.parent.name == "python" and all(
            (root / name).exists() for name in ("pyproject.toml", "rtl", "sim")):
        return root
    return None


def build_dir() -> Path:
    """Where builds and caches go: ``$EDGEKWS_BUILD_DIR`` if set, else ``build/`` of the
    source checkout, else ``edgekws/`` in the user's cache folder (``$XDG_CACHE_HOME``,
    by default ``~/.cache``)."""
    if os.environ.get("EDGEKWS_BUILD_DIR"):
        return Path(os.environ["EDGEKWS_BUILD_DIR"])
    root = source_tree()
    if root is not None:
        return root / "build"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "edgekws"


def shipped_rtl_dir() -> Path:
    """The copy of ``rtl/*.v`` a wheel carries as package data (absent in a checkout)."""
    return PACKAGE_DIR / "rtl"


def rtl_dir() -> Path:
    """The committed Verilog: ``rtl/`` of the source checkout, else the wheel's copy."""
    root = source_tree()
    return root / "rtl" if root is not None else shipped_rtl_dir()


def testbench_dir() -> Path:
    """``sim/`` of the source checkout: one file per hardware block with its cocotb
    testbench and the pytest tests that run it (``edgekws sim``; the benchmarks run
    some of its cocotb tests), and the stream source and sink they share.

    Raises
    ------
    FileNotFoundError
        When the package is installed, not run from a checkout: the testbenches are
        test code and are not part of the wheel.
    """
    root = source_tree()
    if root is None:
        raise FileNotFoundError(
            f"the cocotb testbenches ship with the source tree (sim/ of an edgekws "
            f"checkout), not with the installed package in {PACKAGE_DIR}: run this "
            f"from a clone of the repository")
    return root / "sim"
