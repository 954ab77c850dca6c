"""The edge-learning tutorial flow on a tiny fake corpus and a random extractor."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from edgekws.data.fake import make_fake_speech_commands
from edgekws.golden import Model, fileformat
from edgekws.golden.zoo import ds_cnn_kws, mfcc_like_inputs, randomize
from edgekws.tutorial import TutorialConfig, run
from edgekws.tutorial.edge_learning import pick_enrolment_speaker


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tut")
    corpus = root / "corpus"
    make_fake_speech_commands(corpus, words=("yes", "no", "up", "backward", "follow", "forward"),
                              speakers=6, per_speaker=6, seed=1)
    model = randomize(ds_cnn_kws(units=None), mfcc_like_inputs(128, seed=1), seed=2)
    path = root / "extractor.ekws"
    fileformat.save(model, path, extra={"mfcc_scaling": {"offset": -60.0, "scale": 0.6}})
    return root, corpus, path


def test_tutorial_flow_runs_and_reports(setup):
    root, corpus, path = setup
    cfg = TutorialConfig(corpus=str(corpus), model=str(path), cache_dir=str(root / "cache"),
                         out_dir=str(root / "out"), neurons_per_class=3,
                         augment_copies=5, neurons_table=(2, 4))
    logs = []
    res = run(cfg, progress=False, log=logs.append)
    assert res.num_classes == 4  # silence + yes, no, up (new words held out)
    assert res.enrol_samples == 3 * 4 * 5
    assert res.new_word_total == 3 * 2  # 6 utterances each: 4 to learn, 2 to test
    assert 0 <= res.new_word_correct <= res.new_word_total
    assert res.num_weights >= 1 and len(res.neurons_table) == 2
    saved = Model(str(root / "out" / "ds_cnn_edge_kws.ekws"))
    assert saved.learning.num_classes == 4 and saved.layers[-1].units == 12
    assert json.loads((root / "out" / "tutorial.json").read_text())["speaker"] == res.speaker
    assert "new words on the speaker's other utterances" in (root / "out" / "tutorial.md").read_text()


def test_enrolment_speaker_needs_enough_utterances(setup):
    from edgekws.data.speech_commands import load_speech_commands
    _, corpus, _ = setup
    ds = load_speech_commands(corpus)
    held = ds.val + ds.test
    spk = pick_enrolment_speaker(held, ("backward", "follow", "forward"), 5)
    assert sum(s.speaker == spk and s.word == "follow" for s in held) >= 5
    with pytest.raises(ValueError, match="no speaker has 50 utterances"):
        pick_enrolment_speaker(held, ("backward", "follow", "forward"), 50)


def test_real_speech_enrolment_on_fsdd(tmp_path, setup):
    from edgekws.data.fsdd import fsdd_root
    try:
        root = fsdd_root()
    except (FileNotFoundError, ValueError) as exc:
        pytest.skip(f"FSDD recordings not available: {exc}")
    from edgekws.tutorial.real_speech import run_real_speech
    _, _, path = setup
    corpus = tmp_path / "corpus"
    make_fake_speech_commands(corpus, words=("yes", "no", "one", "five", "nine"),
                              speakers=4, per_speaker=2, seed=2)
    res = run_real_speech(path, corpus, root, cache_dir=str(tmp_path / "cache"), copies=3,
                          neurons_per_class=2, progress=False, log=lambda *a: None)
    assert res.recordings == 1500
    assert res.all_class_accuracy is None  # a bare extractor has no classifier to test
    assert res.enrol_total == 3 * (50 - 4) and res.other_speakers_total == 3 * 100
    assert 0 <= res.enrol_correct <= res.enrol_total


def _with_enrol_corpus(setup, tmp_path, augment_copies):
    """The tutorial on the module's corpus, with 2 enrolment speakers x 7 repetitions of
    the new words in a corpus of their own."""
    _, corpus, path = setup
    enrol = tmp_path / "enrol"
    make_fake_speech_commands(enrol, words=("backward", "follow", "forward"), speakers=2,
                              per_speaker=7, seed=9)
    return TutorialConfig(corpus=str(corpus), model=str(path), cache_dir=str(tmp_path / "c"),
                          out_dir=str(tmp_path / "out"), neurons_per_class=2,
                          augment_copies=augment_copies, neurons_table=(),
                          enrol_corpus=str(enrol))


def test_tutorial_with_a_separate_enrolment_corpus(setup, tmp_path):
    cfg = _with_enrol_corpus(setup, tmp_path, augment_copies=2)
    res = run(cfg, progress=False, log=lambda *a: None)
    assert res.new_word_total == 3 * (7 - 4)
    assert res.enrol_samples == 3 * 4 * 2


def test_enrol_sweep_reproduces_the_tutorial(setup, tmp_path):
    """The sweep's unchanged setting is the tutorial's flow: same new-word count and
    old-class accuracy for each speaker."""
    from edgekws.tutorial.enrol_sweep import Setting, report, sweep
    cfg = _with_enrol_corpus(setup, tmp_path, augment_copies=3)
    rows = sweep(cfg, settings=[Setting(), Setting(passes=2), Setting(num_weights=3),
                                Setting(new_class_bias=1)],
                 progress=False, log=lambda *a: None)
    speakers = list(rows[0].new_correct)
    assert len(speakers) == 2
    for spk in speakers:
        # The bias only raises the new classes: a new word right without it stays right,
        # and the learning (hence the native accuracy) is the tutorial's.
        assert rows[3].new_correct[spk] >= rows[0].new_correct[spk]
        assert 0 <= rows[0].new_ties[spk] <= rows[0].new_total[spk] - rows[0].new_correct[spk]
        res = run(replace(cfg, speaker=spk), progress=False, log=lambda *a: None)
        assert rows[0].new_correct[spk] == res.new_word_correct
        assert rows[0].new_total[spk] == res.new_word_total == 3 * 3
        drop = 100 * (res.native_val_accuracy - res.old_val_accuracy_after)
        assert rows[0].old_drop[spk] == pytest.approx(drop, abs=1e-9)
        assert rows[0].native_accuracy == res.native_val_accuracy
    assert rows[2].num_weights == 3 and rows[0].num_weights == res.num_weights
    assert rows[3].native_accuracy == rows[0].native_accuracy
    text = report(rows, command="edgekws enrol-sweep ...")
    assert text.count("\n| ") == 5 and "2 passes" in text and "num_weights=3" in text
    assert "new-class bias=1" in text and "errors that are ties" in text


def _two_neurons():
    """A spikes-in learning layer of 2 classes x 1 neuron on 4 inputs: neuron 0 is
    connected to inputs 0 and 1, neuron 1 to inputs 0 and 2."""
    import numpy as np

    from edgekws.tutorial.edge_learning import learning_head
    m = learning_head(4, 2, 1, 2, 0.1, seed=0)
    w = np.zeros((1, 1, 4, 2), np.int8)
    w[0, 0, [0, 1], 0] = 1
    w[0, 0, [0, 2], 1] = 1
    m.layers[-1].set_variable("weights", w)
    x = np.array([[1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]], np.uint8).reshape(3, 1, 1, 4)
    return m, x


def test_lost_on_a_tie_counts_the_ties_that_the_lower_class_wins():
    import numpy as np

    from edgekws.tutorial.enrol_sweep import bias_new_classes, lost_on_a_tie
    m, x = _two_neurons()
    y = np.array([1, 1, 1])
    # potentials (1, 1): tie, class 0 wins; (1, 2): right; (2, 1): wrong by a margin
    assert m.predict_classes(x, num_classes=2).tolist() == [0, 1, 0]
    assert lost_on_a_tie(m, x, y, 2) == 1
    assert lost_on_a_tie(m, x, np.array([0, 0, 0]), 2) == 0  # sample 2 is lost by 1
    bias_new_classes(m, 1, 1)  # neuron 1 scores pot + 1
    assert m.layers[-1].get_variable("threshold").tolist() == [0, -1]
    assert m.predict_classes(x, num_classes=2).tolist() == [1, 1, 0]
    assert lost_on_a_tie(m, x, y, 2) == 1  # now (2, 2) on the last sample

def test_enrol_sweep_errors(setup):
    from edgekws.tutorial.enrol_sweep import Setting, report, sweep
    root, corpus, path = setup
    cfg = TutorialConfig(corpus=str(corpus), model=str(path), cache_dir=str(root / "cache"))
    with pytest.raises(ValueError, match="settings must name at least one setting"):
        sweep(cfg, settings=[])
    with pytest.raises(TypeError, match="settings must be Setting objects, not 3"):
        sweep(cfg, settings=[3])
    with pytest.raises(ValueError, match="passes must be a positive integer, not 0"):
        sweep(cfg, settings=[Setting(passes=0)])
    with pytest.raises(ValueError, match="new_class_bias must be a non-negative integer, "
                                         "not -1"):
        sweep(cfg, settings=[Setting(new_class_bias=-1)])
    with pytest.raises(ValueError, match="speakers must name at least one speaker"):
        sweep(cfg, settings=[Setting()], speakers=[])
    with pytest.raises(ValueError, match="speaker 'nobody' has 0 utterances of 'backward'"):
        sweep(cfg, settings=[Setting()], speakers=["nobody"], progress=False,
              log=lambda *a: None)
    with pytest.raises(ValueError, match="rows must hold at least one sweep row"):
        report([])


def test_enrol_sweep_cli_writes_the_table(setup, tmp_path, capsys):
    from edgekws.cli import main
    root, corpus, path = setup
    enrol = tmp_path / "enrol"
    make_fake_speech_commands(enrol, words=("backward", "follow", "forward"), speakers=1,
                              per_speaker=5, seed=3)
    out = tmp_path / "sweep.md"
    assert main(["enrol-sweep", "--corpus", str(corpus), "--model", str(path),
                 "--enrol-corpus", str(enrol), "--cache", str(tmp_path / "c"),
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("Command: `edgekws enrol-sweep --corpus ")
    assert "| the tutorial's | " in text
    assert text.count("\n| ") == 1 + 1 + 11  # header, the tutorial's, 11 changes
    assert text in capsys.readouterr().out + "\n"
    assert main(["enrol-sweep", "--corpus", str(corpus), "--model", str(path),
                 "--enrol-corpus", str(enrol), "--cache", str(tmp_path / "c"),
                 "--num-weights", "5", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| num_weights=5 | 5 | " in text and "| num_weights=4 | 4 | " in text
    assert "| num_weights=6 | 6 | " in text and "the tutorial's" not in text


def test_backprop_accuracy_scores_the_tutorials_classes_only():
    """A Dense head trained on more words is scored over the tutorial's classes."""
    from edgekws.tutorial.edge_learning import backprop_accuracy
    m, x = _two_neurons()  # outputs (a, b): (1, 1), (1, 2), (2, 1)
    assert backprop_accuracy(m, ["a", "b"], ["a", "b"], x, [0, 1, 0]) == 1.0
    # classes in another order: (b, a) scores (1, 1) -> b (tie, first), (2, 1) -> b, (1, 2) -> a
    assert backprop_accuracy(m, ["a", "b"], ["b", "a"], x, [0, 0, 1]) == 1.0
    assert backprop_accuracy(m, ["a", "b"], ["b"], x, [0, 0, 0]) == 1.0
    assert backprop_accuracy(m, ["a", "b"], ["b", "a"], x, [1, 0, 1]) == pytest.approx(2 / 3)
    assert backprop_accuracy(m, ["a", "b"], ["a", "c"], x, [0, 0, 0]) is None


