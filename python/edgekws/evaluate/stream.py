"""Keyword spotting on long real streams: detection rate against false alarms per hour.

The scenario is a user's: ``board load`` (the model's extractor and a fresh learning
layer), ``board enrol`` of a few words from ``enrol`` real utterances of one FSDD speaker,
then ``board listen``. Two streams go through the listener's own windows
(:class:`~edgekws.host.listen.Listener`: one every hop, MFCC from the streaming front end,
the energy gate), scoring (:func:`~edgekws.host.listen.score_potentials`) and hit rule
(:class:`~edgekws.host.hitrule.HitRule`):

* the **keyword stream**: that speaker's other recordings of the enrolled words, each at a
  random peak level between ``levels_db`` (quiet speakers included), 0.6-1.5 s apart, over
  a faint bed of real background noise;
* the **non-keyword stream**: every FSDD recording of the other digits (all speakers),
  every clip of a Speech Commands folder (other words, silence, unknown words) and the
  real background-noise recordings, as recorded, 0.3-1.0 s apart over the same bed.

A detection is a hit of the rule whose class is an enrolled word. On the keyword stream it
is correct when its window holds an utterance of that word (each utterance counts once);
on the non-keyword stream every detection is a false alarm. Every window through the gate
is classified once, with its energy centre recorded; :func:`sweep` then applies the hit
rule for every centring tolerance, ``wins`` of ``of`` and ``(min_score, min_margin)``, and
:func:`choose` picks the best detection rate at a false-alarm budget.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgekws.data.shifts import DEFAULT_SHIFTS, DEFAULT_SPEEDS
from edgekws.host.hitrule import HitRule, refractory_hits
from edgekws.host.listen import DEFAULT_GATE_DB, DEFAULT_HOP, DEFAULT_REFRACTORY

__all__ = ["StreamSetup", "Scanned", "build_stream", "run_streams", "sweep", "sweep_average",
           "choose", "frontier", "listener_row", "plot_tradeoff", "CENTRES", "VOTES",
           "AVERAGES", "FILLER", "filler_clips"]

RATE = 16000
#: Centring tolerances (seconds; None: any window through the gate) and ``(wins, of)``
#: pairs that :func:`sweep` tries by default.
CENTRES = (0.1, 0.2, 0.3, 0.4, None)
VOTES = ((1, 1), (2, 2), (2, 3), (3, 3), (2, 4), (3, 4), (3, 5), (4, 5), (3, 6), (4, 6),
         (5, 6), (4, 7), (5, 7))


@dataclasses.dataclass
class StreamSetup:
    """What :func:`run_streams` learns, enrols and plays."""

    model: str
    corpus: str
    cache_dir: str = "build/features"
    speech_commands: str | None = None
    folds: tuple | None = None
    noise_dir: str | None = None
    fsdd: str | None = None
    speaker: str = "jackson"
    words: tuple = ("one", "five", "nine")
    enrol: int = 4
    copies: int = 40
    neurons_per_class: int = 15
    num_weights: int | None = None
    levels_db: tuple = (-35.0, -6.0)
    gate_db: float = DEFAULT_GATE_DB
    hop: float = DEFAULT_HOP
    seed: int = 0
    #: Windows the isolated recordings are scored in (:mod:`edgekws.data.shifts`).
    shifts: tuple = DEFAULT_SHIFTS
    #: ... each at these speeds (:mod:`edgekws.data.shifts`); the listener's windows too,
    #: as ``board listen --speeds`` hears them.
    speeds: tuple = DEFAULT_SPEEDS
    #: Keyword clips also run on an emulated board (the host driver over the UART
    #: protocol, the same extractor and learned layer), compared with the golden model.
    board_sample: int = 32
    #: A filler class: ``filler_clips`` words (not silence) of this Speech Commands
    #: folder, of the speakers of ``filler_folds`` (never the folds streamed), learned as
    #: one more class after the enrolled words; it wins windows of other speech, which
    #: then fire nothing (see :func:`filler_clips`).
    filler: str | None = None
    filler_folds: tuple | None = None
    filler_clips: int = 600
    #: Also (or only) the enrolling speaker's own first ``filler_own`` recordings of
    #: each digit not enrolled, with ``copies // 4`` augmented copies each, as a user who
    #: says a few other words at enrolment; they leave the non-keyword stream.
    filler_own: int = 0


@dataclasses.dataclass
class Scanned:
    """Every window of one stream (one per hop), classified where the gate let it through."""

    seconds: float
    hop: float              # seconds between windows
    label: np.ndarray       # the learning layer's class (0: first word); -1: not classified
    score: np.ndarray
    margin: np.ndarray
    offset: np.ndarray      # seconds from the middle to the energy centre (NaN: gate closed)
    truth: np.ndarray       # the utterance the window holds (index into words), or -1
    words: list             # what each utterance says (None: not a keyword)
    #: Each class's best potential ``(windows, classes)``, summed over the ``views``
    #: speeds each window was classified at (0 where the gate was closed): what
    #: :func:`sweep_average` averages over windows. A sum, not the mean, so that the
    #: sweep's thresholds stay exact integer comparisons.
    classes: np.ndarray | None = None
    views: int = 1

    def centred(self, centre: float | None) -> np.ndarray:
        """Which windows were classified and are centred within ``centre`` seconds."""
        offset = np.nan_to_num(self.offset, nan=np.inf)
        return np.isfinite(offset) if centre is None else np.abs(offset) <= centre

    def heard(self, centre: float | None) -> np.ndarray:
        """Labels with the windows outside a centring tolerance set to -1."""
        return np.where(self.centred(centre), self.label, -1)


def _bed(n, noises, rng, level_db=(-62.0, -50.0)):
    """``n`` samples of real background noise at an RMS drawn from ``level_db`` dBFS."""
    out = np.zeros(n, np.float64)
    pos = 0
    while pos < n:
        z = noises[int(rng.integers(len(noises)))]
        take = min(n - pos, z.size)
        first = int(rng.integers(0, z.size - take + 1))
        cut = z[first:first + take].astype(np.float64)
        rms = np.sqrt(np.mean(cut ** 2)) + 1e-12
        out[pos:pos + take] = cut * (10 ** (rng.uniform(*level_db) / 20) / rms)
        pos += take
    return out


def build_stream(clips, words, noises, rng, gap=(0.6, 1.5), levels_db=None):
    """Utterances one after another over a noise bed.

    Parameters
    ----------
    clips : list of numpy.ndarray
        16 kHz float recordings.
    words : list of str or None
        What each clip says (None: not a keyword).
    levels_db : tuple, optional
        When given, each clip is scaled to a random peak level in this range (dBFS).

    Returns
    -------
    stream : numpy.ndarray
        float32 in [-1, 1].
    spans : list of (start, stop, word)
    """
    pieces, spans, pos = [], [], 0
    for clip, word in zip(clips, words):
        silence = int(rng.uniform(*gap) * RATE)
        x = np.asarray(clip, np.float64)
        if levels_db is not None and np.max(np.abs(x)) > 0:
            x = x * (10 ** (rng.uniform(*levels_db) / 20) / np.max(np.abs(x)))
        pieces += [np.zeros(silence), x]
        spans.append((pos + silence, pos + silence + x.size, word))
        pos += silence + x.size
    pieces.append(np.zeros(RATE))
    stream = np.concatenate(pieces)
    if noises:
        stream = stream + _bed(stream.size, noises, rng)
    return np.clip(stream, -1.0, 1.0).astype(np.float32), spans


def _scan(potentials_of, num_weights, params, scaling, stream, spans, gate_db, hop,
          speeds=(1.0,), chunk=4000, batch=256) -> Scanned:
    """Every window the listener makes of ``stream``, classified when the gate let it
    through (any centring: :meth:`Scanned.heard` applies a tolerance afterwards), at each
    of ``speeds`` as ``board listen`` does (:func:`~edgekws.host.listen.heard_views`);
    ``potentials_of(frames)`` gives each class's best potential, averaged over the
    speeds."""
    from edgekws.host.listen import Listener, heard_views, score_classes

    listener = Listener(params, hop=hop, threshold_db=gate_db, centre=None)
    starts, offsets, parts, heard, where = [], [], [], [], []

    def classify(windows):
        views = heard_views(np.stack([w.features for w in windows]),
                            np.stack([w.samples for w in windows]), speeds, params)
        parts.append(sum(np.asarray(potentials_of(scaling.to_uint8(f)[..., None]), np.int64)
                         for f in views))

    for i in range(0, stream.size, chunk):
        windows = listener.feed(stream[i:i + chunk])
        if i + chunk >= stream.size:
            windows += listener.flush()
        for w in windows:
            starts.append(w.start)
            offsets.append(w.offset)
            if w.features is not None:
                where.append(len(starts) - 1)
                heard.append(w)
        if len(heard) >= batch or (heard and i + chunk >= stream.size):
            classify(heard)
            heard = []
    where = np.asarray(where, dtype=np.intp)
    label = np.full(len(starts), -1)
    score, margin = np.zeros(len(starts)), np.zeros(len(starts))
    classes = None
    if parts:
        summed = np.concatenate(parts)
        classes = np.zeros((len(starts), summed.shape[1]), np.int64)
        classes[where] = summed
        out = score_classes(summed / len(speeds), num_weights)
        label[where], score[where], margin[where] = out.label, out.score, out.margin
    # The utterance each window holds: the one with most of its samples inside, if at
    # least half of them are.
    first = np.array([a for a, _, _ in spans])
    truth = np.full(len(starts), -1)
    for n, a in enumerate(starts):
        b = a + params.clip_samples
        i = int(np.searchsorted(first, b)) - 1
        best = 0
        for j in range(max(0, i - 2), i + 1):
            s0, s1, _ = spans[j]
            inside = max(0, min(b, s1) - max(a, s0))
            if inside > best and inside >= 0.5 * (s1 - s0):
                best, truth[n] = inside, j
    return Scanned(stream.size / RATE, hop, label, score, margin, np.asarray(offsets),
                   truth, [w for _, _, w in spans], classes, len(speeds))


#: The name of the filler class.
FILLER = "_filler_"


def filler_clips(setup: StreamSetup, rng) -> np.ndarray:
    """The filler class's clips ``(n, 16000)``: ``setup.filler_clips`` word clips of the
    speakers of ``setup.filler_folds`` in ``setup.filler``, drawn at random."""
    from .real import speech_commands_clips

    same = setup.speech_commands is not None and \
        Path(setup.filler).resolve() == Path(setup.speech_commands).resolve()
    if same and (setup.filler_folds is None or setup.folds is None or
                 set(setup.folds) & set(setup.filler_folds)):
        raise ValueError(f"the filler's folds ({setup.filler_folds}) must be other speakers "
                         f"than the streamed folds ({setup.folds}) of {setup.filler!r}: it "
                         "would learn the non-keyword stream's own speakers")
    clips = speech_commands_clips(setup.filler, folds=setup.filler_folds)
    words = np.flatnonzero([w != "_silence_" for w in clips.words])
    if not len(words):
        raise ValueError(f"{setup.filler!r} has no word clips for a filler class")
    pick = rng.choice(words, min(setup.filler_clips, len(words)), replace=False)
    return clips.waves[np.sort(pick)]


def run_streams(setup: StreamSetup, log=print) -> dict:
    """Learn the background classes, enrol, play both streams; returns the
    :class:`Fired` windows, the enrolment accuracy on the speaker's other recordings (as
    isolated clips) and the old classes' accuracy before and after."""
    from edgekws.data.speech_commands import load_noises
    from edgekws.host.edge import enrol_frames
    from edgekws.host.listen import class_potentials, score_classes
    from edgekws.tutorial.edge_learning import accuracy

    from .enrolment import (background_classes, enrol_speaker, enrolment_sources,
                            extractor_spikes, speaker_recordings)
    from .real import speech_commands_clips

    rng = np.random.default_rng(setup.seed)
    src = enrolment_sources(setup, [setup.speaker], [setup.words])
    noise_files = sorted(Path(setup.noise_dir).glob("*.wav")) if setup.noise_dir else []
    others_sc = speech_commands_clips(setup.speech_commands, folds=setup.folds) \
        if setup.speech_commands else None
    # Read before any long work: a wrong folder fails in seconds.
    filler = filler_clips(setup, np.random.default_rng(setup.seed)) if setup.filler else None
    extractor, samples, waves, fwords = src.extractor, src.samples, src.waves, src.words
    params, scaling, to_frames = src.params, src.scaling, src.to_frames

    def spikes(frames):
        return extractor_spikes(extractor, frames)

    head, K, words, s_val, y_val = background_classes(setup, src.encode, log)
    before = accuracy(head, s_val, y_val, K)
    noises = load_noises(noise_files)
    own = [j for d in sorted(set(fwords) - set(setup.words))
           for j in speaker_recordings(samples, setup.speaker, d)[:setup.filler_own]]

    def fill(rng):
        """The filler class's frames, drawn after the words' (as before the enrolment
        became a function of its own, so that the same seed gives the same streams)."""
        frames = [] if filler is None else [to_frames(filler)]
        if own:
            frames.append(enrol_frames([waves[j] for j in own], setup.copies // 4, rng,
                                       to_frames))
        return frames

    enrolled = enrol_speaker(setup, head, K, src, rng, fill=fill)
    keyword_clips, enrol_ok = enrolled["keyword_clips"], enrolled["correct"]
    words = words + list(setup.words) + ([FILLER] if enrolled["filler"] else [])
    K2 = len(words)
    after = accuracy(head, s_val, y_val, K2)
    lp = head.learning

    def potentials_of(frames):
        return class_potentials(head.forward(spikes(frames)).reshape(len(frames), -1), K2)

    def classify_frames(frames):
        return score_classes(potentials_of(frames), lp.num_weights)

    board = _board_check(setup, head, to_frames(np.stack(
        [c for c, _ in keyword_clips[:setup.board_sample]])), classify_frames, log) \
        if setup.board_sample else None
    log(f"enrolled {list(setup.words)} from {setup.enrol} utterances of {setup.speaker}: "
        f"{enrol_ok}/{len(keyword_clips)} of the speaker's other recordings "
        f"({len(setup.shifts) * len(setup.speeds)} windows each); old classes "
        f"{100 * before:.2f} % -> {100 * after:.2f} %")
    order = rng.permutation(len(keyword_clips))
    kw_stream, kw_spans = build_stream([keyword_clips[i][0] for i in order],
                                       [keyword_clips[i][1] for i in order], noises, rng,
                                       levels_db=setup.levels_db)
    said = set(own)
    others = [waves[i] for i, w in enumerate(fwords) if w not in setup.words and
              i not in said]
    if others_sc is not None:
        others += list(others_sc.waves)
    others += [z for z in noises]
    order = rng.permutation(len(others))
    nk_stream, nk_spans = build_stream([others[i] for i in order], [None] * len(others),
                                       noises, rng, gap=(0.3, 1.0))
    log(f"keyword stream {kw_stream.size / RATE / 60:.1f} min ({len(kw_spans)} keywords), "
        f"non-keyword stream {nk_stream.size / RATE / 3600:.2f} h ({len(nk_spans)} clips)")
    return {"words": words, "enrolled_from": K, "enrolled_to": K + len(setup.words),
            "keywords": len(kw_spans),
            "num_weights": lp.num_weights, "board_check": board,
            "enrolment": {"correct": enrol_ok, "total": len(keyword_clips),
                          "shifts": list(setup.shifts), "speeds": list(setup.speeds),
                          "old_before": before, "old_after": after},
            "keyword": _scan(potentials_of, lp.num_weights, params, scaling, kw_stream,
                             kw_spans, setup.gate_db, setup.hop, setup.speeds),
            "other": _scan(potentials_of, lp.num_weights, params, scaling, nk_stream,
                           nk_spans, setup.gate_db, setup.hop, setup.speeds)}


