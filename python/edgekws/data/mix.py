"""A training corpus mixed from neural TTS clips and real recordings, split by speaker.

``edgekws data mix`` reads clips that were made elsewhere - the Kokoro-82M keyword clips of
``../shared/data/kokoro`` (a ``manifest.csv``), real Speech Commands folders (the canonical
12-folder test layout with ``_unknown_``/``_silence_``, or plain word folders), any folder
with a manifest (``--add-clips``) - and writes them in the Speech Commands layout that
:func:`edgekws.data.speech_commands.load_speech_commands` and ``edgekws train`` read, with
``copies`` realistic versions of each clip (:func:`edgekws.data.acoustics.augmented_copy`:
room, microphone, band, level, real background noise).

The split is by speaker, for every source:

* Speech Commands speakers (the hash in ``{hash}_nohash_{i}.wav``) fall in one of
  ``folds`` folds, ``int(hash[:8], 16) % folds`` (silence clips: their number). Folds in
  ``holdout`` are **not written at all**, so a model trained on the corpus has never heard
  those speakers and ``edgekws eval --folds`` can report on them honestly; folds in
  ``val_folds`` go to the validation list.
* Kokoro speakers are voice packs or blends of two packs; a blend shares timbre with its
  parents, so a clip goes to validation when any of its packs is a validation pack. (A
  blend of a validation pack and a training pack thus puts some training timbre into
  validation; Kokoro validation only picks the training epoch, never a reported figure.)
* A whole source can be validation only (``val_sources``), e.g. the Speech Commands v0.01
  sample, whose speakers are not in the v0.02 test set.

Everything is recorded in ``corpus.json``: sources, counts, the fold rule, held-out folds,
the acoustics and the seed.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

from edgekws.atomicio import atomic_write
from edgekws.checks import check_int

from .acoustics import ALL, Acoustics, augmented_copy, peak_to, place, trim
from .speech_commands import BACKGROUND_NOISE_DIR, SILENCE
from .wavio import read_wav, write_wav

__all__ = ["Clip", "Source", "kokoro_source", "speech_commands_source", "manifest_source",
           "fold_of", "build_mix", "UNKNOWN"]

FORMAT = "edgekws-mix"
FORMAT_VERSION = 1
UNKNOWN = "_unknown_"
CLIP = 16000
_SC_NAME = re.compile(r"^(?:(?P<word>[a-z]+)_)?(?P<hash>[0-9a-f]{8})_nohash_(?P<idx>\d+)\.wav$")
_SAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclasses.dataclass(frozen=True)
class Clip:
    """One recording of one word by one speaker.

    ``split`` is ``"train"``, ``"val"`` or ``"holdout"`` (not written);
    ``word`` is ``"_silence_"`` for a background recording.
    """

    path: str
    word: str
    speaker: str
    index: int
    split: str


@dataclasses.dataclass
class Source:
    """Clips of one origin, with the name that prefixes its speakers in the corpus."""

    name: str
    kind: str
    root: str
    clips: list

    def counts(self) -> dict:
        out = {}
        for c in self.clips:
            d = out.setdefault(c.split, {"clips": 0, "speakers": set()})
            d["clips"] += 1
            d["speakers"].add(c.speaker)
        return {k: {"clips": v["clips"], "speakers": len(v["speakers"])}
                for k, v in sorted(out.items())}


def fold_of(speaker_hash: str, folds: int = 5) -> int:
    """The fold of a Speech Commands speaker: ``int(hash[:8], 16) % folds``.

    >>> fold_of("0a7c2a8d")
    2
    """
    folds = check_int("folds", folds)
    try:
        return int(speaker_hash[:8], 16) % folds
    except ValueError:
        raise ValueError(f"speaker hash must be hexadecimal, not {speaker_hash!r}") from None


def _check_folds(folds, holdout, val_folds):
    for name, fs in (("holdout", holdout), ("val_folds", val_folds)):
        bad = [f for f in fs if not (isinstance(f, int) and 0 <= f < folds)]
        if bad:
            raise ValueError(f"{name} must be fold numbers in 0..{folds - 1}, not {bad!r}")
    both = sorted(set(holdout) & set(val_folds))
    if both:
        raise ValueError(f"folds {both} are both held out and validation")


def speech_commands_source(root, name: str, folds: int = 5, holdout=(), val_folds=(),
                           all_val: bool = False) -> Source:
    """Real Speech Commands clips: word folders, plus ``_unknown_`` (``{word}_{hash}_...``)
    and ``_silence_`` (background clips) of the canonical test layout.

    Raises
    ------
    ValueError
        When ``root`` has no ``*.wav`` in a word folder, or a name does not follow the
        Speech Commands pattern.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"Speech Commands folder {os.fspath(root)!r} does not exist")
    _check_folds(folds, holdout, val_folds)

    def split_of(fold):
        if all_val:
            return "val"
        return "holdout" if fold in holdout else "val" if fold in val_folds else "train"

    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name == BACKGROUND_NOISE_DIR:
            continue
        for wav in sorted(folder.glob("*.wav")):
            if folder.name == SILENCE:
                number = int(re.sub(r"\D", "", wav.stem) or 0)
                clips.append(Clip(str(wav), SILENCE, f"silence{number}", 0,
                                  split_of(number % folds)))
                continue
            m = _SC_NAME.match(wav.name)
            if not m:
                raise ValueError(f"{wav}: name does not match '[word_]{{hash}}_nohash_{{i}}.wav'")
            word = m.group("word") or folder.name
            if folder.name != UNKNOWN and m.group("word"):
                raise ValueError(f"{wav}: a word prefix is only expected in {UNKNOWN}/")
            clips.append(Clip(str(wav), word, m.group("hash"), int(m.group("idx")),
                              split_of(fold_of(m.group("hash"), folds))))
    if not any(c.word != SILENCE for c in clips):
        raise ValueError(f"no Speech Commands clips in {os.fspath(root)!r}: expected word "
                         "folders of '{hash}_nohash_{i}.wav' files")
    return Source(name, "speech-commands", str(root), clips)


