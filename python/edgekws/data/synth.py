"""An offline keyword corpus in the Speech Commands layout, from eSpeak NG.

No speech dataset can be downloaded on the project's machines, so ``edgekws data synth``
speaks the 35 Speech Commands words with many synthetic speakers::

    OUT/
      bed/1f3a9c2e_nohash_0.wav   clean copy of repetition 0 of speaker 1f3a9c2e
      bed/1f3a9c2e_nohash_1.wav   augmented copy of the same utterance
      ...
      _background_noise_/         white/pink/brown noise, hum, babble (60 s each)
      _voices_/                   the generated eSpeak voice variants (for reference)
      validation_list.txt         speaker-disjoint splits, Speech Commands style
      testing_list.txt
      speakers.csv                speaker id, split and voice parameters
      manifest.csv                every file with word, speaker, repetition and copy kind
      corpus.json                 the parameters and counts of the build

A *speaker* is an eSpeak accent (8 English ones) + a voice variant (about 65 stock
variants and ``--variants`` generated ones with random formant scaling, pitch base/range,
flutter, roughness, voicing) + pitch, pitch range and speed settings + a
"vocal tract" warp (the audio is resampled as if it had been produced at a rate
0.88-1.14 times the real one, which scales pitch, formants and tempo together) + a
loudness. Every repetition varies speed, pitch, range and intonation (``.``, ``!``, ``?``)
a little.

Each utterance is written as a clean copy and (by default one) augmented copy; the notes
on synthetic digits found that both mattered for transfer to real speech:

* **clean** - trimmed, given a gentle random microphone colouration (+-1.5 dB/octave tilt,
  +-3 dB bumps), peak-normalised to the speaker's loudness, placed around the middle of
  the one-second clip over a low noise floor (-80 to -50 dBFS) that half the time stops
  shortly before and after the word (digital silence beyond, like a trimmed recording
  zero-padded to one second, as FSDD clips are);
* **augmented** - the same utterance with a small speed change, a synthetic room impulse
  response (RT60 0.15-0.8 s), a stronger random colouration, a random band limit
  (35 %: an 8 kHz recording chain, a steep low-pass at 3.3-3.9 kHz; 45 %: high-pass
  50-400 Hz and low-pass 2.8-7.5 kHz or none; 20 %: none), random
  loudness and position, and one of the background noises at 0-30 dB SNR. A third of
  these copies are trimmed hard (an energy threshold 12-28 dB below the peak cuts weak
  onsets and codas such as /s/, /f/, /th/, and the noise stops at the cut, as in many
  FSDD clips); of the others 40 % have their noise cut off shortly around the word.

The build is deterministic given ``seed``: every random draw comes from a generator seeded
by ``(seed, speaker, word, repetition)``, and because eSpeak NG keeps hidden state across
utterances, each speaker is synthesised in a fresh worker process, so the files do not
depend on the number of workers.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import multiprocessing
import os
import time
import zlib
from pathlib import Path

import numpy as np

from edgekws.checks import check_int

from . import espeak as _espeak
from .acoustics import augmented_copy as _augmented_copy
from .acoustics import fade as _fade
from .acoustics import peak_to as _peak_to
from .acoustics import place as _place
from .acoustics import trim as _trim
from .acoustics import trimmed_mask as _trimmed_mask
from .noise import NOISE_KINDS, make_noise, random_eq
from .speech_commands import BACKGROUND_NOISE_DIR
from .wavio import read_wav, resample, write_wav

__all__ = [
    "WORDS",
    "SynthConfig",
    "Speaker",
    "make_speakers",
    "make_variants",
    "synthesize_corpus",
]

SAMPLE_RATE = 16000
CLIP = 16000
VOICES_DIR = "_voices_"
FORMAT_VERSION = 1

#: The 35 words of Speech Commands v2.
WORDS = ("backward bed bird cat dog down eight five follow forward four go happy house learn "
         "left marvin nine no off on one right seven sheila six stop three tree two up visual "
         "wow yes zero").split()

#: An extra vocabulary of everyday words, none of them a Speech Commands word, that the
#: shipped model's extractor was also trained on: a wider vocabulary gives spikes that tell
#: unseen words apart (docs/tutorial/native-gap.md, "A wider vocabulary").
EXTRA_WORDS = ("apple baby black blue book bottle chair city coffee color doctor early east "
               "family friend garden green hello island kitchen later light money morning "
               "music never north open orange paper people purple quiet river simple south "
               "summer table water window winter yellow monkey pizza rabbit tiger").split()

#: eSpeak English accents and their share of speakers.
ACCENTS = (("en-us", 0.28), ("en", 0.14), ("en-gb-x-rp", 0.10), ("en-gb-scotland", 0.09),
           ("en-gb-x-gbclan", 0.08), ("en-gb-x-gbcwmd", 0.08), ("en-us-nyc", 0.11),
           ("en-029", 0.12))

#: Stock eSpeak variants that sound like a person (robotic, whispering and broken ones left out).
STOCK_VARIANTS = (
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 klatt6 Alex Alicia "
    "Andrea Andy Annie Denis Diogo Gene Gene2 Henrique Hugo Marco Mario Michael Mike Nguyen "
    "Reed adam anika announcer antonio aunty belinda benjamin croak david ed edward edward2 "
    "grandma grandpa gustave linda max michel miguel mike2 paul pedro quincy rob robert "
    "sandro shelby steph steph2 steph3 travis victor zac").split()

_PUNCTUATION = ("", ".", "!", "?")
_PUNCTUATION_P = (0.35, 0.35, 0.15, 0.15)


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Parameters of a corpus build (see :func:`synthesize_corpus`)."""

    words: tuple = tuple(WORDS)
    speakers: int = 1500
    per_speaker: int = 1
    augmented_copies: int = 1
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    noise_seconds: float = 60.0
    variants: int = 40

    def __post_init__(self):
        words = tuple(self.words)
        object.__setattr__(self, "words", words)
        if not words:
            raise ValueError("words must not be empty")
        for w in words:
            if not isinstance(w, str) or not w.isalpha() or not w.islower():
                raise ValueError(f"word must be lower-case letters, not {w!r}")
        if len(set(words)) != len(words):
            raise ValueError(f"words are not unique: {list(words)!r}")
        for name, low in (("speakers", 1), ("per_speaker", 1), ("augmented_copies", 0),
                          ("variants", 0)):
            check_int(name, getattr(self, name), low, expected=f"an integer >= {low}")
        check_int("seed", self.seed, 0, expected="a non-negative integer")
        for name in ("val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {v!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must be < 1, not "
                             f"{self.val_fraction + self.test_fraction!r}")
        if not np.isfinite(self.noise_seconds) or self.noise_seconds < 1.0:
            raise ValueError(f"noise_seconds must be >= 1, not {self.noise_seconds!r}")

    @property
    def copies(self) -> int:
        """Files per utterance (the clean copy plus the augmented ones)."""
        return 1 + self.augmented_copies

    @property
    def total_files(self) -> int:
        return len(self.words) * self.speakers * self.per_speaker * self.copies


