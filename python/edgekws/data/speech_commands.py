"""Loader for Google Speech Commands as it sits on disk (and for the synthetic corpus).

Layout::

    ROOT/
      bed/0a7c2a8d_nohash_0.wav      one folder per word, {speaker}_nohash_{i}.wav
      ...
      validation_list.txt            paths relative to ROOT, one per line
      testing_list.txt
      _background_noise_/*.wav       long noise recordings

Files listed in ``validation_list.txt``/``testing_list.txt`` go to ``val``/``test``, all
others to ``train``. Without those lists, the split falls back to TensorFlow's
``which_set`` hashing of the speaker part of the name (so a speaker stays in one split).

Labels follow the Akida tutorials: ``_silence_`` is 0 and the words follow in sorted order
(``{'_silence_': 0, 'bed': 1, 'bird': 2, ...}``). Silence samples are random one-second
cuts of the background-noise files at a random volume; they are described by
``(noise file, start, volume)`` so that they are reproducible and cacheable.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path

import numpy as np

from .wavio import read_wav

__all__ = [
    "BACKGROUND_NOISE_DIR",
    "SILENCE",
    "Sample",
    "Dataset",
    "load_speech_commands",
    "word_to_index",
    "speaker_of",
    "which_set",
    "load_noises",
    "load_sample",
    "load_waves",
]

BACKGROUND_NOISE_DIR = "_background_noise_"
SILENCE = "_silence_"
CLIP = 16000
_NAME_RE = re.compile(r"^(?P<speaker>[^_/\\]+)_nohash_(?P<index>\d+)\.wav$", re.IGNORECASE)
_MAX_NUM_WAVS_PER_CLASS = 2 ** 27 - 1  # TensorFlow's constant for which_set


@dataclasses.dataclass(frozen=True)
class Sample:
    """One labelled one-second example.

    Attributes
    ----------
    path : str
        WAV file (a word recording, or for silence the background-noise file).
    word : str
        The word, or ``"_silence_"``.
    label : int
        Index in the dataset's ``word_to_index``.
    speaker : str or None
        Speaker id from the file name; None for silence.
    start : int
        Silence only: first sample (at 16 kHz) of the cut in the noise file.
    volume : float
        Silence only: gain applied to the cut (0 gives digital silence).
    """

    path: str
    word: str
    label: int
    speaker: str | None = None
    start: int = 0
    volume: float = 1.0

    @property
    def is_silence(self) -> bool:
        return self.word == SILENCE


@dataclasses.dataclass
class Dataset:
    """File lists of one Speech Commands tree."""

    root: str
    word_to_index: dict
    train: list
    val: list
    test: list
    noise_files: list

    def split(self, name: str) -> list:
        """The samples of split ``name`` (``train``, ``val`` or ``test``)."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', not {name!r}")
        return getattr(self, name)

    def summary(self) -> dict:
        """Counts per split and word, and the number of speakers per split."""
        out = {}
        for name in ("train", "val", "test"):
            samples = self.split(name)
            counts = {}
            for s in samples:
                counts[s.word] = counts.get(s.word, 0) + 1
            out[name] = {
                "samples": len(samples),
                "speakers": len({s.speaker for s in samples if s.speaker}),
                "words": dict(sorted(counts.items())),
            }
        return out


def speaker_of(filename) -> str:
    """Speaker id of a Speech Commands file name (the part before ``_nohash_``).

    >>> speaker_of("bed/0a7c2a8d_nohash_1.wav")
    '0a7c2a8d'
    """
    name = os.path.basename(os.fspath(filename))
    m = _NAME_RE.match(name)
    if not m:
        raise ValueError(f"file name {name!r} does not match '{{speaker}}_nohash_{{i}}.wav'")
    return m.group("speaker")


