"""Akida 1.0 layers: InputData, InputConvolutional, SeparableConvolutional, FullyConnected.

Constructor arguments, variable names and variable shapes follow the ``akida`` Python
API, so that ``akida.X(...)`` and ``edgekws.golden.X(...)`` read the same. A layer learns
its input shape and bit width when it is added to a :class:`~edgekws.golden.Model`.
"""
from __future__ import annotations

import enum
from typing import Any

import numpy as np

from edgekws.checks import check_int

from . import ops
from .akida_api import LayerApi
from .quant import (ACT_BITS, ACT_STEP_MIN, INPUT_BITS, LAYER_INPUT_BITS, WEIGHTS_BITS,
                    saturate, step_activation, weight_range)

#: Largest act_step accepted, so that the activation's integer steps (``floor(16 act_step)``
#: times up to 15) fit int64; any step above 2**32 already acts like 2**32 on 32-bit
#: potentials.
ACT_STEP_MAX = float(2 ** 54)


class Padding(enum.IntEnum):
    """Convolution padding, numbered as in ``akida.Padding``."""
    Valid = 0
    Same = 1


class PoolType(enum.IntEnum):
    """Pooling type, numbered as in ``akida.PoolType``."""
    NoPooling = 0
    Max = 1
    Average = 2


def _enum(cls, value, what):
    """Accept our enum, akida's enum (by its integer value) or the member name."""
    if isinstance(value, str):
        for m in cls:
            if m.name.lower() == value.lower():
                return m
        raise ValueError(f"{what} must be one of {[m.name for m in cls]}, not {value!r}")
    try:
        return cls(int(value))
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be one of {[m.name for m in cls]}, not {value!r}") from None


def _pair(value, what, allow_negative_one=False):
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair of integers, not {value!r}") from None
    ok = (a > 0 and b > 0) or (allow_negative_one and (a, b) == (-1, -1))
    if not ok:
        raise ValueError(f"{what} must be a pair of positive integers, not {value!r}")
    return (a, b)


def _choice(value, allowed, what):
    if value not in allowed:
        raise ValueError(f"{what} must be one of {tuple(allowed)}, not {value!r}")
    return int(value)


