"""The Akida KWS edge-learning tutorial, end to end, on the golden model.

1. Keep the DS-CNN feature extractor of a trained model (64 binary spikes per sample).
2. num_weights = int(1.2 x median spikes) on 10% of the training set.
3. Offline native learning: a 1-bit FullyConnected of 33 classes x 15 neurons learns the
   training set (32 words + silence); accuracy on the validation set; save.
4. Edge learning: reload, ``add_classes(3)``, learn ``backward``, ``follow``, ``forward``
   from 4 utterances of one held-out speaker, each augmented 40 times (time shift and
   background noise); new-word accuracy n/N on that speaker's other utterances, and the
   33 old classes' accuracy before and after.
5. The tips tutorial's table: accuracy and time for 10 ... 500 neurons per class.

Every step runs on spikes computed once: learning never needs the extractor again.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgekws.golden import AkidaUnsupervised, FullyConnected, InputData, Model
from edgekws.tune.spikes import random_subset, spike_statistics

NEW_WORDS = ("backward", "follow", "forward")
NEURONS_TABLE = (10, 20, 50, 100, 200, 300, 400, 500)


@dataclass
class TutorialConfig:
    """What the tutorial runs on and with which parameters."""
    corpus: str
    model: str
    cache_dir: str = ".ekws-cache"
    out_dir: str = "docs/tutorial"
    new_words: tuple = NEW_WORDS
    neurons_per_class: int = 15
    num_weights: int | None = None
    learning_competition: float = 0.1
    enrol_utterances: int = 4
    augment_copies: int = 40
    speaker: str | None = None
    #: Corpus holding the enrolment speaker's repetitions (default: ``corpus``'s
    #: validation and test speakers).
    enrol_corpus: str | None = None
    neurons_table: tuple = NEURONS_TABLE
    seed: int = 0


@dataclass
class TutorialResult:
    num_classes: int
    train_samples: int
    val_samples: int
    median_spikes: float
    num_weights: int
    backprop_val_accuracy: float | None
    native_val_accuracy: float
    offline_fit_seconds: float
    speaker: str
    enrol_samples: int
    new_word_correct: int
    new_word_total: int
    old_val_accuracy_after: float
    edge_fit_seconds: float
    neurons_table: list = field(default_factory=list)

    @property
    def old_accuracy_drop(self) -> float:
        return self.native_val_accuracy - self.old_val_accuracy_after


# -- pieces -----------------------------------------------------------------------------------
def extractor_of(model_path) -> tuple[Model, Model | None, dict]:
    """``(feature_extractor, full_model_or_None, metadata)`` from a trained ``.ekws``.

    The extractor is the model without its last layer when that layer is a classifier
    on top of 1-bit spikes; the full model is returned too, as the backprop reference.
    """
    full = Model(model_path)
    extra = getattr(full, "extra", {}) or {}
    last = full.layers[-1]
    if isinstance(last, FullyConnected) and last.input_bits == 1:
        extractor = Model(model_path)
        extractor.pop_layer()
        return extractor, full, extra
    if last.output_bits != 1:
        raise ValueError(f"{model_path}: the last layer {last.name!r} outputs "
                         f"{last.output_bits}-bit values; edge learning needs a feature "
                         "extractor with 1-bit spikes")
    return full, None, extra


def spike_encoder(extractor: Model, scaling):
    """``features -> spikes``: MFCCs to uint8 codes with the model's stored scaling, then
    the extractor, as ``(n, 1, 1, 64)`` learning-layer inputs."""
    def encode(features):
        x = scaling.to_uint8(features)[..., None]
        return extractor.forward(x).reshape(len(x), 1, 1, -1)
    return encode


def front_end(model_path):
    """``(extractor, backprop_or_None, metadata, scaling, encode)`` of a trained ``.ekws``:
    what the tutorial (and ``edgekws tune spikes``) need to turn MFCCs into spikes."""
    from edgekws.data.mfcc import MfccScaling
    extractor, backprop, extra = extractor_of(model_path)
    if "mfcc_scaling" not in extra:
        raise ValueError(f"{model_path} has no stored MFCC scaling (metadata 'mfcc_scaling')")
    scaling = MfccScaling.from_dict(extra["mfcc_scaling"])
    return extractor, backprop, extra, scaling, spike_encoder(extractor, scaling)


#: The tutorial's splits: name -> (attribute of the loaded Dataset, feature cache name).
SPLITS = {"train": ("train", "tutorial-train"),
          "validation": ("val", "tutorial-val"),
          "test": ("test", "tutorial-test")}


def offline_dataset(corpus, new_words, seed):
    """The offline classes of ``corpus`` (every word but the ``new_words``), as the
    tutorial splits them."""
    from edgekws.data import speech_commands as sc
    return sc.load_speech_commands(corpus, exclude=new_words, seed=seed)


def split_features(ds, split: str, cache_dir, progress: bool = True):
    """Cached MFCC features of one of the tutorial's :data:`SPLITS` of ``ds``."""
    from edgekws.data.features import cached_features
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, not {split!r}")
    attr, name = SPLITS[split]
    items = getattr(ds, attr)
    if not items:
        raise ValueError(f"the {split} split has no samples")
    return cached_features(items, cache_dir, name=name, progress=progress)