def _board_check(setup, head, frames, classify_frames, log) -> dict:
    """The learned model (extractor + ``head``'s layer) on an emulated board: its
    potentials and classes on ``frames`` against the golden model's."""
    from edgekws.host.board import Board
    from edgekws.host.emulator import serve_tcp
    from edgekws.host.listen import score_potentials
    from edgekws.tutorial.edge_learning import attach_head

    model = attach_head(setup.model, head)
    lp = head.learning
    with serve_tcp(0) as server, Board(server.url) as board:
        try:
            board.load(model)
        except ValueError as exc:     # the board's own refusal: it does not fit
            log(f"emulated board: skipped ({exc})")
            return {"frames": 0, "equal": None, "skipped": str(exc)}
        pots = board.forward(frames, progress=False).reshape(len(frames), -1)
    golden = classify_frames(frames)
    on_board = score_potentials(pots, lp.num_classes, lp.num_weights)
    equal = bool(np.array_equal(on_board.label, golden.label)
                 and np.array_equal(on_board.score, golden.score))
    log(f"emulated board: {len(frames)} keyword frames, classes and scores "
        f"{'equal to' if equal else 'DIFFERENT FROM'} the golden model's")
    return {"frames": len(frames), "equal": equal}


def _tally(result, fired_kw, kw_label, fired_other, other_label) -> dict:
    """Detections and false alarms of the windows that fired on each stream."""
    kw, words = result["keyword"], result["words"]
    # The keywords are the enrolled classes: not the background ones below, nor a filler.
    first = result.get("enrolled_from", 1)
    last = result.get("enrolled_to", len(words))

    def keyword(label):
        return (label >= first) & (label < last)
    fired = fired_kw[keyword(kw_label[fired_kw])]
    hit = {int(kw.truth[i]) for i in fired if kw.truth[i] >= 0 and
           kw.words[kw.truth[i]] == words[kw_label[i]]}
    fa = int(np.sum(keyword(other_label[fired_other])))
    return {"detected": len(hit), "detection_rate": len(hit) / max(1, result["keywords"]),
            "wrong_word_or_extra": len(fired) - len(hit), "false_alarms": fa,
            "false_alarms_per_hour": fa / (result["other"].seconds / 3600)}


