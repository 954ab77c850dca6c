"""New-word accuracy of the tutorial's edge learning over speakers and learning settings.

The tutorial reports one figure, the new words learnt from one speaker; this runs the
same flow (offline native learning of the 33 classes, ``add_classes``, learning from 4
utterances augmented x40, testing on the speaker's other utterances) for every
enrolment speaker, with one setting changed at a time from the tutorial's:
``num_weights``, neurons per class, learning competition, passes over the enrolment
set and the augmentation's random draws, and a bias of the new classes' neurons after
learning (their ``threshold`` set to minus the bias, which the engine's ``predict``
subtracts). The table says what the learning parameters can and cannot do for the new
words, and how many of the errors are ties: the true class's best neuron has exactly the
winner's potential, and the winner, an older class, has the lower index, which wins ties.

:func:`num_weights_settings` and :func:`num_weights_report` (``edgekws enrol-sweep
--num-weights-values``) compare num_weights values on the tutorial's flow repeated over
other orders of the training samples and other draws of the augmentation, which is how
the README's num_weights was chosen (native accuracy on the validation set, averaged over
the orders).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgekws.checks import check_int, is_int
from edgekws.golden.model import Model

from .edge_learning import (TutorialConfig, accuracy, edge_learn, enrolment_pool,
                            enrolment_spikes, fewest_utterances, fit_batches, front_end,
                            learning_head, offline_dataset, spikes_head, split_features,
                            suggest_from_training)

__all__ = ["Setting", "SweepRow", "default_settings", "sweep", "report",
           "bias_new_classes", "lost_on_a_tie", "num_weights_settings", "num_weights_report"]


@dataclass(frozen=True)
class Setting:
    """One learning setting; ``None`` keeps the tutorial's value."""
    num_weights: int | None = None
    neurons_per_class: int | None = None
    learning_competition: float | None = None
    passes: int = 1
    augment_seed: int | None = None
    new_class_bias: int = 0
    sample_order: int | None = None   # seed of a shuffle of the training samples

    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in (("num_weights", self.num_weights),
                                         ("neurons per class", self.neurons_per_class),
                                         ("learning competition", self.learning_competition),
                                         ("augmentation seed", self.augment_seed),
                                         ("sample order", self.sample_order))
                 if v is not None]
        if self.new_class_bias:
            parts.append(f"new-class bias={self.new_class_bias}")
        if self.passes != 1:
            parts.append(f"{self.passes} passes")
        return ", ".join(parts) or "the tutorial's"


@dataclass
class SweepRow:
    setting: Setting
    num_weights: int
    native_accuracy: float
    new_correct: dict = field(default_factory=dict)   # speaker -> correct
    new_total: dict = field(default_factory=dict)     # speaker -> total
    new_ties: dict = field(default_factory=dict)      # speaker -> errors that are ties
    old_drop: dict = field(default_factory=dict)      # speaker -> accuracy points lost


def default_settings(num_weights: int, given: bool = False) -> list[Setting]:
    """The tutorial's setting, then one change at a time around it; with ``given``,
    ``num_weights`` was chosen by the user, and the first row says so."""
    out = [Setting(num_weights=num_weights) if given else Setting()]
    out += [Setting(num_weights=v) for v in (round(num_weights * 0.8), round(num_weights * 1.2))]
    out += [Setting(neurons_per_class=v) for v in (10, 30)]
    out += [Setting(learning_competition=v) for v in (0.0, 0.3)]
    out += [Setting(passes=2)]
    out += [Setting(augment_seed=v) for v in (1, 2, 3)]
    out += [Setting(new_class_bias=1)]
    return out


def _check(settings, speakers):
    if settings is not None and not settings:
        raise ValueError("settings must name at least one setting, not an empty list")
    for s in settings or ():
        if not isinstance(s, Setting):
            raise TypeError(f"settings must be Setting objects, not {s!r}")
        check_int("passes", s.passes)
        check_int("new_class_bias", s.new_class_bias, 0, expected="a non-negative integer")
    if speakers is not None and not speakers:
        raise ValueError("speakers must name at least one speaker (or be None for all)")


