"""``edgekws rtl generate|check`` in the source checkout (the wheel's side is in
tests/test_wheel.py)."""
from pathlib import Path

import pytest

from edgekws.cli import main
from edgekws.gateware.tops import tops

REPO = Path(__file__).resolve().parent.parent


def test_every_committed_verilog_file_has_a_generator():
    assert sorted(tops()) == sorted(p.stem for p in (REPO / "rtl").glob("*.v"))


@pytest.mark.parametrize("name", sorted(tops()))
def test_committed_verilog_is_fresh(name, capsys):
    """The one freshness test of rtl/: if it fails, run 'edgekws rtl generate' and
    commit rtl/."""
    assert main(["rtl", "check", name]) == 0, capsys.readouterr()
    assert capsys.readouterr().out.splitlines()[-1].startswith("same    ")


def test_generate_writes_what_is_committed(tmp_path, capsys):
    assert main(["rtl", "generate", "fc_learning_core", "--out", str(tmp_path)]) == 0
    written = tmp_path / "fc_learning_core.v"
    assert capsys.readouterr().out.startswith(f"wrote {written} (")
    assert written.read_text() == (REPO / "rtl" / "fc_learning_core.v").read_text()


def test_check_compares_with_the_committed_copy(tmp_path, capsys):
    assert main(["rtl", "check", "fc_learning_core"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"comparing freshly generated Verilog with the committed rtl/ of the "
                   f"source checkout ({REPO / 'rtl'})",
                   f"same    {REPO / 'rtl' / 'fc_learning_core.v'}"]
    assert main(["rtl", "check", "fc_learning_core", "--dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"missing {tmp_path / 'fc_learning_core.v'}\n"
    assert "1 file(s) differ from the gateware" in captured.err


def test_unknown_top_is_named(capsys):
    assert main(["rtl", "check", "no_such_top"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgekws rtl: error: no generated top named 'no_such_top': "
                          "expected one of fc_learning_core, ")