def test_tutorial_report_says_num_weights_was_given(setup, tmp_path):
    cfg = replace(_with_enrol_corpus(setup, tmp_path, augment_copies=2), num_weights=3)
    logs = []
    res = run(cfg, progress=False, log=logs.append)
    assert res.num_weights == 3
    text = (tmp_path / "out" / "tutorial.md").read_text()
    assert " --num-weights 3`" in text and "| num_weights (given, `--num-weights`) | 3 |" in text
    assert "int(1.2 x median)" not in text
    assert any(line.endswith("; 3 given") for line in logs)


def test_num_weights_sweep_over_orders_and_draws(setup, tmp_path):
    """Each num_weights column comes from the tutorial's run (same native accuracy and
    new words as the one-change sweep), 3 other sample orders and 3 other draws."""
    import numpy as np

    from edgekws.tutorial.enrol_sweep import (Setting, num_weights_report,
                                              num_weights_settings, sweep)
    cfg = _with_enrol_corpus(setup, tmp_path, augment_copies=2)
    settings = num_weights_settings([2, 3])
    assert len(settings) == 2 * 7 and settings[0] == Setting(num_weights=2)
    assert settings[1] == Setting(num_weights=2, sample_order=1)
    assert settings[4] == Setting(num_weights=2, augment_seed=1)
    rows = sweep(cfg, settings=settings, progress=False, log=lambda *a: None)
    plain = sweep(cfg, settings=[Setting(num_weights=3)], progress=False,
                  log=lambda *a: None)[0]
    r3 = [r for r in rows if r.num_weights == 3]
    assert r3[0].native_accuracy == plain.native_accuracy
    assert r3[0].new_correct == plain.new_correct
    # another order of the same samples learns something else (in general), the draws don't
    # touch native learning
    assert all(r.native_accuracy == r3[0].native_accuracy for r in r3[4:])
    text = num_weights_report(rows, command="edgekws enrol-sweep ...")
    lines = text.splitlines()
    assert lines[2] == "| num_weights | 2 | 3 |"
    mean3 = 100 * np.mean([r.native_accuracy for r in r3[:4]])
    assert lines[5].startswith("| native, mean of 4 sample orders | ")
    assert lines[5].endswith(f" | {mean3:.2f} % |")
    c = sum(sum(r.new_correct.values()) for r in [r3[0]] + r3[4:])
    assert f"| {c}/{4 * 2 * 9} (" in lines[6]
    with pytest.raises(ValueError, match=r"values must be positive integers, not \[0\]"):
        num_weights_settings([0])
    with pytest.raises(ValueError, match="expected one row in the tutorial's order"):
        num_weights_report(rows[1:])


def test_num_weights_sweep_cli(setup, tmp_path, capsys):
    from edgekws.cli import main
    cfg = _with_enrol_corpus(setup, tmp_path, augment_copies=2)
    out = tmp_path / "nw.md"
    args = ["enrol-sweep", "--corpus", cfg.corpus, "--model", cfg.model,
            "--enrol-corpus", cfg.enrol_corpus, "--cache", cfg.cache_dir]
    assert main(args + ["--num-weights-values", "2,4", "--out", str(out)]) == 0
    text = out.read_text()
    assert "--num-weights-values 2,4" in text and "| num_weights | 2 | 4 |" in text
    assert main(args + ["--num-weights-values", "2,x"]) == 2
    assert "--num-weights-values must be comma-separated integers, not '2,x'" in \
        capsys.readouterr().err