def sweep(cfg: TutorialConfig, settings=None, speakers=None, progress: bool = True,
          log=print) -> list[SweepRow]:
    """Run the tutorial's learning for each setting and enrolment speaker.

    Parameters
    ----------
    cfg : TutorialConfig
        The tutorial's configuration (corpus, model, enrolment corpus, defaults).
    settings : list of Setting, optional
        Default: :func:`default_settings`.
    speakers : list of str, optional
        Enrolment speakers; default: every held-out speaker with more than
        ``cfg.enrol_utterances`` repetitions of each new word.
    """
    _check(settings, speakers)
    _, _, _, _, spikes_of = front_end(cfg.model)
    ds = offline_dataset(cfg.corpus, cfg.new_words, cfg.seed)
    K = len(ds.word_to_index)
    train = split_features(ds, "train", cfg.cache_dir, progress)
    val = split_features(ds, "validation", cfg.cache_dir, progress)
    s_train, s_val = spikes_of(train.x), spikes_of(val.x)
    _, suggested = suggest_from_training(s_train, cfg.seed)
    k0 = cfg.num_weights or suggested
    settings = default_settings(k0, cfg.num_weights is not None) if settings is None \
        else list(settings)

    held_out, noises = enrolment_pool(cfg)
    if speakers is None:
        speakers = sorted(spk for spk, n in fewest_utterances(held_out, cfg.new_words).items()
                          if n > cfg.enrol_utterances)
    enrol = {}

    def enrol_set(speaker, seed):
        if (speaker, seed) not in enrol:
            enrol[speaker, seed] = enrolment_spikes(
                held_out, speaker, cfg.new_words, K, cfg.enrol_utterances,
                cfg.augment_copies, np.random.default_rng(seed), noises, spikes_of)
        return enrol[speaker, seed]

    offline = {}
    rows = []
    for st in settings:
        k = st.num_weights or k0
        npc = st.neurons_per_class or cfg.neurons_per_class
        lc = cfg.learning_competition if st.learning_competition is None else \
            st.learning_competition
        key = (k, npc, lc, st.sample_order)
        if key not in offline:
            order = np.arange(len(s_train)) if st.sample_order is None else \
                np.random.default_rng(st.sample_order).permutation(len(s_train))
            head = learning_head(s_train.shape[-1], K, npc, k, lc, cfg.seed)
            fit_batches(head, s_train[order], train.y[order], progress=progress,
                        desc=st.label())
            offline[key] = (head, accuracy(head, s_val, val.y, K))
        head, acc = offline[key]
        row = SweepRow(st, k, acc)
        for spk in speakers:
            s_enrol, enrol_y, s_test, test_y = enrol_set(
                spk, cfg.seed if st.augment_seed is None else st.augment_seed)
            edge = _with_new_classes(head, len(cfg.new_words), cfg.seed)
            learnt, _ = edge_learn(edge, s_enrol, enrol_y, npc, lc, cfg.seed, st.passes)
            K2 = K + len(cfg.new_words)
            if st.new_class_bias:
                bias_new_classes(learnt, K * npc, st.new_class_bias)
            pred = learnt.predict_classes(s_test, num_classes=K2)
            row.new_correct[spk] = int(np.sum(pred == test_y))
            row.new_ties[spk] = lost_on_a_tie(learnt, s_test, test_y, K2)
            row.new_total[spk] = len(test_y)
            row.old_drop[spk] = 100 * (acc - accuracy(learnt, s_val, val.y, K2))
        log(f"{st.label()}: native {100 * acc:.2f} %, new words "
            f"{sum(row.new_correct.values())}/{sum(row.new_total.values())}")
        rows.append(row)
    return rows


def num_weights_settings(values, orders: int = 3, draws: int = 3) -> list[Setting]:
    """For each num_weights: the tutorial's setting, ``orders`` other orders of the
    training samples and ``draws`` other draws of the enrolment augmentation."""
    values = list(values)
    if not values or not all(is_int(v) and v >= 1 for v in values):
        raise ValueError(f"values must be positive integers, not {values!r}")
    out = []
    for k in values:
        out.append(Setting(num_weights=int(k)))
        out += [Setting(num_weights=int(k), sample_order=o) for o in range(1, orders + 1)]
        out += [Setting(num_weights=int(k), augment_seed=a) for a in range(1, draws + 1)]
    return out


