"""What ``board load`` and ``board enrol`` do to a model, shared by the CLI and by the
stream evaluation (:mod:`edgekws.evaluate.stream`), so that both measure the same thing.
"""
from __future__ import annotations

import numpy as np

__all__ = ["edge_model", "front_end", "enrol_frames"]


def edge_model(model, neurons_per_class: int = 15, num_weights: int = 12,
               competition: float = 0.1, first_word: str = "_unknown_", seed: int = 0,
               source: str = "the model"):
    """The model ``board load`` puts on the board: a model whose last layer already learns
    is kept (its classes named ``"0"``, ``"1"``, ... when it has no ``words``); otherwise
    its classifier (if any) is replaced by a fresh 1-bit learning layer of one class named
    ``first_word``. Returns the model (``.extra['words']`` set);
    ``source`` names it in errors (its file)."""
    from edgekws.golden import AkidaUnsupervised, FullyConnected

    extra = dict(model.extra or {})
    last = model.layers[-1]
    if not (isinstance(last, FullyConnected) and last.learning is not None):
        if isinstance(last, FullyConnected):
            model.pop_layer()
        model.add(FullyConnected(neurons_per_class, name="edge_layer", activation=False))
        model.compile(AkidaUnsupervised(num_weights=num_weights, num_classes=1,
                                        learning_competition=competition), seed=seed)
        extra["words"] = [first_word]
        extra.pop("word_to_index", None)
    elif "words" not in extra:
        # A learning layer without names (an imported Akida model): its classes are
        # named by their numbers, which is what infer prints and enrol extends.
        extra["words"] = [str(k) for k in range(last.learning.num_classes)]
    model.extra = extra
    if "mfcc_scaling" not in extra:
        raise ValueError(f"{source} has no stored MFCC scaling (metadata 'mfcc_scaling'); "
                         "an imported model gets one from `edgekws model import "
                         "--front-end`")
    return model


def front_end(model):
    """``(params, scaling, to_frames)`` of a host copy: ``to_frames`` maps float waves to the
    uint8 MFCC frames the board takes, by the parameters and scaling in its metadata."""
    from edgekws.data.mfcc import MfccParams, MfccScaling, mfcc
    params = MfccParams(**model.extra["mfcc"]) if "mfcc" in model.extra else MfccParams()
    scaling = MfccScaling.from_dict(model.extra["mfcc_scaling"])
    return params, scaling, lambda w: scaling.to_uint8(
        mfcc(np.asarray(w, np.float32), params))[..., None]


def enrol_frames(clips, copies: int, rng, to_frames) -> np.ndarray:
    """The frames ``board enrol`` learns a word from: each one-second clip, then
    ``copies`` augmented versions of it (time shift and noise), through ``to_frames``."""
    from edgekws.data.augment import augment
    waves = np.concatenate([np.concatenate([np.asarray(c, np.float32)[None],
                                            augment(c, copies, rng)]) for c in clips])
    return to_frames(waves)
