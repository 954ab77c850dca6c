"""A Speech Commands-layout corpus as uint8 MFCC arrays, through :mod:`edgekws.data`.

The splits are the corpus's own (``validation_list.txt``/``testing_list.txt``, which
the synthetic corpus and Speech Commands make speaker-disjoint; without lists, the
speaker-hash split). Features are cached (:func:`edgekws.data.features.cached_features`);
the uint8 scaling is fitted on the training features only and travels with the model.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgekws.data.features import cached_features
from edgekws.data.mfcc import MfccParams, MfccScaling, fit_scaling
from edgekws.data.speech_commands import SILENCE, load_speech_commands, word_to_index

#: Words kept out of training in the Akida tutorials, for edge learning.
EDGE_WORDS = ("backward", "follow", "forward")


@dataclasses.dataclass
class KwsData:
    """uint8 MFCC codes ``(n, 49, 10, 1)`` and int32 labels of each split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    word_to_index: dict
    scaling: MfccScaling
    mfcc: MfccParams
    summary: dict

    @property
    def words(self) -> list[str]:
        """Class names in label order."""
        return [w for w, _ in sorted(self.word_to_index.items(), key=lambda kv: kv[1])]


def to_codes(features, scaling: MfccScaling) -> np.ndarray:
    """Float MFCCs ``(n, 49, 10)`` -> uint8 codes ``(n, 49, 10, 1)``."""
    return scaling.to_uint8(features)[..., None]


def load_corpus(root, cache_dir, words=None, exclude=EDGE_WORDS,
                silence_percentage: float = 10.0, seed: int = 0,
                per_coefficient: bool = True, augment_copies: int = 0,
                workers: int | None = None, progress: bool = True,
                level: str = "none") -> KwsData:
    """Features of one corpus folder, or of several together, split as each says.

    Parameters
    ----------
    root : path-like or sequence of path-like
        Speech Commands layout (``edgekws data synth`` and ``edgekws data mix`` write
        one). Several roots are concatenated split by split, their words joined into one
        label map (a word may be missing from some roots); each root's features are cached
        on their own, so a root shared by several trainings is computed once.
    cache_dir : path-like
        Feature cache folder.
    words, exclude
        Words to use / leave out (default: all but :data:`EDGE_WORDS`).
    silence_percentage : float
        Silence samples per split, in percent of its word samples.
    per_coefficient : bool
        One uint8 offset/scale per MFCC coefficient (the first coefficient has a much
        wider range than the others) instead of one for all.
    augment_copies : int
        Extra augmented copies of each training clip (time shift + noise).
    level : str
        Loudness normalisation of the model's input (:attr:`MfccScaling.level`).

    Raises
    ------
    ValueError
        When the training or validation split is empty.
    """
    roots = [root] if isinstance(root, (str, bytes)) or hasattr(root, "__fspath__") \
        else list(root)
    if not roots:
        raise ValueError("no corpus folder given")
    params = MfccParams()
    loaded = []
    for r in roots:
        present = None if words is None else \
            [w for w in words if (Path(r) / w).is_dir()]
        loaded.append(load_speech_commands(r, words=present, exclude=exclude,
                                           silence_percentage=silence_percentage,
                                           seed=seed))
    names = sorted({w for ds in loaded for w in ds.word_to_index if w != SILENCE})
    mapping = word_to_index(names)
    sets = {}
    for split in ("train", "val", "test"):
        xs, ys = [np.zeros((0,) + params.shape, np.float32)], [np.zeros(0, np.int32)]
        for r, ds in zip(roots, loaded):
            items = ds.split(split)
            if not items:
                continue
            fs = cached_features(items, cache_dir, name=split, params=params,
                                 augment_copies=augment_copies if split == "train" else 0,
                                 augment_seed=seed, noise_files=ds.noise_files,
                                 workers=workers, progress=progress)
            relabel = np.zeros(len(ds.word_to_index), np.int32)
            for w, i in ds.word_to_index.items():
                relabel[i] = mapping[w]
            xs.append(fs.x)
            ys.append(relabel[fs.y])
        sets[split] = (np.concatenate(xs), np.concatenate(ys))
        if split != "test" and not len(sets[split][1]):
            raise ValueError(f"the {split!r} split of {', '.join(map(str, roots))} is empty: "
                             "the corpus needs validation_list.txt entries (or enough "
                             "speakers for the hash split)")
    scaling = fit_scaling(sets["train"][0], per_coefficient=per_coefficient, level=level)
    codes = {k: to_codes(x, scaling) for k, (x, _) in sets.items()}
    summary = loaded[0].summary() if len(loaded) == 1 else \
        {"roots": [str(r) for r in roots], "parts": [ds.summary() for ds in loaded]}
    return KwsData(codes["train"], sets["train"][1], codes["val"], sets["val"][1],
                   codes["test"], sets["test"][1], mapping, scaling, params, summary)
