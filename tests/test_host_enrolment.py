"""An enrolment killed (kill -9) between the board learning and the host copy being saved
is recovered by the next command, exactly as if it had not been interrupted."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.cli import main
from edgekws.golden import Model
from edgekws.host import enrolment
from edgekws.host.emulator import Emulator, serve_tcp

from test_host_board import assert_same_model, tone_wavs


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    return tone_wavs(tmp_path_factory.mktemp("wavs"))


class KillAt:
    """Kill the enrolling host (kill -9) when the board gets its ``nth`` ``cmd``: before
    the board executes it, or after (the reply is then never read)."""

    def __init__(self, emu, cmd, nth, after):
        self.inner, self.cmd, self.nth, self.after = emu.server.handler, cmd, nth, after
        self.seen, self.proc = 0, None
        emu.server.handler = self

    def __call__(self, cmd, payload):
        hit = False
        if cmd == self.cmd and self.proc is not None:
            self.seen += 1
            hit = self.seen == self.nth
        if hit and not self.after:
            self._kill()
            return p.Status.NOT_READY, b""     # never executed: no one reads this
        reply = self.inner(cmd, payload)
        if hit and self.after:
            self._kill()
        return reply

    def _kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def load(url, state):
    assert main(["board", "load", "--port", url, "--state", str(state)]) == 0


def learned(url, state):
    """The board's learned state, read back through the host copy's model."""
    from edgekws.host.board import Board
    with Board(url, timeout=2.0) as board:
        board.attach(Model(str(state)))
        return board.to_golden()


@pytest.mark.parametrize("cmd, nth, after", [
    (p.Cmd.ADD_CLASSES, 1, False),   # journal written, the board not changed yet
    (p.Cmd.LEARN, 4, True),          # the class added, 4 of 8 frames learned
    (p.Cmd.READ_MEM, 9, True),       # every frame learned, reading back for the save
], ids=["before-add-classes", "mid-learning", "reading-back"])
def test_a_killed_enrolment_is_recovered_by_the_next_command(tmp_path, wavs, capsys, cmd,
                                                             nth, after):
    state, ref_state = tmp_path / "board.ekws", tmp_path / "ref.ekws"
    enrol = ["--word", "hum", "--copies", "3", "--seed", "5", *wavs[:2]]
    emu = Emulator()
    with serve_tcp(0, emu) as server, serve_tcp(0, Emulator()) as ref:
        load(server.url, state)
        load(ref.url, ref_state)
        before = state.read_bytes()
        # The reference: the same enrolment, not interrupted.
        assert main(["board", "enrol", "--port", ref.url, "--state", str(ref_state),
                     *enrol]) == 0
        killer = KillAt(emu, cmd, nth, after)
        killer.proc = subprocess.Popen(
            [sys.executable, "-m", "edgekws.cli", "board", "enrol", "--port", server.url,
             "--state", str(state), *enrol], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        assert killer.proc.wait(timeout=120) == -signal.SIGKILL
        assert state.read_bytes() == before, "the host copy was not saved"
        assert enrolment.journal_path(state).exists()
        held = emu.regs[p.LearnReg.NUM_CLASSES]
        assert held == (1 if cmd == p.Cmd.ADD_CLASSES else 2), "the kill came where meant"

        capsys.readouterr()
        assert main(["board", "infer", "--port", server.url, "--state", str(state),
                     wavs[2]]) == 0
        err = capsys.readouterr().err
        assert "edgekws board: recovered the enrolment of 'hum' that was interrupted: " \
               "replayed its 8 frames on the board as class 1; host copy" in err
        assert not enrolment.journal_path(state).exists()
        assert Model(str(state)).extra["words"] == ["_unknown_", "hum"]
        # Exactly what the uninterrupted enrolment saved, on the host and on the board.
        assert_same_model(Model(str(state)), Model(str(ref_state)))
        assert_same_model(learned(server.url, state), learned(ref.url, ref_state))
        # Nothing more to recover.
        assert main(["board", "infer", "--port", server.url, "--state", str(state),
                     wavs[2]]) == 0
        assert "recovered" not in capsys.readouterr().err


def test_a_journal_left_after_the_save_is_dropped(tmp_path, wavs, capsys):
    state = tmp_path / "board.ekws"
    with serve_tcp(0, Emulator()) as server:
        load(server.url, state)
        saved = tmp_path / "before.ekws"
        shutil.copy(state, saved)
        assert main(["board", "enrol", "--port", server.url, "--state", str(state),
                     "--word", "hum", "--copies", "1", wavs[0]]) == 0
        # As if killed after the save, before the journal was removed.
        enrolment.write_journal(state, enrolment.Journal(
            "hum", 0, np.zeros((2, 49, 10, 1), np.uint8), enrolment._digest(saved)))
        capsys.readouterr()
        assert main(["board", "infer", "--port", server.url, "--state", str(state),
                     wavs[0]]) == 0
        assert "the enrolment of 'hum' had been saved in" in capsys.readouterr().err
        assert not enrolment.journal_path(state).exists()

        # A journal for another host copy than this one is not replayed.
        enrolment.write_journal(state, enrolment.Journal(
            "other", 0, np.zeros((2, 49, 10, 1), np.uint8), enrolment._digest(saved)))
        assert main(["board", "infer", "--port", server.url, "--state", str(state),
                     wavs[0]]) == 2
        assert "journal of an interrupted enrolment of 'other', but" in \
            capsys.readouterr().err
        # `board load` starts anew and discards it.
        load(server.url, state)
        assert "discarded the journal of the interrupted enrolment of 'other'" in \
            capsys.readouterr().err
        assert not enrolment.journal_path(state).exists()


def test_a_board_that_moved_on_is_not_replayed_onto(tmp_path, wavs, capsys):
    state = tmp_path / "board.ekws"
    with serve_tcp(0, Emulator()) as server:
        load(server.url, state)
        enrolment.write_journal(state, enrolment.Journal(
            "hum", 0, np.zeros((2, 49, 10, 1), np.uint8), enrolment._digest(state)))
        from edgekws.host.board import Board
        with Board(server.url) as board:          # another host adds two classes
            board.attach(Model(str(state)))
            board.add_classes(2, seed=1)
        capsys.readouterr()
        assert main(["board", "infer", "--port", server.url, "--state", str(state),
                     wavs[0]]) == 2
        assert "the board holds 3 classes of 45 neurons; the enrolment of 'hum' " \
               "interrupted earlier" in capsys.readouterr().err
        assert enrolment.journal_path(state).exists(), "kept for the user to decide"


@pytest.mark.parametrize("text, message", [
    ("nonsense", "not JSON"),
    ('{"format": "x"}', "format is not 'edgekws enrolment journal 1'"),
    ('{"format": "edgekws enrolment journal 1", "word": "", "seed": 0}',
     "word must be a non-empty string, not ''"),
    ('{"format": "edgekws enrolment journal 1", "word": "a", "seed": 0, "state_sha256": "'
     + "0" * 64 + '", "shape": [2, 3], "frames": "AAAA"}', "3 bytes of frames for shape"),
])
def test_a_damaged_journal_is_named(tmp_path, text, message):
    state = tmp_path / "s.ekws"
    enrolment.journal_path(state).write_text(text)
    with pytest.raises(ValueError, match=f"s.ekws.enrol: not an enrolment journal of "
                                         f"edgekws \\({message}.*\\); remove it to go on"):
        enrolment.read_journal(state)


def test_an_enrolment_too_big_for_its_journal_is_refused_before_it_starts(monkeypatch,
                                                                          tmp_path):
    monkeypatch.setattr(enrolment.limits, "ENROL_JOURNAL_MAX_BYTES", 1000)
    with pytest.raises(ValueError, match="2 frames make a 1308-byte enrolment journal, more "
                                         "than the limit of 1000 bytes"):
        enrolment.enrol_and_save(None, None, tmp_path / "s", "w",
                                 np.zeros((2, 49, 10, 1), np.uint8), 0)
    assert not os.path.exists(enrolment.journal_path(tmp_path / "s"))


def test_a_recovery_killed_while_rewinding_is_recovered_again(tmp_path):
    """A journal, and a board with the old class count over half-written weights: the
    recovery rewinds anyway, and replays to exactly the uninterrupted result."""
    from edgekws.golden.fileformat import to_bytes
    from edgekws.host.board import Board
    from test_host_board import spikes_model
    x = (np.random.default_rng(2).random((12, 1, 1, 64)) < 0.3).astype(np.uint8)
    start = spikes_model(2, 5)
    start.extra = {"words": ["a", "b"]}
    results = []
    for interrupted in (False, True):
        state = tmp_path / f"{interrupted}.ekws"
        enrolment.save_state(start, state)
        with serve_tcp(0, Emulator(extractor=False)) as server, Board(server.url) as board:
            board.load(start)
            if interrupted:
                enrolment.write_journal(state, enrolment.Journal(
                    "hum", 5, x, enrolment._digest(state)))
                board.write_mem(p.Region.FC_WEIGHTS, np.random.default_rng(0).integers(
                    0, 256, 10 * 8, dtype=np.uint8).tobytes())
                lines = []
                model = enrolment.recover(board, Model(str(state)), state, lines.append)
                assert lines[0].startswith("recovered the enrolment of 'hum'")
            else:
                board.attach(start)
                model = enrolment.enrol_and_save(board, start, state, "hum", x, 5)[0]
            results.append((to_bytes(Model(str(state)), extra=model.extra),
                            to_bytes(board.to_golden())))
    assert results[0] == results[1]