def _val_packs(packs, fraction, seed):
    """A fixed, seeded choice of voice packs for validation (about ``fraction`` of them)."""
    def score(p):
        return hashlib.sha1(f"{seed}|{p}".encode()).hexdigest()
    ranked = sorted(packs, key=score)
    return set(ranked[:max(1, int(round(fraction * len(ranked))))])


def kokoro_source(root, name: str = "kokoro", val_fraction: float = 0.1,
                  seed: int = 0) -> Source:
    """The Kokoro clips of ``root/manifest.csv`` (columns path, word, speaker,
    base_voices); see ``../shared/data/kokoro/README.md``."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise ValueError(f"no Kokoro manifest at {os.fspath(manifest)!r}: expected the folder "
                         "of '../shared/data/kokoro' (or a corpus made by 'edgekws data synth "
                         "--engine kokoro')")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    need = {"path", "word", "speaker", "base_voices"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{manifest}: needs columns {sorted(need)}")
    packs = sorted({p for r in rows for p in r["base_voices"].split("+")})
    val = _val_packs(packs, val_fraction, seed)
    clips = []
    for r in rows:
        split = "val" if set(r["base_voices"].split("+")) & val else "train"
        clips.append(Clip(str(root / r["path"]), r["word"], r["speaker"], 0, split))
    return Source(name, "kokoro", str(root), clips)


def manifest_source(root, name: str, val_fraction: float = 0.1, seed: int = 0) -> Source:
    """Pre-made clips: ``root/manifest.csv`` with columns path, word, speaker (and
    optionally split); speakers without a split are drawn for validation by hash."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise ValueError(f"--add-clips {os.fspath(root)!r} needs a manifest.csv with columns "
                         "path, word, speaker[, split]")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "word", "speaker"} <= set(rows[0]):
        raise ValueError(f"{manifest}: needs columns path, word, speaker[, split]")
    if "base_voices" in rows[0]:
        src = kokoro_source(root, name, val_fraction, seed)
        return Source(name, "clips", src.root, src.clips)
    speakers = sorted({r["speaker"] for r in rows})
    val = _val_packs(speakers, val_fraction, seed)
    clips = [Clip(str(root / r["path"]), r["word"], r["speaker"], 0,
                  r.get("split") or ("val" if r["speaker"] in val else "train"))
             for r in rows]
    bad = sorted({c.split for c in clips} - {"train", "val", "holdout"})
    if bad:
        raise ValueError(f"{manifest}: split must be train, val or holdout, not {bad!r}")
    return Source(name, "clips", str(root), clips)


# ------------------------------------------------------------------------------- writing

_WORKER: dict = {}


def _init(noise_paths, acoustics, copies, seed):
    _WORKER.update(noises=[read_wav(p) for p in noise_paths], acoustics=acoustics,
                   copies=copies, seed=seed)


def _versions(wave, rng, kind):
    """Copy 0 as recorded (neural TTS clips, trimmed tight, are placed in the second
    over a faint floor), then ``copies`` realistic copies."""
    w = _WORKER
    if kind == "speech-commands":
        first = np.zeros(CLIP)
        first[:min(CLIP, wave.size)] = wave[:CLIP]
        speech = trim(wave, threshold_db=-40.0, margin=0.05)
    else:
        speech = wave[:CLIP]
        first, _ = place(peak_to(speech, rng.uniform(-12.0, -1.0)), rng, centred=True)
        first = first + 10 ** (rng.uniform(-80, -60) / 20) * rng.standard_normal(CLIP)
    out = [first]
    if speech.size:
        out += [augmented_copy(speech, w["noises"], rng, w["acoustics"])
                for _ in range(w["copies"])]
    return out


