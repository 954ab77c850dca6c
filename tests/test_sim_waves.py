"""Waveforms: ``make sim WAVES=1`` (``EDGEKWS_WAVES=1``) for the cocotb testbenches and
``edgekws board simulate --waves`` for the simulated board write VCD files under
``build/``."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgekws.cli import build_parser
from edgekws.host import cli as host_cli
from edgekws.locations import build_dir
from edgekws.verilator import runner

REPO = Path(__file__).resolve().parent.parent


def check_vcd(path: Path, signal: str) -> None:
    """A VCD with its header, ``signal`` among its variables and time steps after 0."""
    assert path.exists() and path.stat().st_size > 0, path
    text = path.read_text(errors="replace")
    assert "$enddefinitions" in text
    assert re.search(rf"\$var \w+ +\d+ \S+ {re.escape(signal)}[ \[]", text), signal
    times = [int(t) for t in re.findall(r"^#(\d+)$", text, re.M)]
    assert len(times) > 10 and times == sorted(times) and times[-1] > 0


@pytest.mark.parametrize("value, wanted", [("", False), ("0", False), ("1", True),
                                           ("yes", True)])
def test_waves_requested_by_the_environment(monkeypatch, value, wanted):
    monkeypatch.setenv("EDGEKWS_WAVES", value)
    assert runner.waves_requested() is wanted


def test_waves_file_names():
    assert runner.waves_file("test_fc_core") == build_dir() / "waves/test_fc_core.vcd"
    assert runner.waves_file("test_fc_core", "inference").name == "test_fc_core-inference.vcd"
    assert runner.waves_file("m", ["a", "b"]).name == "m-a-b.vcd"


def test_cocotb_run_with_waves_writes_a_vcd(monkeypatch):
    """A short cocotb test of the learning core with EDGEKWS_WAVES=1 (as `make sim
    WAVES=1` sets it) leaves a VCD of its ports in build/waves/."""
    monkeypatch.setenv("EDGEKWS_WAVES", "1")
    vcd = runner.waves_file("test_fc_core", "label_out_of_range")
    vcd.unlink(missing_ok=True)
    runner.build_and_test("fc_learning_core", [REPO / "rtl" / "fc_learning_core.v"],
                          "test_fc_core", testcase="label_out_of_range",
                          test_dirs=[REPO / "sim"], extra_env={"EDGEKWS_FC_CONFIG": "fc_learning_core"})
    check_vcd(vcd, "cmd__valid")


def test_board_simulate_waves_option():
    parser = build_parser()
    assert parser.parse_args(["board", "simulate"]).waves is None
    assert parser.parse_args(["board", "simulate", "--waves"]).waves == \
        host_cli.WAVES_DEFAULT == "build/waves/board.vcd"
    assert parser.parse_args(["board", "simulate", "--waves", "x.vcd"]).waves == "x.vcd"


@pytest.mark.slow
def test_simulated_board_with_waves_writes_a_vcd(tmp_path):
    """IDENTIFY on the simulated board built with --trace: the VCD has the UART pins."""
    from edgekws.host.board import Board
    from edgekws.host.simboard import serve_simulated
    vcd = tmp_path / "waves" / "board.vcd"
    with serve_simulated(waves=vcd) as sim:
        with Board(sim.url, timeout=60.0) as board:
            assert board.info.num_inputs == 64
    check_vcd(vcd, "uart_rx")