class Layer(LayerApi):
    """Common machinery: parameters, variables, shape bookkeeping."""

    #: Short type name used in summaries (as akida prints it).
    kind = "Layer"
    #: Variable names in the engine's order.
    variable_names: tuple[str, ...] = ()

    def __init__(self, name: str = ""):
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, not {name!r}")
        self.name = name
        self.input_dims: tuple[int, int, int] | None = None
        self.input_bits: int | None = None
        self._vars: dict[str, np.ndarray] = {}

    # -- construction in a model -------------------------------------------------------
    def _bind(self, input_dims, input_bits):
        """Called by Model.add: check the input and allocate variables."""
        self.input_dims = tuple(int(v) for v in input_dims)
        self.input_bits = input_bits
        self._check_input()
        self._vars = {name: np.zeros(shape, dtype) for name, (shape, dtype)
                      in self._variable_specs().items()}
        if "act_step" in self._vars:
            self._vars["act_step"][:] = 1.0

    def _check_input(self):
        pass

    def _variable_specs(self) -> dict[str, tuple[tuple, Any]]:
        return {}

    @property
    def output_dims(self) -> tuple[int, int, int]:
        raise NotImplementedError

    @property
    def output_bits(self) -> int | None:
        """Bit width of the output spikes, or None for raw potentials."""
        return self.act_bits if getattr(self, "activation", True) else None

    # -- variables ----------------------------------------------------------------------
    def get_variable_names(self) -> list[str]:
        return list(self._vars)

    def get_variable(self, name: str) -> np.ndarray:
        """A copy of variable ``name`` (engine names and shapes)."""
        if name not in self._vars:
            raise ValueError(f"layer {self.name!r} has no variable {name!r}; it has "
                             f"{self.get_variable_names()}")
        return self._vars[name].copy()

    def set_variable(self, name: str, value) -> None:
        """Set variable ``name``; the shape must match and values must fit their bits."""
        if name not in self._vars:
            raise ValueError(f"layer {self.name!r} has no variable {name!r}; it has "
                             f"{self.get_variable_names()}")
        cur = self._vars[name]
        v = np.asarray(value)
        if v.shape != cur.shape:
            raise ValueError(f"variable {name!r} of layer {self.name!r} must have shape "
                             f"{cur.shape}, not {v.shape}")
        if name == "act_step":
            if v.dtype.kind not in "fiu":
                raise TypeError(f"act_step must be numbers, not {v.dtype}")
            if v.size and (not np.all(np.isfinite(v)) or v.min() < ACT_STEP_MIN):
                raise ValueError(f"act_step must be at least 1/16, found {v.min()!r} "
                                 f"in layer {self.name!r}")
            if v.size and v.max() > ACT_STEP_MAX:
                raise ValueError(f"act_step must be at most 2**54 (its 1/16 units times "
                                 f"up to 15 must fit int64), found {float(v.max())!r} in layer "
                                 f"{self.name!r}")
            self._vars[name] = v.astype(np.float32)
            return
        if v.dtype.kind not in "iu":
            raise TypeError(f"variable {name!r} must hold integers, not {v.dtype}")
        if name.startswith("weights"):
            lo, hi = self.weight_limits()
            if v.size and (v.min() < lo or v.max() > hi):
                raise ValueError(f"{name} of layer {self.name!r} with weights_bits="
                                 f"{self.weights_bits} must be in [{lo}, {hi}], found "
                                 f"values in [{v.min()}, {v.max()}]")
        elif v.size and (v.min() < np.iinfo(np.int32).min or v.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{name} of layer {self.name!r} must fit in int32")
        if name == "thswap" and v.size and v.min() < 0:
            raise ValueError(f"thswap of layer {self.name!r} counts the swaps a neuron may "
                             f"make and must be >= 0, found {int(v.min())}")
        self._vars[name] = v.astype(cur.dtype)

    def weight_limits(self) -> tuple[int, int]:
        """Inclusive range of this layer's weights."""
        return weight_range(self.weights_bits)

    # -- computation --------------------------------------------------------------------
    def potentials(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def call(self, x: np.ndarray) -> np.ndarray:
        """Output of the layer for a validated uint8 batch."""
        return self.activate(self.potentials(x))

    def activate(self, pot) -> np.ndarray:
        """Potentials to outputs: int32 potentials, or the step activation's uint8."""
        if not self.activation:
            return np.asarray(pot).astype(np.int32, copy=False)
        return step_activation(pot, self._vars["threshold"], self._vars["act_step"],
                               self.act_bits)

    # -- description --------------------------------------------------------------------
    def get_config(self) -> dict:
        raise NotImplementedError

    def kernel_shapes(self) -> list[tuple]:
        return []

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class InputData(Layer):
    """Input dimensions and bit width of a model that does not start with an image."""

    kind = "InputData"

    def __init__(self, input_shape, input_bits: int = 4, name: str = ""):
        super().__init__(name)
        self.input_shape = _triple(input_shape)
        self.in_bits = _choice(input_bits, INPUT_BITS, "input_bits")
        self.activation = True
        self.act_bits = self.in_bits

    @property
    def output_dims(self):
        return self.input_shape

    def call(self, x):
        return x

    def get_config(self):
        return {"input_shape": self.input_shape, "input_bits": self.in_bits, "name": self.name}


def _triple(shape):
    try:
        t = tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be three positive integers (X, Y, C), "
                         f"not {shape!r}") from None
    if len(t) != 3 or min(t) <= 0:
        raise ValueError(f"input_shape must be three positive integers (X, Y, C), not {shape!r}")
    return t


class _ConvMixin:
    """Geometry shared by the two convolutional layers."""

    def _init_conv(self, kernel_size, filters, padding, kernel_stride, pool_size,
                   pool_type, pool_stride, activation, act_bits):
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.filters = check_int("filters", filters)
        self.padding = _enum(Padding, padding, "padding")
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"kernel_size must be odd, not {self.kernel_size!r}")
        self.kernel_stride = _pair(kernel_stride, "kernel_stride")
        self.pool_type = _enum(PoolType, pool_type, "pool_type")
        self.pool_size = _pair(pool_size, "pool_size", allow_negative_one=True)
        ps = _pair(pool_stride, "pool_stride", allow_negative_one=True)
        self.pool_stride = self.pool_size if ps == (-1, -1) else ps
        if self.pool_type == PoolType.Max and self.pool_size == (-1, -1):
            raise ValueError("max pooling needs a pool_size, e.g. (2, 2)")
        if self.pool_type == PoolType.Max and any(
                st > sz for st, sz in zip(self.pool_stride, self.pool_size)):
            raise ValueError(f"pool_stride {self.pool_stride} cannot be larger than "
                             f"pool_size {self.pool_size}")
        if self.pool_type == PoolType.Average and self.pool_size != (-1, -1):
            raise ValueError(f"only global average pooling is supported: pool_size must "
                             f"stay (-1, -1) with PoolType.Average, not {self.pool_size!r}")
        if not isinstance(activation, (bool, np.bool_)):
            raise TypeError(f"activation must be True or False, not {activation!r}")
        self.activation = bool(activation)
        self.act_bits = _choice(act_bits, ACT_BITS, "act_bits")

    @property
    def _same(self):
        return self.padding == Padding.Same

    def _conv_out(self):
        out, _ = ops.conv_geometry(self.input_dims[:2], self.kernel_size, self.kernel_stride,
                                   self._same)
        if min(out) <= 0:
            raise ValueError(f"layer {self.name!r}: kernel {self.kernel_size} does not fit "
                             f"the input {self.input_dims[:2]} with Valid padding")
        return out

    @property
    def output_dims(self):
        out = self._conv_out()
        if self.pool_type == PoolType.Average:
            return (1, 1, self.filters)
        if self.pool_type == PoolType.Max:
            out, _ = ops.conv_geometry(out, self.pool_size, self.pool_stride, self._same)
            if min(out) <= 0:
                raise ValueError(f"layer {self.name!r}: pool_size {self.pool_size} does not "
                                 f"fit the convolution output")
        return (out[0], out[1], self.filters)

    def _pool(self, pot):
        if self.pool_type == PoolType.Max:
            # The engine saturates max-pooled potentials to 20 bits (measured; unpooled
            # convolution potentials are not clipped).
            return saturate(ops.max_pool(pot, self.pool_size, self.pool_stride, self._same))
        if self.pool_type == PoolType.Average:
            return ops.global_sum_saturating(pot)
        return pot

    def _conv_config(self):
        return {"kernel_size": self.kernel_size, "filters": self.filters,
                "padding": self.padding.name, "kernel_stride": self.kernel_stride,
                "weights_bits": self.weights_bits, "pool_size": self.pool_size,
                "pool_type": self.pool_type.name, "pool_stride": self.pool_stride,
                "activation": self.activation, "act_bits": self.act_bits}


