"""Tools to choose the native-learning parameters (the Akida "tips" tutorial).

* :func:`spike_statistics` / :func:`suggest_num_weights`: spikes per sample at the
  feature extractor's output, and ``num_weights = int(1.2 * median)``.
* :func:`neurons_per_class_analysis`: loss and learned-neuron count against the number
  of neurons per class, for one class.

The spikes and labels of a corpus split that the tutorial's native learning sees
(``edgekws tune spikes``) come from :func:`edgekws.tutorial.corpus_spikes.corpus_spikes`:
they are the tutorial's own pipeline, and the tutorial uses this package.
"""
from .neurons import NeuronsPerClassResult, neurons_per_class_analysis
from .spikes import SpikeStatistics, random_subset, spike_statistics, suggest_num_weights

__all__ = ["SpikeStatistics", "random_subset", "spike_statistics", "suggest_num_weights",
           "NeuronsPerClassResult", "neurons_per_class_analysis"]
