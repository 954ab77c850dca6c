"""Packed binary vectors, and the record of a learning run that rebuilds its potentials.

:func:`edgekws.golden.learning.learn` decides each learning step from the potentials of
the few neurons that may learn; the ``(n, N)`` potentials the engine's ``fit`` returns
follow from the inputs, the weights at the start and the weight changes in order, which
:class:`FitHistory` keeps (a few MB where the potentials take hundreds).

Binary vectors are packed into little-endian uint64 words, bit ``i`` of the vector at
bit ``i % 64`` of word ``i // 64``.
"""
from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np

__all__ = ["pack_words", "unpack_words", "ints_from_words", "words_from_ints",
           "FitHistory"]

#: Samples per block when potentials are rebuilt: a weight change rewrites its neuron's
#: column for the rest of its block, so the cost per change grows with the block, and
#: the fixed cost per block shrinks with it.
_BUILD_BLOCK = 256


def pack_words(rows: np.ndarray) -> np.ndarray:
    """``(r, F)`` of 0/1 as ``(r, ceil(F / 64))`` uint64 words (at least one word)."""
    r, F = rows.shape
    nw = max(1, -(-F // 64))
    packed = np.zeros((r, 8 * nw), np.uint8)
    packed[:, :-(-F // 8)] = np.packbits(rows.astype(np.uint8, copy=False), axis=1,
                                         bitorder="little")
    return packed.view("<u8")


def unpack_words(words: np.ndarray, F: int) -> np.ndarray:
    """Inverse of :func:`pack_words`: ``(r, F)`` uint8 of 0/1."""
    raw = np.ascontiguousarray(words, "<u8").view(np.uint8)
    return np.unpackbits(raw, axis=1, count=F, bitorder="little")


def ints_from_words(words: np.ndarray) -> list[int]:
    """Each row of words as one Python int (bit ``i`` = element ``i``)."""
    if words.shape[1] == 1:
        return words[:, 0].tolist()  # the ints are made in C
    return [int.from_bytes(r.tobytes(), "little") for r in np.ascontiguousarray(words, "<u8")]


def words_from_ints(values: list[int], nw: int) -> np.ndarray:
    """Inverse of :func:`ints_from_words`: ``(len(values), nw)`` uint64."""
    if nw == 1:
        return np.array(values, np.uint64).reshape(-1, 1)
    raw = b"".join(v.to_bytes(8 * nw, "little") for v in values)
    return np.frombuffer(raw, "<u8").reshape(len(values), nw).copy()


def _large_empty(shape, dtype) -> np.ndarray:
    """A large array whose pages are faulted in by one ``mmap(MAP_POPULATE)`` call.

    The potentials of a large fit (186 MB for the tutorial's 94,000 x 495) cost more to
    first-touch one page fault at a time than to compute. Measured when ``fit`` built
    them at once, 94,000 samples after a 1 s pause (3 runs each, twice): MAP_POPULATE 0.42-0.58 s,
    transparent huge pages (MADV_HUGEPAGE, which defrag=madvise compacts for on the fault
    path) 0.70-0.88 s, plain ``np.empty`` 0.48-1.07 s.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    flags = getattr(mmap, "MAP_POPULATE", 0)
    if nbytes < (8 << 20) or not flags:
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flags)
    return np.frombuffer(buf, dtype).reshape(shape)


@dataclass(frozen=True)
class FitHistory:
    """What a learning run needs to rebuild every sample's potentials.

    Attributes
    ----------
    num_inputs : int
        F, the length of the input and weight vectors.
    spikes : ndarray, (n, W) uint64
        The inputs, packed (:func:`pack_words`).
    weights : ndarray, (N, W) uint64
        Each neuron's weights before the first sample, packed.
    change_sample : ndarray, (E,) int64
        The sample of each weight change, ascending (a change applies from the next one).
    change_neuron : ndarray, (E,) int64
        The neuron each change rewrote.
    change_weights : ndarray, (E, W) uint64
        The neuron's packed weights after the change.
    """

    num_inputs: int
    spikes: np.ndarray
    weights: np.ndarray
    change_sample: np.ndarray
    change_neuron: np.ndarray
    change_weights: np.ndarray

    def potentials(self) -> np.ndarray:
        """``(n, N)`` int32: each sample's potentials before its own learning step."""
        n, N = self.spikes.shape[0], self.weights.shape[0]
        out = _large_empty((n, N), np.int32)
        w = self.weights.copy()  # (N, W) packed, as at the start of the current block
        starts = np.searchsorted(self.change_sample, np.arange(0, n + _BUILD_BLOCK,
                                                               _BUILD_BLOCK))
        for b, b0 in enumerate(range(0, n, _BUILD_BLOCK)):
            b1 = min(n, b0 + _BUILD_BLOCK)
            x = self.spikes[b0:b1, None]
            pots = out[b0:b1]
            _popcounts_into(x & w, pots)
            e0, e1 = int(starts[b]), int(starts[b + 1])
            if e1 > e0:
                # The changed neurons' potentials on the whole block at once; each change
                # then overwrites its neuron's column after its sample, in order, so a
                # later change of the same neuron wins for the samples after it.
                after = self.change_weights[e0:e1]
                patch = np.empty((b1 - b0, e1 - e0), np.int32)
                _popcounts_into(x & after, patch)
                rows = (self.change_sample[e0:e1] + 1 - b0).tolist()
                for e, (r, j) in enumerate(zip(rows, self.change_neuron[e0:e1].tolist())):
                    pots[r:, j] = patch[r:, e]
                    w[j] = after[e]
        return out


def _popcounts_into(words: np.ndarray, out: np.ndarray) -> None:
    """The set bits of each vector of packed words (the last axis) into ``out``."""
    counts = np.bitwise_count(words)
    if counts.shape[-1] == 1:
        out[...] = counts[..., 0]
    else:
        counts.sum(axis=-1, out=out)