def _speaker_name(source: Source, speaker: str) -> str:
    return f"{source.name}-{_SAFE.sub('-', speaker)}".replace("_", "-")


def build_mix(out, sources, noise_files=(), copies: int = 4, acoustics: Acoustics = ALL,
              seed: int = 0, workers: int | None = None, overwrite: bool = False,
              progress: bool = True) -> dict:
    """Write the mixed corpus; returns (and writes) its ``corpus.json`` record.

    Parameters
    ----------
    out : path-like
        Output folder (must not exist unless ``overwrite``).
    sources : list of Source
    noise_files : sequence of path-like
        Real background recordings: copied to ``_background_noise_`` (for the trainer's
        silence samples) and mixed into the realistic copies.
    copies : int
        Realistic copies written beside each clip (0: the clips only).
    acoustics : Acoustics
        The effects of those copies.
    """
    check_int("copies", copies, 0, 64, expected="an integer in 0..64")
    if not sources:
        raise ValueError("no sources: give --kokoro, --speech-commands or --add-clips")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, not {names!r}")
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise ValueError(f"{os.fspath(out)!r} exists; pass overwrite=True (--overwrite) "
                             "to replace it")
        shutil.rmtree(out)
    noise_files = [os.fspath(p) for p in noise_files]
    for p in noise_files:
        if not os.path.isfile(p):
            raise ValueError(f"noise file {p!r} does not exist")
    t0 = time.perf_counter()
    (out / BACKGROUND_NOISE_DIR).mkdir(parents=True)
    for p in noise_files:
        shutil.copyfile(p, out / BACKGROUND_NOISE_DIR / Path(p).name)
    tasks, silence = [], 0
    for src in sources:
        for c in src.clips:
            if c.split == "holdout":
                continue
            spk = _speaker_name(src, c.speaker)
            if c.word == SILENCE:
                if c.split == "train":  # a real background: more silence and noise
                    shutil.copyfile(c.path, out / BACKGROUND_NOISE_DIR / f"{spk}.wav")
                    silence += 1
                continue
            (out / c.word).mkdir(exist_ok=True)
            tasks.append((c.path, src.kind, f"{c.word}/{spk}", c.index, c.split == "val"))
    from tqdm import tqdm

    _WORKER["out"] = str(out)
    init = (noise_files, acoustics, copies, seed)
    written, vals = [], []
    bar = tqdm(total=len(tasks), unit="clip", desc="mix", disable=not progress)
    workers = workers or os.cpu_count() or 1
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers, _init, init) as pool:
            for rels, is_val in pool.imap_unordered(_write_one, tasks, chunksize=16):
                (vals if is_val else written).extend(rels)
                bar.update()
    else:
        _init(*init)
        for t in tasks:
            rels, is_val = _write_one(t)
            (vals if is_val else written).extend(rels)
            bar.update()
    bar.close()
    vals.sort()
    atomic_write(out / "validation_list.txt", lambda f: f.write(
        "".join(r + "\n" for r in vals).encode()))
    atomic_write(out / "testing_list.txt", lambda f: f.write(b""))
    info = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "sources": [{"name": s.name, "kind": s.kind, "root": s.root, "splits": s.counts()}
                    for s in sources],
        "fold_rule": "int(speaker_hash[:8], 16) % folds (silence clips: their number)",
        "copies": copies, "acoustics": acoustics.to_dict(), "seed": seed,
        "noise_files": [Path(p).name for p in noise_files], "real_silence_clips": silence,
        "files": len(written) + len(vals), "validation_files": len(vals),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    atomic_write(out / "corpus.json", lambda f: f.write(
        (json.dumps(info, indent=2) + "\n").encode()))
    return info


def _write_one(task):
    src_path, kind, rel_stem, index, is_val = task
    w = _WORKER
    seed = int(hashlib.sha1(f"{w['seed']}|{rel_stem}|{index}".encode()).hexdigest()[:12], 16)
    rng = np.random.default_rng(seed)
    wave = read_wav(src_path).astype(np.float64)
    rels = []
    for j, audio in enumerate(_versions(wave, rng, kind)):
        rel = f"{rel_stem}_nohash_{index * (w['copies'] + 1) + j}.wav"
        write_wav(Path(w["out"]) / rel, np.clip(audio, -1.0, 1.0).astype(np.float32))
        rels.append(rel)
    return rels, is_val