def num_weights_report(rows: list[SweepRow], command: str = "") -> str:
    """One column per num_weights: native accuracy in the tutorial's order and averaged
    over the sample orders, new words over the augmentation draws (all speakers), and the
    largest old-class drop, from the rows of :func:`num_weights_settings`."""
    if not rows:
        raise ValueError("rows must hold at least one sweep row, not an empty list")
    ks = list(dict.fromkeys(r.num_weights for r in rows))
    cols, counts = {}, None
    for k in ks:
        mine = [r for r in rows if r.num_weights == k]
        base = [r for r in mine if r.setting.sample_order is None
                and r.setting.augment_seed is None]
        if len(base) != 1:
            raise ValueError(f"num_weights {k}: expected one row in the tutorial's order "
                             f"and draw, found {len(base)}")
        orders = [r for r in mine if r.setting.augment_seed is None]
        draws = [r for r in mine if r.setting.sample_order is None]
        counts = counts or (len(orders), len(draws))
        c = sum(sum(r.new_correct.values()) for r in draws)
        n = sum(sum(r.new_total.values()) for r in draws)
        cols[k] = [f"{100 * base[0].native_accuracy:.2f} %",
                   f"{100 * np.mean([r.native_accuracy for r in orders]):.2f} %",
                   f"{c}/{n} ({100 * c / n:.1f} %)",
                   f"{max(max(r.old_drop.values()) for r in draws):.2f}"]
    n_orders, n_draws = counts  # the first column's, as the labels below say
    names = ["native, the tutorial's sample order",
             f"native, mean of {n_orders} sample orders",
             f"new words, {n_draws} augmentation draws x all speakers",
             "largest old-class drop (points)"]
    lines = ["| num_weights | " + " | ".join(str(k) for k in ks) + " |",
             "|---|" + "---|" * len(ks)]
    lines += [f"| {name} | " + " | ".join(cols[k][i] for k in ks) + " |"
              for i, name in enumerate(names)]
    text = "\n".join(lines) + "\n"
    if command:
        text = f"Command: `{command}`\n\n" + text
    return text


def bias_new_classes(model: Model, first_neuron: int, bias: int) -> None:
    """Raise the score of neurons ``first_neuron:`` by ``bias`` in ``predict``: their
    ``threshold`` becomes ``-bias`` (the engine's ``predict`` is ``(pot - threshold) /
    act_step``; learning ignores the threshold)."""
    layer = model.layers[-1]
    th = layer.get_variable("threshold").copy()
    th[first_neuron:] = -bias
    layer.set_variable("threshold", th)


def lost_on_a_tie(model: Model, spikes, labels, num_classes: int) -> int:
    """How many samples are misclassified although their class's best neuron scores as
    high as the winner (ties go to the lowest neuron index)."""
    out = model.predict(spikes)
    best = out.reshape(len(out), num_classes, -1).max(-1)
    pred = np.argmax(best, -1)
    mine = best[np.arange(len(best)), labels]
    return int(np.sum((pred != labels) & (mine == best.max(-1))))


def _with_new_classes(head: Model, n: int, seed) -> Model:
    """A copy of the offline-learnt spikes-in ``head`` with ``n`` classes added, as the
    tutorial's model reloaded from its file after ``add_classes(n)``."""
    learning = head.learning
    copy = spikes_head(head, head.input_shape[-1],
                       head.layers[-1].units // learning.num_classes,
                       learning.learning_competition, seed)
    copy.add_classes(n, seed=seed)
    return copy


def report(rows: list[SweepRow], command: str = "") -> str:
    """A markdown table: one row per setting, new words per speaker and in all."""
    if not rows:
        raise ValueError("rows must hold at least one sweep row, not an empty list")
    speakers = list(rows[0].new_correct)
    head = ["setting", "num_weights", "native (validation)",
            *(f"new words, {s}" for s in speakers), "new words, all", "errors that are ties",
            "largest old-class drop"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c, n = sum(r.new_correct.values()), sum(r.new_total.values())
        lines.append("| " + " | ".join([
            r.setting.label(), str(r.num_weights), f"{100 * r.native_accuracy:.2f} %",
            *(f"{r.new_correct[s]}/{r.new_total[s]}" for s in speakers),
            f"{c}/{n} ({100 * c / n:.1f} %)", f"{sum(r.new_ties.values())}/{n - c}",
            f"{max(r.old_drop.values()):.2f} points"]) + " |")
    text = "\n".join(lines) + "\n"
    if command:
        text = f"Command: `{command}`\n\n" + text
    return text