class InputConvolutional(_ConvMixin, Layer):
    """First layer on uint8 images: cross-correlation with 8-bit (or fewer) weights."""

    kind = "InputConv."
    variable_names = ("act_step", "threshold", "weights")

    def __init__(self, input_shape, kernel_size, filters, name: str = "",
                 padding=Padding.Same, kernel_stride=(1, 1), weights_bits: int = 1,
                 pool_size=(-1, -1), pool_type=PoolType.NoPooling, pool_stride=(-1, -1),
                 activation: bool = True, act_bits: int = 1, padding_value: int = 0):
        Layer.__init__(self, name)
        self.input_shape = _triple(input_shape)
        self._init_conv(kernel_size, filters, padding, kernel_stride, pool_size, pool_type,
                        pool_stride, activation, act_bits)
        # The engine takes any weights_bits here; 3, 5, 6 and 7 allow the full int8 range
        # (measured), so they are accepted with that range. 0 and > 8 are refused.
        self.weights_bits = _choice(weights_bits, range(1, 9), "weights_bits")
        self.padding_value = check_int("padding_value", padding_value, 0, 255)

    def weight_limits(self):
        return weight_range(self.weights_bits if self.weights_bits in WEIGHTS_BITS else 8)

    def _variable_specs(self):
        kx, ky = self.kernel_size
        C, F = self.input_dims[2], self.filters
        return {"act_step": ((F,), np.float32), "threshold": ((F,), np.int32),
                "weights": ((kx, ky, C, F), np.int8)}

    def potentials(self, x):
        pot = ops.input_conv(x, self._vars["weights"], self.kernel_stride, self._same,
                             self.padding_value)
        return self._pool(pot)

    def kernel_shapes(self):
        return [self._vars["weights"].shape]

    def get_config(self):
        return {"input_shape": self.input_shape, **self._conv_config(),
                "padding_value": self.padding_value, "name": self.name}


