"""The ``.ekws`` model file: versioned, self-describing, checksummed, written atomically.

Layout (all integers little-endian)::

    magic      8 bytes   b"EDGEKWS\\x00"
    version    u16       FORMAT_VERSION
    reserved   u16       0
    meta_len   u32       length of the JSON metadata
    meta       JSON      {"layers": [{"type", "config", "variables": {name: {dtype, shape,
                          offset, nbytes}}, "learning"?}], "producer", "extra"?}
    payload    bytes     the arrays, C order, at the offsets given in meta
    sha256     32 bytes  of everything before it

A file is read whole and checked (size, magic, version, checksum, every array inside
the payload) before any layer is built, so a truncated or corrupted file is refused
with a :class:`ModelFileError` and never half-loaded. Writes go to a temporary file in
the same folder, are flushed to disk and then renamed over the target.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from edgekws.atomicio import atomic_write  # noqa: F401 (re-exported)

MAGIC = b"EDGEKWS\x00"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHHI")
_DIGEST = 32
_DTYPES = {"int8", "uint8", "int32", "float32"}


class ModelFileError(ValueError):
    """A model file that is not ours, from a newer version, truncated or corrupted."""


def to_bytes(model, extra: dict | None = None) -> bytes:
    """Serialise ``model`` (layers, variables, learning state) to the file format."""
    from edgekws import __version__

    payload = bytearray()
    layers = []
    for layer in model.layers:
        variables = {}
        for name in layer.get_variable_names():
            arr = np.ascontiguousarray(layer.get_variable(name))
            variables[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape),
                               "offset": len(payload), "nbytes": arr.nbytes}
            payload += arr.tobytes()
        entry = {"type": type(layer).__name__, "config": _jsonable(layer.get_config()),
                 "variables": variables}
        if getattr(layer, "learning", None) is not None:
            entry["learning"] = {"params": layer.learning.to_dict(), "offset": layer.offset}
        layers.append(entry)
    meta = {"producer": f"edgekws {__version__}", "layers": layers}
    if extra:
        meta["extra"] = extra
    meta_bytes = json.dumps(meta, sort_keys=True).encode()
    body = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(meta_bytes)) + meta_bytes + bytes(payload)
    return body + hashlib.sha256(body).digest()


def save(model, path, extra: dict | None = None) -> None:
    """Write ``model`` to ``path`` atomically. ``extra`` is free JSON metadata (e.g. scaling)."""
    atomic_write(path, to_bytes(model, extra))


def _jsonable(config: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}


def parse(data: bytes, source: str = "model file") -> dict:
    """Check ``data`` and return its metadata with the arrays decoded (no layer built)."""
    if len(data) < _HEADER.size + _DIGEST:
        raise ModelFileError(f"{source} is truncated: {len(data)} bytes is shorter than "
                             "any edgekws model file")
    magic, version, _, meta_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ModelFileError(f"{source} is not an edgekws model file (bad magic {magic!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{source} has format version {version}; this edgekws reads "
                             f"up to version {FORMAT_VERSION}: upgrade edgekws")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise ModelFileError(f"{source} is corrupted or truncated: its checksum does not match")
    start = _HEADER.size
    if start + meta_len > len(body):
        raise ModelFileError(f"{source} is corrupted: metadata runs past the end of the file")
    try:
        meta = json.loads(body[start:start + meta_len])
        payload = body[start + meta_len:]
        for entry in meta["layers"]:
            arrays = {}
            for name, v in entry["variables"].items():
                if v["dtype"] not in _DTYPES:
                    raise ModelFileError(f"{source}: unknown dtype {v['dtype']!r} for {name!r}")
                dt = np.dtype(v["dtype"])
                shape = tuple(int(d) for d in v["shape"])
                nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
                off = int(v["offset"])
                if nbytes != v["nbytes"] or off < 0 or off + nbytes > len(payload):
                    raise ModelFileError(f"{source} is corrupted: variable {name!r} lies "
                                         "outside the payload")
                arrays[name] = np.frombuffer(payload, dt, count=nbytes // dt.itemsize,
                                             offset=off).reshape(shape).copy()
            entry["arrays"] = arrays
    except ModelFileError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{source} is corrupted: bad metadata ({exc})") from None
    return meta


def read(path) -> dict:
    """Read and check a model file; see :func:`parse`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at {str(path)!r}") from None
    return parse(data, f"model file {str(path)!r}")


def load_into(model, path) -> dict:
    """Fill an empty ``model`` from ``path``; returns the file's ``extra`` metadata."""
    from .layers import LAYER_TYPES
    from .learning import LearningParams, LearningState

    meta = read(path)
    layers = []
    try:
        for entry in meta["layers"]:
            cls = LAYER_TYPES[entry["type"]]
            layers.append((cls(**entry["config"]), entry))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"model file {str(path)!r} describes an invalid layer: {exc}") from None
    for layer, entry in layers:
        model.add(layer)
        for name, arr in entry["arrays"].items():
            if name in ("threshold_learning", "thswap"):
                continue
            layer.set_variable(name, arr)
        if "learning" in entry:
            params = LearningParams.create(**entry["learning"]["params"])
            a = entry["arrays"]
            layer.attach_learning(params, LearningState(
                weights=a["weights"][0, 0].astype(np.uint8),
                threshold_learning=a["threshold_learning"], thswap=a["thswap"],
                offset=int(entry["learning"]["offset"])))
    model.extra = meta.get("extra", {})
    return model.extra
