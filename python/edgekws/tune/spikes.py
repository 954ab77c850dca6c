"""Spike statistics of a feature extractor's output and the suggested num_weights."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The tutorial's rule of thumb: a little more connections than a typical sample has spikes.
NUM_WEIGHTS_FACTOR = 1.2


@dataclass(frozen=True)
class SpikeStatistics:
    """Spikes per sample over a set of samples.

    Attributes
    ----------
    counts : ndarray of int
        Spikes of each sample.
    num_inputs : int
        Width of the spike vector (the learning layer's inputs).
    """

    counts: np.ndarray
    num_inputs: int

    @property
    def median(self) -> float:
        return float(np.median(self.counts))

    @property
    def mean(self) -> float:
        return float(np.mean(self.counts))

    @property
    def density(self) -> float:
        """Mean fraction of inputs that spike."""
        return self.mean / self.num_inputs

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """``(values, samples)``: how many samples have each spike count 0..num_inputs."""
        values = np.arange(self.num_inputs + 1)
        return values, np.bincount(self.counts, minlength=self.num_inputs + 1)

    @property
    def suggested_num_weights(self) -> int:
        return suggest_num_weights(self.median, self.num_inputs)

    def report(self) -> str:
        return (f"samples: {self.counts.size}\n"
                f"spikes per sample: median {self.median:g}, mean {self.mean:.2f}, "
                f"min {self.counts.min()}, max {self.counts.max()} of {self.num_inputs} "
                f"inputs (density {self.density:.3f})\n"
                f"suggested num_weights: int({NUM_WEIGHTS_FACTOR} x median) = "
                f"{self.suggested_num_weights}")

    def plot(self, path, title="Spikes per sample at the feature extractor's output"):
        """Save the histogram, with the median and the suggested num_weights, as a PNG."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        values, hist = self.histogram()
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(values, hist, width=1.0, color="#4c72b0")
        ax.axvline(self.median, color="k", ls="--", label=f"median {self.median:g}")
        ax.axvline(self.suggested_num_weights, color="#c44e52",
                   label=f"suggested num_weights {self.suggested_num_weights}")
        ax.set_xlabel("spikes per sample")
        ax.set_ylabel("samples")
        ax.set_title(title)
        ax.legend()
        ax.grid(ls="--", alpha=0.5)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def random_subset(n: int, fraction: float, seed=0) -> np.ndarray:
    """Sorted indices of a seeded random ``fraction`` of ``n`` samples (at least one).

    Data sets are often grouped by class, so the first rows would not be representative
    (the tutorial's "10% of the training set" is of shuffled data).
    """
    k = max(1, int(np.ceil(fraction * n)))
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


def _as_spikes(spikes) -> np.ndarray:
    s = np.asarray(spikes)
    if s.ndim < 2:
        raise ValueError(f"spikes must be (n, ...) with one row per sample, not shape {s.shape}")
    if s.size and (s.min() < 0 or s.max() > 1):
        raise ValueError("spike statistics need binary (1-bit) spikes: found values in "
                         f"[{s.min()}, {s.max()}]; is the extractor's last act_bits 1?")
    return s.reshape(s.shape[0], -1)


def spike_statistics(spikes=None, *, model=None, inputs=None, batch_size=0) -> SpikeStatistics:
    """Statistics of binary spikes, given directly or as ``model.forward(inputs)``.

    Parameters
    ----------
    spikes : array_like of 0/1, (n, ...), optional
    model : edgekws.golden.Model, optional
        A feature extractor whose last layer outputs 1-bit spikes.
    inputs : ndarray of uint8, optional
        Its inputs (the tutorial uses 10% of the training set).
    """
    if spikes is None:
        if model is None or inputs is None:
            raise ValueError("give either spikes, or a model and its inputs")
        spikes = model.forward(inputs, batch_size)
    s = _as_spikes(spikes)
    if s.shape[0] == 0:
        raise ValueError("spike statistics need at least one sample")
    return SpikeStatistics(counts=s.sum(axis=1).astype(np.int64), num_inputs=s.shape[1])


def suggest_num_weights(median_spikes: float, num_inputs: int | None = None) -> int:
    """``int(1.2 * median)``, at least 1 and at most the number of inputs."""
    k = max(1, int(NUM_WEIGHTS_FACTOR * median_spikes))
    return min(k, num_inputs) if num_inputs else k
