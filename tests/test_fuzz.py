"""A short fuzz run (fixed seeds): no traceback, no hang, no data lost, both outcomes seen."""
from __future__ import annotations

import pytest

from edgekws import fuzz


@pytest.mark.parametrize("target, seed", [(fuzz.fuzz_model_files, 10), (fuzz.fuzz_wav_headers, 11),
                                          (fuzz.fuzz_frames, 12)])
def test_short_fuzz_run(target, seed):
    tally = target(150, seed)
    c = tally.counts
    assert tally.tried == 150
    assert (c[fuzz.Outcome.TRACEBACK], c[fuzz.Outcome.HANG], c[fuzz.Outcome.LOST]) == (0, 0, 0), \
        "\n".join(tally.examples)
    # The mutations must reach both sides: mostly refused, some still valid.
    assert c[fuzz.Outcome.REFUSED] > 50 and c[fuzz.Outcome.ACCEPTED] > 0


def test_the_table_adds_up():
    a, b = fuzz.Tally("a"), fuzz.Tally("b")
    a.add(fuzz.Outcome.REFUSED)
    a.add(fuzz.Outcome.ACCEPTED)
    b.add(fuzz.Outcome.TRACEBACK, "boom")
    lines = fuzz.format_table([a, b]).splitlines()
    assert lines[0].split()[:3] == ["target", "inputs", "tried"]
    assert lines[-1].split() == ["total", "3", "1", "1", "0", "1", "0"]
    assert b.examples == ["boom"]


def test_a_traceback_and_a_hang_are_counted(monkeypatch):
    monkeypatch.setattr(fuzz, "HANG_SECONDS", 0.2)
    t = fuzz.Tally("t")

    def crash():
        raise KeyError("x")

    def spin():
        while True:
            pass
    fuzz._judge(t, crash, ValueError)
    fuzz._judge(t, spin, ValueError)
    fuzz._judge(t, lambda: fuzz.Outcome.ACCEPTED, ValueError)
    assert (t.counts["tracebacks"], t.counts["hangs"], t.counts["accepted"]) == (1, 1, 1)
