"""Training reports: confusion matrix image, JSON and markdown summaries."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts ``cm[true, predicted]``, int64 ``(num_classes, num_classes)``."""
    y_true = np.asarray(y_true, np.int64).ravel()
    y_pred = np.asarray(y_pred, np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} != {y_pred.size}")
    bad = (y_true < 0) | (y_true >= num_classes) | (y_pred < 0) | (y_pred >= num_classes)
    if bad.any():
        raise ValueError(f"labels must be in [0, {num_classes}); found "
                         f"{np.concatenate([y_true[bad], y_pred[bad]]).tolist()[:5]}")
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def plot_confusion(cm: np.ndarray, words, path, title: str = "Confusion matrix") -> Path:
    """Row-normalised confusion matrix (true class per row) as a PNG."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(words)
    size = max(6.0, 0.38 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, interpolation="nearest", cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)
    ax.set_xticks(range(n), words, rotation=90, fontsize=8)
    ax.set_yticks(range(n), words, fontsize=8)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    if n <= 40:
        for i in range(n):
            for j in range(n):
                if norm[i, j] >= 0.01:
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=5,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pct(v):
    return "-" if v is None else f"{100 * v:.2f}%"


def write_reports(results: dict, folder) -> tuple[Path, Path]:
    """``report.json`` (everything) and ``report.md`` (the headline table) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jpath = folder / "report.json"
    jpath.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    acc = results.get("accuracy", {})
    lines = ["# DS-CNN keyword spotter: training report", ""]
    lines += [f"Corpus: `{results.get('corpus')}`; classes: {results.get('num_classes')} "
              f"({', '.join(results.get('words', []))})", ""]
    counts = results.get("samples", {})
    if counts:
        lines += ["Samples: " + ", ".join(f"{k} {v}" for k, v in counts.items()), ""]
    lines += ["| model | validation | test |", "|---|---|---|"]
    for key, label in (("float", "float Keras"), ("quantized", "quantized Keras (QAT)"),
                       ("golden", "golden integer model (converted)")):
        a = acc.get(key, {})
        lines.append(f"| {label} | {_pct(a.get('val'))} | {_pct(a.get('test'))} |")
    conv = results.get("conversion", {})
    if conv:
        lines += ["", f"Conversion check on {conv.get('samples')} validation samples: class "
                      f"agreement {_pct(conv.get('class_agreement'))}, bit-identical logits "
                      f"{_pct(conv.get('logits_equal'))}, pooled-sum saturation in "
                      f"{conv.get('pool_saturation_samples')} samples.", "",
                  "| layer | activations equal | samples with all activations equal |",
                  "|---|---|---|"]
        for name, v in conv.get("layers", {}).items():
            lines.append(f"| {name} | {_pct(v['activation_agreement'])} | "
                         f"{_pct(v['sample_agreement'])} |")
    spikes = results.get("spikes")
    if spikes:
        lines += ["", f"Spikes (separable_4, 1 bit): {spikes['mean_active']:.1f} of "
                      f"{spikes['channels']} active on average on validation data."]
    times = results.get("seconds", {})
    if times:
        lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())]
    epochs = results.get("config", {})
    if epochs:
        lines += ["", "Configuration: `" + json.dumps(epochs, default=_json_default) + "`"]
    mpath = folder / "report.md"
    mpath.write_text("\n".join(lines) + "\n")
    return jpath, mpath


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
