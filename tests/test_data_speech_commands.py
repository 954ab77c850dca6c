"""Speech Commands loader on a tiny fake tree."""
import numpy as np
import pytest

from edgekws.data.fake import make_fake_speech_commands
from edgekws.data.speech_commands import (SILENCE, load_sample, load_speech_commands,
                                          load_waves, speaker_of, which_set, word_to_index)
from edgekws.data.wavio import read_wav


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc")
    info = make_fake_speech_commands(root, words=("yes", "no", "up", "bed"), speakers=5,
                                     per_speaker=2)
    return root, info


def test_word_to_index_is_sorted_with_silence_first():
    assert word_to_index(["yes", "bed", "up"]) == {"_silence_": 0, "bed": 1, "up": 2, "yes": 3}
    with pytest.raises(ValueError, match="words are not unique"):
        word_to_index(["yes", "yes"])
    with pytest.raises(ValueError, match="not starting with '_', not '_silence_'"):
        word_to_index(["_silence_"])


def test_splits_follow_the_lists(fake):
    root, info = fake
    ds = load_speech_commands(root, silence_percentage=0)
    assert ds.word_to_index == {"_silence_": 0, "bed": 1, "no": 2, "up": 3, "yes": 4}
    rel = lambda samples: sorted(f"{s.word}/{s.path.rsplit('/', 1)[1]}" for s in samples)  # noqa
    assert rel(ds.val) == sorted(info["val"])
    assert rel(ds.test) == sorted(info["test"])
    assert len(ds.train) + len(ds.val) + len(ds.test) == len(info["files"])
    for s in ds.train + ds.val + ds.test:
        assert s.label == ds.word_to_index[s.word]
        assert s.speaker in info["speakers"]
    # speaker-disjoint
    speakers = {name: {s.speaker for s in ds.split(name)} for name in ("train", "val", "test")}
    assert not speakers["train"] & speakers["val"] and not speakers["train"] & speakers["test"]
    summary = ds.summary()
    assert summary["val"]["speakers"] == 1 and summary["train"]["speakers"] == 3
    assert summary["train"]["words"]["yes"] == 6


def test_words_and_exclude(fake):
    root, _ = fake
    ds = load_speech_commands(root, exclude=["bed"], silence_percentage=0)
    assert list(ds.word_to_index) == ["_silence_", "no", "up", "yes"]
    ds = load_speech_commands(root, words=["up", "no"], silence_percentage=0)
    assert ds.word_to_index == {"_silence_": 0, "no": 1, "up": 2}
    with pytest.raises(ValueError, match=r"words \['cat'\] have no folder"):
        load_speech_commands(root, words=["cat"])
    with pytest.raises(ValueError, match="does not exist"):
        load_speech_commands(root / "nope")


def test_silence_samples_are_cut_from_background_noise(fake):
    root, _ = fake
    ds = load_speech_commands(root, silence_percentage=50, seed=3)
    n_words = sum(1 for s in ds.train if not s.is_silence)
    silence = [s for s in ds.train if s.is_silence]
    assert len(silence) == round(n_words * 0.5)
    assert all(s.label == 0 and s.word == SILENCE and s.speaker is None for s in silence)
    assert all(s.path in ds.noise_files for s in silence)
    s = silence[0]
    noise = read_wav(s.path)
    assert 0 <= s.start <= noise.size - 16000
    np.testing.assert_allclose(load_sample(s), noise[s.start:s.start + 16000] * s.volume,
                               rtol=1e-6)
    again = load_speech_commands(root, silence_percentage=50, seed=3)
    assert again.train == ds.train  # reproducible


def test_silence_needs_noise(tmp_path):
    make_fake_speech_commands(tmp_path, words=("go",), speakers=3, per_speaker=1)
    for p in (tmp_path / "_background_noise_").iterdir():
        p.unlink()
    with pytest.raises(ValueError, match="silence samples need noise files"):
        load_speech_commands(tmp_path)
    assert load_speech_commands(tmp_path, silence_percentage=0).train


def test_load_waves_pads_to_one_second(fake):
    root, _ = fake
    ds = load_speech_commands(root, silence_percentage=0)
    waves = load_waves(ds.val[:3])
    assert waves.shape == (3, 16000) and waves.dtype == np.float32
    assert np.all(waves[:, 8000:] == 0) and np.max(np.abs(waves[:, :8000])) > 0.1


def test_speaker_of():
    assert speaker_of("bed/0a7c2a8d_nohash_1.wav") == "0a7c2a8d"
    with pytest.raises(ValueError, match="'bed.wav' does not match"):
        speaker_of("x/bed.wav")


def test_which_set_keeps_speakers_together_and_has_the_right_proportions():
    assert which_set("a/abc_nohash_0.wav") == which_set("b/abc_nohash_7.wav")
    names = [f"w/{i:08x}_nohash_0.wav" for i in range(3000)]
    sets = [which_set(n) for n in names]
    assert 0.08 < sets.count("val") / 3000 < 0.12
    assert 0.08 < sets.count("test") / 3000 < 0.12
    assert all(which_set(n, 0, 0) == "train" for n in names[:50])


def test_fallback_to_hash_split_without_lists(tmp_path):
    make_fake_speech_commands(tmp_path, words=("go",), speakers=12, per_speaker=2,
                              write_lists=False)
    ds = load_speech_commands(tmp_path, silence_percentage=0)
    for s in ds.train + ds.val + ds.test:
        expected = {"train": ds.train, "val": ds.val, "test": ds.test}[which_set(s.path)]
        assert s in expected
