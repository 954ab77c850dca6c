"""Crafted model files with a valid checksum: every field is checked before allocation."""
from __future__ import annotations

import hashlib
import json
import os
import struct

import numpy as np
import pytest

import edgekws.golden as g
from edgekws import limits
from edgekws.golden import fileformat
from test_golden_fileformat import trained_model


@pytest.fixture(scope="module")
def model_bytes():
    m, _ = trained_model()
    return fileformat.to_bytes(m, extra={"words": ["yes", "no"]})


def split(data):
    _, version, _, meta_len = fileformat._HEADER.unpack_from(data)
    start = fileformat._HEADER.size
    return version, json.loads(data[start:start + meta_len]), data[start + meta_len:-32]


def join(meta, payload, version=fileformat.FORMAT_VERSION, meta_text=None):
    """A file with a valid checksum around ``meta`` (or raw ``meta_text``)."""
    text = (meta_text if meta_text is not None else json.dumps(meta)).encode()
    body = fileformat._HEADER.pack(fileformat.MAGIC, version, 0, len(text)) + text + payload
    return body + hashlib.sha256(body).digest()


def crafted(tmp_path, model_bytes, mutate=None, **kwargs):
    version, meta, payload = split(model_bytes)
    if mutate is not None:
        mutate(meta)
    path = tmp_path / "crafted.ekws"
    path.write_bytes(join(meta, payload, **kwargs))
    return path


def fc(meta):
    return meta["layers"][-1]


def setter(*keys, value):
    """A mutation setting ``meta[k0][k1]...`` (negative list indices allowed)."""
    def mutate(meta):
        node = meta
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return mutate


def deleter(*keys):
    def mutate(meta):
        node = meta
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return mutate


