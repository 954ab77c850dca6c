"""Accuracy tables and confusion matrices of :class:`~edgekws.evaluate.real.Scores`."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .real import CORE_WORDS, TWELVE, Scores

__all__ = ["speech_commands_report", "fsdd_report", "markdown"]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _per(keys, ok) -> dict:
    acc = defaultdict(list)
    for k, v in zip(keys, ok):
        acc[k].append(bool(v))
    return {k: {"clips": len(v), "accuracy": float(np.mean(v))} for k, v in sorted(acc.items())}


def _confusion(truth, pred, classes, path, title):
    from edgekws.train.report import confusion_matrix, plot_confusion

    index = {c: i for i, c in enumerate(classes)}
    cm = confusion_matrix([index[t] for t in truth], [index[p] for p in pred], len(classes))
    if path is not None:
        plot_confusion(cm, list(classes), path, title=title)
    return cm.tolist()


def speech_commands_report(s: Scores, png=None, unknown_offset: float = 0.0) -> dict:
    """12-class, core-word and all-class accuracy, per class and per speaker; the 12-class
    confusion matrix (and its PNG at ``png``). ``unknown_offset``: see
    :mod:`edgekws.evaluate.real` (the all-class accuracy does not use it)."""
    truth, pred = s.twelve(unknown_offset)
    ok = np.array([t == p for t, p in zip(truth, pred)])
    core = np.array([t in CORE_WORDS for t in truth])
    known = np.array([w in s.model_words for w in s.clips.words])
    speakers = [sp for sp, t in zip(s.clips.speakers, truth) if t != "_silence_"]
    per_speaker = _per(speakers, ok[[t != "_silence_" for t in truth]])
    accs = [v["accuracy"] for v in per_speaker.values()]
    twelve = float(ok.mean())
    return {
        "set": s.clips.name, "clips": len(truth),
        "speakers": len(per_speaker),
        "twelve_class_accuracy": twelve,
        "unknown_offset": float(unknown_offset),
        "core_word_accuracy": float(ok[core].mean()) if core.any() else None,
        "all_class_accuracy": s.accuracy(known) if known.any() else None,
        "all_class_clips": int(known.sum()),
        "per_class": _per(truth, ok),
        "per_speaker": per_speaker,
        "speaker_accuracy": {"min": float(np.min(accs)), "median": float(np.median(accs)),
                             "max": float(np.max(accs))} if accs else None,
        "confusion_classes": list(TWELVE),
        "confusion": _confusion(truth, pred, TWELVE, png,
                                f"{s.clips.name}: 12 classes, {100 * twelve:.1f} %"),
    }


def fsdd_report(s: Scores, png=None) -> dict:
    """Accuracy among the ten digits (the task FSDD poses) and over all the model's
    classes, per digit and per speaker; the digit confusion matrix."""
    missing = [d for d in DIGITS if d not in s.model_words]
    if missing:
        raise ValueError(f"the model has no class for the digits {missing}")
    pred = s.restricted(DIGITS)
    ok = np.array([p == w for p, w in zip(pred, s.clips.words)])
    digit = float(ok.mean())
    return {
        "set": s.clips.name, "clips": len(ok), "digit_accuracy": digit,
        "all_class_accuracy": s.accuracy(),
        "per_class": _per(s.clips.words, ok),
        "per_speaker": _per(s.clips.speakers, ok),
        "confusion_classes": list(DIGITS),
        "confusion": _confusion(s.clips.words, pred, DIGITS, png,
                                f"FSDD among the ten digits, {100 * digit:.1f} %"),
    }


def markdown(report: dict, worst_speakers: int = 5) -> str:
    """A short human summary: the headline figures and the per-class table."""
    lines = [f"**{report['set']}**: {report['clips']} clips"]
    notes = []
    if report.get("unknown_offset"):
        notes.append(f"unknown-word offset {report['unknown_offset']:g}")
    if len(report.get("shifts", [0])) > 1:
        notes.append("scores averaged over windows shifted by "
                     + " ".join(f"{v:g}" for v in report["shifts"]) + " s")
    if len(report.get("speeds", [1])) > 1:
        notes.append("each played at " + " ".join(f"{v:g}" for v in report["speeds"])
                     + " times its speed")
    if notes:
        lines[0] += f" ({'; '.join(notes)})"
    for key, label in (("twelve_class_accuracy", "12 classes"),
                       ("core_word_accuracy", "10 core words"),
                       ("digit_accuracy", "among the ten digits"),
                       ("all_class_accuracy", "all classes")):
        if report.get(key) is not None:
            lines.append(f"- {label}: {100 * report[key]:.1f} %")
    sa = report.get("speaker_accuracy")
    if sa:
        lines.append(f"- per speaker ({report['speakers']}): min {100 * sa['min']:.0f} %, "
                     f"median {100 * sa['median']:.0f} %, max {100 * sa['max']:.0f} %")
    lines += ["", "| class | clips | accuracy |", "|---|---:|---:|"]
    for k, v in report["per_class"].items():
        lines.append(f"| {k} | {v['clips']} | {100 * v['accuracy']:.1f} % |")
    ps = sorted(report["per_speaker"].items(), key=lambda kv: kv[1]["accuracy"])
    if len(ps) > worst_speakers:
        lines += ["", f"Lowest {worst_speakers} speakers: " + ", ".join(
            f"{k} {100 * v['accuracy']:.0f} % of {v['clips']}" for k, v in ps[:worst_speakers])]
    else:
        lines += ["", "Per speaker: " + ", ".join(
            f"{k} {100 * v['accuracy']:.0f} % of {v['clips']}" for k, v in ps)]
    return "\n".join(lines) + "\n"


def write_png_path(out_dir, stem) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out / f"{stem}.png"
