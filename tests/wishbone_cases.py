"""What the two benches of the Wishbone wrapper share (Amaranth's simulator in
``test_gateware_wishbone.py``, cocotb + Verilator in ``sim/test_wishbone.py``): the
spikes-only configuration and its Verilog under ``build/wishbone/``, the learning
session's requests, the emulator's replies and the check of the bus's replies.

The spikes-only wrapper (no extractor) keeps the Verilog short and the Verilator
build of the cocotb bench a few minutes long.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from amaranth.back import verilog

from amaranth_sim import refused_quietly
from edgekws import protocol as p
from edgekws.gateware import wishbone as wb
from edgekws.gateware.generate import RTL_DIR
from edgekws.golden.learning import random_weights

C, R = p.Cmd, p.Region
#: Module name of the generated Verilog (and the cocotb toplevel).
TOPLEVEL = "edgekws_wishbone"
#: The clock the wrapper reports in IDENTIFY.
CLK_HZ = 1_000_000


def spikes_wrapper() -> wb.WishboneKWS:
    """The spikes-only wrapper both benches simulate."""
    return wb.WishboneKWS(clk_hz=CLK_HZ, extractor=False)


def write_wishbone_verilog() -> tuple[Path, str]:
    """Convert :func:`spikes_wrapper` to Verilog under ``build/wishbone/``; ``(path,
    text)``. The file is rewritten only when its text changes (Verilator's build
    cache is keyed on the contents, but an untouched file also keeps make quiet)."""
    with refused_quietly():
        text = verilog.convert(spikes_wrapper(), name=TOPLEVEL, emit_src=False)
    out = RTL_DIR.parent / "build" / "wishbone" / f"{TOPLEVEL}.v"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return out, text


def req(seq, cmd, payload=b""):
    """A mailbox request: ``seq, cmd, payload``."""
    return bytes([seq, cmd]) + bytes(payload)


def emulator_reply(emu, request: bytes) -> bytes:
    """The emulator's reply to ``request`` (seq, cmd, payload) in the mailbox's form."""
    frame = emu.server.feed(p.encode_packet(request[0], request[1], request[2:]))
    seq, cmd, body = p.decode_packet(frame[1:-1])
    return bytes([seq, cmd]) + body


#: Neurons per class, classes and inputs of :func:`learning_session`.
SESSION_K, SESSION_M, SESSION_F = 3, 4, 64


def learning_session(seed=21) -> list[bytes]:
    """SET_LEARNING, FC weights, INFER_SPIKES with potentials, LEARN_SPIKES, a
    BAD_LENGTH and an UNKNOWN_CMD (INFER without extractor), READ_MEM of the
    potentials, READ_COUNTERS."""
    rng = np.random.default_rng(seed)
    K, m, F = SESSION_K, SESSION_M, SESSION_F
    w = np.packbits(random_weights(F, K * m, 20, rng).T, axis=1, bitorder="little")
    xs = [np.packbits(rng.random(F) < 0.3, bitorder="little").tobytes() for _ in range(4)]
    return [
        req(1, C.IDENTIFY),
        req(2, C.SET_LEARNING, p.set_learning_payload(K, m, 3, 1, 1, 40, K * m)),
        req(3, C.WRITE_MEM, p.write_mem_payload(R.FC_WEIGHTS, 0, w.tobytes())),
        req(4, C.INFER_SPIKES, p.infer_payload(xs[0], potentials=True)),
        req(5, C.INFER_SPIKES, b"\0" + xs[1]),
        req(6, C.LEARN_SPIKES, (1).to_bytes(2, "little", signed=True) + xs[2]),
        req(7, C.INFER_SPIKES, b"\1" + xs[2]),
        req(8, C.INFER_SPIKES, b"\1" + xs[3][:-1]),                    # BAD_LENGTH
        req(9, C.INFER, b"\1" + bytes(490)),                            # no extractor
        req(10, C.READ_MEM, p.read_mem_payload(R.FC_POTENTIALS, 0, 2 * K * m)),
        req(11, C.READ_COUNTERS),
    ]


def check_replies(requests, expected, got):
    """Each bus reply equals the emulator's byte for byte (but READ_COUNTERS' two
    cycle counters, which only the hardware measures); STATUS is DONE, with
    RESULT_VALID exactly after an OK INFER/LEARN, whose class and winner are RESULT.

    ``got`` holds ``(reply, RESULT, STATUS)`` read after each request.
    """
    assert len(got) == len(requests) == len(expected)
    for k, (rq, (rep, result, status), exp) in enumerate(zip(requests, got, expected)):
        if rq[1] == C.READ_COUNTERS and exp[2] == p.Status.OK:
            rep, exp = rep[:3] + rep[3 + 8:], exp[:3] + exp[3 + 8:]
        assert rep == exp, (f"request {k} ({rq[:8].hex()}...): bus {rep.hex()}, "
                            f"emulator {exp.hex()}")
        is_result = exp[1] & 0x7F in (C.INFER, C.LEARN, C.INFER_SPIKES, C.LEARN_SPIKES) \
            and exp[2] == p.Status.OK
        assert bool(status & wb.Status.RESULT_VALID) == is_result, k
        assert status & (wb.Status.BUSY | wb.Status.DONE) == wb.Status.DONE
        if is_result:
            cls, winner, _ = p.RESULT_FORMAT.unpack_from(exp, 3)
            assert result == cls | winner << 16, k


def check_learning_session(replies):
    """The session's error replies are the expected errors and the potentials of its
    first INFER_SPIKES are not all zero (the comparison would be weak otherwise)."""
    assert [r[2] for r in replies[7:9]] == [p.Status.BAD_LENGTH, p.Status.UNKNOWN_CMD]
    pots = np.frombuffer(replies[3][3 + p.RESULT_FORMAT.size:], "<u2")
    assert len(pots) == SESSION_K * SESSION_M and pots.any()
