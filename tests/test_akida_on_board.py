"""An Akida 1.0 model built in the ``akida`` package, run on the board (issue #21, interop).

The DS-CNN with the board's topology is built in the engine with its own weights
(:func:`akida_twins.akida_ds_cnn`: thresholds and act_steps from the engine's potentials
on real FSDD frames, a learning layer compiled with ``akida.AkidaUnsupervised``), saved as
``.fbz``, imported with :func:`edgekws.golden.from_akida` and run in the engine, the golden
model, the emulated board and the simulated board (Verilator, ``-m slow``). Compared bit
for bit on each board:

* spikes: the extractor's 64 outputs, read through a probe copy whose learning layer
  has identity weights (neuron ``i`` sees input ``i`` only, so its potential is spike
  ``i``), against the engine's own ``potential > threshold``;
* the learning layer's potentials and the classes;
* a learning step: ``fit`` in the engine and golden, LEARN on the board (each sample's
  learned flag as golden's), then every learning variable and the potentials after it.

Models that do not fit the hardware are refused by ``Board.load`` naming the layer and
what does not fit; the command-line path (``model import --front-end``, ``board load``,
``board infer``) runs on the emulated board.
"""
from __future__ import annotations

import numpy as np
import pytest

import edgekws.golden as golden
from akida_twins import akida_ds_cnn, assert_same, engine_potentials
from edgekws.cli import main
from edgekws.golden import zoo
from edgekws.host.board import Board
from edgekws.host.emulator import serve_tcp

akida = pytest.importorskip("akida")

#: The learning layer: 3 classes of 10 neurons, non-default plasticity and competition.
LEARNING = dict(num_weights=12, num_classes=3, initial_plasticity=0.9, min_plasticity=0.3,
                plasticity_decay=0.2, learning_competition=0.1)
CLASSES = LEARNING["num_classes"]


@pytest.fixture(scope="module")
def frames():
    """Real utterances (several speakers and digits) as the shipped front end's uint8
    MFCC frames; MFCC-like frames where the FSDD recordings are absent."""
    try:
        from edgekws.data.fsdd import list_fsdd, load_fsdd
        samples = list_fsdd()
    except (FileNotFoundError, ValueError):
        return zoo.mfcc_like_inputs(80, seed=21)
    from edgekws.data.mfcc import MfccScaling, mfcc
    from edgekws.models import load_pretrained
    rng = np.random.default_rng(21)
    waves, _, _ = load_fsdd([samples[i] for i in rng.choice(len(samples), 80, replace=False)])
    scaling = MfccScaling.from_dict(load_pretrained().extra["mfcc_scaling"])
    return scaling.to_uint8(mfcc(waves))[..., None]


@pytest.fixture(scope="module")
def fbz(frames, tmp_path_factory):
    """The model as an Akida file; every run reloads it (the engine's spread-selection
    offset is then 0, as after an import)."""
    eng = akida_ds_cnn(np.random.default_rng(2121), units=10 * CLASSES, learning=LEARNING,
                       probe=frames[:40])
    path = tmp_path_factory.mktemp("akida") / "ds_cnn.fbz"
    eng.save(str(path))
    return path


def spike_probe(eng):
    """``eng``'s extractor with a learning layer of identity weights: potentials = spikes."""
    d = eng.to_dict()
    d["layers"], d["learning"], d["output_shape"] = d["layers"][:5], None, None
    probe = akida.Model.from_dict(d)
    probe.add(akida.FullyConnected(units=64, weights_bits=1, activation=False, name="spikes"))
    probe.compile(akida.AkidaUnsupervised(num_weights=1, num_classes=64))
    probe.layers[-1].set_variable("weights", np.eye(64, dtype=np.int8)[None, None])
    return probe


def learned_flags(model, x, labels):
    """Golden ``fit`` sample by sample: its outputs and whether each sample changed the
    weights (the board's ``learned`` flag)."""
    outs, flags = [], []
    for xi, li in zip(x, labels):
        w0 = model.layers[-1].get_variable("weights").copy()
        outs.append(model.fit(xi[None], np.int32(li)))
        flags.append(not np.array_equal(model.layers[-1].get_variable("weights"), w0))
    return np.concatenate(outs), np.array(flags)


