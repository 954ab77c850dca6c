"""Real speech: the Free Spoken Digit Dataset against a model trained on synthetic speech.

Two measurements, both on real recordings the model never saw:

* **Recognition.** The shipped classifier on FSDD digits. It is reported two ways: over
  all the model's classes (a strict keyword spotter), and restricted to the ten digit
  classes (the task FSDD poses).
* **Real-speaker enrolment.** Some digits are left out of the offline native learning. The
  model then learns them on-device from ``enrol`` real utterances of one FSDD speaker
  (augmented x40, as the tutorial does). It is tested on that speaker's other
  recordings of those digits, and on the other speakers' recordings.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .edge_learning import (accuracy, extractor_of, fit_batches, learning_head, spike_encoder,
                            suggest_from_training)

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass
class RealSpeechResult:
    recordings: int
    all_class_accuracy: float | None
    digit_only_accuracy: float | None
    per_speaker_digit_accuracy: dict
    enrol_speaker: str
    enrol_digits: list
    enrol_per_digit: int
    enrol_correct: int
    enrol_total: int
    other_speakers_correct: int
    other_speakers_total: int
    old_val_accuracy_before: float | None
    old_val_accuracy_after: float | None

    def to_dict(self):
        return asdict(self)


def run_real_speech(model_path, corpus, fsdd_root=None, cache_dir=".ekws-cache",
                    enrol_digits=("one", "five", "nine"), enrol_speaker="jackson",
                    enrol=4, copies=40, neurons_per_class=15, seed=0, progress=True,
                    log=print) -> RealSpeechResult:
    from edgekws.data import speech_commands as sc
    from edgekws.data.augment import augment
    from edgekws.data.features import cached_features
    from edgekws.data.fsdd import list_fsdd, load_fsdd
    from edgekws.data.mfcc import MfccScaling, mfcc

    extractor, full, extra = extractor_of(model_path)
    scaling = MfccScaling.from_dict(extra["mfcc_scaling"])
    words = list(extra.get("words", []))

    spikes_of = spike_encoder(extractor, scaling)

    samples = list_fsdd(fsdd_root)
    waves, fwords, speakers = load_fsdd(samples)
    feats = mfcc(waves)
    log(f"FSDD: {len(samples)} recordings, speakers {sorted(set(speakers))}")

    all_acc = digit_acc = None
    per_speaker = {}
    if full is not None and words and all(d in words for d in DIGITS):
        x = scaling.to_uint8(feats)[..., None]
        scores = full.predict(x).reshape(len(x), -1)
        truth = np.array([words.index(w) for w in fwords])
        all_acc = float(np.mean(scores.argmax(1) == truth))
        digit_cols = np.array([words.index(d) for d in DIGITS])
        digit_pred = digit_cols[scores[:, digit_cols].argmax(1)]
        ok = digit_pred == truth
        digit_acc = float(np.mean(ok))
        for spk in sorted(set(speakers)):
            m = np.array(speakers) == spk
            per_speaker[spk] = float(np.mean(ok[m]))
        log(f"recognition: {100 * all_acc:.1f} % over all {len(words)} classes, "
            f"{100 * digit_acc:.1f} % among the ten digits")

    # -- enrolment of left-out digits from one real speaker -----------------------------------
    ds = sc.load_speech_commands(corpus, exclude=tuple(enrol_digits), seed=seed)
    K = len(ds.word_to_index)
    train = cached_features(ds.train, cache_dir, name="real-train", progress=progress)
    val = cached_features(ds.val, cache_dir, name="real-val", progress=progress)
    s_train, s_val = spikes_of(train.x), spikes_of(val.x)
    _, k = suggest_from_training(s_train, seed)
    head = learning_head(s_train.shape[-1], K, neurons_per_class, k, 0.1, seed)
    fit_batches(head, s_train, train.y, progress=progress)
    before = accuracy(head, s_val, val.y, K)
    head.add_classes(len(enrol_digits), seed=seed)
    rng = np.random.default_rng(seed)
    noises = sc.load_noises(ds.noise_files)
    ex, ey, tx, ty, ox, oy = [], [], [], [], [], []
    for i, word in enumerate(enrol_digits):
        idx = [j for j, s in enumerate(samples) if s.word == word]
        mine = sorted((j for j in idx if speakers[j] == enrol_speaker),
                      key=lambda j: samples[j].index)
        if len(mine) <= enrol:
            raise ValueError(f"speaker {enrol_speaker!r} has {len(mine)} recordings of "
                             f"{word!r}; enrolment needs more than {enrol}")
        for j in mine[:enrol]:
            ex.append(mfcc(augment(waves[j], copies, rng, noises)))
            ey += [K + i] * copies
        tx.append(feats[mine[enrol:]])
        ty += [K + i] * (len(mine) - enrol)
        others = [j for j in idx if speakers[j] != enrol_speaker]
        ox.append(feats[others])
        oy += [K + i] * len(others)
    fit_batches(head, spikes_of(np.concatenate(ex)), np.asarray(ey), progress=False)
    K2 = K + len(enrol_digits)
    correct = int(np.sum(head.predict_classes(spikes_of(np.concatenate(tx)), K2) == ty))
    other = int(np.sum(head.predict_classes(spikes_of(np.concatenate(ox)), K2) == oy))
    after = accuracy(head, s_val, val.y, K2)
    log(f"enrolment of {list(enrol_digits)} from {enrol} real utterances of "
        f"{enrol_speaker}: {correct}/{len(ty)} on that speaker, {other}/{len(oy)} on "
        f"the others; old classes {100 * before:.2f} % -> {100 * after:.2f} %")
    return RealSpeechResult(
        recordings=len(samples), all_class_accuracy=all_acc, digit_only_accuracy=digit_acc,
        per_speaker_digit_accuracy=per_speaker, enrol_speaker=enrol_speaker,
        enrol_digits=list(enrol_digits), enrol_per_digit=enrol, enrol_correct=correct,
        enrol_total=len(ty), other_speakers_correct=other, other_speakers_total=len(oy),
        old_val_accuracy_before=before, old_val_accuracy_after=after)