def sweep(result: dict, num_weights: int, centres=CENTRES, votes=VOTES,
          refractory: float = DEFAULT_REFRACTORY) -> list:
    """``[{centre, wins, of, min_score, min_margin, detection_rate, false_alarms_per_hour,
    ...}]``: the hit rule for every centring tolerance, ``(wins, of)`` pair and threshold
    pair the integer potentials can tell apart, with ``refractory`` seconds after a hit."""
    kw, other = result["keyword"], result["other"]
    if not votes:
        raise ValueError("votes must name at least one (wins, of) pair, not an empty list")
    steps = np.arange(num_weights + 1) / num_weights
    hop_windows = int(round(refractory / kw.hop))
    rows = []
    for centre in centres:
        kw_label, other_label = kw.heard(centre), other.heard(centre)
        for wins, of in votes:
            for ms in steps:
                for mm in steps[:num_weights // 2 + 1]:
                    rule = HitRule(wins, of, ms, mm, hop_windows)
                    rows.append({"rule": "votes", "centre": centre, "wins": wins, "of": of,
                                 "min_score": round(float(ms), 4),
                                 "min_margin": round(float(mm), 4), **_tally(
                                     result, rule.hits(kw_label, kw.score, kw.margin),
                                     kw_label, rule.hits(other_label, other.score,
                                                         other.margin), other_label)})
    return rows


#: Window counts :func:`sweep_average` averages over by default.
AVERAGES = (1, 2, 3, 4, 5, 6, 7)


def _averaged(scanned: Scanned, centre, windows: int):
    """Per-class potentials summed over the last ``windows`` windows and the speeds
    (uncentred and unclassified windows add 0): ``(centred, label, top sum, top minus the
    runner-up)``, in units of ``1 / scanned.views`` of a potential."""
    if scanned.classes is None:
        raise ValueError("these streams were scanned without per-class potentials; rerun "
                         "run_streams to average them")
    centred = scanned.centred(centre)
    c = np.cumsum(np.where(centred[:, None], scanned.classes, 0), axis=0, dtype=np.int64)
    total = c.copy()
    total[windows:] -= c[:-windows]
    label = total.argmax(axis=1)           # ties: the lowest class, as the board's winner
    rows = np.arange(len(total))
    top = total[rows, label]
    total[rows, label] = np.iinfo(np.int64).min
    second = total.max(axis=1) if total.shape[1] > 1 else np.zeros(len(total), np.int64)
    return centred, label, top, top - second


def sweep_average(result: dict, num_weights: int, centres=CENTRES, averages=AVERAGES,
                  refractory: float = DEFAULT_REFRACTORY) -> list:
    """The rows of :func:`sweep` for a rule of averaged scores instead of votes: at each
    centred window, every class's best potential is averaged over the last ``of`` windows
    (``averages``); the best class fires when its average score and its margin over the
    runner-up reach ``min_score``/``min_margin`` (same units and grid as :func:`sweep`)."""
    kw, other = result["keyword"], result["other"]
    if not averages or any(int(a) != a or a < 1 for a in averages):
        raise ValueError(f"averages must be window counts >= 1, not {list(averages)!r}")
    hop_windows = int(round(refractory / kw.hop))
    rows = []
    for centre in centres:
        for of in averages:
            k = _averaged(kw, centre, int(of))
            o = _averaged(other, centre, int(of))
            # Exact in integers: an average of at least s/num_weights over ``of`` windows
            # of ``views`` speeds each is a sum >= s * of * views.
            for s in range(num_weights + 1):
                for m in range(num_weights // 2 + 1):
                    fired = [refractory_hits(np.flatnonzero(
                        centred & (top >= s * of * n) & (gap >= m * of * n)), hop_windows)
                        for (centred, _, top, gap), n in ((k, kw.views), (o, other.views))]
                    rows.append({"rule": "average", "centre": centre, "wins": of, "of": of,
                                 "min_score": round(s / num_weights, 4),
                                 "min_margin": round(m / num_weights, 4),
                                 **_tally(result, fired[0], k[1], fired[1], o[1])})
    return rows


def choose(rows: list, max_false_alarms_per_hour: float = 1.0) -> dict | None:
    """The rule with the best detection rate at or under the false-alarm budget (ties: the
    fewest wrong or extra detections, then the fewest votes and the lowest thresholds)."""
    ok = [r for r in rows if r["false_alarms_per_hour"] <= max_false_alarms_per_hour]
    if not ok:
        return None
    return max(ok, key=lambda r: (r["detection_rate"], -r["wrong_word_or_extra"],
                                  -r.get("of", 1), -r.get("wins", 1), -r["min_score"],
                                  -r["min_margin"]))


def listener_row(rows: list) -> dict | None:
    """The row of ``board listen``'s default rule (its thresholds rounded up to the grid:
    the same windows vote), or None when the sweep did not try its centring and votes."""
    from edgekws.host import listen as L
    same = [r for r in rows if (r["centre"], r["wins"], r["of"]) ==
            (L.DEFAULT_CENTRE, L.DEFAULT_WINS, L.DEFAULT_OF)
            and r["min_score"] >= L.LISTEN_MIN_SCORE - 5e-5
            and r["min_margin"] >= L.LISTEN_MIN_MARGIN - 5e-5]
    return min(same, key=lambda r: (r["min_score"], r["min_margin"]), default=None)


def frontier(rows: list) -> list:
    """``[(false alarms per hour, detection rate)]``: the best detection rate at each
    false-alarm rate or under, over all the rows (the curve a tuned rule can reach)."""
    out, best = [], -1.0
    for fa, rate in sorted((r["false_alarms_per_hour"], -r["detection_rate"]) for r in rows):
        rate = -rate
        if rate > best:
            out.append((fa, rate))
            best = rate
    return out


def plot_tradeoff(rows: list, path, chosen: dict | None = None, title: str = "",
                  baseline: list | None = None) -> Path:
    """Detection rate against false alarms per hour: the best over every rule of the sweep,
    over the single-window rules (1 of 1), and over a ``baseline`` sweep's rows."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    curves = [("hit rule: best of the sweep", rows),
              ("one window (1 of 1)", [r for r in rows if r.get("of", 1) == 1])]
    if baseline:
        curves.append(("before: centred window, thresholds", baseline))
    for name, some in curves:
        pts = frontier(some)
        ax.step([p[0] for p in pts], [100 * p[1] for p in pts], where="post", marker=".",
                label=name)
    if chosen is not None:
        ax.plot(chosen["false_alarms_per_hour"], 100 * chosen["detection_rate"], "r*",
                markersize=14, label=f"chosen: {chosen.get('wins', 1)} of "
                f"{chosen.get('of', 1)}, centre {chosen.get('centre')}, score "
                f"{chosen['min_score']:.2f}, margin {chosen['min_margin']:.2f}")
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0)
    ax.set_xlabel("false alarms per hour (non-keyword stream)")
    ax.set_ylabel("keywords detected, %")
    ax.set_title(title or "Detection rate against false alarms")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