def run_everywhere(url, fbz, x, fit_x, fit_labels, timeout):
    """Engine, golden and the board at ``url`` on one imported model: all equal."""
    eng, gold = akida.Model(str(fbz)), golden.from_akida(fbz)
    spikes = engine_potentials(eng, 4, x) > np.asarray(eng.layers[4].get_variable("threshold"))
    spikes = spikes.astype(np.int32).reshape(len(x), 1, 1, 64)
    assert 0.1 < spikes.mean() < 0.9, "the model must produce a useful spike density"
    probe = spike_probe(eng)
    pots, classes = eng.forward(x), eng.predict_classes(x, num_classes=CLASSES)
    assert len(set(classes.tolist())) == CLASSES, "a degenerate test: a class never wins"
    assert_same(spikes, probe.forward(x), "engine spikes")
    assert_same(spikes, golden.from_akida(probe).forward(x), "golden spikes")
    assert_same(pots, gold.forward(x), "golden potentials")
    assert_same(classes, gold.predict_classes(x, num_classes=CLASSES), "golden classes")
    with Board(url, timeout=timeout) as board:
        board.load(golden.from_akida(probe))
        assert_same(spikes, board.forward(x), "board spikes")
        board.load(gold)
        board_classes, _, board_pots = board.infer(x, potentials=True)   # one pass for both
        assert_same(pots, board_pots.reshape(pots.shape), "board potentials")
        assert_same(classes, board_classes, "board classes")
        fit_out = eng.fit(fit_x, fit_labels)
        gold_out, flags = learned_flags(gold, fit_x, fit_labels)
        assert_same(fit_out, gold_out, "fit outputs")
        assert_same(flags, board.fit(fit_x, fit_labels), "learned flags")
        assert flags.any(), "a degenerate test: nothing learned"
        back = board.to_golden()
        after = board.forward(x[:8])
    for name in ("weights", "threshold_learning", "thswap"):
        want = eng.layers[-1].get_variable(name)
        assert_same(want, gold.layers[-1].get_variable(name), f"golden {name} after fit")
        assert_same(want, back.layers[-1].get_variable(name), f"board {name} after fit")
    assert_same(eng.forward(x[:8]), after, "board potentials after fit")
    assert_same(eng.forward(x[:8]), gold.forward(x[:8]), "golden potentials after fit")


def _labels(n, seed):
    """Labels of every class and some -1 (learn without a label)."""
    return np.random.default_rng(seed).integers(-1, CLASSES, n).astype(np.int32)


def test_engine_golden_and_emulated_board_agree(frames, fbz):
    with serve_tcp(0) as server:
        run_everywhere(server.url, fbz, frames[:60], frames[60:], _labels(20, 1), 10.0)


@pytest.mark.slow
def test_engine_golden_and_simulated_board_agree(frames, fbz):
    from edgekws.host.simboard import DEFAULT_VERILOG, serve_simulated
    if not DEFAULT_VERILOG.exists():
        pytest.skip(f"no {DEFAULT_VERILOG}: the simulated board cannot be built")
    with serve_simulated(0) as sim:
        run_everywhere(sim.url, fbz, frames[40:52], frames[60:70], _labels(10, 2), 120.0)


#: (constructor changes, message of Board.load): what the board's hardware does not take.
DOES_NOT_FIT = [
    ({"separable_2": {"filters": 128}},
     r"layer 'separable_2': filters 128, but the board's extractor has 64 there"),
    ({"conv_0": {"kernel_size": (7, 7)}},
     r"layer 'conv_0': kernel_size \(7, 7\), but the board's extractor has \(5, 5\) there"),
    ({"separable_3": {"weights_bits": 8}},
     r"layer 'separable_3': 8-bit weights, but the board's extractor holds at most 4 bits"),
    ({"conv_0": {"padding_value": 3}},
     r"layer 'conv_0': padding_value 3, but the board's extractor has 0 there"),
    ({"separable_1": {"padding": akida.Padding.Valid}},
     r"layer 'separable_1': padding 'Valid', but the board's extractor has 'Same' there"),
    ({"dense_5": {"units": 2001}}, r"2001 neurons exceed the board's 1024"),
]


@pytest.mark.parametrize("changes, message", DOES_NOT_FIT, ids=lambda v: str(v)[:40])
def test_a_model_that_does_not_fit_is_refused_naming_what(frames, changes, message):
    eng = akida_ds_cnn(np.random.default_rng(3), learning=LEARNING, probe=frames[:8],
                       changes=changes)
    gold = golden.from_akida(eng)
    assert_same(eng.forward(frames[:8]), gold.forward(frames[:8]))  # golden runs it
    with serve_tcp(0) as server, Board(server.url) as board:
        with pytest.raises(ValueError, match=message):
            board.load(gold)


def _with_step(eng, layer, act_step):
    step = eng.layers[layer].get_variable("act_step").copy()
    step[5] = act_step
    eng.layers[layer].set_variable("act_step", step)
    return golden.from_akida(eng)


