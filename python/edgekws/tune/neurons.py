"""How many neurons per class? The tips tutorial's loss analysis on one class.

For each candidate count ``n``, a single-class FullyConnected layer of ``n`` neurons learns
the class's spikes (in a random order); the loss is the mean over samples of
``num_weights - best potential`` and "learned" counts neurons with threshold_learning > 0.
The best of several repetitions is kept. Where the loss stops falling, more neurons
only cost memory and time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekws.checks import check_int
from edgekws.golden.learning import LearningParams, LearningState, learn, random_weights

#: The tutorial's list of neuron counts.
DEFAULT_NEURONS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80,
                   90, 100, 150, 200, 250, 300, 350, 400, 450, 500)


@dataclass(frozen=True)
class NeuronsPerClassResult:
    neurons: np.ndarray          #: the neuron counts tried
    loss: np.ndarray             #: min over repetitions of mean(num_weights - max potential)
    learned: np.ndarray          #: min over repetitions of neurons with threshold_learning > 0
    num_weights: int
    num_samples: int

    def table(self) -> str:
        rows = ["neurons  loss     learned"]
        rows += [f"{n:7d}  {l:7.3f}  {k:7d}" for n, l, k in
                 zip(self.neurons, self.loss, self.learned)]
        return "\n".join(rows)

    def plot(self, path, label="the class"):
        """Save loss and learned neurons against neurons per class as one PNG."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        a.plot(self.neurons, self.loss, "o-")
        a.set_xlabel("Number of neurons per class")
        a.set_ylabel("Loss (num_weights - best potential)")
        a.set_title(f"Losses for samples of {label}")
        b.plot(self.neurons, self.learned, "o-", color="#dd8452")
        b.plot(self.neurons, np.minimum(self.neurons, self.num_samples), ":", color="grey",
               label="upper bound (neurons, samples)")
        b.set_xlabel("Number of neurons per class")
        b.set_ylabel("Neurons that have learned")
        b.set_title(f"Neurons that have learned for {label}")
        b.legend()
        for ax in (a, b):
            ax.grid(ls="--", alpha=0.5)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def neurons_per_class_analysis(spikes, num_weights: int, neurons=DEFAULT_NEURONS,
                               learning_competition: float = 0.1, repetitions: int = 1,
                               seed=0, progress: bool = False) -> NeuronsPerClassResult:
    """Loss and learned neurons for each count in ``neurons`` (spikes of ONE class).

    Parameters
    ----------
    spikes : array_like of 0/1, (n, ...)
        Feature-extractor spikes of samples of a single class.
    num_weights : int
    neurons : sequence of int
    learning_competition : float
    repetitions : int
        Trainings per count; the minimum loss and learned count are kept, as the tutorial.
    seed : int
        Seeds the initial weights and the sample orders: results are reproducible.
    """
    x = np.asarray(spikes)
    x = x.reshape(x.shape[0], -1).astype(np.uint8)
    if x.shape[0] == 0:
        raise ValueError("the analysis needs at least one sample of the class")
    if x.max(initial=0) > 1:
        raise ValueError("the analysis needs binary spikes")
    counts = np.asarray(list(neurons), dtype=np.int64)
    if counts.size == 0 or counts.min() <= 0:
        raise ValueError(f"neuron counts must be positive integers, not {list(neurons)!r}")
    repetitions = check_int("repetitions", repetitions)
    params = LearningParams.create(num_weights, learning_competition=learning_competition)
    rng = np.random.default_rng(seed)
    losses = np.zeros((counts.size, repetitions))
    learned = np.zeros((counts.size, repetitions), np.int64)
    steps = [(i, r) for i in range(counts.size) for r in range(repetitions)]
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc="neurons per class", unit="training")
    for i, r in steps:
        n = int(counts[i])
        state = LearningState.initial(params, random_weights(x.shape[1], n, num_weights, rng))
        order = x[rng.permutation(x.shape[0])]
        learn(params, state, order)
        best = (order.astype(np.float32) @ state.weights.astype(np.float32)).max(axis=1)
        losses[i, r] = float(np.sum(num_weights - best)) / x.shape[0]
        learned[i, r] = int(np.sum(state.threshold_learning > 0))
    return NeuronsPerClassResult(neurons=counts, loss=losses.min(axis=1),
                                 learned=learned.min(axis=1), num_weights=int(num_weights),
                                 num_samples=int(x.shape[0]))
