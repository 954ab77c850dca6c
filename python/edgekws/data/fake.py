"""A tiny fake Speech Commands tree for tests (no speech synthesiser needed).

Every word is a short chirp with its own frequency, shifted per speaker, so that a model
can tell the words apart; the split lists put whole speakers in ``val``/``test``.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .speech_commands import BACKGROUND_NOISE_DIR
from .wavio import write_wav

__all__ = ["make_fake_speech_commands"]


def make_fake_speech_commands(root, words=("yes", "no", "up"), speakers=4, per_speaker=2,
                              seconds: float = 0.5, rate: int = 16000, val_speakers=1,
                              test_speakers=1, noise_seconds: float = 2.0, seed: int = 0,
                              write_lists: bool = True) -> dict:
    """Write a fake dataset and return ``{'files': [...], 'val': [...], 'test': [...],
    'speakers': [...]}`` (paths relative to ``root``)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    ids = [f"{zlib.crc32(f'{seed}:{i}'.encode()):08x}" for i in range(speakers)]
    val_ids = set(ids[:val_speakers])
    test_ids = set(ids[val_speakers:val_speakers + test_speakers])
    t = np.arange(int(seconds * rate)) / rate
    files, val, test = [], [], []
    for w in words:
        (root / w).mkdir(parents=True, exist_ok=True)
        f0 = 300 + zlib.crc32(w.encode()) % 1500
        for k, sid in enumerate(ids):
            for i in range(per_speaker):
                f = f0 * (1 + 0.05 * k) * (1 + 0.01 * i)
                audio = 0.5 * np.sin(2 * np.pi * f * t) * np.hanning(t.size)
                audio += 0.01 * rng.standard_normal(t.size)
                rel = f"{w}/{sid}_nohash_{i}.wav"
                write_wav(root / rel, audio.astype(np.float32), rate)
                files.append(rel)
                if sid in val_ids:
                    val.append(rel)
                elif sid in test_ids:
                    test.append(rel)
    if write_lists:
        (root / "validation_list.txt").write_text("".join(p + "\n" for p in val))
        (root / "testing_list.txt").write_text("".join(p + "\n" for p in test))
    noise_dir = root / BACKGROUND_NOISE_DIR
    noise_dir.mkdir(parents=True, exist_ok=True)
    n = int(noise_seconds * 16000)
    write_wav(noise_dir / "white_noise.wav", (0.3 * rng.standard_normal(n)).clip(-1, 1)
              .astype(np.float32))
    write_wav(noise_dir / "hum.wav",
              (0.3 * np.sin(2 * np.pi * 50 * np.arange(n) / 16000)).astype(np.float32))
    return {"files": files, "val": val, "test": test, "speakers": ids}