@dataclasses.dataclass(frozen=True)
class Speaker:
    """The voice parameters of one synthetic speaker (a row of ``speakers.csv``)."""

    index: int
    id: str
    split: str
    accent: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int
    warp: float
    level_db: float

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


def _seq(seed, *keys):
    return np.random.default_rng([int(seed)] + [int(k) for k in keys])


def _word_key(word: str) -> int:
    return zlib.crc32(word.encode("utf-8"))


def make_variants(seed: int, count: int) -> dict:
    """``count`` generated eSpeak voice variants ``{'ek00': text, ...}``.

    Each has a gender, a pitch base and top (Hz), a vocal-tract scale applied to the
    formant frequencies (with per-formant jitter), random formant heights and widths, and
    random flutter, roughness, voicing and consonant strength.
    """
    out = {}
    for j in range(count):
        rng = _seq(seed, 2, j)
        kind = rng.choice(["male", "female", "child"], p=[0.45, 0.45, 0.10])
        if kind == "male":
            base = rng.uniform(65, 130)
            tract = rng.uniform(0.86, 1.04)
        elif kind == "female":
            base = rng.uniform(140, 230)
            tract = rng.uniform(1.02, 1.20)
        else:
            base = rng.uniform(220, 300)
            tract = rng.uniform(1.15, 1.30)
        top = base * rng.uniform(1.2, 1.9)
        lines = ["language variant", f"name ek{j:02d}",
                 f"gender {'male' if kind == 'male' else 'female'}",
                 f"pitch {base:.0f} {top:.0f}"]
        for f in range(9):
            freq = 100 * tract * rng.uniform(0.94, 1.06) if f < 6 else 100 * rng.uniform(0.9, 1.1)
            height = rng.uniform(70, 135) if f else rng.uniform(80, 160)
            width = rng.uniform(70, 170)
            lines.append(f"formant {f} {freq:.0f} {height:.0f} {width:.0f}")
        lines.append(f"flutter {int(rng.integers(0, 16))}")
        lines.append(f"roughness {int(rng.integers(0, 6))}")
        # No "breath": eSpeak's breath noise is not reproducible (see breathless_stock_variants).
        lines.append(f"voicing {int(rng.uniform(70, 140))}")
        lines.append(f"consonants {int(rng.uniform(50, 120))} {int(rng.uniform(50, 120))}")
        out[f"ek{j:02d}"] = "\n".join(lines) + "\n"
    return out


