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

A file is read whole (only a regular file within ``limits.MODEL_MAX_BYTES``) and checked
before anything is allocated: size, magic, version range, checksum, JSON depth, then
every field against the schema of :func:`check_meta` (types, ranges, each variable's
dtype and shape against its layer's parameters, no unknown key outside ``extra``). Any
problem is a :class:`ModelFileError` naming the field, and a file is never half-loaded. Writes go to a temporary file in
the same folder, are flushed to disk and then renamed over the target.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import struct
from pathlib import Path

import numpy as np

from edgekws import limits
from edgekws.atomicio import atomic_write  # noqa: F401 (re-exported)
from edgekws.safeopen import open_regular

MAGIC = b"EDGEKWS\x00"
FORMAT_VERSION = 1
#: Oldest format version read.
MIN_FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHHI")
_DIGEST = 32


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
    """Check ``data`` and return its metadata with the arrays decoded (no model built).

    Every field is checked against the schema (see :func:`check_meta`) before any array
    is decoded; each layer entry gets ``"arrays"`` (name -> ndarray) and ``"layer"`` (the
    layer object, not yet in a model), and a learning entry its ``"params"`` as
    :class:`~edgekws.golden.LearningParams`.

    Raises
    ------
    ModelFileError
        For anything wrong, naming the field (e.g. ``layers[2].config.units``).
    """
    meta, payload = _split(data, source)
    try:
        layers = check_meta(meta, len(payload))
    except _SchemaError as exc:
        raise ModelFileError(f"{source}: {exc.path}: {exc.message}") from None
    for layer, entry in zip(layers, meta["layers"]):
        entry["layer"] = layer
        entry["arrays"] = {name: np.frombuffer(payload, np.dtype(v["dtype"]),
                                               count=math.prod(v["shape"]),
                                               offset=v["offset"]).reshape(v["shape"]).copy()
                           for name, v in entry["variables"].items()}
    return meta


def _split(data: bytes, source: str) -> tuple[dict, bytes]:
    """Header, checksum and JSON: ``(metadata, payload)``."""
    if len(data) < _HEADER.size + _DIGEST:
        raise ModelFileError(f"{source} is truncated: {len(data)} bytes is shorter than "
                             "any edgekws model file")
    if len(data) > limits.MODEL_MAX_BYTES:
        raise ModelFileError(f"{source} is {len(data)} bytes, more than the limit of "
                             f"{limits.MODEL_MAX_BYTES} bytes")
    magic, version, _, meta_len = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ModelFileError(f"{source} is not an edgekws model file (bad magic {magic!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{source} has format version {version}; this edgekws reads "
                             f"up to version {FORMAT_VERSION}: upgrade edgekws")
    if version < MIN_FORMAT_VERSION:
        raise ModelFileError(f"{source}: version: {version} is not a format version; "
                             f"expected {MIN_FORMAT_VERSION} to {FORMAT_VERSION}")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise ModelFileError(f"{source} is corrupted or truncated: its checksum does not match")
    start = _HEADER.size
    if start + meta_len > len(body):
        raise ModelFileError(f"{source} is corrupted: metadata runs past the end of the file")
    if meta_len > limits.MODEL_MAX_META_BYTES:
        raise ModelFileError(f"{source}: metadata is {meta_len} bytes, more than the limit "
                             f"of {limits.MODEL_MAX_META_BYTES} bytes")
    text = body[start:start + meta_len]
    try:
        # The parser is linear in the (bounded) text; nesting beyond the interpreter's
        # recursion limit is a RecursionError, anything deeper than ours is refused next.
        meta = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{source} is corrupted: bad metadata "
                             f"({exc or type(exc).__name__})") from None
    depth = json_depth(meta)
    if depth > limits.MODEL_MAX_JSON_DEPTH:
        raise ModelFileError(f"{source}: metadata nests {depth} deep, more than the limit "
                             f"of {limits.MODEL_MAX_JSON_DEPTH}")
    return meta, body[start + meta_len:]


