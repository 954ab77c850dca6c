"""Real-speech evaluation of a trained model: Speech Commands' 12 classes, and FSDD digits.

Speech Commands is scored as its canonical test is: 10 core words, ``_silence_`` and
``_unknown_`` (any other word). The model's own classes are mapped onto these 12: a core
word stays itself, silence is silence, every other word the model knows is "unknown". A
folder in the canonical test layout (the 12 folders; an ``_unknown_`` clip's name starts
with its word) or plain word folders are read; ``folds`` keeps only the speakers of those
folds (:func:`edgekws.data.mix.fold_of`), which is how a figure is reported only on
speakers held out of a model's training (``edgekws data mix --holdout``).

FSDD (three speakers, digits) is scored among the ten digit classes, and over all classes.

**The unknown-word offset.** The model knows many more words than the ten core ones, so in
the 12-class decision "unknown" is the best of dozens of classes and wins more often than a
class-balanced test deserves. ``unknown_offset`` lowers the scores of the words outside the
12 classes by a constant before the decision (a prior correction; 0 is the plain argmax).
:func:`choose_unknown_offset` picks it on clips of *other* speakers (a validation set) by
the 12-class accuracy averaged over the classes, so that the many unknown clips of a
validation set such as ``sc-v1-sample`` do not decide it.

**Shifted windows** (:mod:`edgekws.data.shifts`): ``score_model(..., shifts=...,
speeds=...)`` averages the model's scores over each clip played at those speeds and moved
by those seconds.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

__all__ = ["CORE_WORDS", "TWELVE", "RealClips", "speech_commands_clips", "fsdd_clips",
           "Scores", "score_model", "twelve_class_of", "choose_unknown_offset",
           "OFFSET_GRID"]

CORE_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
#: The 12 classes of the Speech Commands test, in the canonical order.
TWELVE = CORE_WORDS + (SILENCE, UNKNOWN)


@dataclasses.dataclass
class RealClips:
    """One-second 16 kHz clips with their word and speaker."""

    name: str
    waves: np.ndarray
    words: list
    speakers: list
    paths: list

    def __len__(self):
        return len(self.words)


def speech_commands_clips(root, folds=None, num_folds: int = 5, limit: int | None = None,
                          name: str | None = None) -> RealClips:
    """Read a Speech Commands folder (canonical test layout or word folders).

    Parameters
    ----------
    root : path-like
    folds : sequence of int, optional
        Keep only the speakers (and silence clips) of these folds.
    num_folds : int
        Number of folds of the speaker split.
    limit : int, optional
        Keep an evenly spaced sample of at most this many clips.
    """
    from edgekws.data.mix import speech_commands_source
    from edgekws.data.speech_commands import Sample, load_waves

    root = Path(root)
    if folds is not None:
        bad = [f for f in folds if not (isinstance(f, int) and 0 <= f < num_folds)]
        if bad or not folds:
            raise ValueError(f"folds must be fold numbers in 0..{num_folds - 1}, not "
                             f"{list(folds)!r}")
    # The corpus builder's reading of the folder; the folds asked for are its "held out".
    src = speech_commands_source(root, "eval", folds=num_folds,
                                 holdout=tuple(folds) if folds is not None else ())
    kept = [c for c in src.clips if folds is None or c.split == "holdout"]
    if not kept:
        raise ValueError(f"no clips in {str(root)!r}" + (f" for folds {list(folds)}"
                                                          if folds is not None else ""))
    words = [c.word for c in kept]
    speakers = ["silence" if c.word == SILENCE else c.speaker for c in kept]
    paths = [c.path for c in kept]
    if limit is not None and len(paths) > limit:
        keep = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        words, speakers, paths = ([v[i] for i in keep] for v in (words, speakers, paths))
    # Every clip as a recording, silence too (not a cut of a noise file).
    waves = load_waves([Sample(p, "_clip_", 0) for p in paths])
    label = name or root.name + ("" if folds is None else
                                 f" (folds {','.join(map(str, folds))} of {num_folds})")
    return RealClips(label, waves, words, speakers, paths)


def fsdd_clips(root=None, limit: int | None = None) -> RealClips:
    """FSDD recordings (resampled to 16 kHz, centred in one second)."""
    from edgekws.data.fsdd import list_fsdd, load_fsdd

    samples = list_fsdd(root)
    if limit is not None and len(samples) > limit:
        keep = np.linspace(0, len(samples) - 1, limit).round().astype(int)
        samples = [samples[i] for i in keep]
    waves, words, speakers = load_fsdd(samples)
    return RealClips("FSDD", np.asarray(waves, np.float32), list(words), list(speakers),
                     [s.path for s in samples])


def twelve_class_of(word: str) -> str:
    """The Speech Commands test class of a word."""
    return word if word in CORE_WORDS or word == SILENCE else UNKNOWN


@dataclasses.dataclass
class Scores:
    """Per-clip predictions of a model on a :class:`RealClips` set."""

    clips: RealClips
    model_words: list
    scores: np.ndarray   # (n, classes) the model's outputs
    predicted: list      # the model's word for each clip

    def accuracy(self, mask=None) -> float:
        ok = np.array([p == w for p, w in zip(self.predicted, self.clips.words)])
        return float(ok[mask].mean() if mask is not None else ok.mean())

    def restricted(self, classes) -> list:
        """The best of ``classes`` (words of the model) for each clip."""
        cols = [self.model_words.index(c) for c in classes]
        return [classes[i] for i in self.scores[:, cols].argmax(1)]

    def twelve(self, unknown_offset: float = 0.0):
        """``(truth, predicted)`` in the 12 Speech Commands classes, the scores of the
        words outside them lowered by ``unknown_offset`` first (module doc)."""
        predicted = self.predicted
        if unknown_offset:
            outside = np.array([twelve_class_of(w) == UNKNOWN for w in self.model_words])
            s = self.scores.astype(np.float64)   # a copy: the scores stay as the model gave
            s[:, outside] -= float(unknown_offset)
            predicted = [self.model_words[i] for i in s.argmax(1)]
        return ([twelve_class_of(w) for w in self.clips.words],
                [twelve_class_of(w) for w in predicted])

    def balanced_twelve(self, unknown_offset: float = 0.0) -> float:
        """12-class accuracy averaged over the classes present (each class weighs the
        same, as in the class-balanced canonical test)."""
        truth, pred = (np.asarray(v) for v in self.twelve(unknown_offset))
        return float(np.mean([np.mean(pred[truth == c] == c) for c in np.unique(truth)]))


#: Offsets :func:`choose_unknown_offset` tries, in units of the model's scores.
OFFSET_GRID = tuple(np.round(np.arange(-2.0, 8.01, 0.25), 2))


def choose_unknown_offset(scores: Scores, grid=OFFSET_GRID) -> tuple[float, list]:
    """The offset of ``grid`` with the best class-balanced 12-class accuracy on
    ``scores`` (clips of speakers the reported figure is not measured on); ties go to
    the offset nearest 0. Returns ``(offset, [(offset, balanced accuracy)])``."""
    grid = [float(g) for g in grid]
    if not grid:
        raise ValueError("the offset grid is empty")
    if len({twelve_class_of(w) for w in scores.clips.words}) < 2:
        raise ValueError(f"{scores.clips.name}: choosing the unknown offset needs clips of "
                         "at least two of the 12 classes")
    table = [(g, scores.balanced_twelve(g)) for g in grid]
    best = max(table, key=lambda t: (round(t[1], 12), -abs(t[0])))
    return best[0], table


def score_model(model_path, clips: RealClips, batch: int = 500, progress: bool = False,
                shifts=(0.0,), speeds=(1.0,)) -> Scores:
    """Run a trained ``.ekws`` (the golden model, with its stored MFCC scaling) on clips;
    with several ``shifts`` (seconds) or ``speeds``, each clip's scores are the mean over
    the windows played at each speed and moved by each shift (:mod:`edgekws.data.shifts`)."""
    from tqdm import tqdm

    from edgekws.data.mfcc import MfccParams, mfcc
    from edgekws.data.shifts import check_shifts, check_speeds, shifted_windows
    from edgekws.tutorial.edge_learning import front_end

    shifts = check_shifts(shifts)
    speeds = check_speeds(speeds)
    _, full, extra, scaling, _ = front_end(model_path)
    words = list(extra.get("words", []))
    if full is None or not words:
        raise ValueError(f"{model_path} has no classifier with word labels (metadata "
                         "'words'); evaluate a model written by 'edgekws train'")
    rate = MfccParams().sample_rate
    out = []
    for i in tqdm(range(0, len(clips), batch), disable=not progress, unit="batch",
                  desc="eval"):
        total = 0.0
        for waves in shifted_windows(clips.waves[i:i + batch], shifts, rate, speeds):
            x = scaling.to_uint8(mfcc(waves))[..., None]
            total = total + np.asarray(full.predict(x), np.float64).reshape(len(x), -1)
        out.append(total / (len(shifts) * len(speeds)))
    scores = np.concatenate(out)
    predicted = [words[i] for i in scores.argmax(1)]
    return Scores(clips, words, scores, predicted)
