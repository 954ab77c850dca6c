"""Real-speaker enrolment: what ``board enrol`` learns from a few real utterances, and how
well it then hears the same speaker (``edgekws eval --enrolment``, and the first half of
``eval --stream``).

The edge-learning goal on real voices: a user says a word ``enrol`` times, the board
learns it, and then hears that user's other utterances of it. For every FSDD speaker and
every set of digits, the corpus's words are learnt natively as in the tutorial, without
the digits of the set (:func:`background_classes`); the digits are enrolled from the
speaker's first ``enrol`` recordings and ``copies`` augmented copies of each
(:func:`enrol_speaker`, as ``board enrol`` does), and the speaker's other recordings of
them are scored as isolated clips in ``shifts``' windows; the old classes' validation
accuracy before and after says what the enrolment cost them. :func:`enrolment_table` does
it without the streams: seconds per row, not minutes.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

__all__ = ["EnrolmentSources", "enrolment_sources", "background_classes",
           "extractor_spikes", "speaker_recordings", "recordings_to_enrol", "enrol_speaker",
           "enrolment_table"]


@dataclasses.dataclass
class EnrolmentSources:
    """The FSDD recordings and the model's front end that an enrolment reads."""

    samples: list           # FsddSample of every recording
    speakers: list          # the speakers who enrol
    waves: np.ndarray       # their one-second clips (centred)
    words: list             # their digit words
    extractor: object       # the golden model's extractor (spikes)
    encode: object          # uint8 frames -> spikes, for the corpus's cached features
    params: object          # MfccParams
    scaling: object         # MfccScaling of the model
    to_frames: object       # clips -> the uint8 frames the board is sent


def enrolment_sources(setup, speakers, word_sets) -> EnrolmentSources:
    """Check that every speaker of ``speakers`` (None: every FSDD speaker) recorded more
    than ``setup.enrol`` of every digit of ``word_sets`` (before any long work), then read
    the recordings and the model (``setup``: a
    :class:`~edgekws.evaluate.stream.StreamSetup`)."""
    from edgekws.data.fsdd import DIGIT_WORDS, list_fsdd, load_fsdd
    from edgekws.data.shifts import check_shifts, check_speeds
    from edgekws.host.edge import front_end as host_front_end
    from edgekws.tutorial.edge_learning import front_end

    check_shifts(setup.shifts)
    check_speeds(setup.speeds)
    for words in word_sets:
        unknown = [w for w in words if w not in DIGIT_WORDS]
        if unknown or not words or len(set(words)) != len(words):
            raise ValueError(f"enrolled words must be distinct FSDD digits {DIGIT_WORDS}, "
                             f"not {list(words)}")
    samples = list_fsdd(setup.fsdd)
    have = sorted({s.speaker for s in samples})
    speakers = have if speakers is None else list(speakers)
    for speaker in speakers:
        if speaker not in have:
            raise ValueError(f"no FSDD speaker {speaker!r} (have {have})")
        for w in sorted({w for words in word_sets for w in words}):
            recordings_to_enrol(samples, speaker, w, setup.enrol)
    extractor, _, _, _, encode = front_end(setup.model)
    params, scaling, to_frames = host_front_end(extractor)   # what the board is sent
    waves, words, _ = load_fsdd(samples)
    return EnrolmentSources(samples, speakers, waves, list(words), extractor, encode, params,
                            scaling, to_frames)


def background_classes(setup, spikes_of, log):
    """The tutorial's offline native learning: the Speech Commands words of the corpus
    (not the extra vocabulary), but the enrolled ones and the edge-learning words the
    models are trained without: ``(head, num_classes, words, val spikes, val labels)``. The
    corpus is read as ``edgekws train`` reads it, so its feature cache serves here too."""
    from edgekws.data.features import cached_features
    from edgekws.data.speech_commands import load_speech_commands, word_to_index
    from edgekws.data.synth import WORDS
    from edgekws.train.dataset import EDGE_WORDS
    from edgekws.tutorial.edge_learning import (fit_batches, learning_head,
                                                suggest_from_training)

    ds = load_speech_commands(setup.corpus, exclude=EDGE_WORDS, seed=setup.seed)
    kept = [w for w in ds.word_to_index if w in WORDS and w not in setup.words]
    mapping = word_to_index(kept)
    relabel = np.full(len(ds.word_to_index), -1, np.int32)
    for w, i in ds.word_to_index.items():
        relabel[i] = mapping.get(w, -1)
    sets = []
    for split, name in (("train", "train"), ("val", "val")):
        fs = cached_features(ds.split(split), setup.cache_dir, name=name, workers=None)
        y = relabel[fs.y]
        sets.append((fs.x[y >= 0], y[y >= 0]))
    (x_train, y_train), (x_val, y_val) = sets
    s_train, s_val = spikes_of(x_train), spikes_of(x_val)
    k = setup.num_weights or suggest_from_training(s_train, setup.seed)[1]
    K = len(mapping)
    head = learning_head(s_train.shape[-1], K, setup.neurons_per_class, k, 0.1, setup.seed)
    fit_batches(head, s_train, y_train, progress=False)
    words = [w for w, _ in sorted(mapping.items(), key=lambda kv: kv[1])]
    log(f"offline native learning: {K} classes of {setup.corpus} ({len(y_train)} samples), "
        f"num_weights {k}")
    return head, K, words, s_val, y_val