def json_depth(value) -> int:
    """How deep lists and objects nest in a parsed JSON ``value`` (0 for a scalar)."""
    deepest, stack = 0, [(value, 1)]
    while stack:  # iterative: the value may nest deeper than Python recurses
        v, depth = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((c, depth + 1) for c in children)
    return deepest


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"key {dup!r} appears twice in one object")
    return dict(pairs)


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


# -- the schema ------------------------------------------------------------------------

class _SchemaError(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _fail(path, message):
    raise _SchemaError(path, message)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v, path, lo, hi):
    if not _is_int(v):
        _fail(path, f"must be an integer, not {_show(v)}")
    if not lo <= v <= hi:
        _fail(path, f"must be in [{lo}, {hi}], not {v}")
    return v


def _ints(v, path, n, lo, hi):
    if not isinstance(v, list) or len(v) != n:
        _fail(path, f"must be a list of {n} integers, not {_show(v)}")
    return [_int(x, f"{path}[{i}]", lo, hi) for i, x in enumerate(v)]


def _str(v, path, longest=limits.MODEL_MAX_NAME):
    if not isinstance(v, str):
        _fail(path, f"must be a string, not {_show(v)}")
    if len(v) > longest:
        _fail(path, f"is {len(v)} characters long, more than the limit of {longest}")
    return v


def _bool(v, path):
    if not isinstance(v, bool):
        _fail(path, f"must be true or false, not {_show(v)}")
    return v


