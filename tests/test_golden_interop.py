"""Akida 1.0 models built in the ``akida`` package, imported into the golden model and back.

The DS-CNN (:func:`akida_twins.akida_ds_cnn`) gets its weights from its own generator and
its thresholds from the engine's own potentials (a truncated copy of the model with the
activation off), so no golden code takes part in making the model that golden must then
reproduce.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import edgekws.golden as golden
from akida_twins import akida_ds_cnn, assert_same, engine_potentials
from edgekws.cli import main

akida = pytest.importorskip("akida")


def _inputs(rng, n):
    return rng.integers(0, 256, (n, 49, 10, 1)).astype(np.uint8)


def test_imported_ds_cnn_runs_as_in_the_engine_and_exports_back():
    rng = np.random.default_rng(21)
    eng = akida_ds_cnn(rng)
    gold = golden.from_akida(eng)
    x = _inputs(rng, 150)
    spikes = engine_potentials(eng, 4, x) > np.asarray(eng.layers[4].get_variable("threshold"))
    assert 0.05 < spikes.mean() < 0.95, "the model must produce a useful spike density"
    assert_same(eng.forward(x), gold.forward(x), "forward")
    assert_same(eng.predict(x), gold.predict(x), "predict")
    for k in (0, 3, 11, 33):
        assert_same(eng.predict_classes(x, num_classes=k),
                    gold.predict_classes(x, num_classes=k), f"predict_classes({k})")
    labels = rng.integers(0, 11, len(x)).astype(np.int32)
    assert eng.evaluate(x, labels, num_classes=11) == gold.evaluate(x, labels, num_classes=11)
    back = golden.to_akida(gold)
    assert back.to_json() == eng.to_json()
    assert_same(eng.forward(x), back.forward(x), "forward after export")


def test_fbz_files_carry_the_learning_state_both_ways(tmp_path):
    rng = np.random.default_rng(22)
    eng = akida_ds_cnn(rng, units=15, learning=True)
    x, labels = _inputs(rng, 120), rng.integers(0, 3, 120).astype(np.int32)
    eng.fit(x[:60], labels[:60])
    path = tmp_path / "edge.fbz"
    eng.save(str(path))
    # A reload resets the engine's spread-selection offset, as the import does.
    eng = akida.Model(str(path))
    gold = golden.from_akida(path)
    assert gold.learning.to_dict() == {k: (int(v) if k in ("num_weights", "num_classes") else v)
                                       for k, v in eng.to_dict()["learning"].items()}
    assert_same(eng.fit(x[60:], labels[60:]), gold.fit(x[60:], labels[60:]), "fit outputs")
    for name in ("weights", "threshold_learning", "thswap"):
        assert_same(eng.layers[-1].get_variable(name), gold.layers[-1].get_variable(name), name)
    out = tmp_path / "back.fbz"
    golden.to_akida(gold, out)
    assert akida.Model(str(out)).to_json() == eng.to_json()


def test_import_refuses_what_it_cannot_take(tmp_path, monkeypatch):
    conv = akida.Model()
    conv.add(akida.InputData(input_shape=(8, 8, 2), input_bits=4, name="in"))
    conv.add(akida.Convolutional(kernel_size=(3, 3), filters=4, name="conv"))
    with pytest.raises(ValueError, match="layer 'conv' is a Convolutional, which is not one "
                                         "of the Akida 1.0 layers edgekws supports"):
        golden.from_akida(conv)
    v2 = akida.Model()
    v2.add(akida.InputData(input_shape=(8, 8, 2), input_bits=8))
    v2.add(akida.Conv2D(filters=4, kernel_size=3))
    with pytest.raises(ValueError, match=r"only Akida 1.0 models \(IpVersion.v1\).*is v2"):
        golden.from_akida(v2)
    with pytest.raises(TypeError, match="takes an akida.Model or the path of a .fbz file, "
                                        "not Model"):
        golden.from_akida(golden.Model())
    with pytest.raises(FileNotFoundError, match="no Akida model file at"):
        golden.from_akida(tmp_path / "missing.fbz")
    junk = tmp_path / "junk.fbz"
    junk.write_bytes(b"not a model" * 10)
    with pytest.raises(ValueError, match="is not an Akida model file"):
        golden.from_akida(junk)
    with pytest.raises(TypeError, match="to_akida takes an edgekws.golden.Model, not str"):
        golden.to_akida("model.ekws")
    monkeypatch.setitem(sys.modules, "akida", None)   # as if it were not installed
    with pytest.raises(ImportError, match=r"from_akida needs the akida package .*"
                                          r"pip install akida==2.19.3"):
        golden.from_akida(junk)
    with pytest.raises(ImportError, match="to_akida needs the akida package"):
        golden.to_akida(golden.Model([golden.InputData((1, 1, 4)), golden.FullyConnected(2)]))


def test_cli_import_and_export(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(23)
    eng = akida_ds_cnn(rng, units=12)
    fbz, ekws, back = tmp_path / "m.fbz", tmp_path / "m.ekws", tmp_path / "back.fbz"
    eng.save(str(fbz))
    assert main(["model", "import", str(fbz), str(ekws)]) == 0
    assert "6 layers, input [49, 10, 1], output [1, 1, 12]" in capsys.readouterr().out
    x = _inputs(rng, 20)
    assert_same(eng.forward(x), golden.Model(str(ekws)).forward(x))
    assert main(["model", "export", str(ekws), str(back)]) == 0
    assert akida.Model(str(back)).to_json() == eng.to_json()
    monkeypatch.setitem(sys.modules, "akida", None)
    assert main(["model", "import", str(fbz), str(ekws)]) == 2
    assert "from_akida needs the akida package" in capsys.readouterr().err


def test_an_imported_akida_model_runs_on_the_emulated_board(tmp_path):
    """Engine -> .fbz -> golden -> emulated board: same outputs, same learning."""
    from edgekws.host.board import Board
    from edgekws.host.emulator import serve_tcp
    rng = np.random.default_rng(30)
    eng = akida_ds_cnn(rng, units=15, learning=True)
    x, labels = _inputs(rng, 40), rng.integers(0, 3, 40).astype(np.int32)
    eng.fit(x[:20], labels[:20])
    eng.save(str(tmp_path / "edge.fbz"))
    eng = akida.Model(str(tmp_path / "edge.fbz"))   # offset 0, as after the import
    gold = golden.from_akida(tmp_path / "edge.fbz")
    with serve_tcp(0) as server, Board(server.url, timeout=10.0) as board:
        board.load(gold)
        assert_same(eng.forward(x), board.forward(x), "board forward")
        assert_same(eng.predict_classes(x, num_classes=3), board.predict_classes(x),
                    "board classes")
        eng.fit(x[20:], labels[20:])
        board.fit(x[20:], labels[20:])
        back = board.to_golden()
    for name in ("weights", "threshold_learning", "thswap"):
        assert_same(eng.layers[-1].get_variable(name), back.layers[-1].get_variable(name), name)