CASES = {
    "huge units": (setter("layers", -1, "config", "units", value=2**28),
                   r"layers\[5\]\.config\.units: must be in \[1, 65536\], not 268435456"),
    "units that do not match the variables": (
        setter("layers", -1, "config", "units", value=16),
        r"layers\[5\]\.variables\.act_step\.shape: must be \[16\] for this layer, not \[12\]"),
    "missing variable": (deleter("layers", 0, "variables", "threshold"),
                         r"layers\[0\]\.variables\.threshold: is missing"),
    "unknown variable": (setter("layers", 1, "variables", "bias", value={}),
                         r"layers\[1\]\.variables\.bias: is not a known field"),
    "missing learning variable": (deleter("layers", -1, "variables", "thswap"),
                                  r"layers\[5\]\.variables\.thswap: is missing"),
    "unknown top-level key": (setter("payload", value=1), r"metadata\.payload: is not a known"),
    "unknown config key": (setter("layers", 0, "config", "bias", value=1),
                           r"layers\[0\]\.config\.bias: is not a known field"),
    "missing config key": (deleter("layers", -1, "config", "units"),
                           r"layers\[5\]\.config\.units: is missing"),
    "string filters": (setter("layers", 0, "config", "filters", value="8"),
                       r"layers\[0\]\.config\.filters: must be an integer, not '8'"),
    "float units": (setter("layers", -1, "config", "units", value=12.0),
                    r"layers\[5\]\.config\.units: must be an integer, not 12\.0"),
    "integer activation": (setter("layers", 0, "config", "activation", value=1),
                           r"layers\[0\]\.config\.activation: must be true or false, not 1"),
    "short kernel": (setter("layers", 0, "config", "kernel_size", value=[3]),
                     r"layers\[0\]\.config\.kernel_size: must be a list of 2 integers"),
    "bad padding name": (setter("layers", 1, "config", "padding", value="Circular"),
                         r"layers\[1\]\.config: padding must be one of"),
    "layers not a list": (setter("layers", value={"a": 1}), r"layers: must be a list of 1 to 64"),
    "no layers": (setter("layers", value=[]), r"layers: must be a list of 1 to 64"),
    "unknown type": (setter("layers", 0, "type", value="Dense"),
                     r"layers\[0\]\.type: must be one of \['FullyConnected'"),
    "type not a string": (setter("layers", 0, "type", value=["InputData"]),
                          r"layers\[0\]\.type: must be one of"),
    "no input layer first": (lambda meta: meta["layers"].pop(0),
                             r"layers\[0\]\.type: the first layer must be InputData or "
                             r"InputConvolutional, not SeparableConvolutional"),
    "two input layers": (setter("layers", 1, "type", value="InputConvolutional"),
                         r"layers\[1\]\.config\.input_shape: is missing"),
    "wrong dtype": (setter("layers", 0, "variables", "weights", "dtype", value="float64"),
                    r"layers\[0\]\.variables\.weights\.dtype: must be 'int8', not 'float64'"),
    "wrong nbytes": (setter("layers", 0, "variables", "threshold", "nbytes", value=4),
                     r"layers\[0\]\.variables\.threshold\.nbytes: must be"),
    "offset past the payload": (setter("layers", 0, "variables", "threshold", "offset",
                                       value=10**6),
                                r"layers\[0\]\.variables\.threshold\.offset: must be in"),
    "negative offset": (setter("layers", 0, "variables", "threshold", "offset", value=-4),
                        r"layers\[0\]\.variables\.threshold\.offset: must be in \[0,"),
    "huge integer offset": (setter("layers", 0, "variables", "threshold", "offset",
                                   value=2**80),
                            r"layers\[0\]\.variables\.threshold\.offset: must be in"),
    "learning param as string": (setter("layers", -1, "learning", "params", "num_weights",
                                        value="20"),
                                 r"layers\[5\]\.learning\.params\.num_weights: must be an "
                                 r"integer, not '20'"),
    "learning fraction out of range": (
        setter("layers", -1, "learning", "params", "min_plasticity", value=2),
        r"layers\[5\]\.learning\.params\.min_plasticity: must be a number between 0 and 1"),
    "learning offset negative": (setter("layers", -1, "learning", "offset", value=-1),
                                 r"layers\[5\]\.learning\.offset: must be in \[0,"),
    "learning classes not dividing": (
        setter("layers", -1, "learning", "params", "num_classes", value=5),
        r"layers\[5\]\.learning\.params\.num_classes: 12 units cannot be split evenly"),
    "learning on an early layer": (
        lambda meta: meta["layers"][0].__setitem__("learning", fc(meta)["learning"]),
        r"layers\[0\]\.learning: only the last layer, a FullyConnected, can learn"),
    "learning params missing": (deleter("layers", -1, "learning", "params"),
                                r"layers\[5\]\.learning\.params: is missing"),
    "extra not an object": (setter("extra", value=[1, 2]), r"extra: must be an object"),
    "producer not a string": (setter("producer", value=7), r"producer: must be a string"),
    "long name": (setter("layers", 0, "config", "name", value="x" * 1000),
                  r"layers\[0\]\.config\.name: is 1000 characters long"),
    "deep extra": (setter("extra", value=json.loads("[" * 40 + "]" * 40)),
                   r"metadata nests 41 deep, more than the limit of 32"),
    "huge input": (setter("layers", 0, "config", "input_shape", value=[65536, 65536, 1]),
                   r"layers\[0\]: input of \(65536, 65536, 1\) values is more than the limit"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_crafted_metadata_is_refused_naming_the_field(tmp_path, model_bytes, case):
    mutate, message = CASES[case]
    with pytest.raises(g.ModelFileError, match=message):
        g.Model(crafted(tmp_path, model_bytes, mutate))


def test_the_unchanged_round_trip_still_loads(tmp_path, model_bytes):
    m = g.Model(crafted(tmp_path, model_bytes))
    assert m.extra == {"words": ["yes", "no"]} and m.learning.num_weights == 20


@pytest.mark.parametrize("version, message", [
    (0, r"version: 0 is not a format version; expected 1 to 1"),
    (2, r"format version 2; this edgekws reads up to version 1"),
])
def test_version_range(tmp_path, model_bytes, version, message):
    with pytest.raises(g.ModelFileError, match=message):
        g.Model(crafted(tmp_path, model_bytes, version=version))


@pytest.mark.parametrize("text, message", [
    ("[" * 100000 + "]" * 100000, r"bad metadata \(maximum recursion depth"),
    ('{"layers": NaN}', r"bad metadata \(NaN is not a JSON number\)"),
    ('{"layers": [], "layers": []}', r"bad metadata \(key 'layers' appears twice"),
    ('"just a string"', r"metadata: must be an object, not 'just a string'"),
    ("\xff", r"bad metadata"),
    ('{"producer": "' + "9" * 5000 + '"}', r"metadata\.layers: is missing"),
    ('{"producer": "x", "layers": [' + "9" * 5000 + "]}", r"bad metadata \(Exceeds the limit"),
])
def test_bad_json_is_refused(tmp_path, model_bytes, text, message):
    _, _, payload = split(model_bytes)
    path = tmp_path / "j.ekws"
    path.write_bytes(join(None, payload, meta_text=text))
    with pytest.raises(g.ModelFileError, match=message):
        g.Model(path)


def _with_array(tmp_path, model_bytes, layer, name, value):
    """The file with variable ``name`` of ``layer`` overwritten by ``value`` (same size)."""
    _, meta, payload = split(model_bytes)
    v = meta["layers"][layer]["variables"][name]
    payload = bytearray(payload)
    payload[v["offset"]:v["offset"] + v["nbytes"]] = np.asarray(value, v["dtype"]).tobytes()
    path = tmp_path / "a.ekws"
    path.write_bytes(join(meta, bytes(payload)))
    return path, v["shape"]


@pytest.mark.parametrize("layer, name, fill, message", [
    (0, "act_step", np.nan, r"layers\[0\]\.variables\.act_step: act_step must be at least"),
    (-1, "weights", 3, r"layers\[5\]\.variables\.weights: weights of layer 'l5' with "
                       r"weights_bits=1 must be in \[0, 1\], found values in \[3, 3\]"),
    (-1, "thswap", -5, r"layers\[5\]\.variables\.thswap: must be in \[0, 20\]"),
])
def test_bad_values_in_the_payload_are_refused(tmp_path, model_bytes, layer, name, fill, message):
    _, meta, _ = split(model_bytes)
    shape = meta["layers"][layer]["variables"][name]["shape"]
    path, _ = _with_array(tmp_path, model_bytes, layer, name, np.full(shape, fill))
    with pytest.raises(g.ModelFileError, match=message):
        g.Model(path)


def test_size_limits_are_checked_before_reading(tmp_path, model_bytes, monkeypatch):
    path = tmp_path / "m.ekws"
    path.write_bytes(model_bytes)
    monkeypatch.setattr(limits, "MODEL_MAX_BYTES", 1000)
    with pytest.raises(g.ModelFileError, match=rf"model file is {len(model_bytes)} bytes, "
                                               r"more than the limit of 1000 bytes"):
        g.Model(path)
    monkeypatch.setattr(limits, "MODEL_MAX_BYTES", 10**8)
    monkeypatch.setattr(limits, "MODEL_MAX_META_BYTES", 100)
    with pytest.raises(g.ModelFileError, match=r"metadata is \d+ bytes, more than the limit of 100"):
        g.Model(path)


def test_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "m.ekws")
    with pytest.raises(g.ModelFileError, match="model file must be a regular file, not a FIFO"):
        g.Model(tmp_path / "m.ekws")
