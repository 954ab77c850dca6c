"""The Board driver against the golden-backed emulator, served on loopback TCP and on a pty.

Whatever the board answers must be what the golden model computes: classes and
potentials of inference, and after add_classes + fit every learning variable read back.
"""
from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest

from edgekws import protocol as p
from edgekws.golden import AkidaUnsupervised, FullyConnected, InputData, Model, zoo
from edgekws.host.board import Board, BoardError
from edgekws.host.emulator import Emulator, serve_pty, serve_tcp
from edgekws.host.transport import Transport
from edgekws.models import shipped_model_path

from test_host_transport import FaultyLink


def edge_model(classes=3, neurons=5, num_weights=12, seed=1) -> Model:
    """The shipped DS-CNN extractor with a compiled 1-bit learning layer on top."""
    m = Model(shipped_model_path())
    m.pop_layer()
    m.add(FullyConnected(classes * neurons, name="edge", activation=False))
    m.compile(AkidaUnsupervised(num_weights=num_weights, num_classes=classes,
                                learning_competition=0.1), seed=seed)
    return m


def frames(n=24, seed=0) -> np.ndarray:
    """MFCC-like frames, plus real FSDD utterances when the recordings are present."""
    x = zoo.mfcc_like_inputs(n, seed=seed)
    try:
        from edgekws.data.fsdd import list_fsdd, load_fsdd
        from edgekws.data.mfcc import MfccScaling, mfcc
        samples = list_fsdd(speakers=["jackson"], digits=[1, 5])[:8]
    except (FileNotFoundError, ValueError):
        return x
    waves, _, _ = load_fsdd(samples)
    extra = Model(shipped_model_path()).extra
    real = MfccScaling.from_dict(extra["mfcc_scaling"]).to_uint8(mfcc(waves))[..., None]
    return np.concatenate([x, real])


def assert_same_model(a: Model, b: Model):
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert la.get_variable_names() == lb.get_variable_names(), la.name
        for name in la.get_variable_names():
            np.testing.assert_array_equal(la.get_variable(name), lb.get_variable(name),
                                          err_msg=f"{la.name}.{name}")
    fa, fb = a.layers[-1], b.layers[-1]
    assert fa.offset == fb.offset
    assert fa.learning == fb.learning


@pytest.fixture(scope="module")
def tcp_board():
    with serve_tcp(0) as server:
        assert server.url.startswith("socket://127.0.0.1:")
        board = Board(server.url, timeout=2.0)
        yield board
        board.close()


def test_load_infer_matches_golden(tcp_board):
    model = edge_model()
    x = frames()
    tcp_board.load(model)
    assert tcp_board.info.has_extractor and tcp_board.info.num_inputs == 64
    np.testing.assert_array_equal(tcp_board.forward(x), model.forward(x))
    np.testing.assert_array_equal(tcp_board.predict_classes(x),
                                  model.predict_classes(x, num_classes=3))
    np.testing.assert_array_equal(tcp_board.predict_classes(x, num_classes=0),
                                  model.predict_classes(x))
    # Nothing lost on the way: the read-back model is the loaded one.
    assert_same_model(tcp_board.to_golden(), model)


def test_add_classes_fit_read_back_matches_golden(tcp_board, tmp_path):
    model = edge_model(seed=2)
    ref = copy.deepcopy(model)
    tcp_board.load(model)
    x = frames(30, seed=3)
    labels = np.arange(len(x)) % 5
    assert tcp_board.add_classes(2, seed=7) == 5
    ref.add_classes(2, seed=7)
    learned = tcp_board.fit(x, labels, progress=False)
    ref.fit(x, labels)
    assert learned.any()
    tcp_board.fit(x[:4], -1)         # label -1: any neuron learns
    ref.fit(x[:4], -1)
    back = tcp_board.to_golden()
    assert_same_model(back, ref)
    y = frames(10, seed=4)
    np.testing.assert_array_equal(tcp_board.predict_classes(y),
                                  ref.predict_classes(y, num_classes=5))
    path = tmp_path / "learned.ekws"
    back.save(path)
    assert_same_model(Model(str(path)), ref)


def test_error_replies(tcp_board):
    model = edge_model()
    tcp_board.load(model)
    x = zoo.mfcc_like_inputs(2)
    with pytest.raises(BoardError, match="board refused LEARN: BAD_ARGUMENT") as err:
        tcp_board.fit(x, [0, 3])
    assert err.value.status == p.Status.BAD_ARGUMENT
    with pytest.raises(BoardError, match="READ_MEM: BAD_ARGUMENT"):
        tcp_board.read_mem(0x7F, 4)
    with pytest.raises(BoardError, match="WRITE_MEM: BAD_ARGUMENT"):
        tcp_board.write_mem(p.Region.FC_POTENTIALS, b"\0\0")    # read only
    with pytest.raises(BoardError, match="WRITE_MEM: BAD_ARGUMENT"):
        tcp_board.write_mem(p.Region.EXT_WEIGHTS + 1, bytes([100]))  # 4-bit weight
    with pytest.raises(BoardError, match="INFER: BAD_LENGTH"):
        tcp_board.transport.request(p.Cmd.INFER, b"\0" + bytes(10))
    with pytest.raises(BoardError, match="ADD_CLASSES: BAD_LENGTH"):
        tcp_board.transport.request(p.Cmd.ADD_CLASSES, b"")
    with pytest.raises(ValueError, match="inputs must have shape"):
        tcp_board.predict_classes(np.zeros((1, 49, 10, 2), np.uint8))
    # The sample before the bad label was learned; nothing else changed the board.
    model.fit(x[:1], 0)
    assert_same_model(tcp_board.to_golden(), model)


