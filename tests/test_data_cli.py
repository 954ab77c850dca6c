"""The ``edgekws data`` command group."""
import json

import numpy as np
import pytest

from edgekws.data import espeak
from edgekws.cli import build_parser
from edgekws.data.fake import make_fake_speech_commands
from edgekws.data.wavio import write_wav


def run(argv):
    # Through the main parser, which adds the shared -v/-q options to every command.
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_registered_in_the_main_cli():
    from edgekws import cli

    assert "edgekws.data.cli" in cli.COMMAND_MODULES


def test_info(tmp_path, capsys):
    make_fake_speech_commands(tmp_path, words=("up", "down"), speakers=3, per_speaker=1)
    assert run(["data", "info", "--root", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["word_to_index"] == {"_silence_": 0, "down": 1, "up": 2}
    assert out["train"]["samples"] == 2 and out["val"]["speakers"] == 1
    assert out["noise_files"] == ["hum.wav", "white_noise.wav"]


def test_info_summary(tmp_path, capsys):
    """Without --json: one line per split and the word list, not the whole JSON."""
    make_fake_speech_commands(tmp_path, words=("up", "down"), speakers=6, per_speaker=2)
    assert run(["data", "info", "--root", str(tmp_path), "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert run(["data", "info", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path}: 2 words, 2 noise files"
    assert lines[-2] == "  words: down up"
    for split in ("train", "val", "test"):
        line = next(line for line in lines if line.split()[0] == split)
        samples, speakers = full[split]["samples"], full[split]["speakers"]
        assert line.split()[1:4] == [str(samples), "clips,", str(speakers)]
        assert line.endswith(f", {samples // 2} per word")     # two words, equal counts
    assert len(lines) == 6 and "{" not in out


def test_features_build_then_cached(tmp_path, capsys):
    root = tmp_path / "sc"
    make_fake_speech_commands(root, words=("up", "down"), speakers=3, per_speaker=2)
    argv = ["data", "features", "--root", str(root), "--cache", str(tmp_path / "cache"),
            "--quiet", "--workers", "1"]
    assert run(argv) == 0
    first = capsys.readouterr().out
    assert "train: x (4, 49, 10)" in first and "(built)" in first
    assert run(argv) == 0
    second = capsys.readouterr().out
    assert "(built)" not in second and second.count("(cached)") == 3
    npz = sorted((tmp_path / "cache").glob("train-*.npz"))
    assert len(npz) == 1 and np.load(npz[0])["x"].shape == (4, 49, 10)


def test_features_fsdd(tmp_path, capsys):
    rec = tmp_path / "recordings"
    rec.mkdir()
    for i in range(3):
        write_wav(rec / f"{i}_zed_0.wav", np.full(800, 0.1 * (i + 1), np.float32), 8000)
    assert run(["data", "features", "--fsdd", str(rec), "--cache", str(tmp_path / "c"),
                "--quiet", "--workers", "1"]) == 0
    assert "fsdd: x (3, 49, 10) y (3,)" in capsys.readouterr().out


def test_bad_arguments_name_the_value(capsys):
    with pytest.raises(SystemExit):
        run(["data", "synth", "--out", "x", "--speakers", "0"])
    assert "expected a positive integer, not '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["data", "synth", "--out", "x", "--augmented-copies", "many"])
    assert "expected an integer >= 0, not 'many'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="word must be lower-case letters, not 'Up'"):
        run(["data", "synth", "--out", "x", "--words", "Up"])


@pytest.mark.skipif(not espeak.available(), reason="espeakng-loader is not installed")
def test_synth_small(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert run(["data", "synth", "--out", str(out), "--words", "yes", "no", "--speakers", "3",
                "--noise-seconds", "1", "--variants", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("wrote 12 files (6 utterances x 2 copies) of 2 words by 3 speakers")
    assert len(list((out / "yes").glob("*.wav"))) == 6
    with pytest.raises(ValueError, match="already holds a corpus"):
        run(["data", "synth", "--out", str(out), "--words", "yes", "--speakers", "1",
             "--quiet"])


@pytest.mark.skipif(not espeak.available(), reason="espeakng-loader is not installed")
def test_synth_extra_words_adds_the_extra_vocabulary(tmp_path, capsys):
    from edgekws.data.synth import EXTRA_WORDS, WORDS
    assert len(EXTRA_WORDS) == len(set(EXTRA_WORDS)) == 46
    assert not set(EXTRA_WORDS) & set(WORDS)  # no Speech Commands word among them
    out = tmp_path / "corpus"
    assert run(["data", "synth", "--out", str(out), "--words", "yes", "apple", "--extra-words",
                "--speakers", "1", "--augmented-copies", "0", "--noise-seconds", "1",
                "--variants", "1", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("wrote 47 files (47 utterances x 1 copies) of 47 words by 1 speakers")
    assert (out / "yes").is_dir() and (out / "tiger").is_dir()
