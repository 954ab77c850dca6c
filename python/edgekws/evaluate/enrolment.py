"""Real-speaker enrolment across speakers and word sets (``edgekws eval --enrolment``).

The edge-learning goal on real voices: a user says a word ``enrol`` times, the board
learns it, and then hears that user's other utterances of it. For every FSDD speaker and
every set of digits, the corpus's words are learnt natively as in the tutorial (without
the digits of the set), the digits are enrolled from the speaker's first ``enrol``
recordings (:func:`~edgekws.evaluate.stream.enrol_speaker`, as ``board enrol`` does), and
the speaker's other recordings of them are scored as isolated clips; the old classes'
validation accuracy before and after says what the enrolment cost them. The same
enrolment as ``eval --stream``'s, without the streams: seconds per row, not minutes.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

__all__ = ["enrolment_table"]


def enrolment_table(setup, speakers=None, word_sets=None, log=print) -> dict:
    """Enrol each of ``word_sets`` (tuples of FSDD digits; default ``(setup.words,)``) for
    each of ``speakers`` (default: every FSDD speaker) on top of ``setup``'s background
    classes (:class:`~edgekws.evaluate.stream.StreamSetup`).

    Returns ``{"rows": [...], "correct": int, "total": int, "largest_drop": float}``, a row
    per (words, speaker) with its ``correct``/``total`` recordings and the old classes'
    accuracy ``old_before``/``old_after``.
    """
    from edgekws.data.fsdd import DIGIT_WORDS, list_fsdd, load_fsdd
    from edgekws.data.shifts import check_shifts
    from edgekws.host.edge import front_end as host_front_end
    from edgekws.tutorial.edge_learning import accuracy, front_end

    from .stream import _background, enrol_speaker

    check_shifts(setup.shifts)
    word_sets = [tuple(w) for w in (word_sets or [setup.words])]
    for words in word_sets:
        unknown = [w for w in words if w not in DIGIT_WORDS]
        if unknown or not words or len(set(words)) != len(words):
            raise ValueError(f"a word set must be distinct FSDD digits {DIGIT_WORDS}, not "
                             f"{list(words)}")
    samples = list_fsdd(setup.fsdd)
    have = sorted({s.speaker for s in samples})
    speakers = list(speakers or have)
    missing = [s for s in speakers if s not in have]
    if missing:
        raise ValueError(f"no FSDD speaker {missing[0]!r} (have {have})")
    extractor, _, _, _, encode = front_end(setup.model)
    _, _, to_frames = host_front_end(extractor)
    waves, _, _ = load_fsdd(samples)
    rows = []
    for words in word_sets:
        base = dataclasses.replace(setup, words=words)
        head0, K, _, s_val, y_val = _background(base, encode, log)
        before = accuracy(head0, s_val, y_val, K)
        for speaker in speakers:
            head = copy.deepcopy(head0)
            rng = np.random.default_rng(setup.seed)
            got = enrol_speaker(dataclasses.replace(base, speaker=speaker), head, K, samples,
                                waves, extractor, to_frames, rng)
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
