"""Verilator + cocotb simulation of the Wishbone wrapper (``sim/test_wishbone.py``).

The spikes-only wrapper's Verilog is written under ``build/wishbone/`` (the file the
Verilator lint of ``test_gateware_wishbone.py`` checks), built once (cached) and
driven by a Wishbone B4 classic master, without and with idle cycles between
accesses. The learning session's replies must be the golden-backed emulator's, byte
for byte, with RESULT and STATUS as ``docs/wishbone.md`` says.
"""
import json
from pathlib import Path

import pytest

from edgekws.host.emulator import Emulator
from edgekws.verilator.runner import build_and_test
from wishbone_cases import (CLK_HZ, TOPLEVEL, check_learning_session, check_replies,
                            emulator_reply, learning_session, write_wishbone_verilog)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def verilog():
    return write_wishbone_verilog()[0]


def run(verilog, testcase, idle, **env):
    build_and_test(toplevel=TOPLEVEL, verilog_sources=[verilog],
                   test_module="test_wishbone", test_dirs=[REPO / "sim"],
                   testcase=testcase,
                   extra_env={"EDGEKWS_WB_IDLE": str(idle), **env})


@pytest.mark.parametrize("idle", [0.0, 0.5])
def test_registers_and_length_error(verilog, idle):
    run(verilog, "registers", idle)


@pytest.mark.parametrize("idle", [0.0, 0.5])
def test_learning_session_matches_emulator(verilog, idle, tmp_path):
    requests = learning_session()
    session, out = tmp_path / "session.json", tmp_path / "replies.json"
    session.write_text(json.dumps({"requests": [r.hex() for r in requests]}))
    run(verilog, "session", idle, EDGEKWS_WB_SESSION=str(session),
        EDGEKWS_WB_OUT=str(out))
    got = [(bytes.fromhex(rep), result, status)
           for rep, result, status in json.loads(out.read_text())]
    emu = Emulator(extractor=False, clock_hz=CLK_HZ)
    check_replies(requests, [emulator_reply(emu, r) for r in requests], got)
    check_learning_session([g[0] for g in got])
