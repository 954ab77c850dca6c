"""The edge-learning tutorial flow on a tiny fake corpus and a random extractor."""
from __future__ import annotations

import json

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


def test_tutorial_with_a_separate_enrolment_corpus(setup, tmp_path):
    root, corpus, path = setup
    enrol = tmp_path / "enrol"
    make_fake_speech_commands(enrol, words=("backward", "follow", "forward"), speakers=2,
                              per_speaker=7, seed=9)
    cfg = TutorialConfig(corpus=str(corpus), model=str(path), cache_dir=str(tmp_path / "c"),
                         out_dir=str(tmp_path / "out"), neurons_per_class=2, augment_copies=2,
                         neurons_table=(), enrol_corpus=str(enrol))
    res = run(cfg, progress=False, log=lambda *a: None)
    assert res.new_word_total == 3 * (7 - 4)
    assert res.enrol_samples == 3 * 4 * 2