def breathless_stock_variants() -> dict:
    """Stock variants of :data:`STOCK_VARIANTS` that use ``breath``, without it.

    eSpeak NG 1.52's breath noise depends on uninitialised memory (the same text and voice
    gives different samples from run to run), which would make the corpus irreproducible.
    """
    out = {}
    for name in STOCK_VARIANTS:
        text = _espeak.stock_variant_text(name)
        lines = text.splitlines()
        kept = [ln for ln in lines if not ln.strip().lower().startswith("breath")]
        if len(kept) != len(lines):
            out[name] = "\n".join(kept) + "\n"
    return out


def speaker_id(seed: int, index: int) -> str:
    """8 hex digits, like the Speech Commands speaker hashes."""
    return hashlib.sha1(f"edgekws-synth:{seed}:{index}".encode()).hexdigest()[:8]


def make_speakers(config: SynthConfig) -> list:
    """The speakers of a build, with a speaker-disjoint train/val/test assignment."""
    n = config.speakers
    variants = list(STOCK_VARIANTS) + [f"ek{j:02d}" for j in range(config.variants)]
    accents = [a for a, _ in ACCENTS]
    probs = np.array([p for _, p in ACCENTS])
    probs = probs / probs.sum()
    order = _seq(config.seed, 3).permutation(n)
    n_val = int(round(n * config.val_fraction))
    n_test = int(round(n * config.test_fraction))
    if n >= 3:
        n_val = max(n_val, 1 if config.val_fraction > 0 else 0)
        n_test = max(n_test, 1 if config.test_fraction > 0 else 0)
    split = np.array(["train"] * n, dtype=object)
    split[order[:n_val]] = "val"
    split[order[n_val:n_val + n_test]] = "test"
    speakers = []
    ids = set()
    for i in range(n):
        rng = _seq(config.seed, 1, i)
        sid = speaker_id(config.seed, i)
        if sid in ids:  # astronomically unlikely; keep ids unique anyway
            sid = hashlib.sha1(f"{sid}:{i}".encode()).hexdigest()[:8]
        ids.add(sid)
        speakers.append(Speaker(
            index=i, id=sid, split=str(split[i]),
            accent=str(rng.choice(accents, p=probs)),
            variant=str(variants[int(rng.integers(len(variants)))]),
            pitch=int(rng.integers(25, 76)),
            pitch_range=int(rng.integers(15, 96)),
            rate=int(rng.integers(125, 211)),
            warp=float(round(rng.uniform(0.88, 1.14), 3)),
            level_db=float(round(rng.uniform(-14.0, -1.0), 1)),
        ))
    return speakers


# ---------------------------------------------------------------- signal processing helpers

def _warped_resample(audio, rate, warp):
    """Resample as if ``audio`` had been recorded at ``rate * warp`` (rounded to 50 Hz)."""
    src = int(round(rate * warp / 50.0)) * 50
    return resample(audio, src, SAMPLE_RATE)


# ------------------------------------------------------------------------------ workers

_WORKER: dict = {}


def _talk(es):
    def talk(text, rng):
        voice = f"{rng.choice([a for a, _ in ACCENTS])}+{rng.choice(STOCK_VARIANTS)}"
        raw = es.synth(text, voice, rate=int(rng.integers(140, 220)),
                       pitch=int(rng.integers(20, 80)), pitch_range=int(rng.integers(20, 90)))
        return _warped_resample(raw.astype(np.float64) / 32768.0, es.sample_rate,
                                rng.uniform(0.9, 1.12))
    return talk


