"""The mixed corpus (edgekws data mix), its acoustics and the loudness normalisation."""
import csv
import json

import numpy as np
import pytest

from edgekws.cli import main
from edgekws.data import acoustics as A
from edgekws.data.level import TARGET_C0, c0_per_db, normalize_level
from edgekws.data.mfcc import MfccScaling, fit_scaling, mfcc
from edgekws.data.mix import (build_mix, fold_of, kokoro_source, manifest_source,
                              speech_commands_source)
from edgekws.data.speech_commands import load_speech_commands
from edgekws.data.wavio import read_wav
from edgekws.data.wavio import write_wav as _write_wav

RATE = 16000


def write_wav(path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_wav(path, x)


HASHES = ["0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60", "4e5f6071", "5f607182"]


def _word(rng, f0, seconds=0.4):
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(t.size)
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def sc_test_layout(tmp_path):
    """A canonical 12-folder test layout: yes/no, _unknown_ (bed), _silence_."""
    rng = np.random.default_rng(0)
    root = tmp_path / "sc"
    for word, f0 in (("yes", 300), ("no", 500)):
        for h in HASHES:
            clip = np.zeros(RATE, np.float32)
            clip[4000:4000 + 6400] = _word(rng, f0)
            write_wav(root / word / f"{h}_nohash_0.wav", clip)
    for h in HASHES[:3]:
        write_wav(root / "_unknown_" / f"bed_{h}_nohash_1.wav", _word(rng, 800, 1.0))
    for i in range(5):
        write_wav(root / "_silence_" / f"{100 + i}.wav",
                  (0.01 * rng.standard_normal(RATE)).astype(np.float32))
    return root


@pytest.fixture
def kokoro_dir(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "kokoro"
    rows = []
    for spk, voices in (("af_a", "af_a"), ("bm_b", "bm_b"), ("mix-af_a-bm_b-0.5", "af_a+bm_b"),
                        ("zf_c", "zf_c")):
        for word, f0 in (("yes", 320), ("no", 520)):
            rel = f"{word}/{spk}_1.0.wav"
            write_wav(root / rel, _word(rng, f0, 0.5))
            rows.append({"path": rel, "word": word, "speaker": spk, "base_voices": voices})
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture
def noise_dir(tmp_path):
    d = tmp_path / "noise"
    write_wav(d / "pink.wav", (0.1 * np.random.default_rng(2).standard_normal(3 * RATE))
              .astype(np.float32))
    return d


def test_fold_of_is_the_hash_rule():
    assert fold_of("0a7c2a8d") == int("0a7c2a8d", 16) % 5 == 2
    assert fold_of("ffffffff", 3) == 0xffffffff % 3
    with pytest.raises(ValueError, match="folds must be a positive integer, not 0"):
        fold_of("0a7c2a8d", 0)
    with pytest.raises(ValueError, match="speaker hash must be hexadecimal, not 'zz'"):
        fold_of("zz")


def test_speech_commands_source_reads_the_canonical_layout(sc_test_layout):
    src = speech_commands_source(sc_test_layout, "sc", holdout=(1,), val_folds=(2,))
    words = {c.word for c in src.clips}
    assert words == {"yes", "no", "bed", "_silence_"}      # _unknown_ clips keep their word
    for c in src.clips:
        if c.word != "_silence_":
            f = fold_of(c.speaker)
            assert c.split == ("holdout" if f == 1 else "val" if f == 2 else "train")
    with pytest.raises(ValueError, match=r"holdout must be fold numbers in 0\.\.4, not \[7\]"):
        speech_commands_source(sc_test_layout, "sc", holdout=(7,))
    with pytest.raises(ValueError, match=r"folds \[1\] are both held out and validation"):
        speech_commands_source(sc_test_layout, "sc", holdout=(1,), val_folds=(1,))


def test_kokoro_blends_share_the_split_of_their_packs(kokoro_dir):
    src = kokoro_source(kokoro_dir, val_fraction=0.34)
    split = {c.speaker: c.split for c in src.clips}
    blend = split["mix-af_a-bm_b-0.5"]
    assert blend == ("val" if "val" in (split["af_a"], split["bm_b"]) else "train")
    assert "val" in split.values() and "train" in split.values()
    with pytest.raises(ValueError, match="no Kokoro manifest at .*expected the folder"):
        kokoro_source(kokoro_dir / "yes")


def test_build_mix_leaves_held_out_speakers_out(tmp_path, sc_test_layout, kokoro_dir,
                                                noise_dir):
    holdout = (fold_of(HASHES[0]),)
    srcs = [kokoro_source(kokoro_dir, "kk"),
            speech_commands_source(sc_test_layout, "sc0", holdout=holdout)]
    out = tmp_path / "mix"
    info = build_mix(out, srcs, sorted(noise_dir.glob("*.wav")), copies=2, workers=1,
                     progress=False)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")
                   if "_background_noise_" not in p.parts)
    assert len(files) == info["files"]
    held = [h for h in HASHES if fold_of(h) in holdout]
    assert held and not any(h in f for f in files for h in held)
    # every clip is written with 2 realistic copies, each a second long
    assert info["files"] == 3 * sum(1 for s in srcs for c in s.clips
                                    if c.split != "holdout" and c.word != "_silence_")
    assert all(read_wav(out / f).size == RATE for f in files[:6])
    val = (out / "validation_list.txt").read_text().split()
    assert val and all(f.split("/")[1].startswith("kk-") for f in val)
    record = json.loads((out / "corpus.json").read_text())
    assert record["format"] == "edgekws-mix" and record["copies"] == 2
    assert [s["name"] for s in record["sources"]] == ["kk", "sc0"]
    # the trainer's loader reads it: speakers keep one split, silence from real noise
    ds = load_speech_commands(out, silence_percentage=10)
    spk = {name: {s.speaker for s in getattr(ds, name) if s.speaker} for name in ("train", "val")}
    assert spk["train"] and spk["val"] and spk["train"].isdisjoint(spk["val"])
    assert any(p.endswith("pink.wav") for p in ds.noise_files)
    # a second run is deterministic
    again = build_mix(tmp_path / "mix2", srcs, sorted(noise_dir.glob("*.wav")), copies=2,
                      workers=1, progress=False)
    assert again["files"] == info["files"]
    np.testing.assert_array_equal(read_wav(out / files[1]), read_wav(tmp_path / "mix2" / files[1]))
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        build_mix(out, srcs, copies=1, workers=1, progress=False)
    with pytest.raises(ValueError, match="copies must be an integer in 0..64, not 100"):
        build_mix(tmp_path / "x", srcs, copies=100)


def test_manifest_source_and_cli_errors(tmp_path, kokoro_dir, capsys):
    with pytest.raises(ValueError, match="needs a manifest.csv with columns path, word"):
        manifest_source(tmp_path, "clips")
    assert len(manifest_source(kokoro_dir, "clips").clips) == 8
    code = main(["data", "mix", "--out", str(tmp_path / "m"), "--noise", str(tmp_path)])
    assert code == 2
    assert "no .wav files there" in capsys.readouterr().err
    assert main(["data", "mix", "--out", str(tmp_path / "m")]) == 2
    assert "no sources: give --kokoro" in capsys.readouterr().err
    code = main(["data", "mix", "--out", str(tmp_path / "m"), "--without", "echo",
                 "--kokoro", str(kokoro_dir)])
    assert code == 2 and "unknown effects ['echo']" in capsys.readouterr().err


def test_acoustics_switches_and_levels():
    rng = np.random.default_rng(3)
    speech = _word(rng, 400, 0.5).astype(np.float64)
    fx = A.Acoustics.without("noise", "trim", "reverb", "speed", level_db=(-30.0, -20.0))
    assert not fx.noise and fx.colour and fx.band
    for seed in range(5):
        out = A.augmented_copy(speech, [], np.random.default_rng(seed), fx)
        assert out.shape == (RATE,)
        peak = 20 * np.log10(np.max(np.abs(out)))
        assert -31.0 < peak < -19.0
    a = A.augmented_copy(speech, [], np.random.default_rng(9))
    b = A.augmented_copy(speech, [], np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"level_db must be \(low, high\)"):
        A.Acoustics(level_db=(-10.0, -20.0))


def test_level_normalisation_makes_gain_invisible():
    rng = np.random.default_rng(4)
    clip = (1e-4 * rng.standard_normal(RATE)).astype(np.float32)  # no digital silence
    clip[3000:3000 + 8000] += _word(rng, 350, 0.5)
    loud, quiet = mfcc(clip), mfcc(clip * np.float32(10 ** (-25 / 20)))
    assert abs((loud[:, 0].max() - quiet[:, 0].max()) - 25 * c0_per_db(40)) < 0.05
    nl, nq = normalize_level(loud, "c0-max"), normalize_level(quiet, "c0-max")
    np.testing.assert_allclose(nl, nq, atol=2e-3)
    assert nl[:, 0].max() == pytest.approx(TARGET_C0)
    # near-silence is raised by at most MAX_BOOST_DB
    tiny = mfcc(clip * np.float32(1e-5))
    assert normalize_level(tiny, "c0-max")[:, 0].max() < TARGET_C0 - 10
    scaling = fit_scaling(np.stack([loud, quiet]), per_coefficient=True, level="c0-max")
    np.testing.assert_array_equal(scaling.to_uint8(loud[None]), scaling.to_uint8(quiet[None]))
    assert MfccScaling.from_dict(scaling.to_dict()) == scaling
    plain = MfccScaling.from_dict({"offset": 0.0, "scale": 1.0})
    assert plain.level == "none" and "level" not in plain.to_dict()
    with pytest.raises(ValueError, match=r"level must be one of \('none', 'c0-max', 'c0-max-cmn'\), not 'agc'"):
        MfccScaling(level="agc")


def test_cepstral_mean_normalisation_removes_a_colouration():
    from edgekws.data.noise import random_eq
    rng = np.random.default_rng(6)
    clip = (1e-3 * rng.standard_normal(RATE)).astype(np.float32)
    clip[2000:2000 + 12800] += _word(rng, 250, 0.8) + _word(rng, 900, 0.8)
    coloured = random_eq(clip.astype(np.float64), np.random.default_rng(1),
                         tilt_db_per_octave=4.0).astype(np.float32)
    a, b = mfcc(clip), mfcc(coloured)
    plain = np.abs(normalize_level(a, "c0-max") - normalize_level(b, "c0-max"))[:, 1:]
    cmn = np.abs(normalize_level(a, "c0-max-cmn") - normalize_level(b, "c0-max-cmn"))[:, 1:]
    assert cmn.mean() < 0.5 * plain.mean()
    n = normalize_level(a, "c0-max-cmn")
    np.testing.assert_allclose(n[:, 1:].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_array_equal(n[:, 0], normalize_level(a, "c0-max")[:, 0])
