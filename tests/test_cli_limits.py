"""Odd command-line values are refused with one clear line naming the value."""
from __future__ import annotations

import numpy as np
import pytest

from edgekws.cli import main


@pytest.mark.parametrize("argv, message", [
    (["board", "emulate", "--tcp", "-1"], "argument --tcp: expected an integer from 0 to 65535, not '-1'"),
    (["board", "emulate", "--tcp", "70000"], "expected an integer from 0 to 65535, not '70000'"),
    (["board", "emulate", "--max-neurons", "0"], "argument --max-neurons: expected an integer from 1 to 65535, not '0'"),
    (["board", "simulate", "--port", "65536"], "argument --port: expected an integer from 0 to 65535"),
    (["board", "identify", "--port", "x", "--timeout", "inf"],
     r"argument --timeout: expected a finite number of seconds in (0, 3600], not 'inf'"),
    (["board", "identify", "--port", "x", "--timeout", "nan"], "not 'nan'"),
    (["board", "identify", "--port", "x", "--timeout", "0"], "not '0'"),
    (["board", "identify", "--port", "x", "--retries", "-1"],
     "argument --retries: expected an integer from 0 to 100, not '-1'"),
    (["board", "enrol", "--port", "x", "--word", "hi", "--copies", "100000", "a.wav"],
     "argument --copies: expected an integer from 1 to 1000, not '100000'"),
    (["board", "enrol", "--port", "x", "--word", "", "a.wav"],
     "argument --word: expected a word of 1 to 64 printable characters without surrounding "
     "spaces, not ''"),
    (["board", "enrol", "--port", "x", "--word", " hi", "a.wav"], "not ' hi'"),
    (["board", "enrol", "--port", "x", "--word", "a\nb", "a.wav"], r"not 'a\nb'"),
    (["board", "load", "--port", "x", "--num-weights", "0"],
     "argument --num-weights: expected a positive integer, not '0'"),
    (["board", "load", "--port", "x", "--first-word", ""], "argument --first-word: expected a word"),
    (["tune", "neurons-per-class", "--spikes", "s.npy", "--num-weights", "0"],
     "argument --num-weights: expected a positive integer, not '0'"),
    (["tune", "neurons-per-class", "--spikes", "s.npy", "--repetitions", "0"],
     "argument --repetitions: expected a positive integer, not '0'"),
])
def test_bad_values_are_refused_by_the_parser(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_a_0d_array_to_tune_is_refused(tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.array(5))
    assert main(["tune", "num-weights", "--spikes", str(tmp_path / "s.npy")]) == 2
    assert (f"{str(tmp_path / 's.npy')!r} holds a single value (a 0-d array); expected one "
            "row per sample") in capsys.readouterr().err


def test_a_fifo_to_tune_is_refused(tmp_path, capsys):
    import os
    os.mkfifo(tmp_path / "s.npy")
    assert main(["tune", "num-weights", "--spikes", str(tmp_path / "s.npy")]) == 2
    assert "array file must be a regular file, not a FIFO" in capsys.readouterr().err


def test_npz_still_loads(tmp_path, capsys):
    x = (np.random.default_rng(0).random((50, 64)) < 0.3).astype(np.uint8)
    np.savez(tmp_path / "s.npz", x=x)
    assert main(["tune", "num-weights", "--spikes", str(tmp_path / "s.npz"), "--fraction",
                 "1"]) == 0
    assert "suggested num_weights" in capsys.readouterr().out
