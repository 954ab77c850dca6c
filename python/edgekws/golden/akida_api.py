"""The descriptive part of the ``akida`` API: layer parameters, variables, inbounds, MACs,
dictionaries and JSON, inference statistics.

Names, types and layouts follow ``akida`` 2.19.3 as measured (see
``tests/test_golden_api_vs_engine.py``): ``layer.parameters`` carries the engine's flat
parameter names (``kernel_width``, ``stride_x``, ...), ``Model.to_dict()`` is the
engine's dictionary, and ``Model.from_dict`` reads either library's.
"""
from __future__ import annotations

import enum
import json
import re
import time

import numpy as np

from edgekws.checks import check_int

#: The akida release whose v1 semantics the golden model mirrors (written by to_dict).
AKIDA_VERSION = "2.19.3"


class LayerType(enum.IntEnum):
    """Layer types, numbered as in ``akida.LayerType``."""
    InputData = 1
    InputConvolutional = 2
    FullyConnected = 3
    SeparableConvolutional = 5


# Engine parameter name -> (golden constructor argument, index in a pair/triple or None).
_INPUT = {"input_width": ("input_shape", 0), "input_height": ("input_shape", 1),
          "input_channels": ("input_shape", 2)}
_CONV = {"kernel_width": ("kernel_size", 0), "kernel_height": ("kernel_size", 1),
         "stride_x": ("kernel_stride", 0), "stride_y": ("kernel_stride", 1),
         "pooling_width": ("pool_size", 0), "pooling_height": ("pool_size", 1),
         "pooling_stride_x": ("pool_stride", 0), "pooling_stride_y": ("pool_stride", 1),
         "padding": ("padding", None), "pool_type": ("pool_type", None),
         "filters": ("filters", None), "weights_bits": ("weights_bits", None),
         "activation": ("activation", None), "act_bits": ("act_bits", None)}
PARAMETERS = {
    "InputData": {**_INPUT, "input_bits": ("input_bits", None), "input_signed": (None, None)},
    "InputConvolutional": {**_INPUT, **_CONV, "padding_value": ("padding_value", None)},
    "SeparableConvolutional": _CONV,
    "FullyConnected": {"units": ("units", None), "weights_bits": ("weights_bits", None),
                       "activation": ("activation", None), "act_bits": ("act_bits", None)},
}
_ENUM_ARGS = ("padding", "pool_type")


def engine_parameters(layer) -> dict:
    """The engine's ``LayerParams`` of golden ``layer`` as a dict (sorted names, ints)."""
    cfg = layer.get_config()
    out = {}
    for pname, (arg, idx) in sorted(PARAMETERS[type(layer).__name__].items()):
        if arg is None:
            out[pname] = 0   # input_signed: v1 inputs are always unsigned
            continue
        v = cfg[arg]
        if arg in _ENUM_ARGS:
            from .layers import Padding, PoolType
            v = (Padding if arg == "padding" else PoolType)[v]
        out[pname] = int(v if idx is None else v[idx])
    return out


def config_from_parameters(type_name: str, params: dict) -> dict:
    """Golden constructor arguments from the engine's parameter dict of a layer."""
    try:
        table = PARAMETERS[type_name]
    except KeyError:
        raise ValueError(f"layer type {type_name!r} is not an Akida 1.0 layer edgekws "
                         f"supports; supported: {sorted(PARAMETERS)}") from None
    missing = sorted(set(table) - set(params) - {"input_signed"})
    if missing:
        raise ValueError(f"{type_name} parameters lack {missing}")
    if params.get("input_signed", 0):
        raise ValueError(f"{type_name}: signed inputs are not Akida 1.0; input_signed must "
                         f"be 0, not {params['input_signed']!r}")
    cfg: dict = {}
    for pname, (arg, idx) in table.items():
        if arg is None:
            continue
        v = params[pname]
        if idx is None:
            cfg[arg] = bool(v) if arg == "activation" else int(v)
        else:
            cfg.setdefault(arg, [0] * (3 if arg == "input_shape" else 2))[idx] = int(v)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}


class LayerParams:
    """Read-only view of a layer's parameters with the engine's attribute names."""

    def __init__(self, layer):
        self._values = engine_parameters(layer)
        self.layer_type = LayerType[type(layer).__name__]

    def __getattr__(self, name):
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{self.layer_type.name} has no parameter {name!r}; it has "
                             f"{sorted(values)}")

    def __dir__(self):
        return sorted(self._values) + ["layer_type"]

    def __repr__(self):
        return f"LayerParams({self.layer_type.name}, {self._values})"