def suggest_from_training(spikes, seed):
    """The spike statistics of a random 10% of the training spikes (the tutorial's
    estimate) and the suggested num_weights."""
    stats = spike_statistics(spikes[random_subset(len(spikes), 0.1, seed)])
    return stats, stats.suggested_num_weights


def learning_head(num_inputs: int, num_classes: int, neurons_per_class: int, num_weights: int,
                  learning_competition: float, seed) -> Model:
    """A spikes-in model: InputData(1-bit) + a binary FullyConnected ready to learn."""
    m = Model([InputData((1, 1, num_inputs), input_bits=1),
               FullyConnected(num_classes * neurons_per_class, name="edge_layer",
                              activation=False)])
    m.compile(AkidaUnsupervised(num_weights=num_weights, num_classes=num_classes,
                                learning_competition=learning_competition), seed=seed)
    return m


def fit_batches(model: Model, spikes: np.ndarray, labels: np.ndarray, batch: int = 1000,
                progress: bool = True, desc: str = "native learning") -> float:
    """Fit in batches (same result as one call) with a progress bar; returns seconds."""
    t = time.perf_counter()
    steps = range(0, len(spikes), batch)
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc=desc, unit="batch")
    for i in steps:
        model.fit(spikes[i:i + batch], labels[i:i + batch])
    return time.perf_counter() - t


def accuracy(model: Model, spikes, labels, num_classes) -> float:
    pred = model.predict_classes(spikes, num_classes=num_classes)
    return float(np.mean(pred == labels)) if len(labels) else float("nan")


def attach_head(extractor_path, head: Model) -> Model:
    """The extractor with ``head``'s learned FullyConnected on top (a model to save)."""
    full, _, _ = extractor_of(extractor_path)
    fc = head.layers[-1]
    layer = FullyConnected(fc.units, name=fc.name, activation=False)
    full.add(layer)
    full.compile(head.learning, seed=0)
    layer.attach_learning(head.learning, fc.learning_state())
    for name in ("threshold", "act_step"):
        layer.set_variable(name, fc.get_variable(name))
    layer.offset = fc.offset
    return full


def fewest_utterances(samples, new_words) -> dict[str, int]:
    """Speaker -> the number of utterances of its least-repeated new word."""
    counts: dict[str, dict[str, int]] = {}
    for s in samples:
        if s.word in new_words and s.speaker:
            counts.setdefault(s.speaker, {}).setdefault(s.word, 0)
            counts[s.speaker][s.word] += 1
    return {spk: min(c.get(w, 0) for w in new_words) for spk, c in counts.items()}


def pick_enrolment_speaker(samples, new_words, minimum: int) -> str:
    """The speaker with the most utterances of every new word (at least ``minimum`` each)."""
    best = [(n, spk) for spk, n in fewest_utterances(samples, new_words).items()]
    if not best or max(best)[0] < minimum:
        have = max(best)[0] if best else 0
        raise ValueError(f"no speaker has {minimum} utterances of each of {list(new_words)} "
                         f"(the best has {have}); the corpus needs an enrolment speaker")
    return max(best)[1]


def enrolment_pool(cfg: TutorialConfig):
    """``(utterances, noises)``: the held-out utterances an enrolment speaker is taken
    from (validation and test speakers, and every speaker of ``cfg.enrol_corpus``), and
    the background noises of that corpus for augmentation."""
    from edgekws.data import speech_commands as sc
    everything = sc.load_speech_commands(cfg.enrol_corpus or cfg.corpus, seed=cfg.seed)
    held_out = everything.val + everything.test
    if cfg.enrol_corpus:
        held_out += everything.train
    return held_out, sc.load_noises(everything.noise_files)


