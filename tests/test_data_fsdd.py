"""FSDD reader: on fake files always, on the real recordings when they are present."""
from pathlib import Path

import numpy as np
import pytest

from edgekws.data import fsdd
from edgekws.data.fsdd import DIGIT_WORDS, fit_clip, fsdd_root, list_fsdd, load_fsdd
from edgekws.data.wavio import wav_info, write_wav


def _real_root():
    try:
        return fsdd_root()
    except FileNotFoundError as exc:
        pytest.skip(f"real FSDD recordings absent ({exc})")


@pytest.fixture
def fake_fsdd(tmp_path, monkeypatch):
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    t = np.arange(2400) / 8000  # 0.3 s at 8 kHz
    for digit in (3, 7):
        for spk in ("alice", "bob"):
            for i in range(2):
                tone = 0.4 * np.sin(2 * np.pi * (300 + 100 * digit) * t) * np.hanning(t.size)
                write_wav(rec / f"{digit}_{spk}_{i}.wav", tone.astype(np.float32), 8000)
    (rec / "README.txt").write_text("not a recording")
    monkeypatch.setenv("EDGEKWS_FSDD", str(tmp_path / "fsdd"))  # dataset folder form
    return rec


def test_env_var_override_and_parsing(fake_fsdd):
    samples = list_fsdd()
    assert len(samples) == 8
    assert {s.speaker for s in samples} == {"alice", "bob"}
    assert samples[0].digit == 3 and samples[0].word == "three"
    assert [s.word for s in list_fsdd(digits=[7])] == ["seven"] * 4
    assert len(list_fsdd(speakers=["bob"])) == 4


def test_load_resamples_and_centres(fake_fsdd):
    waves, words, speakers = load_fsdd(list_fsdd(speakers=["alice"], digits=[3]))
    assert waves.shape == (2, 16000) and waves.dtype == np.float32
    assert words == ["three", "three"] and speakers == ["alice", "alice"]
    nz = np.nonzero(np.abs(waves[0]) > 1e-4)[0]
    assert abs((nz[0] + nz[-1]) / 2 - 8000) < 100  # centred
    assert 4200 < nz[-1] - nz[0] <= 4800  # 0.3 s at 16 kHz
    start, _, _ = load_fsdd(list_fsdd(speakers=["alice"], digits=[3]), align="start")
    assert np.abs(start[0, :100]).max() < 0.05 and not start[0, 5000:].any()


def test_fit_clip():
    a = np.arange(1, 5, dtype=np.float32)
    assert fit_clip(a, 8).tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert fit_clip(a, 6, "start").tolist() == [1, 2, 3, 4, 0, 0]
    assert fit_clip(np.arange(10, dtype=np.float32), 4).tolist() == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="align must be 'center' or 'start', not 'end'"):
        fit_clip(a, 8, "end")


def test_errors(fake_fsdd, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown FSDD speakers \['carol'\]"):
        list_fsdd(speakers=["carol"])
    with pytest.raises(ValueError, match=r"digits must be 0-9, not \[12\]"):
        list_fsdd(digits=[12])
    monkeypatch.setenv("EDGEKWS_FSDD", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="FSDD recordings not found.*EDGEKWS_FSDD"):
        list_fsdd()


def test_default_location_is_next_to_the_repository(monkeypatch):
    monkeypatch.delenv("EDGEKWS_FSDD", raising=False)
    repo = Path(fsdd.__file__).resolve().parents[3]
    assert (repo / "pyproject.toml").exists()  # the package sits in <repo>/python/edgekws
    assert fsdd._default_root() == repo.parent / "shared" / "data" / "fsdd" / "recordings"


def test_real_recordings(monkeypatch):
    monkeypatch.delenv("EDGEKWS_FSDD", raising=False)
    root = _real_root()
    samples = list_fsdd(root)
    assert len(samples) >= 100
    assert {s.word for s in samples} == set(DIGIT_WORDS)
    assert wav_info(samples[0].path)[2] == 8000
    pick = samples[::len(samples) // 20][:20]
    waves, words, _ = load_fsdd(pick)
    assert waves.shape == (len(pick), 16000)
    assert np.all(np.max(np.abs(waves), axis=1) > 0.01)
    assert words == [DIGIT_WORDS[s.digit] for s in pick]
