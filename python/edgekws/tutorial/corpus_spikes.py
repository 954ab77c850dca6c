"""Spikes of a feature extractor on one split of a Speech Commands corpus, as the tutorial
sees them: input to ``edgekws tune num-weights`` / ``neurons-per-class``.

The samples, classes and labels come from the tutorial's own pieces
(:mod:`edgekws.tutorial.edge_learning`): the corpus without the tutorial's new words,
its feature cache names, the model's stored MFCC scaling and :func:`spike_encoder`.
So the saved spikes and labels are exactly those the tutorial's native learning uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Samples per spike_encoder call: small enough for a progress bar that moves, large
#: enough that the extractor's own batching keeps the cores busy.
_CHUNK = 1024


@dataclass
class CorpusSpikes:
    """Spikes and labels of one corpus split.

    Attributes
    ----------
    spikes : ndarray of uint8, (n, num_inputs)
        The extractor's 1-bit output per sample, flattened.
    labels : ndarray of int32, (n,)
        Class of each sample (the tutorial's word -> index mapping).
    words : list of str
        Class names in label order.
    layer : str
        Name of the extractor's last (spiking) layer.
    """

    spikes: np.ndarray
    labels: np.ndarray
    words: list
    layer: str


def corpus_spikes(model, corpus, split: str = "train", cache_dir=None, seed: int | None = None,
                  progress: bool = False) -> CorpusSpikes:
    """The tutorial's features of ``split`` of ``corpus`` through ``model``'s extractor.

    Parameters
    ----------
    model : str or path-like
        A ``.ekws`` with stored MFCC scaling whose last layer outputs 1-bit spikes, or
        which ends in a classifier on such spikes (then the classifier is dropped).
    corpus : str or path-like
        Speech Commands layout folder.
    split : {'train', 'validation', 'test'}
    cache_dir : str or path-like, optional
        Feature cache folder (default: the tutorial's).
    seed : int, optional
        Seed of the silence cuts (default: the tutorial's).
    progress : bool
        Show progress bars (MFCCs when not cached, then spikes).
    """
    from .edge_learning import SPLITS, TutorialConfig, front_end, offline_dataset, \
        split_features

    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, not {split!r}")
    defaults = TutorialConfig(corpus=str(corpus), model=str(model))
    cache_dir = defaults.cache_dir if cache_dir is None else cache_dir
    seed = defaults.seed if seed is None else seed

    extractor, _, _, _, encode = front_end(model)
    # The same dataset, split and cache name as edge_learning.run, so the labels match.
    ds = offline_dataset(corpus, defaults.new_words, seed)
    try:
        feats = split_features(ds, split, cache_dir, progress)
    except ValueError as exc:
        raise ValueError(f"{exc} in {str(corpus)!r}") from None

    from tqdm import tqdm
    steps = range(0, len(feats.x), _CHUNK)
    parts = [encode(feats.x[i:i + _CHUNK]) for i in
             tqdm(steps, desc="spikes", unit="chunk", disable=not progress)]
    spikes = np.concatenate(parts).reshape(len(feats.x), -1).astype(np.uint8)
    return CorpusSpikes(spikes=spikes, labels=feats.y.astype(np.int32),
                        words=list(ds.word_to_index), layer=extractor.layers[-1].name)


def save_npy(path, array) -> None:
    """``np.save`` through :func:`edgekws.atomicio.atomic_write` (no half-written file)."""
    from edgekws.atomicio import atomic_write
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))