class Variables:
    """``layer.variables``: ``names``, ``variables[name]`` and ``variables[name] = value``."""

    def __init__(self, layer):
        self._layer = layer

    @property
    def names(self) -> list[str]:
        return self._layer.get_variable_names()

    def __getitem__(self, name):
        return self._layer.get_variable(name)

    def __setitem__(self, name, value):
        self._layer.set_variable(name, value)

    def __contains__(self, name):
        return name in self.names

    def __repr__(self):
        return f"Variables({self.names})"


def bitwidth(values) -> int:
    """``akida.evaluate_bitwidth``: signed width of integer values (at least 2), 0 for floats.

    Measured on the engine: 0 and 1 give 2, 2 gives 3, -4 gives 3, 127 and -128 give 8.
    """
    v = np.asarray(values)
    if v.dtype.kind == "f":
        return 0
    if not v.size:
        return 2
    top = max(int(v.max()), -int(v.min()) - 1, 0)
    return max(2, top.bit_length() + 1)


class LayerApi:
    """Members of ``akida.Layer`` that describe a layer; mixed into the golden Layer."""

    #: The previous layer in the model (set by Model.add), None for the first layer.
    _inbound = None

    @property
    def parameters(self) -> LayerParams:
        """The engine's flat parameters (``kernel_width``, ``stride_x``, ``layer_type``...)."""
        return LayerParams(self)

    @property
    def variables(self) -> Variables:
        return Variables(self)

    @property
    def inbounds(self) -> list:
        """The layers feeding this one: ``[previous layer]``, or ``[]`` for the first."""
        return [] if self._inbound is None else [self._inbound]

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample, counted as the engine counts its v2 layers.

        Output positions before pooling x kernel taps x input channels x filters (a
        separable layer adds its depthwise and pointwise parts). The engine itself
        reports 0 for every v1 layer (measured).
        """
        if self.input_dims is None:
            return 0
        kind = type(self).__name__
        if kind == "FullyConnected":
            return self.num_inputs * self.units
        if kind == "InputData":
            return 0
        from . import ops
        (ox, oy), _ = ops.conv_geometry(self.input_dims[:2], self.kernel_size,
                                        self.kernel_stride, self.padding == 1)
        taps = self.kernel_size[0] * self.kernel_size[1] * self.input_dims[2]
        if kind == "InputConvolutional":
            return ox * oy * taps * self.filters
        return ox * oy * (taps + self.input_dims[2] * self.filters)

    def to_dict(self) -> dict:
        """The engine's layer dictionary: name, parameters, variables, inbounds, shapes."""
        params = {**engine_parameters(self), "layer_type": type(self).__name__}
        variables = {}
        for name in sorted(self.get_variable_names()):
            var = self.get_variable(name)
            variables[name] = {"shape": var.shape, "dtype": str(var.dtype),
                               "bitwidth": bitwidth(var), "data": var.tolist()}
        bound = self.input_dims is not None
        return {"name": self.name, "parameters": params, "variables": variables,
                "inbounds": [layer.name for layer in self.inbounds],
                "input_shape": list(self.input_dims) if bound else None,
                "output_shape": list(self.output_dims) if bound else None}


# -- models ---------------------------------------------------------------------------------
def model_to_dict(model) -> dict:
    """``akida.Model.to_dict()`` of a golden model."""
    params = model.learning
    learning = None
    if params is not None:
        learning = {k: float(v) for k, v in sorted(params.to_dict().items())}
    return {"Akida version": AKIDA_VERSION, "IP version": "v1",
            "layers": [layer.to_dict() for layer in model.layers], "learning": learning,
            "input_shape": model.input_shape, "output_shape": model.output_shape}


def layer_from_parameters(type_name: str, params: dict, name: str):
    """A golden layer built from the engine's parameter names."""
    from .layers import LAYER_TYPES
    cfg = config_from_parameters(type_name, params)
    try:
        return LAYER_TYPES[type_name](**cfg, name=name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"layer {name!r} ({type_name}): {exc}") from None