def _srand(seed: int) -> None:
    """Seed C ``rand()``, which eSpeak's Klatt voices draw from."""
    import ctypes

    try:
        ctypes.CDLL(None).srand(ctypes.c_uint(seed & 0x7FFFFFFF))
    except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
        pass


def _noise_task(args):
    kind, seconds, seed, data_dir, path = args
    rng = _seq(seed, 4, NOISE_KINDS.index(kind))
    _srand(seed * 7919 + NOISE_KINDS.index(kind))
    talk = _talk(_espeak.Espeak(data_dir)) if kind == "babble" else None
    write_wav(path, make_noise(kind, seconds, rng, talk=talk))
    return kind


def _init_worker(data_dir, noise_paths):
    _WORKER["data_dir"] = data_dir
    _WORKER["noise_paths"] = noise_paths


def _speech(es, speaker: Speaker, word: str, rng) -> np.ndarray:
    """Synthesise, warp to 16 kHz and trim one utterance (at most 0.95 s)."""
    punct = str(rng.choice(_PUNCTUATION, p=_PUNCTUATION_P))
    rate = speaker.rate * rng.uniform(0.9, 1.12)
    pitch = int(np.clip(speaker.pitch + rng.integers(-8, 9), 0, 100))
    prange = int(np.clip(speaker.pitch_range + rng.integers(-12, 13), 0, 100))
    for _ in range(6):
        raw = es.synth(word + punct, speaker.voice, rate=int(rate), pitch=pitch,
                       pitch_range=prange)
        audio = _trim(_warped_resample(raw.astype(np.float64) / 32768.0, es.sample_rate,
                                       speaker.warp))
        if audio.size <= int(0.95 * CLIP):
            break
        rate *= 1.2
    if audio.size == 0:
        raise RuntimeError(f"eSpeak produced no audio for {word!r} with voice {speaker.voice!r}")
    return _fade(audio[: int(0.95 * CLIP)])


def _clean_copy(speech, speaker, rng):
    """Clean copy: a gentle random microphone colouration, the speaker's loudness, near the
    middle, over a -80 to -50 dBFS noise floor that covers either the whole clip or (half
    the time) only the trimmed recording."""
    audio = random_eq(speech, rng, tilt_db_per_octave=1.5, bumps=2, bump_db=3.0)
    audio = _peak_to(audio, float(np.clip(speaker.level_db + rng.normal(0, 1.5), -30, -0.5)))
    out, start = _place(audio, rng, centred=True)
    floor = 10 ** (rng.uniform(-80, -50) / 20) * rng.standard_normal(CLIP)
    if rng.random() < 0.5:
        floor *= _trimmed_mask(start, audio.size, rng)
    return out + floor


def _speaker_task(args):
    """Synthesise all words of one speaker (runs in a fresh process)."""
    config, speaker, out_dir = args
    _srand(int(speaker_id(config.seed, speaker.index), 16))
    es = _espeak.Espeak(_WORKER["data_dir"])
    noises = [read_wav(p) for p in _WORKER["noise_paths"]]
    rows = []
    for word in config.words:
        for rep in range(config.per_speaker):
            rng = _seq(config.seed, 5, speaker.index, _word_key(word), rep)
            speech = _speech(es, speaker, word, rng)
            copies = [("clean", _clean_copy(speech, speaker, rng))]
            copies += [("augmented", _augmented_copy(speech, noises, rng))
                       for _ in range(config.augmented_copies)]
            for j, (kind, audio) in enumerate(copies):
                rel = f"{word}/{speaker.id}_nohash_{rep * config.copies + j}.wav"
                write_wav(Path(out_dir) / rel, audio.astype(np.float32))
                rows.append((rel, word, speaker.id, rep, kind, speaker.split))
    return rows


# ------------------------------------------------------------------------------ driver

