"""Synthetic corpus: layout, splits, determinism, voices, noises and effects."""
import csv
import hashlib
import json
import re

import numpy as np
import pytest

from edgekws.data import espeak, noise
from edgekws.data.speech_commands import load_speech_commands
from edgekws.data.synth import (STOCK_VARIANTS, SynthConfig, breathless_stock_variants,
                                make_speakers, make_variants, synthesize_corpus)
from edgekws.data.wavio import read_wav, wav_info

needs_espeak = pytest.mark.skipif(not espeak.available(),
                                  reason="espeakng-loader is not installed")

SMALL = SynthConfig(words=("yes", "no", "seven"), speakers=5, per_speaker=1,
                    noise_seconds=2.0, variants=4, seed=11)


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "corpus.json":
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if not espeak.available():
        pytest.skip("espeakng-loader is not installed")
    out = tmp_path_factory.mktemp("corpus")
    info = synthesize_corpus(out, SMALL, workers=2, progress=False)
    return out, info


@needs_espeak
def test_layout_and_counts(corpus):
    out, info = corpus
    assert info["files"] == 3 * 5 * 1 * 2 == info["utterances"] * 2
    for w in SMALL.words:
        names = sorted(p.name for p in (out / w).iterdir())
        assert len(names) == 10
        assert all(re.fullmatch(r"[0-9a-f]{8}_nohash_[01]\.wav", n) for n in names)
    for p in list((out / "yes").iterdir())[:4]:
        assert wav_info(p) == (1, 2, 16000, 16000)
    noises = sorted(p.stem for p in (out / "_background_noise_").glob("*.wav"))
    assert noises == sorted(noise.NOISE_KINDS)
    assert wav_info(out / "_background_noise_" / "babble.wav")[3] == 32000
    assert len(list((out / "_voices_").iterdir())) == 4
    assert json.loads((out / "corpus.json").read_text())["files"] == info["files"]


@needs_espeak
def test_speaker_disjoint_splits_and_tables(corpus):
    out, _ = corpus
    with open(out / "speakers.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and len({r["speaker"] for r in rows}) == 5
    split_of = {r["speaker"]: r["split"] for r in rows}
    assert sorted(split_of.values()).count("val") == 1
    assert sorted(split_of.values()).count("test") == 1
    for name, listfile in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        lines = (out / listfile).read_text().split()
        assert len(lines) == 3 * 2  # one speaker x 3 words x 2 copies
        assert {split_of[ln.split("/")[1][:8]] for ln in lines} == {name}
    ds = load_speech_commands(out)
    assert ds.word_to_index == {"_silence_": 0, "no": 1, "seven": 2, "yes": 3}
    assert {s.speaker for s in ds.val if s.speaker} == {k for k, v in split_of.items()
                                                        if v == "val"}
    assert len(ds.train) == round(18 * 1.1)  # 3 speakers x 3 words x 2 copies + 10% silence
    with open(out / "manifest.csv") as f:
        manifest = list(csv.DictReader(f))
    assert len(manifest) == 30
    assert {m["copy"] for m in manifest} == {"clean", "augmented"}


@needs_espeak
def test_audio_is_speech_like_and_varied(corpus):
    out, _ = corpus
    clean = [read_wav(p) for p in sorted((out / "seven").glob("*_nohash_0.wav"))]
    aug = [read_wav(p) for p in sorted((out / "seven").glob("*_nohash_1.wav"))]
    for c, a in zip(clean, aug):
        assert 0.02 < np.max(np.abs(c)) <= 1.0
        active = np.mean(np.abs(c) > 0.05 * np.max(np.abs(c)))
        assert 0.05 < active < 0.9  # a word, not silence or noise
        assert not np.allclose(c, a)
    # speakers differ from one another
    assert len({round(float(np.std(c)), 4) for c in clean}) == len(clean)


@needs_espeak
def test_deterministic_and_independent_of_workers(tmp_path):
    cfg = SynthConfig(words=("go", "sheila"), speakers=3, noise_seconds=1.0, variants=2,
                      seed=5)
    synthesize_corpus(tmp_path / "a", cfg, workers=1, progress=False)
    synthesize_corpus(tmp_path / "b", cfg, workers=2, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    other = SynthConfig(words=("go", "sheila"), speakers=3, noise_seconds=1.0, variants=2,
                        seed=6)
    synthesize_corpus(tmp_path / "c", other, workers=2, progress=False)
    assert _digest(tmp_path / "c") != _digest(tmp_path / "a")


@needs_espeak
def test_output_folder_rules(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    cfg = SynthConfig(words=("up",), speakers=1, noise_seconds=1.0, variants=0)
    with pytest.raises(ValueError, match="is not empty and holds no corpus.json"):
        synthesize_corpus(tmp_path / "busy", cfg, progress=False)
    synthesize_corpus(tmp_path / "c", cfg, progress=False)
    with pytest.raises(ValueError, match="already holds a corpus; pass overwrite=True"):
        synthesize_corpus(tmp_path / "c", cfg, progress=False)
    info = synthesize_corpus(tmp_path / "c", cfg, progress=False, overwrite=True)
    assert info["files"] == 2
    with pytest.raises(ValueError, match="workers must be a positive integer, not 0"):
        synthesize_corpus(tmp_path / "d", cfg, workers=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"words": ("Yes",)}, "word must be lower-case letters, not 'Yes'"),
    ({"words": ()}, "words must not be empty"),
    ({"words": ("up", "up")}, "words are not unique"),
    ({"speakers": 0}, "speakers must be an integer >= 1, not 0"),
    ({"augmented_copies": -1}, "augmented_copies must be an integer >= 0, not -1"),
    ({"val_fraction": 0.6, "test_fraction": 0.5}, "must be < 1"),
    ({"noise_seconds": 0.5}, "noise_seconds must be >= 1, not 0.5"),
    ({"seed": -3}, "seed must be a non-negative integer, not -3"),
])
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**kwargs)