def test_narrower_weights_and_the_largest_step_fit(frames):
    """What the hardware holds runs equal: weights narrower than the slots (4-bit in the
    8-bit InputConvolutional, 2-bit in a 4-bit separable layer) and the largest act_step
    of a 20-bit integer step; one 1/16 above it is refused, naming layer and neuron."""
    x = frames[:24]
    eng = akida_ds_cnn(np.random.default_rng(4), learning=LEARNING, probe=frames[:24],
                       changes={"conv_0": {"weights_bits": 4},
                                "separable_2": {"weights_bits": 2}})
    top = (1 << 20) / 16
    with serve_tcp(0) as server, Board(server.url) as board:
        board.load(_with_step(eng, 1, top - 1 / 16))
        assert_same(eng.forward(x), board.forward(x), "board potentials")
        assert_same(eng.predict_classes(x, num_classes=CLASSES), board.predict_classes(x))
        with pytest.raises(ValueError, match=r"layer 'separable_1' neuron 5: act_step "
                                             r"65536.0, but the board's extractor takes "
                                             r"act_steps in \[1/16, 65536\)"):
            board.load(_with_step(eng, 1, top))


def _wav_files(tmp_path, n=6):
    """FSDD recordings, or tone bursts written as WAV files where FSDD is absent."""
    try:
        from edgekws.data.fsdd import list_fsdd
        samples = list_fsdd()
    except (FileNotFoundError, ValueError):
        from edgekws.data.wavio import write_wav
        t = np.arange(12000) / 16000
        paths = [tmp_path / f"tone{i}.wav" for i in range(n)]
        for i, path in enumerate(paths):
            write_wav(path, 0.5 * np.sin(2 * np.pi * 200 * (i + 1) * t), 16000)
        return [str(p) for p in paths]
    rng = np.random.default_rng(6)
    return [samples[i].path for i in rng.choice(len(samples), n, replace=False)]


def test_cli_import_load_infer(fbz, tmp_path, capsys):
    """``model import --front-end shipped``, ``board load`` and ``board infer`` of WAV
    files on the emulated board: the words printed are the engine's."""
    from edgekws.data.mfcc import pad_or_crop
    from edgekws.data.wavio import read_wav
    from edgekws.host.edge import front_end
    from edgekws.host.listen import score_potentials, word_of
    ekws, state = tmp_path / "imported.ekws", tmp_path / "board.ekws"
    wavs = _wav_files(tmp_path)
    assert main(["model", "import", str(fbz), str(ekws)]) == 0
    capsys.readouterr()
    with serve_tcp(0) as server:
        port = ["--port", server.url]
        assert main(["board", "load", *port, "--model", str(ekws), "--state", str(state)]) == 2
        assert ("has no stored MFCC scaling (metadata 'mfcc_scaling'); an imported model "
                "gets one from `edgekws model import --front-end`") in capsys.readouterr().err
        assert main(["model", "import", str(fbz), str(ekws), "--front-end", "shipped"]) == 0
        assert main(["board", "load", *port, "--model", str(ekws), "--state", str(state)]) == 0
        assert f"loaded {ekws} ({CLASSES} classes)" in capsys.readouterr().out
        # One window per file: the engine's potentials of that frame decide each class.
        assert main(["board", "infer", *port, "--state", str(state), "--min-score", "0",
                     "--min-margin", "0", "--windows", "1", "--speeds", "1", *wavs]) == 0
        printed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    model = golden.Model(str(state))
    assert model.extra["words"] == ["0", "1", "2"]
    params, _, to_frames = front_end(model)
    x = to_frames(np.stack([pad_or_crop(read_wav(w, params.sample_rate)[None],
                                        params.clip_samples)[0]
                            for w in wavs]))
    pots = akida.Model(str(fbz)).forward(x).reshape(len(x), -1)
    labels = score_potentials(pots, CLASSES, LEARNING["num_weights"]).label
    assert [p[:2] for p in printed] == [[w, word_of(int(c), model.extra["words"])]
                                        for w, c in zip(wavs, labels)]


def test_cli_import_refuses_a_front_end_it_cannot_take(fbz, tmp_path, capsys):
    bare = tmp_path / "bare.ekws"
    golden.Model([golden.InputData((1, 1, 4)), golden.FullyConnected(2)]).save(str(bare))
    assert main(["model", "import", str(fbz), str(tmp_path / "x.ekws"),
                 "--front-end", str(bare)]) == 2
    assert (f"--front-end: {bare} has no MFCC front end (metadata 'mfcc_scaling')"
            in capsys.readouterr().err)
    assert not (tmp_path / "x.ekws").exists()
