"""``edgekws sim`` (:mod:`edgekws.verilator.cli`): the pytest run it makes of the
testbenches in ``sim/``, its errors, and one real run of a test that needs no simulator."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgekws import cli, locations
from edgekws.verilator.cli import blocks, pytest_command, sim_environ

REPO = Path(__file__).resolve().parent.parent
SIM = REPO / "sim"


def test_blocks_are_the_files_of_sim():
    found = blocks(SIM)
    assert {"fc_core", "conv_extractor", "wishbone"} <= set(found)
    assert found == sorted(p.stem[5:] for p in SIM.glob("test_*.py"))


def cocotb_tests(path: Path) -> set:
    """The names of the ``@cocotb.test()`` coroutines of ``path``."""
    return {f.name for f in ast.walk(ast.parse(path.read_text()))
            if isinstance(f, ast.AsyncFunctionDef)
            and any(ast.unparse(d).startswith("cocotb.test") for d in f.decorator_list)}


def test_pytest_collects_the_pytest_tests_of_sim_and_no_cocotb_test():
    """The cocotb tests share their files with the pytest tests that run them: pytest
    must not take them for its own (they have no ``test_`` prefix)."""
    cocotb_names = set().union(*map(cocotb_tests, SIM.glob("test_*.py")))
    assert {"readback", "learning", "extractor", "session", "random_pauses"} <= cocotb_names
    # `make test` collects sim/ too (tomllib would need Python 3.11).
    assert re.search(r'^testpaths = \[.*"sim".*\]$', (REPO / "pyproject.toml").read_text(),
                     re.M)
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", "-m", "slow or not slow", "sim"], cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=str(REPO / "python")),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    nodes = [line for line in res.stdout.splitlines() if line.startswith("sim/")]
    names = {n.split("::")[1].split("[")[0] for n in nodes}
    assert {f"sim/test_{b}.py" for b in blocks(SIM)} == {n.split("::")[0] for n in nodes}
    assert "test_learning_f64_add_classes" in names and not names & cocotb_names
    assert all(name.startswith("test_") for name in names)


def test_parser_defaults():
    args = cli.build_parser().parse_args(["sim"])
    assert (args.blocks, args.full, args.waves, args.select, args.jobs) == \
        ([], False, False, None, 2)
    args = cli.build_parser().parse_args(["sim", "fc_core", "wishbone", "--full", "-j1",
                                          "-k", "readback"])
    assert (args.blocks, args.full, args.select, args.jobs) == \
        (["fc_core", "wishbone"], True, "readback", 1)


def test_pytest_command():
    head = [sys.executable, "-m", "pytest"]
    every = [str(SIM / f"test_{b}.py") for b in blocks(SIM)]
    assert pytest_command(SIM) == head + every + ["-n", "2", "-q"]
    assert pytest_command(SIM, ["wishbone", "fc_core"], full=True, select="a or b",
                          jobs=1, verbose=1) == \
        head + [str(SIM / "test_wishbone.py"), str(SIM / "test_fc_core.py"),
                "-m", "slow", "-k", "a or b", "-p", "no:xdist", "-v", "-s"]
    assert pytest_command(SIM, ["fc_core"], quiet=True)[-3:] == ["-n", "2", "-qq"]


def test_without_xdist_the_run_is_serial(monkeypatch):
    monkeypatch.setitem(sys.modules, "xdist", None)     # what import sees when absent
    assert pytest_command(SIM, jobs=2)[-3:] == ["-p", "no:xdist", "-q"]


def test_environment(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.delenv("EDGEKWS_WAVES", raising=False)
    env = sim_environ(False)
    assert env["PYTHONPATH"] == os.pathsep.join([str(REPO / "python"), "/elsewhere"])
    assert "EDGEKWS_WAVES" not in env
    assert sim_environ(True)["EDGEKWS_WAVES"] == "1"


def test_unknown_block_is_named(capsys):
    assert cli.main(["sim", "fc_core", "fc"]) == 2
    assert capsys.readouterr().err == ("edgekws sim: error: block must be one of "
                                       f"{', '.join(blocks(SIM))}, not 'fc'\n")


def test_outside_a_checkout_it_says_the_testbenches_ship_with_the_source(monkeypatch,
                                                                           capsys):
    monkeypatch.setattr(locations, "source_tree", lambda: None)
    assert cli.main(["sim"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgekws sim: error: the cocotb testbenches ship with the "
                          "source tree (sim/ of an edgekws checkout), not with the "
                          "installed package in ")
    assert err.endswith(": run this from a clone of the repository\n")


def run_sim(*argv):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    return subprocess.run([sys.executable, "-m", "edgekws", "sim", *argv], cwd="/",
                          env=env, capture_output=True, text=True, timeout=600)


def test_a_real_run_and_its_status():
    """From any folder: the pytest test of the extractor's bench that reads the frames
    (no simulator); pytest's failure status when nothing matches."""
    res = run_sim("conv_extractor", "-k", "given_frames", "--jobs", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout
    res = run_sim("conv_extractor", "-k", "no_such_test", "--jobs", "1")
    assert res.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, res.stdout + res.stderr
