"""``board enrol`` that survives being killed: a journal, and recovery by replay.

An enrolment changes two things that cannot be written at once: the board (a new class,
then one learning step per frame) and the host copy (``--state``). Killed in between,
the board is ahead of the host copy: it has a class the host does not know, and every
later command would refuse the board (or the word would be lost by reloading it).

So :func:`enrol_and_save` first writes a *journal* next to the state file
(``STATE.enrol``, atomically): the word, the seed of its new neurons, every frame it
learns from, and the SHA-256 of the host copy it starts from. Only then does it touch
the board; the journal is removed once the new host copy is saved.

The next command that opens the board with that host copy (``infer``, ``enrol``,
``listen``) calls :func:`recover`. If the journal's host copy is still the current one,
the board is rewound to it (:meth:`~edgekws.host.board.Board.restore_learning`: its
learning layer written back, a half-made class dropped) and the enrolment is replayed: the same seed draws the same
new neurons and the learning rule is deterministic, so the result is exactly what the
uninterrupted enrolment would have saved, however far it got. If the host copy was
saved already (killed just before the journal was removed), the journal is dropped.
``board load`` discards a journal (the board and the host copy start anew).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekws import limits
from edgekws.atomicio import atomic_write
from edgekws.checks import is_int
from edgekws.safeopen import open_regular

__all__ = ["Journal", "journal_path", "write_journal", "read_journal", "discard_journal",
           "enrol_on_board", "enrol_and_save", "recover", "save_state"]

#: Suffix of the journal next to the state file.
SUFFIX = ".enrol"
_FORMAT = "edgekws enrolment journal 1"


@dataclass
class Journal:
    """An enrolment in progress: enough to replay it on the board."""
    word: str
    seed: int
    frames: np.ndarray        # uint8, the frames learned, in order
    state_sha256: str         # of the host copy the enrolment starts from


def journal_path(state) -> Path:
    """``STATE.enrol`` next to the real state file (symlinks resolved)."""
    real = Path(os.path.realpath(state))
    return real.with_name(real.name + SUFFIX)


def _digest(path) -> str:
    with open_regular(path, "state file", limits.MODEL_MAX_BYTES) as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_journal(state, journal: Journal) -> None:
    frames = np.ascontiguousarray(journal.frames, np.uint8)
    text = json.dumps({"format": _FORMAT, "word": journal.word, "seed": journal.seed,
                       "state_sha256": journal.state_sha256, "shape": list(frames.shape),
                       "frames": base64.b64encode(frames.tobytes()).decode("ascii")})
    atomic_write(journal_path(state), text.encode())


def read_journal(state) -> Journal | None:
    """The journal of ``state``, or None if there is none.

    Raises ValueError naming the file and what is wrong with it.
    """
    path = journal_path(state)
    if not path.exists():
        return None
    problem = f"{path}: not an enrolment journal of edgekws"

    def bad(what):
        return ValueError(f"{problem} ({what}); remove it to go on")
    with open_regular(path, "enrolment journal", limits.ENROL_JOURNAL_MAX_BYTES) as f:
        raw = f.read()
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad("not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise bad(f"format is not {_FORMAT!r}")
    word, seed, sha, shape = (meta.get(k) for k in ("word", "seed", "state_sha256", "shape"))
    if not isinstance(word, str) or not word:
        raise bad(f"word must be a non-empty string, not {word!r}")
    if not is_int(seed):
        raise bad(f"seed must be an integer, not {seed!r}")
    if not isinstance(sha, str) or len(sha) != 64:
        raise bad("state_sha256 must be 64 hex digits")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 4 and all(
            is_int(n) and n >= 1 for n in shape)):
        raise bad(f"shape must be 1 to 4 positive integers, not {shape!r}")
    try:
        data = base64.b64decode(meta.get("frames", ""), validate=True)
    except (ValueError, TypeError):
        raise bad("frames are not base64") from None
    if len(data) != int(np.prod(shape)):
        raise bad(f"{len(data)} bytes of frames for shape {shape}")
    return Journal(word, seed, np.frombuffer(data, np.uint8).reshape(shape), sha)


def discard_journal(state) -> Journal | None:
    """Remove the journal of ``state`` (if any); returns what it held, if readable."""
    try:
        journal = read_journal(state)
    except ValueError:
        journal = None
    try:
        os.unlink(journal_path(state))
    except FileNotFoundError:
        pass
    return journal


def enrol_on_board(board, model, word: str, frames, seed: int):
    """Add one class to the board (new neurons drawn with ``seed``) and learn ``frames``
    as it; returns ``(new host copy, label, learned flags)``. The board must hold
    ``model`` (``attach``)."""
    label = board.add_classes(1, seed=seed) - 1
    learned = board.fit(frames, label)
    back = board.to_golden()
    back.extra = dict(model.extra, words=list(model.extra["words"]) + [word])
    return back, label, learned


def enrol_and_save(board, model, state, word: str, frames, seed: int):
    """:func:`enrol_on_board` with a journal, then save the new host copy to ``state``."""
    size = 4 * ((np.asarray(frames).nbytes + 2) // 3)    # base64
    if size > limits.ENROL_JOURNAL_MAX_BYTES:
        raise ValueError(f"{len(frames)} frames make a {size}-byte enrolment journal, more "
                         f"than the limit of {limits.ENROL_JOURNAL_MAX_BYTES} bytes: enrol "
                         "from fewer recordings or fewer --copies")
    write_journal(state, Journal(word, seed, np.asarray(frames, np.uint8), _digest(state)))
    result = enrol_on_board(board, model, word, frames, seed)
    save_state(result[0], state)
    discard_journal(state)
    return result


def recover(board, model, state, say=print):
    """Finish an interrupted enrolment of ``state`` (if its journal is there) on
    ``board``; returns the host copy to use (``model``, or the recovered one, saved).

    ``say`` gets one line for the user about what was done.

    Raises ValueError when the journal does not fit the host copy or the board holds
    something else than the journal's starting point plus at most the new class.
    """
    journal = read_journal(state)
    if journal is None:
        return model
    path, word = journal_path(state), journal.word
    words = list(model.extra["words"])
    if _digest(state) != journal.state_sha256:
        if words and words[-1] == word:
            discard_journal(state)
            say(f"the enrolment of {word!r} had been saved in {state}; removed its "
                f"journal {path}")
            return model
        raise ValueError(f"{path}: journal of an interrupted enrolment of {word!r}, but "
                         f"{state} has changed since it was written and does not have the "
                         "word: remove the journal (the word is lost) or restore that "
                         "host copy")
    fc = model.layers[-1]
    N, K = fc.units, fc.learning.num_classes
    regs = board.registers()
    held = (regs["NUM_CLASSES"], regs["NUM_NEURONS"])
    if held not in ((K, N), (K + 1, N + N // K)):
        raise ValueError(f"the board holds {held[0]} classes of {held[1]} neurons; the "
                         f"enrolment of {word!r} interrupted earlier (journal {path}) "
                         f"started from {K} classes of {N} neurons: it cannot be replayed "
                         "here; `edgekws board load` the board again (the word is lost)")
    # Always rewound, also with K classes: a recovery killed while rewinding leaves K
    # classes over half-written weights.
    board.restore_learning(model)
    back, label, _ = enrol_on_board(board, model, word, journal.frames, journal.seed)
    save_state(back, state)
    discard_journal(state)
    say(f"recovered the enrolment of {word!r} that was interrupted: replayed its "
        f"{len(journal.frames)} frames on the board as class {label}; host copy {state} "
        "updated")
    return back


def save_state(model, path) -> None:
    """Save a host copy (its metadata included), atomically."""
    from edgekws.golden.fileformat import save
    save(model, path, extra=getattr(model, "extra", None))
