"""The simulated board's per-keyword latency, in clock cycles, from its UART wires.

The bridge of the Verilator-simulated board (``edgekws/verilator/board_bridge.cpp --trace``) writes the
cycle of each frame's first start bit and last stop bit, both ways. For each INFER of
one MFCC frame: **compute** is from the end of the request's last byte (the design has
the whole frame) to the reply's first start bit; **link out** is the reply on the wire;
the **latency** from the last MFCC byte to the class is their sum. The request's own time
on the wire (**link in**) comes before and is shown apart. Needs Verilator and the source
tree (``edgekws board simulate``); the first build takes a few minutes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgekws.bench import Row, spread

TITLE = "Simulated board: keyword latency from the last MFCC byte to the class"

#: One MFCC frame (49 x 10 bytes) makes a request at least this long on the wire.
_FRAME_BYTES = 490


def frame_times(trace_text: str) -> list:
    """``[(request, reply)]`` of a ``--trace`` file, each ``(first, last, bytes)``: every
    host frame paired with the design's next reply, in order.

    Raises
    ------
    ValueError
        On a line that is not ``in|out FIRST LAST BYTES``.
    """
    pairs, pending = [], None
    for n, line in enumerate(trace_text.splitlines(), 1):
        parts = line.split()
        if len(parts) != 4 or parts[0] not in ("in", "out") or not all(
                p.isdigit() for p in parts[1:]):
            raise ValueError(f"trace line {n} must be 'in|out FIRST LAST BYTES', not "
                             f"{line!r}")
        times = tuple(int(p) for p in parts[1:])
        if parts[0] == "in":
            pending = times
        elif pending is not None:
            pairs.append((pending, times))
            pending = None
    return pairs


def latencies(pairs) -> dict:
    """Cycles of each INFER of an MFCC frame among ``pairs`` (:func:`frame_times`):
    ``{"link_in", "compute", "link_out", "latency"}`` arrays."""
    infer = [(q, r) for q, r in pairs if q[2] >= _FRAME_BYTES]
    q = np.array([q for q, _ in infer], np.int64).reshape(-1, 3)
    r = np.array([r for _, r in infer], np.int64).reshape(-1, 3)
    return {"link_in": q[:, 1] - q[:, 0], "compute": r[:, 0] - q[:, 1],
            "link_out": r[:, 1] - r[:, 0], "latency": r[:, 1] - q[:, 1],
            "bytes_in": q[:, 2], "bytes_out": r[:, 2]}


def _frames(model, n):
    """``n`` uint8 MFCC frames of FSDD keywords (random frames when FSDD is absent)."""
    from edgekws.host.edge import front_end
    try:
        from edgekws.data.fsdd import list_fsdd
        from edgekws.data.mfcc import pad_or_crop
        from edgekws.data.wavio import read_wav
        samples = list_fsdd(speakers=["jackson"], digits=[1])[:n]
        waves = np.stack([pad_or_crop(read_wav(s.path)[None], 16000)[0] for s in samples])
        return front_end(model)[2](waves)
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (n, 49, 10, 1)).astype(np.uint8)


def run(quick: bool = False, runs: int = 5):
    from edgekws.gateware.top import SIM_BAUD, SIM_CLK_HZ, SIM_DIVISOR
    from edgekws.golden import Model
    from edgekws.host.board import Board
    from edgekws.host.edge import edge_model
    from edgekws.host.simboard import serve_simulated
    from edgekws.models import shipped_model_path

    model = edge_model(Model(shipped_model_path()))   # what `board load` puts on it
    frames = _frames(model, runs)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.txt"
        with serve_simulated(extra_args=["--trace", str(trace)]) as sim, \
                Board(sim.url, timeout=60) as board:
            board.load(model)
            loaded = len(trace.read_text().splitlines())   # the bridge flushes each line
            for f in frames:     # one INFER each, as board listen sends them
                board.infer(f[None], progress=False)
        t = latencies(frame_times("\n".join(trace.read_text().splitlines()[loaded:])))
    if len(t["compute"]) != len(frames):
        raise RuntimeError(f"the trace holds {len(t['compute'])} INFER requests, not "
                           f"{len(frames)}")
    cmd = "edgekws bench --only board_latency"
    note = (f"{len(frames)} INFERs of FSDD keyword frames, min / median / max; simulation "
            f"build at {SIM_CLK_HZ / 1e6:g} MHz and {SIM_BAUD / 1e6:g} Mbaud "
            f"({SIM_DIVISOR} cycles per UART bit)")

    def row(what, key, extra=""):
        return Row(what, spread(t[key], "{:,.0f}") + " cycles", "", "", cmd,
                   (extra + "; " if extra else "") + note)
    return [row("latency: last MFCC byte in to the reply's last byte out", "latency",
                f"{spread(t['latency'] / SIM_CLK_HZ * 1e3, '{:.2f}')} ms at the "
                "simulation clock"),
            row("compute: last MFCC byte in to the reply's first start bit", "compute"),
            row("link out: the reply on the wire", "link_out",
                f"{spread(t['bytes_out'], '{:.0f}')} bytes"),
            row("link in: the INFER request on the wire (before the latency)", "link_in",
                f"{spread(t['bytes_in'], '{:.0f}')} bytes")]