def which_set(filename, validation_percentage: float = 10.0,
              testing_percentage: float = 10.0) -> str:
    """TensorFlow's hash-based split of a Speech Commands file (``input_data.which_set``).

    Everything after ``_nohash_`` is ignored, so all the files of a speaker land in the
    same split. Returns ``'train'``, ``'val'`` or ``'test'``.
    """
    base = os.path.basename(os.fspath(filename))
    hash_name = re.sub(r"_nohash_.*$", "", base)
    digest = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    pct = (int(digest, 16) % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if pct < validation_percentage:
        return "val"
    if pct < testing_percentage + validation_percentage:
        return "test"
    return "train"


def word_to_index(words) -> dict:
    """``{'_silence_': 0, <sorted words>: 1..}`` as in the Akida KWS tutorials."""
    words = list(words)
    for w in words:
        if not isinstance(w, str) or not w or w.startswith("_"):
            raise ValueError(f"word must be a non-empty string not starting with '_', not {w!r}")
    if len(set(words)) != len(words):
        raise ValueError(f"words are not unique: {words!r}")
    mapping = {SILENCE: 0}
    for i, w in enumerate(sorted(words), start=1):
        mapping[w] = i
    return mapping


def _read_list(path: Path) -> set:
    if not path.exists():
        return set()
    with open(path, encoding="utf-8") as f:
        return {line.strip().replace("\\", "/") for line in f if line.strip()}


def load_speech_commands(root, words=None, exclude=(), silence_percentage: float = 10.0,
                         seed: int = 0, silence_max_volume: float = 1.0) -> Dataset:
    """Scan a Speech Commands tree into train/val/test sample lists.

    Parameters
    ----------
    root : str or path-like
        The dataset folder.
    words : iterable of str, optional
        Words (folders) to use; default all word folders present.
    exclude : iterable of str
        Words to leave out (e.g. ``('backward', 'follow', 'forward')`` kept for edge
        learning).
    silence_percentage : float
        Silence samples added to each split, as a percentage of its word samples (TensorFlow
        uses 10). Needs ``_background_noise_`` files; 0 disables.
    seed : int
        Seed for the silence cuts.
    silence_max_volume : float
        Silence volumes are drawn uniformly from [0, silence_max_volume].

    Returns
    -------
    Dataset
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise ValueError(f"Speech Commands folder {os.fspath(root)!r} does not exist")
    if silence_percentage < 0:
        raise ValueError(f"silence_percentage must be >= 0, not {silence_percentage!r}")
    present = sorted(p.name for p in root_path.iterdir()
                     if p.is_dir() and not p.name.startswith("_") and not p.name.startswith("."))
    if words is None:
        chosen = [w for w in present if w not in set(exclude)]
    else:
        chosen = [w for w in words if w not in set(exclude)]
        missing = [w for w in chosen if w not in present]
        if missing:
            raise ValueError(f"words {missing!r} have no folder in {os.fspath(root)!r} "
                             f"(present: {present!r})")
    if not chosen:
        raise ValueError(f"no word folders found in {os.fspath(root)!r}")
    mapping = word_to_index(chosen)

    val_list = _read_list(root_path / "validation_list.txt")
    test_list = _read_list(root_path / "testing_list.txt")
    use_lists = bool(val_list or test_list)
    splits = {"train": [], "val": [], "test": []}
    for w in chosen:
        for wav in sorted((root_path / w).glob("*.wav")):
            rel = f"{w}/{wav.name}"
            if use_lists:
                name = "val" if rel in val_list else "test" if rel in test_list else "train"
            else:
                name = which_set(rel)
            splits[name].append(Sample(path=str(wav), word=w, label=mapping[w],
                                       speaker=speaker_of(wav.name)))

    noise_dir = root_path / BACKGROUND_NOISE_DIR
    noise_files = sorted(str(p) for p in noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    if silence_percentage > 0:
        if not noise_files:
            raise ValueError(f"silence samples need noise files in "
                             f"{os.fspath(noise_dir)!r}; pass silence_percentage=0 to skip")
        lengths = [_frames_at_16k(p) for p in noise_files]
        rng = np.random.default_rng(seed)
        for name in ("train", "val", "test"):
            n = int(round(len(splits[name]) * silence_percentage / 100.0))
            for _ in range(n):
                i = int(rng.integers(len(noise_files)))
                start = int(rng.integers(0, max(1, lengths[i] - CLIP + 1)))
                volume = float(rng.uniform(0.0, silence_max_volume))
                splits[name].append(Sample(path=noise_files[i], word=SILENCE, label=0,
                                           start=start, volume=round(volume, 6)))
    return Dataset(root=str(root_path), word_to_index=mapping, train=splits["train"],
                   val=splits["val"], test=splits["test"], noise_files=noise_files)


def _frames_at_16k(path) -> int:
    from .wavio import wav_info

    _, _, rate, frames = wav_info(path)
    return int(np.ceil(frames * CLIP / rate))


_NOISE_CACHE: dict = {}


def load_noises(files) -> list:
    """Read background-noise files (16 kHz float32), memoised per process."""
    out = []
    for p in files:
        key = os.fspath(p)
        if key not in _NOISE_CACHE:
            _NOISE_CACHE[key] = read_wav(key)
        out.append(_NOISE_CACHE[key])
    return out


def load_sample(sample: Sample, length: int = CLIP) -> np.ndarray:
    """The waveform of a sample: 16 kHz float32, zero-padded/cropped to ``length``."""
    if sample.is_silence:
        noise = load_noises([sample.path])[0]
        cut = noise[sample.start:sample.start + length] * np.float32(sample.volume)
    else:
        cut = read_wav(sample.path)[:length]
    out = np.zeros(length, dtype=np.float32)
    out[:cut.size] = cut
    return out


def load_waves(samples, length: int = CLIP) -> np.ndarray:
    """Stack :func:`load_sample` over ``samples`` into ``(n, length)`` float32."""
    out = np.zeros((len(samples), length), dtype=np.float32)
    for i, s in enumerate(samples):
        out[i] = load_sample(s, length)
    return out
