"""SpecAugment-style masking of MFCC windows during training.

Real speakers differ from the training voices in ways no synthesiser or room model covers;
masking a few frames and a few coefficients of each training window (Park et al., 2019,
"SpecAugment") makes the network spread its evidence over the whole word instead of
leaning on one frame or one coefficient. Masked values are set to the window's own mean of
that coefficient (rounded, since the model's input is a uint8 code), so a mask never
changes the window's level.

The masks are drawn afresh for every batch of every epoch, from one seeded generator, so a
run is reproducible; validation data is never masked.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from edgekws.checks import check_int

__all__ = ["SpecAugment", "AugmentedBatches"]


@dataclasses.dataclass(frozen=True)
class SpecAugment:
    """How many masks of at most which width, along time (frames) and coefficients.

    Parameters
    ----------
    time_masks, time_width : int
        Number of time masks per window, and the largest width of each in frames (each
        mask's width is drawn uniformly from 0..``time_width``).
    freq_masks, freq_width : int
        The same along the MFCC coefficients.
    """

    time_masks: int = 2
    time_width: int = 6
    freq_masks: int = 1
    freq_width: int = 2

    def __post_init__(self):
        for f in dataclasses.fields(self):
            check_int(f.name, getattr(self, f.name), 0)

    @classmethod
    def from_list(cls, values) -> "SpecAugment":
        """From the four numbers of ``--spec-augment`` (time masks, time width, frequency
        masks, frequency width)."""
        values = list(values)
        if len(values) != 4:
            raise ValueError("spec-augment takes 4 integers (time masks, time width, "
                             f"coefficient masks, coefficient width), not {values!r}")
        return cls(*values)

    def check_shape(self, frames: int, coefficients: int) -> None:
        """Refuse masks wider than the window they mask."""
        if self.time_width > frames:
            raise ValueError(f"time_width must be at most the window's {frames} frames, "
                             f"not {self.time_width}")
        if self.freq_width > coefficients:
            raise ValueError(f"freq_width must be at most the window's {coefficients} "
                             f"coefficients, not {self.freq_width}")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A masked float32 copy of windows ``x`` (shape (n, frames, coefficients[, 1]))."""
        x = np.asarray(x, np.float32)
        if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] != 1):
            raise ValueError(f"windows must have shape (n, frames, coefficients[, 1]), not "
                             f"{x.shape}")
        n, frames, coefs = x.shape[:3]
        self.check_shape(frames, coefs)
        w = x.reshape(n, frames, coefs)
        mask = (_band_mask(rng, n, frames, self.time_masks, self.time_width)[:, :, None]
                | _band_mask(rng, n, coefs, self.freq_masks, self.freq_width)[:, None, :])
        fill = np.rint(w.mean(axis=1, keepdims=True))
        return np.where(mask, fill, w).reshape(x.shape)


def _band_mask(rng, n, length, count, width) -> np.ndarray:
    """(n, length) booleans: the union of ``count`` bands of width 0..``width`` each."""
    mask = np.zeros((n, length), bool)
    if count == 0 or width == 0:
        return mask
    pos = np.arange(length)
    for _ in range(count):
        w = rng.integers(0, width + 1, size=n)
        start = rng.integers(0, length - w + 1)
        mask |= (pos >= start[:, None]) & (pos < (start + w)[:, None])
    return mask


def AugmentedBatches(x, y, batch_size: int, augment: SpecAugment, seed: int = 0):
    """A Keras ``PyDataset`` of shuffled, masked training batches (a new order and new
    masks every epoch)."""
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x))

        def __len__(self):
            return -(-len(x) // batch_size)

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch_size:(i + 1) * batch_size])
            return augment.apply(x[idx], self.rng), y[idx]

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(x))

    if len(x) == 0:
        raise ValueError("no training windows to augment")
    augment.check_shape(*np.shape(x)[1:3])
    return _Batches()
