"""``edgekws bench`` (``make bench``): its help, the arguments it refuses before any suite
runs, the report of a run (a broken suite reported, the exit code 1), one real quick
suite, and ``python -m edgekws.bench`` as an alias of the same command."""
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from edgekws import cli
from edgekws.bench import SUITES, Row
from edgekws.bench import cli as bench_cli

PYTHON_DIR = Path(cli.__file__).resolve().parents[1]


def test_help_lists_the_suites(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: edgekws bench [-h] [--out FILE] [--quick] [--only NAME]" in text
    assert ("suites: mfcc, listen, golden, fc_core, extractor, board_latency; default: all"
            in text)
    # (argparse may wrap the help after the hyphen of "benchmarks-partial")
    assert ("default docs/benchmarks.md for a full run, build/benchmarks-partial.md with "
            "--quick or --only" in text.replace("benchmarks- partial", "benchmarks-partial"))


def test_suites_named():
    assert bench_cli.suites_named(None) == SUITES
    assert bench_cli.suites_named("fc_core") == ["edgekws.bench.fc_core"]
    with pytest.raises(ValueError, match=r"^--only 'nope' matches no suite; the suites are "
                       r"mfcc, listen, golden, fc_core, extractor, board_latency$"):
        bench_cli.suites_named("nope")


def test_unknown_suite_is_refused_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_cli, "_run_suite", lambda *a: pytest.fail("a suite ran"))
    out = tmp_path / "b.md"
    assert cli.main(["bench", "--only", "nope", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "edgekws bench: error: --only 'nope' matches no suite; the suites are mfcc, "
        "listen, golden, fc_core, extractor, board_latency\n")
    assert not out.exists()


def test_a_folder_as_out_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert (f"argument --out: expected a file name, not {str(tmp_path)!r} (a folder)"
            in capsys.readouterr().err)


def _suite(name, title, run):
    mod = types.ModuleType(name)
    mod.TITLE, mod.run = title, run
    return mod


def test_report_of_a_run_with_a_broken_suite(tmp_path, monkeypatch, capsys):
    """The runner itself, on two suites made here: the rows of the one that works in
    its table, the error of the other as 'Not measured', and the exit code 1."""
    def broken(quick):
        raise RuntimeError("no simulator")

    calls = []

    def works(quick):
        calls.append(quick)
        return [Row("speed", "2.0 / 2.1 / 2.2", "1.0", "2.10x", "edgekws bench --only ok",
                    "median of 5")]

    monkeypatch.setitem(sys.modules, "fake_suite_ok", _suite("fake_suite_ok", "Works", works))
    monkeypatch.setitem(sys.modules, "fake_suite_bad",
                        _suite("fake_suite_bad", "Broken", broken))
    monkeypatch.setattr(bench_cli, "SUITES", ["fake_suite_ok", "fake_suite_bad"])
    out = tmp_path / "new folder" / "bench.md"
    assert cli.main(["bench", "--quick", "--out", str(out)]) == 1
    assert calls == [True]
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nWritten by `make bench` (`edgekws bench --out "
                           "docs/benchmarks.md`)")
    assert ("## Works\n\n| what | value | reference | ratio | command | note |\n"
            "|---|---|---|---|---|---|\n| speed | 2.0 / 2.1 / 2.2 | 1.0 | 2.10x | "
            "`edgekws bench --only ok` | median of 5 |\n") in text
    assert "## Broken\n\nNot measured: RuntimeError: no simulator\n" in text
    got = capsys.readouterr()
    assert "== Works" in got.out and f"wrote {out}" in got.out
    assert "failed: RuntimeError: no simulator" in got.err

    monkeypatch.setattr(bench_cli, "SUITES", ["fake_suite_ok"])
    assert cli.main(["bench", "-q", "--out", str(out)]) == 0
    assert calls == [True, False]
    assert capsys.readouterr().out == f"wrote {out}\n"     # -q: no progress lines


def test_a_partial_run_never_replaces_the_full_report(tmp_path, monkeypatch, capsys):
    def works(quick):
        return [Row("speed", "1", "1", "1.00x", "edgekws bench", "")]

    monkeypatch.setitem(sys.modules, "fake_suite_ok", _suite("fake_suite_ok", "Works", works))
    monkeypatch.setattr(bench_cli, "SUITES", ["fake_suite_ok"])
    monkeypatch.chdir(tmp_path)
    for argv in (["--quick"], ["--only", "ok"]):
        assert cli.main(["bench", "-q", *argv]) == 0
        assert capsys.readouterr().out == "wrote build/benchmarks-partial.md\n"
        assert not (tmp_path / "docs").exists()
    assert cli.main(["bench", "-q"]) == 0
    assert capsys.readouterr().out == "wrote docs/benchmarks.md\n"
    assert "## Works" in (tmp_path / "docs" / "benchmarks.md").read_text()


def test_quick_listen_suite(tmp_path):
    """A real suite (the host side of board listen, a few seconds with --quick)."""
    out = tmp_path / "bench.md"
    assert cli.main(["bench", "--quick", "--only", "listen", "-q", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## board listen, host side" in text and "Not measured" not in text
    assert "`edgekws bench --only listen`" in text
    assert "uint8 frames bit-identical to the per-window path: yes" in text


def test_python_m_edgekws_bench_is_the_same_command(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    res = subprocess.run([sys.executable, "-m", "edgekws.bench", "--only", "nope", "--out",
                          str(tmp_path / "b.md")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith("edgekws bench: error: --only 'nope' matches no suite")