def _fraction(v, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        _fail(path, f"must be a number between 0 and 1, not {_show(v)}")
    return v


def _object(v, path, required, optional=()):
    """Check that ``v`` is a JSON object with exactly the ``required`` keys (and perhaps
    some ``optional`` ones)."""
    if not isinstance(v, dict):
        _fail(path, f"must be an object, not {_show(v)}")
    for key in required:
        if key not in v:
            _fail(f"{path}.{key}", "is missing")
    for key in v:
        if key not in required and key not in optional:
            _fail(f"{path}.{key}", f"is not a known field (expected {sorted(required)}"
                                   f"{' and optionally ' + str(sorted(optional)) if optional else ''})")
    return v


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


_DIM = limits.MODEL_MAX_DIM
#: Checks of each configuration field a layer constructor takes.
_CONFIG = {
    "input_shape": lambda v, p: _ints(v, p, 3, 1, _DIM),
    "kernel_size": lambda v, p: _ints(v, p, 2, 1, _DIM),
    "kernel_stride": lambda v, p: _ints(v, p, 2, 1, _DIM),
    "pool_size": lambda v, p: _ints(v, p, 2, -1, _DIM),
    "pool_stride": lambda v, p: _ints(v, p, 2, -1, _DIM),
    "filters": lambda v, p: _int(v, p, 1, _DIM),
    "units": lambda v, p: _int(v, p, 1, _DIM),
    "weights_bits": lambda v, p: _int(v, p, 1, 8),
    "act_bits": lambda v, p: _int(v, p, 1, 8),
    "input_bits": lambda v, p: _int(v, p, 1, 8),
    "padding_value": lambda v, p: _int(v, p, 0, 255),
    "activation": _bool,
    "padding": _str,
    "pool_type": _str,
    "name": _str,
}
_VARIABLE_FIELDS = ("dtype", "shape", "offset", "nbytes")
_LEARNING_VARIABLES = ("threshold_learning", "thswap")
_LEARNING_PARAMS = ("num_weights", "num_classes", "initial_plasticity",
                    "learning_competition", "min_plasticity", "plasticity_decay")


def check_meta(meta, payload_size: int) -> list:
    """Check the metadata of a model file field by field, before anything is allocated.

    Every layer is built (unbound) from a checked configuration, its input geometry is
    worked out from the layers before it, and every variable the layer will have must be
    declared with exactly its dtype and shape, inside the payload; no other key is allowed
    except under ``extra``.

    Returns
    -------
    list
        The layer objects, ready for ``Model.add``.

    Raises
    ------
    _SchemaError
        With the path of the first bad field.
    """
    from .layers import LAYER_TYPES

    _object(meta, "metadata", ("producer", "layers"), ("extra",))
    _str(meta["producer"], "producer")
    if "extra" in meta and not isinstance(meta["extra"], dict):
        _fail("extra", f"must be an object, not {_show(meta['extra'])}")
    entries = meta["layers"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= limits.MODEL_MAX_LAYERS:
        _fail("layers", f"must be a list of 1 to {limits.MODEL_MAX_LAYERS} layers, "
                        f"not {_show(entries)}")
    layers, dims, bits = [], None, None
    for i, entry in enumerate(entries):
        path = f"layers[{i}]"
        _object(entry, path, ("type", "config", "variables"), ("learning",))
        cls = LAYER_TYPES.get(entry["type"]) if isinstance(entry["type"], str) else None
        if cls is None:
            _fail(f"{path}.type", f"must be one of {sorted(LAYER_TYPES)}, not "
                                  f"{_show(entry['type'])}")
        first = cls.__name__ in ("InputData", "InputConvolutional")
        if i == 0 and not first:
            _fail(f"{path}.type", f"the first layer must be InputData or InputConvolutional, "
                                  f"not {cls.__name__}")
        layer = _build(cls, entry["config"], f"{path}.config")
        if i == 0:
            dims = layer.input_shape
            bits = 8 if cls.__name__ == "InputConvolutional" else layer.in_bits
        elif first:
            _fail(f"{path}.type", f"{cls.__name__} can only be the first layer")
        elif bits is None:
            _fail(f"{path}.type", "no layer can follow one without activation")
        learning = entry.get("learning")
        if learning is not None:
            if i != len(entries) - 1 or cls.__name__ != "FullyConnected":
                _fail(f"{path}.learning", "only the last layer, a FullyConnected, can learn")
            _check_learning(learning, layer, bits, f"{path}.learning")
        specs, dims, bits = _geometry(layer, dims, bits, path)
        if learning is not None:
            specs.update({name: ((layer.units,), np.int32) for name in _LEARNING_VARIABLES})
        _check_variables(entry["variables"], specs, payload_size, f"{path}.variables")
        layers.append(layer)
    return layers


def _build(cls, config, path):
    """``cls(**config)`` once every field is known and in range."""
    params = inspect.signature(cls.__init__).parameters
    allowed = [n for n in params if n != "self"]
    required = [n for n in allowed if params[n].default is inspect.Parameter.empty]
    _object(config, path, required, [n for n in allowed if n not in required])
    for key, value in config.items():
        _CONFIG[key](value, f"{path}.{key}")
    try:
        return cls(**config)
    except (ValueError, TypeError) as exc:
        _fail(path, str(exc))


def _geometry(layer, dims, bits, path):
    """The layer's variable specs and output ``(dims, bits)`` for input ``(dims, bits)``,
    worked out without allocating (the layer is left unbound)."""
    if math.prod(dims) > limits.MODEL_MAX_ACTIVATIONS:
        _fail(path, f"input of {dims} values is more than the limit of "
                    f"{limits.MODEL_MAX_ACTIVATIONS}")
    layer.input_dims, layer.input_bits = tuple(dims), bits
    try:
        layer._check_input()
        specs = dict(layer._variable_specs())
        out = tuple(layer.output_dims)
        out_bits = layer.output_bits
    except (ValueError, TypeError) as exc:
        _fail(path, str(exc))
    finally:
        layer.input_dims = layer.input_bits = None
    if math.prod(out) > limits.MODEL_MAX_ACTIVATIONS:
        _fail(path, f"output of {out} values is more than the limit of "
                    f"{limits.MODEL_MAX_ACTIVATIONS}")
    return specs, out, out_bits


def _check_learning(learning, layer, input_bits, path):
    from .learning import LearningParams

    _object(learning, path, ("params", "offset"))
    params = _object(learning["params"], f"{path}.params", _LEARNING_PARAMS)
    for key in ("num_weights", "num_classes"):
        _int(params[key], f"{path}.params.{key}", 1, _DIM)
    for key in _LEARNING_PARAMS[2:]:
        _fraction(params[key], f"{path}.params.{key}")
    _int(learning["offset"], f"{path}.offset", 0, 2**31 - 1)
    if layer.units % params["num_classes"]:
        _fail(f"{path}.params.num_classes", f"{layer.units} units cannot be split evenly "
                                            f"into {params['num_classes']} classes")
    if (layer.weights_bits, input_bits) != (1, 1):
        _fail(path, f"a learning layer has 1-bit weights and inputs, not "
                    f"{layer.weights_bits}-bit weights and {input_bits}-bit inputs")
    learning["params"] = LearningParams.create(**params)


def _check_variables(variables, specs, payload_size, path):
    _object(variables, path, tuple(specs))
    for name, (shape, dtype) in specs.items():
        vpath = f"{path}.{name}"
        v = _object(variables[name], vpath, _VARIABLE_FIELDS)
        want = np.dtype(dtype).name
        if v["dtype"] != want:
            _fail(f"{vpath}.dtype", f"must be {want!r}, not {_show(v['dtype'])}")
        if _ints(v["shape"], f"{vpath}.shape", len(shape), 0, _DIM * _DIM) != list(shape):
            _fail(f"{vpath}.shape", f"must be {list(shape)} for this layer, not {v['shape']}")
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if _int(v["nbytes"], f"{vpath}.nbytes", 0, payload_size) != nbytes:
            _fail(f"{vpath}.nbytes", f"must be {nbytes} for shape {list(shape)}, not "
                                     f"{v['nbytes']}")
        if _int(v["offset"], f"{vpath}.offset", 0, payload_size) + nbytes > payload_size:
            _fail(f"{vpath}.offset", f"{v['offset']} + {nbytes} bytes lies outside the "
                                     f"payload of {payload_size} bytes")


def read(path) -> dict:
    """Read and check a model file; see :func:`parse`.

    Only a regular file of at most ``limits.MODEL_MAX_BYTES`` is read.
    """
    path = Path(path)
    source = f"model file {str(path)!r}"
    try:
        with open_regular(path, "model file", limits.MODEL_MAX_BYTES) as f:
            data = f.read(limits.MODEL_MAX_BYTES + 1)  # one more: a file that grew is refused
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at {str(path)!r}") from None
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    return parse(data, source)


def load_into(model, path) -> dict:
    """Fill an empty ``model`` from ``path``; returns the file's ``extra`` metadata."""
    from .learning import LearningState

    meta = read(path)
    source = f"model file {str(path)!r}"
    for i, entry in enumerate(meta["layers"]):
        layer, arrays = entry["layer"], entry["arrays"]
        field = f"layers[{i}]"
        try:
            model.add(layer)
            for name, arr in arrays.items():
                field = f"layers[{i}].variables.{name}"
                if name not in _LEARNING_VARIABLES:
                    layer.set_variable(name, arr)
            if "learning" in entry:
                field = f"layers[{i}].variables.weights"
                weights = arrays["weights"][0, 0]
                if weights.size and (weights.min() < 0 or weights.max() > 1):
                    raise ValueError("a learning layer's weights must be 0 or 1")
                field = f"layers[{i}].variables.thswap"
                params = entry["learning"]["params"]
                thswap = arrays["thswap"]
                if thswap.size and (thswap.min() < 0 or thswap.max() > params.num_weights):
                    raise ValueError(f"must be in [0, {params.num_weights}], found values in "
                                     f"[{thswap.min()}, {thswap.max()}]")
                field = f"layers[{i}].learning"
                if params.num_weights > layer.num_inputs:
                    raise ValueError(f"num_weights ({params.num_weights}) cannot exceed the "
                                     f"layer's {layer.num_inputs} inputs")
                layer.attach_learning(params, LearningState(
                    weights=weights.astype(np.uint8),
                    threshold_learning=arrays["threshold_learning"], thswap=arrays["thswap"],
                    offset=entry["learning"]["offset"]))
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{source}: {field}: {exc}") from None
    model.extra = meta.get("extra", {})
    return model.extra
