"""The Verilator/cocotb helper :mod:`edgekws.verilator.runner` (no simulator needed)."""
import os
from pathlib import Path

from edgekws.verilator.runner import _public_ports_vlt, _top_ports, toolchain_env

REPO = Path(__file__).resolve().parent.parent


def test_toolchain_env_puts_the_wheel_on_path():
    env = toolchain_env()
    first = env["PATH"].split(os.pathsep)[0]
    assert (Path(first) / "verilator").exists()
    assert env["MAKEFLAGS"] == "CFG_CXXFLAGS_PCH_I=-include"


def test_top_ports(tmp_path):
    v = tmp_path / "a.v"
    v.write_text("module other(x);\nendmodule\n"
                 "module top(clk, \\in$1 , out);\n  input clk;\nendmodule\n"
                 "module ansi #(parameter W = 2) (input wire [W-1:0] a, output reg b);\n"
                 "endmodule\n")
    assert _top_ports("top", [v]) == ["clk", "in$1", "out"]
    assert _top_ports("ansi", [v]) == ["a", "b"]
    vlt = _public_ports_vlt("top", [v], tmp_path / "b").read_text()
    assert vlt.startswith("`verilator_config")
    assert 'public_flat_rw -module "top" -var "out"' in vlt


def test_top_ports_of_the_committed_core():
    ports = _top_ports("fc_learning_core", [REPO / "rtl" / "fc_learning_core.v"])
    assert {"clk", "rst", "cmd__valid", "cmd__ready", "cmd__payload", "rsp__valid",
            "rsp__ready", "rsp__payload"} == set(ports)
