"""ECP5 synthesis of the DS-CNN extractor: a thin entry to the project's one flow,
``fpga/build.py`` (its ``ext`` command; the harness is ``fpga/harness.py``).

    python -m edgekws.gateware.conv.synth [--lanes 32] [--tag T] ...
    # same as: python fpga/build.py ext [...]

Results go to ``build/synth/<config>_l<L>_a<A>[_T]/summary.json``, which
:func:`edgekws.gateware.conv.bench.measure` reads. Needs a source checkout (fpga/).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["synthesise", "main", "SYNTH_DIR", "FPGA_DIR"]

#: The repository's fpga/ folder (the flow lives there, next to the board builds).
FPGA_DIR = Path(__file__).resolve().parents[4] / "fpga"
SYNTH_DIR = FPGA_DIR.parent / "build" / "synth"


def _flow():
    """fpga/build.py as a module (fpga/ is a folder of scripts, not a package)."""
    if str(FPGA_DIR) not in sys.path:
        sys.path.insert(0, str(FPGA_DIR))
    spec = importlib.util.spec_from_file_location("edgekws_fpga_build", FPGA_DIR / "build.py")
    if spec is None:
        raise FileNotFoundError(f"the FPGA flow needs a source checkout: {FPGA_DIR} missing")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def synthesise(config: str = "dscnn_kws", **kw) -> dict:
    """Synthesise, place and route ``config`` (see ``fpga/build.py``'s
    ``synth_extractor``); return the summary dict."""
    return _flow().synth_extractor(config, **kw)


def main(argv=None) -> int:
    return _flow().main(["ext", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