def enrolment_spikes(held_out, speaker: str, new_words, first_label: int, utterances: int,
                     copies: int, rng, noises, spikes_of):
    """One speaker's enrolment set and test set of the new words, as spikes.

    The first ``utterances`` repetitions of each word (sorted by file) are augmented
    ``copies`` times each to learn from; the speaker's other repetitions are the test.
    Labels start at ``first_label`` in the order of ``new_words``.
    """
    from edgekws.data import speech_commands as sc
    from edgekws.data.augment import augment
    from edgekws.data.mfcc import mfcc
    enrol_x, enrol_y, test_x, test_y = [], [], [], []
    for i, word in enumerate(new_words):
        mine = sorted((s for s in held_out if s.word == word and s.speaker == speaker),
                      key=lambda s: s.path)
        if len(mine) <= utterances:
            raise ValueError(f"speaker {speaker!r} has {len(mine)} utterances of {word!r}; "
                             f"{utterances} to learn from and at least one to test are needed")
        waves = sc.load_waves(mine)
        for w in waves[:utterances]:
            aug = augment(w, copies, rng, noises)
            enrol_x.append(mfcc(aug))
            enrol_y += [first_label + i] * len(aug)
        test_x.append(mfcc(waves[utterances:]))
        test_y += [first_label + i] * (len(waves) - utterances)
    return (spikes_of(np.concatenate(enrol_x)), np.asarray(enrol_y),
            spikes_of(np.concatenate(test_x)), np.asarray(test_y))


def spikes_head(model: Model, num_inputs: int, neurons_per_class: int,
                learning_competition: float, seed) -> Model:
    """The learning layer of ``model`` moved onto a spikes input (its learning state
    carried over): learning needs only the last layer."""
    learning = model.learning
    head = learning_head(num_inputs, learning.num_classes, neurons_per_class,
                         learning.num_weights, learning_competition, seed)
    head.layers[-1].attach_learning(learning, model.layers[-1].learning_state())
    return head


def edge_learn(model: Model, spikes, labels, neurons_per_class: int,
               learning_competition: float, seed, passes: int = 1):
    """Learn ``spikes`` into the last layer of ``model`` (after ``add_classes``),
    ``passes`` times over the set, on its :func:`spikes_head`; ``(that head, seconds)``."""
    head = spikes_head(model, spikes.shape[-1], neurons_per_class, learning_competition, seed)
    t = sum(fit_batches(head, spikes, labels, progress=False) for _ in range(passes))
    return head, t


# -- the flow -----------------------------------------------------------------------------------
def backprop_accuracy(backprop: Model, model_words, classes, inputs, labels) -> float | None:
    """Accuracy of the trained Dense head on the tutorial's ``classes``, or None when the
    model was not trained on all of them.

    A model trained on more words than the tutorial's classes (extra vocabulary for the
    extractor) is scored on the tutorial's classes only: the argmax over their outputs,
    as a classifier of those classes would be.
    """
    if not set(classes) <= set(model_words):
        return None
    cols = [model_words.index(w) for w in classes]
    out = backprop.predict(inputs).reshape(len(labels), -1)
    return float(np.mean(np.argmax(out[:, cols], axis=-1) == np.asarray(labels)))