def test_unknown_command_and_not_ready():
    emu = Emulator(extractor=False)
    server = emu.server
    reply = server.feed(p.encode_packet(1, 0x55))
    _, cmd, body = p.decode_packet(reply[1:-1])
    assert cmd == 0x55 | p.REPLY_BIT and body[0] == p.Status.UNKNOWN_CMD
    reply = server.feed(p.encode_packet(2, p.Cmd.INFER, bytes(491)))  # no extractor
    assert p.decode_packet(reply[1:-1])[2][0] == p.Status.UNKNOWN_CMD
    t = Transport(FaultyLink(server), timeout=0.05)
    with pytest.raises(BoardError, match="LEARN_SPIKES: NOT_READY"):
        t.request(p.Cmd.LEARN_SPIKES, p.learn_payload(0, bytes(8)))
    with pytest.raises(BoardError, match="SET_LEARNING: BAD_ARGUMENT"):
        t.request(p.Cmd.SET_LEARNING, p.set_learning_payload(2, 5, 1, 1, 1, 1, 11))


def spikes_model(classes, neurons, seed=0) -> Model:
    m = Model([InputData((1, 1, 64), input_bits=1),
               FullyConnected(classes * neurons, name="edge", activation=False)])
    m.compile(AkidaUnsupervised(num_weights=10, num_classes=classes), seed=seed)
    return m


def test_spikes_model_on_a_pty_with_many_neurons():
    """Spikes in (INFER_SPIKES/LEARN_SPIKES) and more potentials than fit a reply."""
    rng = np.random.default_rng(5)
    x = (rng.random((40, 1, 1, 64)) < 0.2).astype(np.uint8)
    model = spikes_model(40, 15)                  # 600 neurons > MAX_INLINE_POTENTIALS
    ref = copy.deepcopy(model)
    with serve_pty() as server:
        assert os.path.exists(server.url)
        with Board(server.url, timeout=2.0) as board:
            board.load(model)
            np.testing.assert_array_equal(board.forward(x), ref.forward(x))
            board.add_classes(1, seed=3)
            ref.add_classes(1, seed=3)
            lab = rng.integers(0, 41, len(x))
            board.fit(x, lab)
            ref.fit(x, lab)
            assert_same_model(board.to_golden(), ref)
            np.testing.assert_array_equal(board.predict_classes(x),
                                          ref.predict_classes(x, num_classes=41))
            assert board.counters()["frames"] > 0


def test_faulty_link_no_wrong_answer_no_double_learning():
    emu = Emulator()
    link = FaultyLink(emu.server, rate=0.0005, seed=11)
    board = Board(Transport(link, timeout=0.02, retries=12))
    model = edge_model(seed=4)
    ref = copy.deepcopy(model)
    board.load(model)
    x = frames(24, seed=6)
    np.testing.assert_array_equal(board.predict_classes(x),
                                  ref.predict_classes(x, num_classes=3))
    board.add_classes(1, seed=9)
    ref.add_classes(1, seed=9)
    lab = np.arange(len(x)) % 4
    board.fit(x, lab)
    ref.fit(x, lab)
    np.testing.assert_array_equal(board.forward(x), ref.forward(x))
    assert_same_model(board.to_golden(), ref)
    assert link.corrupted > 20, "the link must really be corrupted"
    assert board.transport.retried > 0


def tone_wavs(folder) -> list:
    """Three 0.6 s tones (300, 310 and 1,200 Hz) as WAV files in ``folder``: two alike,
    one apart, for the CLI's enrol and infer."""
    from edgekws.data.wavio import write_wav
    t = np.arange(16000) / 16000.0
    out = []
    for k, f0 in enumerate((300, 310, 1200)):
        path = folder / f"w{k}.wav"
        write_wav(path, (0.3 * np.sin(2 * np.pi * f0 * t) * (t < 0.6)).astype(np.float32))
        out.append(str(path))
    return out


def test_cli_emulate_load_enrol_infer(tmp_path):
    from edgekws.cli import main
    wavs = tone_wavs(tmp_path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "edgekws.cli", "board", "emulate",
                             "--tcp", "0"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        state = str(tmp_path / "board.ekws")
        common = ["--port", url, "--state", state]
        assert main(["board", "load", *common]) == 0
        assert main(["board", "identify", "--port", url]) == 0
        assert main(["board", "enrol", *common, "--word", "hum", "--copies", "3",
                     *wavs[:2]]) == 0
        assert Model(state).extra["words"] == ["_unknown_", "hum"]
        assert main(["board", "infer", *common, *wavs]) == 0
        assert main(["board", "enrol", *common, "--word", "hum", wavs[0]]) == 2
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.parametrize("layer, change, message", [
    ("separable_2", {"weights_bits": 8}, "layer 'separable_2': 8-bit weights, but the "
                                         "board's extractor holds at most 4 bits there"),
    ("separable_1", {"kernel_size": (5, 5)}, "layer 'separable_1': kernel_size \\(5, 5\\), "
                                             "but the board's extractor has \\(3, 3\\)"),
    ("conv_0", {"filters": 32}, "layer 'conv_0': filters 32"),
])
def test_a_model_that_does_not_fit_the_board_names_what(layer, change, message):
    """An imported model is checked layer by layer against the board's gateware."""
    from edgekws.golden.zoo import ds_cnn_kws
    from edgekws.host.board import _check_extractor

    ref = ds_cnn_kws(units=None)
    layers = []
    for l in ref.layers:
        cfg = dict(l.get_config())
        shape = cfg.pop("input_shape", None)
        cfg.update(change if l.name == layer else {})
        layers.append(type(l)(shape, **cfg) if shape else type(l)(**cfg))
    _check_extractor(ref.layers)                      # the product itself fits
    with pytest.raises(ValueError, match=message):
        _check_extractor(layers)