def test_speakers_are_deterministic_varied_and_split_by_fraction():
    cfg = SynthConfig(speakers=200, seed=3)
    a, b = make_speakers(cfg), make_speakers(cfg)
    assert a == b
    assert len({s.id for s in a}) == 200
    splits = [s.split for s in a]
    assert splits.count("val") == 20 and splits.count("test") == 20
    assert len({s.accent for s in a}) >= 6
    assert len({s.variant for s in a}) >= 60
    warps = [s.warp for s in a]
    assert min(warps) < 0.92 and max(warps) > 1.10
    assert make_speakers(SynthConfig(speakers=200, seed=4))[0] != a[0]


def test_generated_variants_have_no_breath_and_scale_formants():
    variants = make_variants(0, 30)
    assert len(variants) == 30
    scales = []
    for text in variants.values():
        assert "breath" not in text
        f1 = re.search(r"^formant 1 (\d+)", text, re.M)
        scales.append(int(f1.group(1)))
    assert min(scales) < 95 and max(scales) > 115


@needs_espeak
def test_breath_is_removed_from_stock_variants():
    cleaned = breathless_stock_variants()
    assert cleaned and set(cleaned) <= set(STOCK_VARIANTS)
    for name, text in cleaned.items():
        assert re.search(r"^\s*breath", espeak.stock_variant_text(name), re.M)
        assert not re.search(r"^\s*breath", text, re.M) and "formant" in text


@needs_espeak
def test_espeak_synthesises_and_rejects_unknown_voices():
    es = espeak.get_espeak()
    audio = es.synth("seven", "en-us")
    assert audio.dtype == np.int16 and audio.size > 0.2 * es.sample_rate
    with pytest.raises(ValueError, match="eSpeak has no voice 'xx-nope'"):
        es.synth("seven", "xx-nope")


# ------------------------------------------------------------------ noises and effects


def _slope(x):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 16000)
    band = (f > 100) & (f < 4000)
    return np.polyfit(np.log10(f[band]), np.log10(spec[band] + 1e-20), 1)[0]


def test_coloured_noise_slopes():
    assert abs(_slope(noise.make_noise("white_noise", 2.0, 0))) < 0.2
    assert abs(_slope(noise.make_noise("pink_noise", 2.0, 0)) + 1) < 0.2
    assert abs(_slope(noise.make_noise("brown_noise", 2.0, 0)) + 2) < 0.2
    assert np.max(np.abs(noise.make_noise("white_noise", 1.0, 0))) == pytest.approx(0.9, 1e-5)


def test_hum_peaks_at_mains_frequency():
    h = noise.hum(2.0, 0, mains_hz=60.0)
    spec = np.abs(np.fft.rfft(h))
    f = np.fft.rfftfreq(h.size, 1 / 16000)
    low = f < 1000
    assert min(abs(f[low][np.argmax(spec[low])] - k * 60) for k in range(1, 12)) < 2


def test_noise_errors():
    with pytest.raises(ValueError, match="noise kind must be one of"):
        noise.make_noise("rain", 1.0)
    with pytest.raises(ValueError, match="babble noise needs a talk"):
        noise.make_noise("babble", 1.0)
    with pytest.raises(ValueError, match="positive number of seconds, not -1"):
        noise.make_noise("white_noise", -1)


def test_room_impulse_response_decays_at_rt60():
    rir = noise.room_impulse_response(0.4, np.random.default_rng(0))
    assert rir[0] == 1.0
    energy = np.cumsum(rir[::-1] ** 2)[::-1]  # Schroeder backward integration
    db = 10 * np.log10(energy / energy[1])
    t20 = np.argmax(db < -20) / 16000
    assert 0.1 < t20 < 0.2  # 20 dB in a third of RT60
    echo = noise.reverberate(np.r_[1.0, np.zeros(99)], rir)
    assert echo.size == 100 + rir.size - 1


def test_band_limit_attenuates_outside_the_band():
    t = np.arange(16000) / 16000
    low = noise.band_limit(np.sin(2 * np.pi * 50 * t), low_hz=300)
    high = noise.band_limit(np.sin(2 * np.pi * 7500 * t), high_hz=2000)
    mid = noise.band_limit(np.sin(2 * np.pi * 1000 * t), low_hz=300, high_hz=3000)
    assert noise.rms(low[2000:-2000]) < 0.01 and noise.rms(high[2000:-2000]) < 0.01
    assert abs(noise.rms(mid[2000:-2000]) - np.sqrt(0.5)) < 0.05
    with pytest.raises(ValueError, match="high_hz must be in"):
        noise.band_limit(t, high_hz=9000)


def test_random_eq_is_seeded_and_bounded():
    x = np.random.default_rng(0).standard_normal(16000)
    a = noise.random_eq(x, np.random.default_rng(1))
    b = noise.random_eq(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, x)
    gain = np.abs(np.fft.rfft(a)) / np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(16000, 1 / 16000)
    band = (f > 150) & (f < 6000)
    # tilt <= 3 dB/octave over <= 2.8 octaves plus three bumps of <= 6 dB
    assert np.all(np.abs(20 * np.log10(gain[band])) < 3 * 2.8 + 3 * 6 + 1)