def extractor_spikes(extractor, frames) -> np.ndarray:
    """The extractor's spikes of uint8 ``frames``, shaped as the learning layer takes them."""
    return extractor.forward(frames).reshape(len(frames), 1, 1, -1)


def speaker_recordings(samples, speaker: str, word: str) -> list:
    """Indices of ``speaker``'s FSDD recordings of ``word`` in ``samples``, in recording
    order."""
    return sorted((j for j, s in enumerate(samples) if s.word == word and
                   s.speaker == speaker), key=lambda j: samples[j].index)


def recordings_to_enrol(samples, speaker: str, word: str, enrol: int) -> list:
    """:func:`speaker_recordings` of ``word``, checked to hold more than the ``enrol``
    that enrolment learns from (the others are what it is scored on)."""
    mine = speaker_recordings(samples, speaker, word)
    if len(mine) <= enrol:
        raise ValueError(f"{speaker!r} has {len(mine)} recordings of {word!r}; enrolment "
                         f"needs more than {enrol}")
    return mine


def enrol_speaker(setup, head, num_classes: int, src: EnrolmentSources, rng,
                  fill=None) -> dict:
    """Enrol ``setup.words`` into ``head`` (a learning layer holding ``num_classes``
    classes) from the first ``setup.enrol`` recordings of ``setup.speaker`` and
    ``setup.copies`` augmented copies of each (drawn from ``rng``), as ``board enrol``
    does; ``fill(rng)``, if given, is called after the words' copies are drawn and its
    frames (a list of uint8 frame arrays) are learned as one more class after the words.
    Then the speaker's other recordings of the words are scored as isolated clips in
    ``setup.shifts``' windows at each of ``setup.speeds``.

    Returns ``{"keyword_clips": [(wave, word)], "correct": int, "filler": bool}``.
    """
    from edgekws.data.shifts import shifted_windows
    from edgekws.host.edge import enrol_frames
    from edgekws.host.listen import score_windows

    keyword_clips, enrol_x, enrol_y = [], [], []
    for i, w in enumerate(setup.words):
        mine = recordings_to_enrol(src.samples, setup.speaker, w, setup.enrol)
        frames = enrol_frames([src.waves[j] for j in mine[:setup.enrol]], setup.copies, rng,
                              src.to_frames)
        enrol_x.append(extractor_spikes(src.extractor, frames))
        enrol_y += [num_classes + i] * len(frames)
        keyword_clips += [(src.waves[j], w) for j in mine[setup.enrol:]]
    filler = [f for f in (fill(rng) if fill is not None else []) if len(f)]
    for frames in filler:
        enrol_x.append(extractor_spikes(src.extractor, frames))
        enrol_y += [num_classes + len(setup.words)] * len(frames)
    added = len(setup.words) + (1 if filler else 0)
    head.add_classes(added, seed=setup.seed)
    head.fit(np.concatenate(enrol_x), np.asarray(enrol_y))
    clips = np.stack([c for c, _ in keyword_clips])
    windows = [head.forward(extractor_spikes(src.extractor, src.to_frames(w)))
               .reshape(len(clips), -1)
               for w in shifted_windows(clips, setup.shifts, src.params.sample_rate,
                                        setup.speeds)]
    iso = score_windows(windows, num_classes + added, head.learning.num_weights)
    correct = int(np.sum([label == num_classes + setup.words.index(w)
                          for label, (_, w) in zip(iso.label, keyword_clips)]))
    return {"keyword_clips": keyword_clips, "correct": correct, "filler": bool(filler)}


def enrolment_table(setup, speakers=None, word_sets=None, log=print) -> dict:
    """Enrol each of ``word_sets`` (tuples of FSDD digits; default ``(setup.words,)``) for
    each of ``speakers`` (default: every FSDD speaker) on top of ``setup``'s background
    classes (:class:`~edgekws.evaluate.stream.StreamSetup`); every (speaker, digit) is
    checked before any learning.

    Returns ``{"rows": [...], "correct": int, "total": int, "largest_drop": float, ...}``,
    a row per (words, speaker) with its ``correct``/``total`` recordings and the old
    classes' accuracy ``old_before``/``old_after``.
    """
    from edgekws.tutorial.edge_learning import accuracy

    word_sets = [tuple(w) for w in (word_sets or [setup.words])]
    src = enrolment_sources(setup, speakers, word_sets)
    rows = []
    for words in word_sets:
        base = dataclasses.replace(setup, words=words)
        head0, K, _, s_val, y_val = background_classes(base, src.encode, log)
        before = accuracy(head0, s_val, y_val, K)
        for speaker in src.speakers:
            head = copy.deepcopy(head0)
            got = enrol_speaker(dataclasses.replace(base, speaker=speaker), head, K, src,
                                np.random.default_rng(setup.seed))
            after = accuracy(head, s_val, y_val, K + len(words))
            rows.append({"words": list(words), "speaker": speaker, "correct": got["correct"],
                         "total": len(got["keyword_clips"]), "old_before": before,
                         "old_after": after})
            log(f"{speaker} {'/'.join(words)}: {got['correct']}/{rows[-1]['total']}; old "
                f"classes {100 * before:.2f} % -> {100 * after:.2f} %")
    return {"rows": rows, "correct": sum(r["correct"] for r in rows),
            "total": sum(r["total"] for r in rows),
            "largest_drop": max(r["old_before"] - r["old_after"] for r in rows),
            "shifts": list(setup.shifts), "enrol": setup.enrol}
