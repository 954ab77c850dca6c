"""edgekws eval: 12-class scoring by speaker fold, scores and rejection, stream trade-off."""
import dataclasses
import json
import types

import numpy as np
import pytest

from edgekws.cli import main
from edgekws.data.mfcc import mfcc
from edgekws.data.mix import fold_of
from edgekws.data.wavio import write_wav
from edgekws.data.augment import time_shift
from edgekws.data.shifts import (DEFAULT_SHIFTS, DEFAULT_SPEEDS, check_shifts, check_speeds,
                                 shifted_windows, speed_changed, window_shifts)
from edgekws.evaluate.real import (TWELVE, RealClips, Scores, choose_unknown_offset,
                                   score_model, speech_commands_clips, twelve_class_of)
from edgekws.evaluate.report import speech_commands_report
from edgekws.evaluate.stream import (Scanned, build_stream, choose, frontier, sweep,
                                     sweep_average)
from edgekws.host.listen import (class_potentials, score_classes, score_potentials,
                                 score_windows)
from edgekws.models import load_pretrained, shipped_model_path

RATE = 16000
HASHES = ["0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60", "4e5f6071"]


@pytest.fixture
def layout(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "sc"
    for d in ("yes", "go", "_unknown_", "_silence_"):
        (root / d).mkdir(parents=True)
    t = np.arange(RATE) / RATE
    for h in HASHES:
        for word, f0 in (("yes", 300), ("go", 600)):
            x = 0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(RATE)
            write_wav(root / word / f"{h}_nohash_0.wav", x.astype(np.float32))
    write_wav(root / "_unknown_" / f"bed_{HASHES[0]}_nohash_2.wav",
              (0.2 * rng.standard_normal(RATE)).astype(np.float32))
    for i in range(3):
        write_wav(root / "_silence_" / f"{i}.wav",
                  (0.001 * rng.standard_normal(RATE)).astype(np.float32))
    return root


def test_twelve_classes():
    assert TWELVE[-2:] == ("_silence_", "_unknown_") and len(TWELVE) == 12
    assert [twelve_class_of(w) for w in ("go", "_silence_", "bed", "six")] == \
        ["go", "_silence_", "_unknown_", "_unknown_"]


def test_clips_by_fold(layout):
    all_clips = speech_commands_clips(layout)
    assert len(all_clips) == 2 * len(HASHES) + 1 + 3
    assert "bed" in all_clips.words                  # an unknown clip keeps its word
    fold = fold_of(HASHES[0])
    some = speech_commands_clips(layout, folds=[fold])
    assert set(sp for sp, w in zip(some.speakers, some.words) if w != "_silence_") == \
        {h for h in HASHES if fold_of(h) == fold}
    assert some.waves.shape == (len(some), RATE)
    with pytest.raises(ValueError, match=r"folds must be fold numbers in 0\.\.4, not \[5\]"):
        speech_commands_clips(layout, folds=[5])
    with pytest.raises(ValueError, match="does not exist"):
        speech_commands_clips(layout / "nope")


def test_score_model_is_the_golden_model(layout):
    clips = speech_commands_clips(layout)
    s = score_model(shipped_model_path(), clips)
    model = load_pretrained()
    from edgekws.data.mfcc import MfccScaling
    scaling = MfccScaling.from_dict(model.extra["mfcc_scaling"])
    x = scaling.to_uint8(mfcc(clips.waves))[..., None]
    expect = np.asarray(model.predict(x)).reshape(len(x), -1)
    np.testing.assert_array_equal(s.scores, expect)
    assert s.predicted == [model.extra["words"][i] for i in expect.argmax(1)]
    rep = speech_commands_report(s)
    truth, pred = s.twelve()
    assert rep["twelve_class_accuracy"] == pytest.approx(np.mean(np.array(truth) == pred))
    assert np.sum(rep["confusion"]) == len(clips)
    assert rep["per_class"]["yes"]["clips"] == len(HASHES)


def test_shifted_windows_average_the_scores(layout):
    clips = speech_commands_clips(layout)
    path = shipped_model_path()
    plain = score_model(path, clips)
    assert np.array_equal(score_model(path, clips, shifts=[0]).scores, plain.scores)
    both = score_model(path, clips, shifts=(-0.05, 0.1))
    moved = []
    for shift in (-800, 1600):
        shifted = dataclasses.replace(clips, waves=time_shift(clips.waves, shift))
        moved.append(score_model(path, shifted).scores)
    np.testing.assert_allclose(both.scores, (moved[0] + moved[1]) / 2, rtol=0, atol=1e-12)
    assert not np.array_equal(both.scores, plain.scores)
    assert both.predicted == [both.model_words[i] for i in both.scores.argmax(1)]


def test_speeds_average_the_scores_of_each_speed_and_shift(layout):
    clips = speech_commands_clips(layout)
    path = shipped_model_path()
    plain = score_model(path, clips)
    assert np.array_equal(score_model(path, clips, speeds=[1]).scores, plain.scores)
    both = score_model(path, clips, shifts=(0.0, 0.05), speeds=(0.92, 1.08))
    each = []
    for speed in (0.92, 1.08):
        played = speed_changed(clips.waves, speed)
        for shift in (0, 800):
            moved = dataclasses.replace(clips, waves=time_shift(played, shift))
            each.append(score_model(path, moved).scores)
    np.testing.assert_allclose(both.scores, sum(each) / 4, rtol=0, atol=1e-12)
    assert not np.array_equal(both.scores, plain.scores)


def test_speed_changed_keeps_length_and_centre():
    n = 16000
    click = np.zeros((2, n), np.float32)
    click[:, n // 2] = 1.0
    click[1, n // 2 + 1600] = 1.0                      # 0.1 s after the centre
    np.testing.assert_array_equal(speed_changed(click, 1.0), click)
    for speed in (0.85, 1.15):
        out = speed_changed(click, speed)
        assert out.shape == click.shape and out.dtype == np.float32
        # the centre stays (within the filter's half-sample delay); 0.1 s later moves to
        # 0.1 / speed s later, as a word spoken faster or slower
        assert abs(int(np.argmax(out[0])) - n // 2) <= 1
        late = n // 2 + 400 + int(np.argmax(out[1, n // 2 + 400:]))
        assert abs(late - (n // 2 + 1600 / speed)) <= 2
    fast = speed_changed(np.ones((1, n), np.float32), 1.15)
    assert fast[0, 0] == 0 and fast[0, -1] == 0       # a faster clip is padded at both ends
    slow = speed_changed(np.ones((1, n), np.float32), 0.85)
    assert abs(slow[0, n // 2] - 1) < 1e-3              # a slower one cropped to its middle


def test_shifted_windows_play_every_speed_in_every_shift():
    waves = np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32)
    got = list(shifted_windows(waves, (-0.05, 0.05), 16000, (0.92, 1.0)))
    assert len(got) == 4
    np.testing.assert_array_equal(got[2], time_shift(waves, -800))
    np.testing.assert_array_equal(got[1], time_shift(speed_changed(waves, 0.92), 800))
    assert DEFAULT_SPEEDS == (0.85, 0.92, 1.0, 1.08, 1.15)
    assert check_speeds(DEFAULT_SPEEDS) == DEFAULT_SPEEDS


@pytest.mark.parametrize("speeds, message", [
    ([], "at least one speed"),
    ([2.5], "between 0.5 and 2 times the recorded rate, not 2.5"),
    ([1, float("nan")], "not nan"),
    ([0.92, 1, 0.92], r"distinct, not \[0.92, 1.0, 0.92\]"),
    ([0.92345], "whole number of samples a second at 16000 Hz .e.g. 0.92., not 0.92345"),
    (["x"], "numbers .1 for the clip as it is., not"),
    ("0.92", "a sequence of numbers, e.g. .0.92, 1, 1.08., not '0.92'"),
    (1.08, "a sequence of numbers, e.g. .0.92, 1, 1.08., not 1.08"),
])
def test_check_speeds_names_the_bad_value(speeds, message):
    with pytest.raises(ValueError, match=message):
        check_speeds(speeds)


@pytest.mark.parametrize("speed, message", [
    (0.92345, "whole number of samples a second at 16000 Hz .e.g. 0.92., not 0.92345"),
    (0.0, "between 0.5 and 2 times the recorded rate, not 0.0"),
])
def test_speed_changed_checks_its_speed(speed, message):
    with pytest.raises(ValueError, match=message):
        speed_changed(np.zeros((1, 16000), np.float32), speed)


@pytest.mark.parametrize("shifts, message", [
    ([], "at least one window offset"),
    ([0.5], "between -0.5 and 0.5 .exclusive., not 0.5"),
    ([0, float("nan")], "not nan"),
    ([0.1, 0, 0.1], r"distinct, not \[0.1, 0.0, 0.1\]"),
    (["x"], "numbers of seconds, not"),
    ("0", r"a sequence of numbers, e.g. \(-0.05, 0, 0.05\), not '0'"),
    (0.1, "a sequence of numbers, e.g. .*, not 0.1"),
])
def test_check_shifts_names_the_bad_value(shifts, message):
    with pytest.raises(ValueError, match=message):
        check_shifts(shifts)


def test_window_shifts_are_centred_and_checked():
    assert window_shifts(1, 0.05) == (0.0,)
    assert window_shifts(2, 0.05) == (-0.025, 0.025)
    assert DEFAULT_SHIFTS == window_shifts(5, 0.05) == (-0.1, -0.05, 0.0, 0.05, 0.1)
    with pytest.raises(ValueError, match="number of windows must be a positive integer, "
                                         "not 0"):
        window_shifts(0, 0.05)
    with pytest.raises(ValueError, match="positive number of seconds, not -0.1"):
        window_shifts(3, -0.1)
    with pytest.raises(ValueError, match="3 windows 0.5 s apart reach 0.5 s"):
        window_shifts(3, 0.5)


def test_eval_cli_checks_before_work(layout, tmp_path, capsys):
    assert main(["eval"]) == 2
    assert "give --speech-commands DIR and/or --fsdd" in capsys.readouterr().err
    assert main(["eval", "--speech-commands", str(layout / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "m.ekws"), "--fsdd"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["eval", "--enrolment", "--fsdd", "--corpus", str(tmp_path)]) == 2
    assert "--enrolment needs --corpus, a corpus folder with a corpus.json" in \
        capsys.readouterr().err
    assert main(["eval", "--enrolment", "--speech-commands", str(layout)]) == 2
    assert "--enrolment enrols FSDD digits: give --fsdd" in capsys.readouterr().err
    # Options of the other mode would do nothing: refused, naming the option.
    for argv, message in (
            (["--speakers", "lucas"], "--speakers is an option of --enrolment; it does "
                                      "nothing here"),
            (["--stream", "--word-sets", "one"], "--word-sets is an option of --enrolment; "
                                                 "it does nothing with --stream"),
            (["--enrolment", "--filler-own", "2"], "--filler-own is an option of --stream; "
                                                    "it does nothing with --enrolment"),
            (["--enrolment", "--speaker", "lucas"], "--speaker is an option of --stream"),
            (["--hop", "0.2"], "--hop is an option of --stream; it does nothing here")):
        assert main(["eval", "--fsdd", *argv]) == 2
        assert message in capsys.readouterr().err
    out = tmp_path / "ev"
    assert main(["eval", "--speech-commands", str(layout), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "12 classes:" in text and "| yes | 5 |" in text
    report = json.loads((out / "report.json").read_text())
    assert (out / "speech_commands_confusion.png").stat().st_size > 1000
    assert report["speech_commands"]["clips"] == 2 * len(HASHES) + 4
    with pytest.raises(SystemExit):
        main(["eval", "--speech-commands", str(layout), "--window-step", "0"])
    assert "expected a positive number, not '0'" in capsys.readouterr().err
    assert main(["eval", "--speech-commands", str(layout), "--windows", "21"]) == 2
    assert "21 windows 0.05 s apart reach 0.5 s from the clip" in capsys.readouterr().err
    assert main(["eval", "--speech-commands", str(layout), "--out", str(out), "--quiet",
                 "--windows", "3"]) == 0
    assert "windows shifted by -0.05 0 0.05 s" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["shifts"] == report["speech_commands"]["shifts"] == [-0.05, 0.0, 0.05]
    assert report["speeds"] == report["speech_commands"]["speeds"] == list(DEFAULT_SPEEDS)
    with pytest.raises(SystemExit):
        main(["eval", "--speech-commands", str(layout), "--speeds", "0.9,3"])
    assert "--speeds: a speed must be a number between 0.5 and 2 times the recorded rate, " \
        "not 3.0 (in '0.9,3')" in capsys.readouterr().err
    assert main(["eval", "--speech-commands", str(layout), "--out", str(out), "--quiet",
                 "--windows", "1", "--speeds", "0.92,1.08"]) == 0
    assert "each played at 0.92 1.08 times its speed" in capsys.readouterr().out
    assert json.loads((out / "report.json").read_text())["speeds"] == [0.92, 1.08]


def _scores(truth, rows, words=("yes", "no", "bed", "cat")):
    clips = RealClips("t", np.zeros((len(truth), 4)), list(truth), ["s"] * len(truth),
                      [""] * len(truth))
    scores = np.asarray(rows, np.float32)
    return Scores(clips, list(words), scores, [words[i] for i in scores.argmax(1)])


def test_unknown_offset_lowers_the_words_outside_the_twelve():
    # "bed" and "cat" are unknown words; clip 1 is a "no" that "cat" beats by 1.5.
    s = _scores(["yes", "no", "bed"], [[5, 1, 2, 0], [0, 3, 1, 4.5], [0, 1, 4, 2]])
    assert s.twelve() == (["yes", "no", "_unknown_"], ["yes", "_unknown_", "_unknown_"])
    assert s.twelve(2.0)[1] == ["yes", "no", "_unknown_"]     # bed 4 - 2 still beats no 1
    assert s.twelve(3.5)[1] == ["yes", "no", "no"]
    assert s.twelve(-10.0)[1] == ["_unknown_"] * 3
    assert s.predicted == ["yes", "cat", "bed"]                 # the scores are untouched
    assert s.balanced_twelve() == pytest.approx((1 + 0 + 1) / 3)
    assert s.balanced_twelve(2.0) == 1.0


def test_choose_unknown_offset_is_class_balanced():
    # Nine unknown clips that a positive offset loses, one "no" that it wins: plain
    # accuracy prefers 0, the class-balanced one prefers the smallest offset that saves
    # the "no" (1.75 > 1.6 on the grid) and keeps every unknown clip (margin 2).
    s = _scores(["no"] + ["bed"] * 9, [[0, 3, 1, 4.6]] + [[0, 1, 3, 0]] * 9)
    offset, table = choose_unknown_offset(s)
    assert offset == 1.75 and dict(table)[0.0] == pytest.approx(0.5)
    assert dict(table)[offset] == 1.0
    # Every offset in a tie: the one nearest 0.
    assert choose_unknown_offset(s, grid=(-1.0, 1.0, 0.5))[0] == 0.5
    with pytest.raises(ValueError, match="at least two of the 12 classes"):
        choose_unknown_offset(_scores(["bed"], [[0, 1, 3, 0]]))
    with pytest.raises(ValueError, match="grid is empty"):
        choose_unknown_offset(s, grid=())


def test_eval_cli_calibrates_the_offset(layout, tmp_path, capsys):
    assert main(["eval", "--fsdd", "--calibrate-on", str(layout)]) == 2
    assert "give --speech-commands DIR too" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--speech-commands", str(layout), "--calibrate-on", str(layout),
              "--unknown-offset", "1"])
    assert "not allowed with argument" in capsys.readouterr().err
    out = tmp_path / "ev"
    assert main(["eval", "--speech-commands", str(layout), "--calibrate-on", str(layout),
                 "--out", str(out), "--quiet"]) == 0
    assert "unknown-word offset" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    chosen = report["calibration"]["unknown_offset"]
    assert report["speech_commands"]["unknown_offset"] == chosen
    s = score_model(shipped_model_path(), speech_commands_clips(layout),
                    shifts=DEFAULT_SHIFTS, speeds=DEFAULT_SPEEDS)   # eval's default windows
    assert report["speech_commands"]["shifts"] == list(DEFAULT_SHIFTS)
    assert report["speech_commands"]["speeds"] == list(DEFAULT_SPEEDS)
    assert chosen == choose_unknown_offset(s)[0]
    truth, pred = s.twelve(chosen)
    assert report["speech_commands"]["twelve_class_accuracy"] == pytest.approx(
        np.mean(np.array(truth) == pred))


def test_score_potentials_ranks_classes_and_rejects():
    # 3 classes x 2 neurons, num_weights 10
    pots = np.array([[9, 1, 5, 2, 0, 3],     # class 0 wins, margin 4
                     [4, 6, 6, 0, 1, 1],     # tie 6 vs 6: the lower class (0), margin 0
                     [2, 1, 0, 3, 4, 4]])    # class 2 with 4, margin 1
    s = score_potentials(pots, 3, 10)
    np.testing.assert_array_equal(s.label, [0, 0, 2])
    np.testing.assert_allclose(s.score, [0.9, 0.6, 0.4])
    np.testing.assert_allclose(s.margin, [0.4, 0.0, 0.1])
    np.testing.assert_array_equal(score_potentials(pots, 3, 10, min_score=0.5).label,
                                  [0, 0, -1])
    np.testing.assert_array_equal(score_potentials(pots, 3, 10, min_margin=0.1).label,
                                  [0, -1, 2])
    with pytest.raises(ValueError, match="cannot be split into 4 classes"):
        score_potentials(pots, 4, 10)
    with pytest.raises(ValueError, match=r"min_score must be a fraction of num_weights in "
                                         r"\[0, 1\], not 2"):
        score_potentials(pots, 3, 10, min_score=2)


def test_score_windows_averages_each_class_over_the_windows():
    pots = np.array([[9, 1, 5, 2, 0, 3], [4, 6, 6, 0, 1, 1]])
    one = score_windows([pots], 3, 10)
    np.testing.assert_array_equal(one.label, score_potentials(pots, 3, 10).label)
    np.testing.assert_allclose(one.score, score_potentials(pots, 3, 10).score)
    later = np.array([[1, 1, 8, 8, 0, 0], [0, 2, 0, 0, 9, 9]])
    # Class bests: clip 0 (9, 5, 3) and (1, 8, 0) -> (5, 6.5, 1.5): class 1 wins by 1.5;
    # clip 1 (6, 6, 1) and (2, 0, 9) -> (4, 3, 5): class 2 by 1.
    both = score_windows([pots, later], 3, 10, min_margin=0.12)
    np.testing.assert_array_equal(both.label, [1, -1])
    np.testing.assert_allclose(both.score, [0.65, 0.5])
    np.testing.assert_allclose(both.margin, [0.15, 0.1])
    with pytest.raises(ValueError, match="at least one window"):
        score_windows([], 3, 10)
    with pytest.raises(ValueError, match=r"same clips, not shapes \[\(1, 3\), \(2, 3\)\]"):
        score_windows([pots, later[:1]], 3, 10)


def test_build_stream_and_sweep():
    rng = np.random.default_rng(1)
    clips = [np.ones(4000, np.float32) * 0.5, np.ones(8000, np.float32) * 0.5]
    stream, spans = build_stream(clips, ["one", None], [], rng, levels_db=(-20.0, -20.0))
    assert [w for _, _, w in spans] == ["one", None]
    a, b, _ = spans[0]
    assert b - a == 4000 and np.max(np.abs(stream[a:b])) == pytest.approx(0.1, rel=1e-3)
    words = ["_unknown_", "one"]
    nan = float("nan")
    # Keyword stream: utterance 0 in windows 0-2, utterance 1 in windows 4-5 (window 4 heard
    # as the background class 0, window 5 off-centre by 0.3 s).
    kw = Scanned(60.0, 0.1, np.array([1, 1, 1, -1, 0, 1]),
                 np.array([0.9, 0.9, 0.5, 0, 0.8, 0.9]), np.array([0.3, 0.3, 0.1, 0, 0.2, 0.3]),
                 np.array([0, 0.05, 0.15, nan, 0, 0.3]), np.array([0, 0, 0, -1, 1, 1]),
                 ["one", "one"])
    other = Scanned(3600.0, 0.1, np.array([1, 1, 0, 1]), np.array([0.4, 0.7, 0.9, 0.7]),
                    np.array([0.1, 0.1, 0.5, 0.1]), np.zeros(4), np.full(4, -1), [None])
    np.testing.assert_array_equal(kw.heard(0.1), [1, 1, -1, -1, 0, -1])
    result = {"keyword": kw, "other": other, "words": words, "keywords": 2,
              "enrolled_from": 1}
    rows = sweep(result, 10, centres=(0.1, None), votes=((1, 1), (2, 2)), refractory=0.3)
    assert len(rows) == 2 * 2 * 11 * 6

    def row(centre, wins, of, ms, mm):
        [r] = [r for r in rows if (r["centre"], r["wins"], r["of"]) == (centre, wins, of)
               and r["min_score"] == pytest.approx(ms) and r["min_margin"] == pytest.approx(mm)]
        return r["detected"], r["false_alarms"], r["wrong_word_or_extra"]
    # No thresholds, one window: a hit at window 0; the class-0 hit at window 4 (after the
    # 3-window refractory period) is no keyword; on the other stream a false alarm at 0.
    assert row(None, 1, 1, 0, 0) == (1, 1, 0)
    # Two of two: windows 0 and 1 agree (a hit at 1); on the other stream windows 0 and 1.
    assert row(None, 2, 2, 0, 0) == (1, 1, 0)
    # A score of 0.9: window 4 does not vote, so window 5 (utterance 1) fires after the
    # refractory period; the other stream's only vote is class 0's.
    assert row(None, 1, 1, 0.9, 0) == (2, 0, 0)
    # ... unless the centring tolerance drops window 5.
    assert row(0.1, 1, 1, 0.9, 0) == (1, 0, 0)
    best = choose(rows, 0.0)
    assert (best["centre"], best["wins"], best["of"], best["detected"], best["false_alarms"]) \
        == (None, 1, 1, 2, 0)
    # (ties: the lowest score threshold first, so a margin of 0.3 rather than a score of 0.9)
    assert (best["min_score"], best["min_margin"]) == (0.0, pytest.approx(0.3))
    assert choose([r for r in rows if r["false_alarms"]], 0.5) is None
    assert frontier(rows) == [(0.0, 1.0)]
    assert frontier([r for r in rows if r["of"] == 2]) == [(0.0, 0.5)]
    with pytest.raises(ValueError, match="votes must name at least one"):
        sweep(result, 10, votes=())


def test_scan_hears_each_window_at_every_speed():
    """_scan classifies each heard window at each speed, as board listen does: its class
    potentials are the mean over the speeds' views, in batches that flush the last ones."""
    from edgekws.bench.listen import _speech_like
    from edgekws.evaluate.stream import _scan
    from edgekws.golden import Model
    from edgekws.host.edge import front_end
    from edgekws.host.listen import Listener, heard_views

    params, scaling, _ = front_end(Model(shipped_model_path()))
    stream = _speech_like(4)

    def potentials_of(frames):      # any fixed function of the frames will do
        x = frames.reshape(len(frames), -1).astype(np.int64)
        return np.stack([x.sum(1) % 97, x[:, ::7].sum(1) % 89, x[:, 1::5].sum(1) % 83], 1)

    speeds = (0.92, 1.0, 1.15)
    got = _scan(potentials_of, 96, params, scaling, stream, [], -55.0, 0.1, speeds, batch=4)
    listener = Listener(params, hop=0.1, threshold_db=-55.0, centre=None)
    heard = [w for w in listener.feed(stream) + listener.flush() if w.features is not None]
    assert 4 < len(heard) < len(got.label)          # several batches, some windows gated
    views = heard_views(np.stack([w.features for w in heard]),
                        np.stack([w.samples for w in heard]), speeds, params)
    want = sum(potentials_of(scaling.to_uint8(v)[..., None]) for v in views)
    where = np.flatnonzero(~np.isnan(got.offset))
    assert got.views == len(speeds) and got.classes.dtype == np.int64
    np.testing.assert_array_equal(got.classes[where], want)      # summed over the speeds
    np.testing.assert_array_equal(got.label[where], score_classes(want / 3, 96).label)
    assert not np.array_equal(want, potentials_of(scaling.to_uint8(views[1])[..., None]))


def _scanned(classes, heard, offset, truth, words, seconds, views=1):
    s = score_classes(np.asarray(classes) / views, 10)
    label = np.where(heard, s.label, -1)
    return Scanned(seconds, 0.1, label, s.score, s.margin, np.where(heard, offset, np.nan),
                   np.asarray(truth), words, np.where(heard[:, None], classes, 0), views)


def test_sweep_average_of_one_window_is_one_vote():
    rng = np.random.default_rng(3)
    n, K = 400, 4
    result = {"words": ["a", "b", "one", "two"], "keywords": 20, "enrolled_from": 2}
    for key, seconds, words in (("keyword", 40.0, ["one", "two"] * 10), ("other", 3600.0,
                                                                            [None])):
        truth = np.where(rng.random(n) < 0.5, rng.integers(0, len(words), n), -1)
        result[key] = _scanned(rng.integers(0, 11, (n, K)), rng.random(n) < 0.8,
                               rng.uniform(-0.5, 0.5, n), truth, words, seconds)
    votes = sweep(result, 10, votes=((1, 1),), refractory=0.5)
    averaged = sweep_average(result, 10, averages=(1,), refractory=0.5)
    assert len(votes) == len(averaged) == 5 * 11 * 6
    keys = ("centre", "min_score", "min_margin", "detected", "false_alarms",
            "wrong_word_or_extra")
    assert [tuple(r[k] for k in keys) for r in votes] == \
        [tuple(r[k] for k in keys) for r in averaged]
    assert {r["rule"] for r in averaged} == {"average"}
    with pytest.raises(ValueError, match=r"averages must be window counts >= 1, not \[0\]"):
        sweep_average(result, 10, averages=(0,))


def test_sweep_average_adds_up_windows():
    # Class 1 (a keyword) scores 6 and 8 of 10 in two windows of utterance 0, and class 0
    # scores 7 then 2: one window alone is a tie-breaker away, the mean of two is clear.
    classes = np.array([[7, 6], [2, 8], [0, 0], [0, 0]])
    heard = np.array([True, True, False, False])
    kw = _scanned(classes, heard, np.zeros(4), [0, 0, -1, -1], ["one"], 60.0)
    other = _scanned(np.zeros((4, 2), int), np.zeros(4, bool), np.zeros(4), [-1] * 4,
                     [None], 3600.0)
    result = {"keyword": kw, "other": other, "words": ["x", "one"], "keywords": 1,
              "enrolled_from": 1}
    rows = sweep_average(result, 10, centres=(None,), averages=(1, 2), refractory=0.0)

    def row(of, ms, mm):
        [r] = [r for r in rows if r["of"] == of and r["min_score"] == pytest.approx(ms)
               and r["min_margin"] == pytest.approx(mm)]
        return r["detected"]
    # Means of two at window 1: class 0 4.5, class 1 7: score 0.7, margin 0.25 (-> 0.2 on
    # the grid); a single window 1 has score 0.8, margin 0.6.
    assert row(2, 0.7, 0.2) == 1 and row(2, 0.8, 0.0) == 0
    assert row(1, 0.8, 0.5) == 1
    assert class_potentials(np.array([[1, 5, 2, 2]]), 2).tolist() == [[5, 2]]


def test_sweep_average_of_several_speeds_is_exact():
    # Two speeds a window (classes hold their sums): class 1 averages 5.5 then 6.5 of 10,
    # so the mean of the two windows is 0.6 exactly; no part of a potential may be dropped.
    classes = np.array([[0, 11], [0, 13], [0, 0]])
    heard = np.array([True, True, False])
    kw = _scanned(classes, heard, np.zeros(3), [0, 0, -1], ["one"], 60.0, views=2)
    other = _scanned(np.zeros((3, 2), int), np.zeros(3, bool), np.zeros(3), [-1] * 3,
                     [None], 3600.0, views=2)
    result = {"keyword": kw, "other": other, "words": ["x", "one"], "keywords": 1,
              "enrolled_from": 1}
    rows = sweep_average(result, 10, centres=(None,), averages=(2,), refractory=0.0)
    detected = {(r["min_score"], r["min_margin"]): r["detected"] for r in rows}
    assert detected[0.6, 0.5] == 1 and detected[0.7, 0.0] == 0


def test_a_filler_class_fires_nothing():
    # Classes: 0 background, 1 the keyword "one", 2 the filler. The other stream's window
    # 0 goes to the filler, window 2 to the keyword: one false alarm, not two.
    kw = _scanned(np.array([[0, 9, 2], [0, 2, 9]]), np.ones(2, bool), np.zeros(2), [0, 1],
                  ["one", "one"], 60.0)
    other = _scanned(np.array([[0, 2, 9], [0, 0, 0], [1, 8, 2]]), np.array([1, 0, 1], bool),
                     np.zeros(3), [-1] * 3, [None], 3600.0)
    result = {"keyword": kw, "other": other, "words": ["x", "one", "_filler_"],
              "keywords": 2, "enrolled_from": 1, "enrolled_to": 2}
    [row] = [r for r in sweep(result, 10, centres=(None,), votes=((1, 1),), refractory=0.0)
             if r["min_score"] == 0 and r["min_margin"] == 0]
    assert (row["detected"], row["false_alarms"], row["wrong_word_or_extra"]) == (1, 1, 0)


def test_enrol_speaker_draws_the_filler_after_the_words():
    """The filler's copies come from the generator after the words' copies, so a filler
    leaves the enrolled words' frames (and the streams of --filler-own runs) as they were."""
    from edgekws.data.fsdd import FsddSample
    from edgekws.data.mfcc import MfccParams
    from edgekws.evaluate.enrolment import EnrolmentSources, enrol_speaker
    from edgekws.evaluate.stream import StreamSetup

    class Head:                          # a learning layer that records what it learns
        learning = types.SimpleNamespace(num_weights=4)

        def add_classes(self, n, seed=None):
            self.added = n

        def fit(self, x, y):
            self.x, self.y = x, y

        def forward(self, spikes):
            return np.zeros((len(spikes), 3 * 2))

    samples = [FsddSample(f"{i}.wav", 1, "ann", i) for i in range(3)]
    rng_waves = np.random.default_rng(0)
    src = EnrolmentSources(samples, ["ann"], 0.1 * rng_waves.standard_normal((3, RATE)),
                           ["one"] * 3,
                           types.SimpleNamespace(forward=lambda f: f.reshape(len(f), -1)),
                           None, MfccParams(), None,
                           lambda w: np.asarray(w, np.float32)[:, :8].reshape(-1, 8))
    setup = StreamSetup(model="m", corpus="c", speaker="ann", words=("one",), enrol=2,
                        copies=3, shifts=(0.0,))
    seen = {}

    def fill(rng):
        seen["state"] = rng.bit_generator.state
        return [np.ones((4, 8), np.float32)]

    plain, filled = Head(), Head()
    first = np.random.default_rng(7)
    got = enrol_speaker(setup, plain, 1, src, first)
    assert (got["correct"], len(got["keyword_clips"]), got["filler"]) == (0, 1, False)
    assert plain.added == 1 and len(plain.x) == 2 * (1 + 3)
    got = enrol_speaker(setup, filled, 1, src, np.random.default_rng(7), fill=fill)
    assert got["filler"] and filled.added == 2
    assert seen["state"] == first.bit_generator.state     # the words' draws came first
    np.testing.assert_array_equal(filled.x[:8], plain.x)
    assert list(filled.y) == [1] * 8 + [2] * 4


def test_filler_folds_must_not_be_the_streamed_speakers(layout):
    from edgekws.evaluate.stream import StreamSetup, filler_clips
    rng = np.random.default_rng(0)
    setup = StreamSetup(model="m", corpus="c", speech_commands=str(layout), folds=(0, 1),
                        filler=str(layout), filler_folds=(1, 2))
    with pytest.raises(ValueError, match=r"must be other speakers than the streamed folds"):
        filler_clips(setup, rng)
    with pytest.raises(ValueError, match=r"must be other speakers"):
        filler_clips(dataclasses.replace(setup, filler_folds=None), rng)
    waves = filler_clips(dataclasses.replace(setup, speech_commands=None, folds=None,
                                             filler_folds=None, filler_clips=4), rng)
    assert waves.shape == (4, RATE)        # words only: 11 word clips, 3 silence clips


def test_stream_evaluation_end_to_end(tmp_path, monkeypatch, capsys, layout):
    """A tiny eSpeak corpus as background, fake FSDD digits to enrol and stream; the
    board check runs the learned model on an emulated board."""
    corpus = tmp_path / "corpus"
    assert main(["-q", "data", "synth", "--out", str(corpus), "--speakers", "6", "--words",
                 "yes", "no", "three", "--noise-seconds", "3", "--workers", "1"]) == 0
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    rng = np.random.default_rng(5)
    t = np.arange(3200) / 8000
    for digit, f0 in ((1, 300), (5, 700), (3, 500)):
        for spk in ("alice", "bob"):
            for i in range(5):
                x = 0.4 * np.sin(2 * np.pi * f0 * (1 + 0.01 * i) * t) * np.hanning(t.size)
                write_wav(rec / f"{digit}_{spk}_{i}.wav",
                          (x + 0.003 * rng.standard_normal(t.size)).astype(np.float32), 8000)
    monkeypatch.setenv("EDGEKWS_FSDD", str(tmp_path / "fsdd"))
    out = tmp_path / "ev"
    argv = ["-q", "eval", "--stream", "--fsdd", "--corpus", str(corpus), "--cache",
            str(tmp_path / "cache"), "--speaker", "alice", "--words", "one", "five",
            "--enrol", "2", "--out", str(out)]
    assert main(argv + ["--average", "1", "3", "--filler", str(layout), "--filler-clips",
                        "5", "--filler-own", "1"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    text = captured.out
    # The ten "three"s of both speakers, less alice's first one: the filler learned it.
    assert "(9 clips)" in captured.err
    assert "enrolment:" in text and "| no thresholds |" in text
    report = json.loads((out / "stream.json").read_text())
    assert report["keywords"] == 6                       # 3 left of each word
    assert report["enrolment"]["shifts"] == list(DEFAULT_SHIFTS)
    assert report["enrolment"]["speeds"] == report["setup"]["speeds"] == list(DEFAULT_SPEEDS)
    assert "scores averaged over 25 windows" in text
    assert report["setup"]["filler"] == str(layout)
    assert report["board_check"] == {"frames": 6, "equal": True}
    assert "emulated board: 6 keyword frames, classes and scores equal" in text
    assert (out / "stream_tradeoff.png").exists()
    rows = report["sweep"]
    assert all(0 <= r["detection_rate"] <= 1 for r in rows)
    k = report["sweep"][0]
    nw = round(1 / min(r["min_score"] for r in rows if r["min_score"] > 0))
    assert len(rows) == 5 * 13 * (nw + 1) * (nw // 2 + 1)      # centres x votes x thresholds
    assert {(r["wins"], r["of"]) for r in rows} >= {(1, 1), (2, 3), (4, 5)} and k["centre"] == 0.1
    # The chosen rule at each budget is the sweep's best there.
    for budget, chosen in report["chosen"].items():
        ok = [r["detected"] for r in rows if r["false_alarms_per_hour"] <= float(budget)]
        assert chosen is None if not ok else chosen["detected"] == max(ok)
    averaged = report["averaged"]["sweep"]
    assert {r["of"] for r in averaged} == {1, 3} and len(averaged) == 5 * 2 * (nw + 1) * (
        nw // 2 + 1)
    assert "mean of" in text
    # A hop off the MFCC stride or a bad rule is refused before any work.
    for extra, message in ((["--hop", "0.25"], "hop must be a multiple of the 20 ms"),
                           (["--baseline", str(tmp_path / "none.json")],
                            "not a stream.json of 'edgekws eval --stream'")):
        assert main(argv + extra) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(argv + ["--votes", "3/2"])
    assert "expected N/M with 1 <= N <= M, not '3/2'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="enrolled words must be distinct FSDD digits"):
        from edgekws.evaluate.stream import StreamSetup, run_streams
        run_streams(StreamSetup(model=shipped_model_path(), corpus=str(corpus),
                                words=("yes",)))

    # --enrolment: the same enrolment without the streams, for each speaker and word set;
    # alice's one/five row is what a stream run without a filler reports.
    assert main(argv) == 0
    stream_enrolment = json.loads((out / "stream.json").read_text())["enrolment"]
    capsys.readouterr()
    enrol = ["-q", "eval", "--enrolment", "--fsdd", "--corpus", str(corpus), "--cache",
             str(tmp_path / "cache"), "--enrol", "2", "--out", str(out)]
    assert main(enrol + ["--word-sets", "one,five", "three"]) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    table = json.loads((out / "enrolment.json").read_text())
    assert [(r["speaker"], r["words"]) for r in table["rows"]] == [
        ("alice", ["one", "five"]), ("bob", ["one", "five"]), ("alice", ["three"]),
        ("bob", ["three"])]
    assert [r["total"] for r in table["rows"]] == [6, 6, 3, 3]
    assert table["correct"] == sum(r["correct"] for r in table["rows"])
    assert table["rows"][0]["correct"] == stream_enrolment["correct"]
    assert table["rows"][0]["old_after"] == stream_enrolment["old_after"]
    assert f"| one/five | alice | {table['rows'][0]['correct']}/6" in text
    for extra, message in ((["--speakers", "carol"], "no FSDD speaker 'carol'"),
                           (["--word-sets", "one,one"], "must be distinct FSDD digits"),
                           (["--word-sets", "one", "nine"],
                            "'alice' has 0 recordings of 'nine'; enrolment needs"),
                           (["--word-sets", "one,yes"], "must be distinct FSDD digits")):
        assert main(enrol + extra) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(enrol + ["--stream"])
    assert "not allowed with argument" in capsys.readouterr().err