def _prepare_out(out: Path, overwrite: bool):
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"output {os.fspath(out)!r} exists and is not a folder")
        contents = [p for p in out.iterdir()]
        if contents and not (out / "corpus.json").exists():
            raise ValueError(f"output folder {os.fspath(out)!r} is not empty and holds no "
                             f"corpus.json; refusing to write into it")
        if contents and not overwrite:
            raise ValueError(f"output folder {os.fspath(out)!r} already holds a corpus; "
                             f"pass overwrite=True (--overwrite) to replace it")
        if contents:
            import shutil

            for p in contents:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def synthesize_corpus(out, config: SynthConfig | None = None, workers: int | None = None,
                      progress: bool = True, overwrite: bool = False) -> dict:
    """Write a synthetic corpus in the Speech Commands layout (see the module docstring).

    Parameters
    ----------
    out : path-like
        Output folder (created; must be empty, or a previous corpus with ``overwrite``).
    config : SynthConfig
        What to build.
    workers : int, optional
        Worker processes (default: the number of CPUs).
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Replace an existing corpus in ``out``.

    Returns
    -------
    dict
        The ``corpus.json`` content: parameters, counts, bytes and timings.
    """
    config = config or SynthConfig()
    if workers is None:
        workers = os.cpu_count() or 1
    workers = check_int("workers", workers)
    if not _espeak.available():
        raise ValueError("speech synthesis needs the 'espeakng-loader' package "
                         "(pip install espeakng-loader==0.2.4)")
    out = Path(out)
    _prepare_out(out, overwrite)
    t0 = time.perf_counter()
    variants = make_variants(config.seed, config.variants)
    vdir = out / VOICES_DIR
    vdir.mkdir()
    for name, text in variants.items():
        (vdir / name).write_text(text, encoding="utf-8")
    for w in config.words:
        (out / w).mkdir()
    ndir = out / BACKGROUND_NOISE_DIR
    ndir.mkdir()
    speakers = make_speakers(config)
    data_dir = _espeak.make_data_dir({**breathless_stock_variants(), **variants})
    ctx = multiprocessing.get_context("fork")
    try:
        noise_paths = [str(ndir / f"{k}.wav") for k in NOISE_KINDS]
        with ctx.Pool(min(workers, len(NOISE_KINDS)), maxtasksperchild=1) as pool:
            pool.map(_noise_task, [(k, config.noise_seconds, config.seed, str(data_dir), p)
                                   for k, p in zip(NOISE_KINDS, noise_paths)])
        t_noise = time.perf_counter() - t0
        rows = []
        from tqdm import tqdm

        bar = tqdm(total=config.total_files, unit="file", disable=not progress,
                   desc="synth", smoothing=0.05)
        with ctx.Pool(workers, initializer=_init_worker,
                      initargs=(str(data_dir), noise_paths), maxtasksperchild=1) as pool:
            for result in pool.imap_unordered(_speaker_task,
                                              [(config, s, str(out)) for s in speakers]):
                rows.extend(result)
                bar.update(len(result))
        bar.close()
    finally:
        _espeak.remove_data_dir(data_dir)
    elapsed = time.perf_counter() - t0
    rows.sort(key=lambda r: (r[0]))
    _write_tables(out, config, speakers, rows)
    n_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    info = {
        "format": "edgekws-synth",
        "version": FORMAT_VERSION,
        "config": {**dataclasses.asdict(config), "words": list(config.words)},
        "files": len(rows),
        "utterances": len(rows) // config.copies,
        "speakers": {s: sum(1 for sp in speakers if sp.split == s)
                     for s in ("train", "val", "test")},
        "bytes": n_bytes,
        "seconds": round(elapsed, 2),
        "noise_seconds_build": round(t_noise, 2),
        "files_per_second": round(len(rows) / max(elapsed - t_noise, 1e-9), 1),
        "workers": workers,
    }
    (out / "corpus.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _write_tables(out: Path, config, speakers, rows):
    with open(out / "validation_list.txt", "w", encoding="utf-8") as fv, \
            open(out / "testing_list.txt", "w", encoding="utf-8") as ft:
        for rel, _, _, _, _, split in rows:
            if split == "val":
                fv.write(rel + "\n")
            elif split == "test":
                ft.write(rel + "\n")
    with open(out / "speakers.csv", "w", newline="", encoding="utf-8") as f:
        fields = [fl.name for fl in dataclasses.fields(Speaker)]
        w = csv.writer(f)
        w.writerow(["speaker" if n == "id" else n for n in fields] + ["voice"])
        for s in speakers:
            w.writerow([getattr(s, n) for n in fields] + [s.voice])
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "word", "speaker", "repetition", "copy", "split"])
        w.writerows(rows)
    (out / BACKGROUND_NOISE_DIR / "README.md").write_text(
        "Synthetic background noises (16 kHz, 16-bit PCM), made by edgekws.data.noise:\n"
        "white_noise, pink_noise (1/f), brown_noise (1/f^2), hum (mains and harmonics),\n"
        "babble (six eSpeak NG talkers at once).\n", encoding="utf-8")
