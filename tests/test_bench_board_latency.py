"""The simulated board's latency bench: the bridge's --trace lines parsed into link and
compute cycles (the bench itself needs Verilator and runs under ``make bench``)."""
import numpy as np
import pytest

from edgekws.bench.board_latency import frame_times, latencies

TRACE = """\
in 100 300 12
out 340 400 9
in 1000 3000 495
out 9000 9400 11
in 10000 12000 497
out 12500 12900 13
"""


def test_requests_pair_with_the_next_reply_and_only_frames_count():
    pairs = frame_times(TRACE)
    assert pairs == [((100, 300, 12), (340, 400, 9)), ((1000, 3000, 495), (9000, 9400, 11)),
                     ((10000, 12000, 497), (12500, 12900, 13))]
    t = latencies(pairs)
    # The 12-byte request (a register read) is no MFCC frame.
    np.testing.assert_array_equal(t["compute"], [6000, 500])
    np.testing.assert_array_equal(t["link_out"], [400, 400])
    np.testing.assert_array_equal(t["latency"], [6400, 900])
    np.testing.assert_array_equal(t["link_in"], [2000, 2000])
    np.testing.assert_array_equal(t["bytes_out"], [11, 13])


def test_a_request_without_reply_is_dropped_and_an_empty_trace_gives_nothing():
    assert frame_times("in 1 2 500\nin 5 9 500\nout 10 20 9\n") == [
        ((5, 9, 500), (10, 20, 9))]
    assert frame_times("out 1 2 3\n") == []
    assert len(latencies(frame_times(""))["compute"]) == 0


@pytest.mark.parametrize("line", ["in 1 2", "up 1 2 3", "in 1 -2 3", "in a b c"])
def test_bad_lines_are_named(line):
    with pytest.raises(ValueError, match=rf"trace line 2 must be 'in\|out FIRST LAST BYTES', "
                                         rf"not '{line}'"):
        frame_times("in 1 2 3\n" + line + "\n")


def test_bridge_trace_on_a_loopback_design(tmp_path):
    """The bridge's --trace on a design that echoes uart_rx to uart_tx: each frame's wire
    time is 10 bits of cpb cycles a byte, and its echo is traced as the reply."""
    import socket
    import subprocess

    from edgekws.host.simboard import build_simulated_board, serve_simulated
    from test_simboard import LOOPBACK_V, _recv_exactly

    verilog = tmp_path / "loopback.v"
    verilog.write_text(LOOPBACK_V)
    trace = tmp_path / "trace.txt"
    frames = [b"\x01\x02\x03\x00", b"\x05" * 600 + b"\x00"]
    with serve_simulated(0, verilog=verilog, cpb=4, extra_args=["--trace", str(trace)]) as sim:
        with socket.create_connection(("127.0.0.1", sim.port)) as s:
            for f in frames:
                s.sendall(f)
                assert _recv_exactly(s, len(f)) == f
    # The echo's delimiter is read mid-stop-bit, before the request's stop bit ends, so
    # each 'out' line comes first (a real reply comes after its request).
    lines = [l.split() for l in trace.read_text().splitlines()]
    assert [(l[0], int(l[3])) for l in lines] == [("out", 4), ("in", 4), ("out", 601),
                                                  ("in", 601)]
    for k, f in enumerate(frames):
        (_, r0, r1, _), (_, q0, q1, _) = [[int(v) if v.isdigit() else v for v in l]
                                          for l in lines[2 * k:2 * k + 2]]
        assert abs((q1 - q0) - 10 * 4 * len(f)) <= 1           # back to back, 8N1
        assert abs(r0 - q0) <= 1                                # the echo starts at once
        assert 0 < q1 - r1 <= 4                                 # half a stop bit earlier
    exe = build_simulated_board(verilog)
    sock = tmp_path / "bridge.sock"
    res = subprocess.run([str(exe), "--cycles-per-bit", "4", "--unix", str(sock), "--trace",
                          str(tmp_path / "no" / "such" / "dir.txt")], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 2 and "cannot write --trace" in res.stderr
    assert not sock.exists()        # refused before it listens