class SeparableConvolutional(_ConvMixin, Layer):
    """Depthwise true convolution then exact pointwise sum, 1/2/4-bit weights."""

    kind = "Sep.Conv."
    variable_names = ("act_step", "threshold", "weights", "weights_pw")

    def __init__(self, kernel_size, filters, name: str = "", padding=Padding.Same,
                 kernel_stride=(1, 1), weights_bits: int = 2, pool_size=(-1, -1),
                 pool_type=PoolType.NoPooling, pool_stride=(-1, -1), activation: bool = True,
                 act_bits: int = 1):
        Layer.__init__(self, name)
        self._init_conv(kernel_size, filters, padding, kernel_stride, pool_size, pool_type,
                        pool_stride, activation, act_bits)
        self.weights_bits = _choice(weights_bits, WEIGHTS_BITS, "weights_bits")
        if any(st > k for st, k in zip(self.kernel_stride, self.kernel_size)):
            raise ValueError(f"kernel_stride {self.kernel_stride} cannot be larger than "
                             f"kernel_size {self.kernel_size}")

    def _check_input(self):
        if self.input_bits not in LAYER_INPUT_BITS:
            raise ValueError(f"SeparableConvolutional {self.name!r} needs 1 to 4-bit "
                             f"inputs, but the previous layer outputs {self.input_bits}")

    def _variable_specs(self):
        kx, ky = self.kernel_size
        C, F = self.input_dims[2], self.filters
        return {"act_step": ((F,), np.float32), "threshold": ((F,), np.int32),
                "weights": ((kx, ky, C, 1), np.int8), "weights_pw": ((1, 1, C, F), np.int8)}

    def potentials(self, x):
        pot = ops.separable_conv(x, self._vars["weights"], self._vars["weights_pw"],
                                 self.kernel_stride, self._same, (1 << self.input_bits) - 1)
        return self._pool(pot)

    def kernel_shapes(self):
        return [self._vars["weights"].shape, self._vars["weights_pw"].shape]

    def get_config(self):
        return {**self._conv_config(), "name": self.name}


class FullyConnected(Layer):
    """Dense layer over the flattened input (Akida order), 20-bit saturated potentials."""

    kind = "Fully."
    variable_names = ("act_step", "threshold", "weights")

    def __init__(self, units, name: str = "", weights_bits: int = 1, activation: bool = True,
                 act_bits: int = 1):
        super().__init__(name)
        self.units = check_int("units", units)
        self.weights_bits = _choice(weights_bits, WEIGHTS_BITS, "weights_bits")
        if not isinstance(activation, (bool, np.bool_)):
            raise TypeError(f"activation must be True or False, not {activation!r}")
        self.activation = bool(activation)
        self.act_bits = _choice(act_bits, ACT_BITS, "act_bits")
        #: Set by Model.compile: the LearningParams, or None when not learning.
        self.learning = None
        #: The layer's spread-selection counter (learning state).
        self.offset = 0

    def _check_input(self):
        if self.input_bits not in LAYER_INPUT_BITS:
            raise ValueError(f"FullyConnected {self.name!r} needs 1 to 4-bit inputs, "
                             f"but the previous layer outputs {self.input_bits}")

    @property
    def num_inputs(self) -> int:
        X, Y, C = self.input_dims
        return X * Y * C

    def _variable_specs(self):
        N = self.units
        return {"act_step": ((N,), np.float32), "threshold": ((N,), np.int32),
                "weights": ((1, 1, self.num_inputs, N), np.int8)}

    @property
    def output_dims(self):
        return (1, 1, self.units)

    def potentials(self, x):
        xf = ops.fc_flatten(x)
        return saturate(ops.exact_matmul(xf, self._vars["weights"][0, 0])).reshape(
            x.shape[0], 1, 1, self.units)

    def kernel_shapes(self):
        return [self._vars["weights"].shape]

    # -- learning state (held in variables so that files and get_variable see it) --------
    def attach_learning(self, params, state) -> None:
        """Make this layer learn with ``params``, starting from ``state``."""
        self.learning = params
        self._vars["threshold_learning"] = state.threshold_learning.astype(np.int32)
        self._vars["thswap"] = state.thswap.astype(np.int32)
        self.store_learning_state(state)

    def learning_state(self):
        from .learning import LearningState
        return LearningState(weights=self._vars["weights"][0, 0].astype(np.uint8),
                             threshold_learning=self._vars["threshold_learning"].copy(),
                             thswap=self._vars["thswap"].copy(), offset=self.offset)

    def store_learning_state(self, state) -> None:
        self._vars["weights"] = state.weights.astype(np.int8)[None, None]
        self._vars["threshold_learning"] = state.threshold_learning.astype(np.int32)
        self._vars["thswap"] = state.thswap.astype(np.int32)
        self.offset = int(state.offset)

    def grow(self, units: int) -> None:
        """Extend threshold/act_step to ``units`` neurons (add_classes)."""
        extra = units - self.units
        self.units = units
        self._vars["threshold"] = np.concatenate([self._vars["threshold"],
                                                  np.zeros(extra, np.int32)])
        self._vars["act_step"] = np.concatenate([self._vars["act_step"],
                                                 np.ones(extra, np.float32)])

    def set_variable(self, name, value):
        super().set_variable(name, value)
        # As in the engine, touching any variable restarts the spread-selection counter.
        self.offset = 0

    def get_config(self):
        return {"units": self.units, "weights_bits": self.weights_bits,
                "activation": self.activation, "act_bits": self.act_bits, "name": self.name}


LAYER_TYPES = {cls.__name__: cls for cls in
               (InputData, InputConvolutional, SeparableConvolutional, FullyConnected)}
