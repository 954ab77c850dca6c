"""The .ekws model file: lossless, versioned, checksummed, atomic; bad files refused."""
from __future__ import annotations

import os

import numpy as np
import pytest

import edgekws.golden as g
from edgekws.golden import fileformat
from edgekws.golden.zoo import randomize
from test_golden_vs_engine import ds_cnn_spec


def trained_model(seed=0):
    rng = np.random.default_rng(seed)
    m = g.Model()
    for i, (cls, kw) in enumerate(ds_cnn_spec(units=12)):
        m.add(getattr(g, cls)(name=f"l{i}", **kw))
    x = rng.integers(0, 256, (100, 49, 10, 1)).astype(np.uint8)
    randomize(m, x[:32], rng)
    m.compile(g.AkidaUnsupervised(num_weights=20, num_classes=4, learning_competition=0.1),
              seed=seed)
    m.fit(x[:60], rng.integers(0, 4, 60))
    return m, x


def test_save_load_is_lossless(tmp_path):
    m, x = trained_model()
    path = tmp_path / "m.ekws"
    m.save(path)
    r = g.Model(path)
    assert [type(l) for l in r.layers] == [type(l) for l in m.layers]
    for a, b in zip(m.layers, r.layers):
        assert a.get_config() == b.get_config()
        for name in a.get_variable_names():
            np.testing.assert_array_equal(a.get_variable(name), b.get_variable(name))
    assert r.learning == m.learning and r.layers[-1].offset == m.layers[-1].offset
    np.testing.assert_array_equal(m.forward(x), r.forward(x))


def test_saved_mid_learning_continues_exactly(tmp_path):
    m, x = trained_model(1)
    path = tmp_path / "mid.ekws"
    m.save(path)
    r = g.Model(path)
    assert m.layers[-1].offset != 0, "the test needs a non-zero offset to mean something"
    y = np.random.default_rng(5).integers(0, 4, 40)
    np.testing.assert_array_equal(m.fit(x[60:], y), r.fit(x[60:], y))
    for name in ("weights", "threshold_learning", "thswap"):
        np.testing.assert_array_equal(m.layers[-1].get_variable(name),
                                      r.layers[-1].get_variable(name))
    assert m.layers[-1].offset == r.layers[-1].offset


def test_after_add_classes_round_trip(tmp_path):
    m, x = trained_model(2)
    m.add_classes(2, seed=3)
    m.save(tmp_path / "a.ekws")
    r = g.Model(tmp_path / "a.ekws")
    assert r.learning.num_classes == 6 and r.layers[-1].units == 18
    np.testing.assert_array_equal(m.predict_classes(x, 6), r.predict_classes(x, 6))


def test_truncated_and_corrupted_files_are_refused(tmp_path):
    m, _ = trained_model()
    data = fileformat.to_bytes(m)
    cases = {"truncated": data[:len(data) // 2], "tiny": data[:10], "flipped":
             data[:200] + bytes([data[200] ^ 1]) + data[201:], "empty": b""}
    for name, blob in cases.items():
        p = tmp_path / f"{name}.ekws"
        p.write_bytes(blob)
        with pytest.raises(g.ModelFileError, match="truncated|corrupted"):
            g.Model(p)


def test_foreign_and_future_files_are_refused(tmp_path):
    p = tmp_path / "x.ekws"
    p.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(g.ModelFileError, match="not an edgekws model file"):
        g.Model(p)
    m, _ = trained_model()
    data = bytearray(fileformat.to_bytes(m))
    data[8] = fileformat.FORMAT_VERSION + 1
    body = bytes(data[:-32])
    import hashlib
    p.write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(g.ModelFileError, match="format version 2; .* upgrade edgekws"):
        g.Model(p)
    with pytest.raises(FileNotFoundError, match="no model file at"):
        g.Model(tmp_path / "missing.ekws")


def test_write_is_atomic(tmp_path, monkeypatch):
    m, x = trained_model()
    path = tmp_path / "m.ekws"
    m.save(path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken_replace)
    m.fit(x[60:], 0)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == before, "a failed save must leave the old file intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ekws"], "no temporary file left"


def test_saved_file_has_the_umask_mode_not_private(tmp_path):
    m, _ = trained_model()
    old = os.umask(0o022)
    try:
        m.save(tmp_path / "m.ekws")
    finally:
        os.umask(old)
    assert (tmp_path / "m.ekws").stat().st_mode & 0o777 == 0o644


def test_extra_metadata_survives_load_and_save(tmp_path):
    m, x = trained_model()
    fileformat.save(m, tmp_path / "a.ekws", extra={"words": ["yes", "no"], "scale": 0.5})
    r = g.Model(tmp_path / "a.ekws")
    assert r.extra == {"words": ["yes", "no"], "scale": 0.5}
    r.save(tmp_path / "b.ekws")
    assert g.Model(tmp_path / "b.ekws").extra == r.extra
