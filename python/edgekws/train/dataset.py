"""A Speech Commands-layout corpus as uint8 MFCC arrays, through :mod:`edgekws.data`.

The splits are the corpus's own (``validation_list.txt``/``testing_list.txt``, which
the synthetic corpus and Speech Commands make speaker-disjoint; without lists, the
speaker-hash split). Features are cached (:func:`edgekws.data.features.cached_features`);
the uint8 scaling is fitted on the training features only and travels with the model.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgekws.data.features import cached_features
from edgekws.data.mfcc import MfccParams, MfccScaling, fit_scaling
from edgekws.data.speech_commands import load_speech_commands

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
                workers: int | None = None, progress: bool = True) -> KwsData:
    """Features of a corpus folder, split as the corpus says.

    Parameters
    ----------
    root : path-like
        Speech Commands layout (``edgekws data synth`` writes one).
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

    Raises
    ------
    ValueError
        When the training or validation split is empty.
    """
    ds = load_speech_commands(root, words=words, exclude=exclude,
                              silence_percentage=silence_percentage, seed=seed)
    params = MfccParams()
    sets = {}
    for split in ("train", "val", "test"):
        items = ds.split(split)
        if not items:
            if split == "test":
                sets[split] = (np.zeros((0,) + params.shape, np.float32), np.zeros(0, np.int32))
                continue
            raise ValueError(f"the {split!r} split of {str(root)!r} is empty: the corpus needs "
                             "validation_list.txt entries (or enough speakers for the hash "
                             "split)")
        fs = cached_features(items, cache_dir, name=split, params=params,
                             augment_copies=augment_copies if split == "train" else 0,
                             augment_seed=seed, noise_files=ds.noise_files, workers=workers,
                             progress=progress)
        sets[split] = (fs.x, fs.y)
    scaling = fit_scaling(sets["train"][0], per_coefficient=per_coefficient)
    codes = {k: to_codes(x, scaling) for k, (x, _) in sets.items()}
    return KwsData(codes["train"], sets["train"][1], codes["val"], sets["val"][1],
                   codes["test"], sets["test"][1], dict(ds.word_to_index), scaling, params,
                   ds.summary())
