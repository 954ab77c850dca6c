"""Every generated Verilog top of the project, by module name, and the two things done
with them: write them, or check that a folder holds exactly what the gateware makes.

Each generator module (:data:`GENERATORS`) has a ``CONFIGS`` dict, one entry per Verilog
module, and a ``generate_verilog(name)`` returning its text (with a header naming the
generator). ``edgekws rtl generate|check`` (:mod:`.cli`) and ``make rtl`` drive them.
"""
from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["GENERATORS", "tops", "generate", "stale"]

#: The modules that generate committed Verilog: the FC learning core configurations,
#: the DS-CNN extractor configurations and the board top.
GENERATORS = ("edgekws.gateware.generate", "edgekws.gateware.conv.generate",
              "edgekws.gateware.top")


def tops() -> dict:
    """Module name -> generator module (imported lazily: they need Amaranth)."""
    found = {}
    for mod_name in GENERATORS:
        module = importlib.import_module(mod_name)
        for name in module.CONFIGS:
            found[name] = module
    return found


def _selected(names) -> dict:
    every = tops()
    names = list(every) if not names else list(names)
    unknown = [n for n in names if n not in every]
    if unknown:
        raise ValueError(f"no generated top named {', '.join(map(repr, unknown))}: "
                         f"expected one of {', '.join(every)}")
    return {n: every[n] for n in names}


def generate(names, directory, *, report=print) -> list:
    """Write ``<directory>/<name>.v`` for each of ``names`` (all tops when empty); return
    the paths written. ``report`` gets one line per file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, module in _selected(names).items():
        text = module.generate_verilog(name)
        path = directory / f"{name}.v"
        path.write_text(text)
        report(f"wrote {path} ({len(text.splitlines())} lines)")
        written.append(path)
    return written


def stale(names, directory, *, report=print) -> list:
    """The paths among ``<directory>/<name>.v`` (all tops when ``names`` is empty) that
    are missing or differ from freshly generated Verilog; ``report`` gets one line per
    file."""
    directory = Path(directory)
    out = []
    for name, module in _selected(names).items():
        path = directory / f"{name}.v"
        if not path.exists():
            report(f"missing {path}")
            out.append(path)
        elif path.read_text() != module.generate_verilog(name):
            report(f"stale   {path}")
            out.append(path)
        else:
            report(f"same    {path}")
    return out