def run(cfg: TutorialConfig, progress: bool = True, log=print) -> TutorialResult:
    extractor, backprop, extra, scaling, spikes_of = front_end(cfg.model)

    ds = offline_dataset(cfg.corpus, cfg.new_words, cfg.seed)
    K = len(ds.word_to_index)
    log(f"offline classes: {K} ({', '.join(list(ds.word_to_index)[:6])}, ...)")
    train = split_features(ds, "train", cfg.cache_dir, progress)
    val = split_features(ds, "validation", cfg.cache_dir, progress)
    s_train, s_val = spikes_of(train.x), spikes_of(val.x)
    log(f"spikes: {len(s_train)} training, {len(s_val)} validation samples")

    backprop_acc = None
    if backprop is not None:
        backprop_acc = backprop_accuracy(backprop, extra.get("words") or [],
                                         list(ds.word_to_index),
                                         scaling.to_uint8(val.x)[..., None], val.y)
    if backprop_acc is not None:
        log(f"backprop (quantized, converted) classifier: {100 * backprop_acc:.2f} %")

    stats, suggested = suggest_from_training(s_train, cfg.seed)
    k = cfg.num_weights or suggested
    log(f"median spikes {stats.median:g} -> num_weights {suggested}"
        + (f"; {k} given" if cfg.num_weights else ""))

    head = learning_head(s_train.shape[-1], K, cfg.neurons_per_class, k,
                         cfg.learning_competition, cfg.seed)
    t_off = fit_batches(head, s_train, train.y, progress=progress)
    acc = accuracy(head, s_val, val.y, K)
    log(f"native learning, {K} classes x {cfg.neurons_per_class} neurons: "
        f"{100 * acc:.2f} % on validation ({t_off:.1f} s)")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "ds_cnn_edge_kws.ekws"
    from edgekws.golden.fileformat import save
    save(attach_head(cfg.model, head), saved, extra={**extra, "words": list(ds.word_to_index)})

    # -- edge learning of the new words from one speaker ------------------------------------
    held_out, noises = enrolment_pool(cfg)
    speaker = cfg.speaker or pick_enrolment_speaker(held_out, cfg.new_words,
                                                    cfg.enrol_utterances + 1)
    s_enrol, enrol_y, s_test, test_y = enrolment_spikes(
        held_out, speaker, cfg.new_words, K, cfg.enrol_utterances, cfg.augment_copies,
        np.random.default_rng(cfg.seed), noises, spikes_of)
    edge = Model(saved)
    edge.add_classes(len(cfg.new_words), seed=cfg.seed)
    edge_head, t_edge = edge_learn(edge, s_enrol, enrol_y, cfg.neurons_per_class,
                                   cfg.learning_competition, cfg.seed)
    K2 = K + len(cfg.new_words)
    pred_new = edge_head.predict_classes(s_test, num_classes=K2)
    correct = int(np.sum(pred_new == test_y))
    acc_after = accuracy(edge_head, s_val, val.y, K2)
    log(f"edge learning from speaker {speaker}: {len(s_enrol)} samples, {t_edge:.2f} s")
    log(f"new words: {correct}/{len(test_y)}; old classes: {100 * acc_after:.2f} % "
        f"(was {100 * acc:.2f} %)")

    table = []
    for n in cfg.neurons_table:
        h = learning_head(s_train.shape[-1], K, n, k, cfg.learning_competition, cfg.seed)
        t = fit_batches(h, s_train, train.y, progress=progress,
                        desc=f"{n} neurons per class")
        table.append({"neurons": n, "accuracy": accuracy(h, s_val, val.y, K), "seconds": t})
        log(f"{n:4d} neurons per class: {100 * table[-1]['accuracy']:.2f} % ({t:.1f} s)")

    res = TutorialResult(
        num_classes=K, train_samples=len(s_train), val_samples=len(s_val),
        median_spikes=stats.median, num_weights=k, backprop_val_accuracy=backprop_acc,
        native_val_accuracy=acc, offline_fit_seconds=t_off, speaker=speaker,
        enrol_samples=len(s_enrol), new_word_correct=correct, new_word_total=len(test_y),
        old_val_accuracy_after=acc_after, edge_fit_seconds=t_edge, neurons_table=table)
    (out / "tutorial.json").write_text(json.dumps(asdict(res), indent=2))
    (out / "tutorial.md").write_text(report(res, cfg))
    return res


def _short(path) -> str:
    """A path relative to the working folder when it is inside it (readable reports)."""
    import os
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def report(res: TutorialResult, cfg: TutorialConfig) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    lines = [
        "# Edge-learning tutorial (measured)", "",
        f"Command: `edgekws tutorial --corpus {cfg.corpus} --model {_short(cfg.model)}"
        + (f" --enrol-corpus {cfg.enrol_corpus}" if cfg.enrol_corpus else "")
        + (f" --num-weights {cfg.num_weights}" if cfg.num_weights else "") + "`", "",
        "| step | result |", "|---|---|",
        f"| offline classes | {res.num_classes} ({res.train_samples:,} training, "
        f"{res.val_samples:,} validation samples) |",
        f"| spikes per sample (median, 10% of training) | {res.median_spikes:g} |",
        ("| num_weights (given, `--num-weights`) |" if cfg.num_weights else
         "| num_weights = int(1.2 x median) |") + f" {res.num_weights} |",
        f"| backprop classifier (quantized, converted), validation | "
        f"{pct(res.backprop_val_accuracy)} |",
        f"| native learning, {res.num_classes} x {cfg.neurons_per_class} neurons, validation | "
        f"{pct(res.native_val_accuracy)} ({res.offline_fit_seconds:.1f} s) |",
        f"| edge learning: {len(cfg.new_words)} new words from speaker {res.speaker}, "
        f"{cfg.enrol_utterances} utterances x {cfg.augment_copies} | "
        f"{res.enrol_samples} samples, {res.edge_fit_seconds:.2f} s |",
        f"| new words on the speaker's other utterances | "
        f"{res.new_word_correct}/{res.new_word_total} |",
        f"| old classes after edge learning | {pct(res.old_val_accuracy_after)} "
        f"(drop {100 * res.old_accuracy_drop:.2f} points) |", ""]
    if res.neurons_table:
        ref = next((r["seconds"] for r in res.neurons_table if r["neurons"] == 300),
                   res.neurons_table[-1]["seconds"])
        lines += ["## Neurons per class", "",
                  "| neurons | accuracy | time ratio (vs 300) |", "|---|---|---|"]
        lines += [f"| {r['neurons']} | {100 * r['accuracy']:.2f} % | {r['seconds'] / ref:.2f} |"
                  for r in res.neurons_table]
    lines += ["", "How the feature extractor is trained for native learning, and what else was "
              "tried to close the gap to the backprop classifier: "
              "[native-gap.md](native-gap.md)."]
    return "\n".join(lines) + "\n"