def model_from_dict(model_dict: dict):
    """A golden Model from an ``akida.Model.to_dict()`` (or golden ``to_dict``) dictionary.

    Unlike the engine, the dictionary's "Akida version" is not required to match: the
    layers and variables are checked one by one instead.
    """
    from .model import AkidaUnsupervised, Model
    if not isinstance(model_dict, dict) or "layers" not in model_dict:
        raise ValueError("a model dictionary needs a 'layers' list (from Model.to_dict())")
    ip = model_dict.get("IP version", "v1")
    if ip != "v1":
        raise ValueError(f"only Akida 1.0 models can be read: 'IP version' must be 'v1', "
                         f"not {ip!r}")
    model = Model()
    for entry in model_dict["layers"]:
        params = dict(entry.get("parameters") or {})
        type_name = params.pop("layer_type", None)
        layer = layer_from_parameters(type_name, params, entry.get("name", ""))
        model.add(layer)
    if model_dict.get("learning") is not None:
        lp = dict(model_dict["learning"])
        for key in ("num_weights", "num_classes"):
            lp[key] = int(lp[key])
        model.compile(AkidaUnsupervised(**lp))
    for entry, layer in zip(model_dict["layers"], model.layers):
        for name, var in (entry.get("variables") or {}).items():
            layer.set_variable(name, np.array(var["data"], dtype=var["dtype"]).reshape(
                var["shape"]))
    return model


def model_to_json(model) -> str:
    """The engine's JSON layout: indented, with number arrays kept on one line."""
    text = json.dumps(model_to_dict(model), indent=2)
    return re.sub(r'\n\s+(\[?-?[\d\.]+,?|\]|\[)', lambda m: m.group(1), text)


# -- evaluation and statistics -----------------------------------------------------------------
def neuron_classes(index, neurons: int, num_classes: int):
    """Class of each neuron index: contiguous blocks of ``neurons // num_classes``."""
    check_int("num_classes", num_classes, 0, neurons,
              expected=f"an integer in [0, {neurons}] (0: one class per neuron)")
    if num_classes in (0, neurons):
        return index
    return index // (neurons // num_classes)


def check_evaluate_classes(neurons: int, num_classes) -> None:
    """The engine's evaluate refuses 1 class and class counts that do not divide N."""
    neuron_classes(0, neurons, num_classes)
    if num_classes == 1:
        raise ValueError("evaluate cannot classify with num_classes=1 (the engine refuses it)")
    if num_classes and neurons % num_classes:
        raise ValueError(f"the {neurons} output neurons are not a multiple of num_classes="
                         f"{num_classes}")


def accuracy(outputs, labels, num_classes: int) -> float:
    """``akida.Model.evaluate`` from the last layer's outputs (predict or forward).

    The engine takes the argmax over each sample's whole output in C order and divides
    that index by X*Y to get a neuron (measured, 84/84 spatial cases): with X = Y = 1 this
    is the best neuron. The ratio is computed in float32, as the engine returns it.
    """
    n = outputs.shape[0]
    X, Y, N = outputs.shape[1:]
    neuron = np.argmax(outputs.reshape(n, -1), axis=-1) // (X * Y)
    classes = neuron_classes(neuron, N, num_classes)
    correct = np.count_nonzero(classes == labels)
    return float(np.float32(correct) / np.float32(n))


def check_labels(labels, n: int) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be a numpy array of integers, not "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one per sample), not of shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"got {labels.shape[0]} labels for {n} samples")
    return labels


class Statistics:
    """``model.statistics``: the frame rate of the last inference call (wall clock).

    The golden model has no power meter nor clock counters, so ``powers`` is empty and
    ``energy``, ``inference_clk`` and ``program_clk`` are None, as in the engine's
    software backend.
    """

    def __init__(self, frames: int = 0, seconds: float = 0.0):
        self.fps = frames / seconds if frames and seconds > 0 else None
        self.powers: dict = {}
        self.energy = None
        self.inference_clk = None
        self.program_clk = None

    def __repr__(self):
        return "fps: " + ("N/A" if self.fps is None else "%.2f" % self.fps)

    def __str__(self):
        return "Average framerate = " + ("N/A" if self.fps is None else "%.2f fps" % self.fps)


class InferenceClock:
    """Times one inference call for :class:`Statistics`."""

    def __init__(self, model, frames: int):
        self.model, self.frames = model, frames

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.model._last_inference = (self.frames, time.perf_counter() - self.t0)
