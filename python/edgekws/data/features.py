"""MFCC features of a file list, cached on disk as ``.npz``.

Like the pickle of the Akida tutorials, but keyed: the cache file name holds a SHA-256 of
everything the features depend on - each file's path, modification time (ns) and size,
its label and (for silence) noise cut, the :class:`~edgekws.data.mfcc.MfccParams`, the
augmentation seed and copy count and the noise files' stats, and a format version. When
any of these changes a new file is built. Files are written atomically (a temporary file
in the same folder, then ``os.replace``), and a cache file that cannot be read or does not
hold what its name promises is rebuilt.

Items are :class:`~edgekws.data.speech_commands.Sample` (Speech Commands layout, padded at
the end to one second like ``decode_wav``) or :class:`~edgekws.data.fsdd.FsddSample`
(centred in one second, see :mod:`edgekws.data.fsdd`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import zipfile
from pathlib import Path

import numpy as np

from edgekws.atomicio import atomic_write
from edgekws.checks import check_int

from .augment import augment
from .fsdd import CLIP, FsddSample, fit_clip
from .mfcc import MfccParams, mfcc
from .speech_commands import Sample, load_noises, load_sample
from .wavio import read_wav

__all__ = ["FeatureSet", "feature_key", "compute_features", "cached_features"]

FORMAT_VERSION = 1
_CHUNK = 256


@dataclasses.dataclass
class FeatureSet:
    """Features and labels of one file list.

    Attributes
    ----------
    x : numpy.ndarray
        float32 ``(n, frames, coefficients)``: the items in order, then (if augmented)
        ``copies`` augmented versions of item 0, of item 1, ...
    y : numpy.ndarray
        int32 labels, same order.
    path : pathlib.Path or None
        The cache file.
    key : str
        The cache key.
    built : bool
        True if the features were computed now, False if read from the cache.
    """

    x: np.ndarray
    y: np.ndarray
    path: Path | None
    key: str
    built: bool


def _item_record(item) -> list:
    if isinstance(item, Sample):
        extra = [item.word, item.start, item.volume]
    elif isinstance(item, FsddSample):
        extra = ["fsdd", item.digit]
    else:
        raise ValueError(f"items must be Sample or FsddSample, not {type(item).__name__}")
    path = os.path.abspath(item.path)
    try:
        st = os.stat(path)
    except OSError:
        raise ValueError(f"{path}: file does not exist or cannot be read") from None
    return [path, st.st_mtime_ns, st.st_size] + extra


def _labels(items, labels):
    if labels is None:
        if not all(isinstance(s, Sample) for s in items):
            raise ValueError("labels are required for items other than Sample")
        labels = [s.label for s in items]
    y = np.asarray(labels)
    if y.shape != (len(items),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {len(items)} integers, not shape {y.shape} "
                         f"dtype {y.dtype}")
    return y.astype(np.int32)


def feature_key(items, labels=None, params: MfccParams | None = None, augment_copies: int = 0,
                augment_seed: int = 0, noise_files=()) -> str:
    """The cache key (hex SHA-256) of a feature set; see the module docstring."""
    params = params or MfccParams()
    y = _labels(items, labels)
    h = hashlib.sha256()
    head = {"version": FORMAT_VERSION, "mfcc": params.to_dict(),
            "augment_copies": int(augment_copies),
            "augment_seed": int(augment_seed) if augment_copies else None,
            "noise": [_item_record(Sample(p, "_noise_", 0)) for p in noise_files]
            if augment_copies else []}
    h.update(json.dumps(head, sort_keys=True).encode())
    for item, label in zip(items, y):
        h.update(json.dumps(_item_record(item) + [int(label)]).encode())
        h.update(b"\n")
    return h.hexdigest()


def _wave(item) -> np.ndarray:
    if isinstance(item, FsddSample):
        return fit_clip(read_wav(item.path), CLIP)
    return load_sample(item, CLIP)


def _chunk_features(args):
    items, start, params, copies, seed, noise_files = args
    # ``workers`` is compute_features' CPU budget: each job computes in one thread.
    waves = np.stack([_wave(s) for s in items])
    feats = mfcc(waves, params, threads=1)
    if not copies:
        return feats, None
    noises = load_noises(noise_files)
    aug = np.stack([augment(w, copies, np.random.default_rng([seed, start + i]), noises)
                    for i, w in enumerate(waves)])
    return feats, mfcc(aug.reshape(-1, waves.shape[1]), params, threads=1)


def compute_features(items, labels=None, params: MfccParams | None = None,
                     augment_copies: int = 0, augment_seed: int = 0, noise_files=(),
                     workers: int | None = 1, progress: bool = False):
    """MFCC features of ``items`` (no cache).

    Parameters
    ----------
    items : list of Sample or FsddSample
    labels : sequence of int, optional
        Required unless all items are :class:`Sample` (then their ``label``).
    params : MfccParams, optional
    augment_copies : int
        Augmented copies per item (:func:`edgekws.data.augment.augment`: time shift and
        background noise from ``noise_files``), seeded by ``(augment_seed, item index)``.
    workers : int or None
        Processes (None: all CPUs).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    x, y : numpy.ndarray
        See :class:`FeatureSet`.
    """
    params = params or MfccParams()
    items = list(items)
    y = _labels(items, labels)
    check_int("augment_copies", augment_copies, 0)
    if not items:
        raise ValueError("no items to compute features for")
    workers = workers or os.cpu_count() or 1
    jobs = [(items[i:i + _CHUNK], i, params, augment_copies, augment_seed, tuple(noise_files))
            for i in range(0, len(items), _CHUNK)]
    from tqdm import tqdm

    bar = tqdm(total=len(items), unit="clip", desc="mfcc", disable=not progress)
    results = []
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            for r, job in zip(pool.imap(_chunk_features, jobs), jobs):
                results.append(r)
                bar.update(len(job[0]))
    else:
        for job in jobs:
            results.append(_chunk_features(job))
            bar.update(len(job[0]))
    bar.close()
    x = np.concatenate([r[0] for r in results])
    if augment_copies:
        x = np.concatenate([x] + [r[1] for r in results])
        y = np.concatenate([y, np.repeat(y, augment_copies)])
    return x.astype(np.float32, copy=False), y


def _read_cache(path: Path, key: str, n: int, shape) -> tuple | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            x, y = data["x"], data["y"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if x.dtype != np.float32 or x.shape != (n,) + tuple(shape) or y.shape != (n,):
        return None
    if not np.all(np.isfinite(x)):
        return None
    return x, y.astype(np.int32)


def _write_atomic(path: Path, **arrays) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def cached_features(items, cache_dir, labels=None, name: str = "features",
                    params: MfccParams | None = None, augment_copies: int = 0,
                    augment_seed: int = 0, noise_files=(), workers: int | None = 1,
                    progress: bool = False) -> FeatureSet:
    """:func:`compute_features`, cached in ``cache_dir/<name>-<key>.npz``.

    A missing, unreadable or mismatching cache file is (re)built; otherwise it is read.
    """
    params = params or MfccParams()
    items = list(items)
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ValueError(f"cache name must be a plain file name stem, not {name!r}")
    key = feature_key(items, labels, params, augment_copies, augment_seed, noise_files)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{name}-{key[:24]}.npz"
    n = len(items) * (1 + augment_copies)
    if path.exists():
        hit = _read_cache(path, key, n, params.shape)
        if hit is not None:
            return FeatureSet(hit[0], hit[1], path, key, built=False)
    x, y = compute_features(items, labels, params, augment_copies, augment_seed, noise_files,
                            workers, progress)
    _write_atomic(path, x=x, y=y, key=np.array(key), mfcc=np.array(json.dumps(params.to_dict())))
    return FeatureSet(x, y, path, key, built=True)
