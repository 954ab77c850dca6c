"""A sequential Akida 1.0 model with the akida ``Model`` API (golden reference)."""
from __future__ import annotations

import os

import numpy as np
from threadpoolctl import threadpool_limits

from . import akida_api as _api
from . import learning as _learning
from .layers import FullyConnected, InputConvolutional, InputData, Layer
from .grid import CHUNK as GRID_CHUNK
from .grid import GridPlan
from .lazy_array import LazyArray
from .ops import fc_flatten
from .quant import step_activation


def AkidaUnsupervised(num_weights, num_classes=1, initial_plasticity=1.0,
                      learning_competition=0.0,
                      min_plasticity=_learning.DEFAULT_MIN_PLASTICITY,
                      plasticity_decay=0.25) -> _learning.LearningParams:
    """The native learning optimizer, with the engine's arguments and defaults."""
    return _learning.LearningParams.create(num_weights, num_classes, initial_plasticity,
                                           learning_competition, min_plasticity,
                                           plasticity_decay)


_POOL = None


def _pool():
    """One worker per core, shared by all models, created on first use."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                   thread_name_prefix="edgekws-golden")
    return _POOL


class Model:
    """Sequential model: ``InputData`` or ``InputConvolutional`` first, then layers.

    Parameters
    ----------
    layers_or_path : list of Layer, or str / os.PathLike, optional
        Layers to add in order, or the path of a model saved with :meth:`save`.
    """

    def __init__(self, layers_or_path=None):
        self._layers: list[Layer] = []
        #: Free JSON metadata kept with the model file (word list, MFCC scaling, ...).
        self.extra: dict = {}
        #: Seed or Generator for the random initial weights of compile/add_classes.
        self.rng = np.random.default_rng()
        #: (frames, seconds) of the last inference call, for :attr:`statistics`.
        self._last_inference = (0, 0.0)
        if isinstance(layers_or_path, (str, os.PathLike)):
            from .fileformat import load_into
            load_into(self, layers_or_path)
        elif layers_or_path is not None:
            for layer in layers_or_path:
                self.add(layer)

    # -- structure ----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def input_shape(self) -> list[int]:
        self._need_layers()
        return list(self._layers[0].input_shape)

    @property
    def output_shape(self) -> list[int]:
        self._need_layers()
        return list(self._layers[-1].output_dims)

    def _need_layers(self):
        if not self._layers:
            raise ValueError("the model has no layers: add an InputData or "
                             "InputConvolutional layer first")

    def add(self, layer: Layer) -> None:
        """Append ``layer``, checking that it can take the previous layer's output."""
        if not isinstance(layer, Layer):
            raise TypeError(f"can only add edgekws.golden layers, not {layer!r}")
        if layer.input_dims is not None:
            raise ValueError(f"layer {layer.name!r} already belongs to a model")
        first = isinstance(layer, (InputData, InputConvolutional))
        if not self._layers and not first:
            raise ValueError(f"the first layer must be InputData or InputConvolutional, not "
                             f"{type(layer).__name__}")
        if self._layers and first:
            raise ValueError(f"{type(layer).__name__} can only be the first layer of a model")
        if self._layers:
            prev = self._layers[-1]
            if isinstance(prev, FullyConnected) and prev.learning is not None:
                raise ValueError("cannot add a layer after a compiled learning layer")
            if prev.output_bits is None:
                raise ValueError(f"{type(layer).__name__} {layer.name!r} cannot follow layer "
                                 f"{prev.name!r}: its output is raw potentials "
                                 "(activation=False); only the last layer may have no "
                                 "activation")
            dims, bits = prev.output_dims, prev.output_bits
        else:
            dims = layer.input_shape
            bits = 8 if isinstance(layer, InputConvolutional) else layer.in_bits
        if not layer.name:
            layer.name = f"{type(layer).__name__}_{len(self._layers)}"
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"a layer named {layer.name!r} is already in the model")
        layer._bind(dims, bits)
        layer.output_dims  # noqa: B018 - raises if the geometry does not fit
        layer._inbound = self._layers[-1] if self._layers else None
        self._layers.append(layer)

    def pop_layer(self) -> None:
        """Remove the last layer."""
        self._need_layers()
        layer = self._layers.pop()
        layer.input_dims = None
        layer._inbound = None

    def get_layer(self, name_or_index) -> Layer:
        if isinstance(name_or_index, (int, np.integer)):
            n = len(self._layers)
            if not -n <= name_or_index < n:
                raise ValueError(f"No layer at index {name_or_index}: the model has {n} "
                                 f"layers (indices 0..{n - 1}, or -1..-{n} from the end)")
            return self._layers[name_or_index]
        for layer in self._layers:
            if layer.name == name_or_index:
                return layer
        raise ValueError(f"no layer named {name_or_index!r}; layers are "
                         f"{[l.name for l in self._layers]}")

    @property
    def layer_count(self) -> int:
        return len(self._layers)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample, summed over layers (see ``Layer.macs``)."""
        return sum(layer.macs for layer in self._layers)

    # -- inference ----------------------------------------------------------------------
    def _check_input(self, x) -> np.ndarray:
        self._need_layers()
        if len(self._layers) == 1 and isinstance(self._layers[0], InputData):
            raise ValueError("a model without any neural layer cannot process inputs: add a "
                             "FullyConnected or SeparableConvolutional layer")
        if not isinstance(x, np.ndarray):
            raise TypeError(f"inputs must be a numpy uint8 array, not {type(x).__name__}")
        if x.dtype != np.uint8:
            raise TypeError(f"inputs must be uint8, not {x.dtype}")
        want = tuple(self.input_shape)
        if x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"inputs must have shape (n, {want[0]}, {want[1]}, {want[2]}), "
                             f"not {x.shape}")
        if x.shape[0] == 0:  # the engine fails with "dimension 0 set to 0"
            raise ValueError(f"inputs are empty: shape {x.shape} has no samples, give at "
                             "least one")
        first = self._layers[0]
        if isinstance(first, InputData) and x.size and x.max() >= (1 << first.in_bits):
            raise ValueError(f"input values must be in [0, {(1 << first.in_bits) - 1}] for "
                             f"input_bits={first.in_bits}, found {int(x.max())}")
        return x

    def _run(self, x, layers) -> np.ndarray:
        for layer in layers:
            x = layer.call(x)
        return x

    def forward(self, inputs: np.ndarray, batch_size: int = 0) -> np.ndarray:
        """Outputs of the last layer: uint8 spikes, or int32 potentials without activation."""
        x = self._check_input(inputs)
        with _api.InferenceClock(self, x.shape[0]):
            # The fused grid path when the model starts with layers it covers and every
            # bound allows exact floats (decided from the weights, before any input).
            plan = GridPlan.build(self._layers)
            if plan is not None:
                return self._batched(x, batch_size or GRID_CHUNK, plan.run)
            return self._batched(x, batch_size, lambda b: self._run(b, self._layers))

    def _batched(self, x, batch_size, fn):
        # Small batches keep each layer's arrays in cache (measured: 64 samples is twice
        # as fast as 1024 on the DS-CNN); results do not depend on the batch size. numpy
        # releases the GIL inside these kernels, so batches run on all cores at once.
        bs = batch_size or 64
        if x.shape[0] <= bs:
            return fn(x)
        chunks = [x[i:i + bs] for i in range(0, x.shape[0], bs)]
        # One BLAS thread per worker: nested BLAS threads made it 2x slower (measured).
        with threadpool_limits(limits=1, user_api="blas"):
            return np.concatenate(list(_pool().map(fn, chunks)))

    def predict(self, inputs: np.ndarray, batch_size: int = 0) -> np.ndarray:
        """``(potential - threshold) / act_step`` in float32 (last layer without activation)."""
        last = self._layers[-1] if self._layers else None
        if last is not None and last.activation:
            raise ValueError("predict needs a last layer with activation=False")
        pot = self.forward(inputs, batch_size)
        th = last._vars["threshold"]
        step = last._vars["act_step"]
        return ((pot - th).astype(np.float32) / step).astype(np.float32)

    def predict_classes(self, inputs: np.ndarray, num_classes: int = 0,
                        batch_size: int = 0) -> np.ndarray:
        """Class of the best neuron at every output position (n*X*Y labels).

        Neurons form contiguous blocks of ``N // num_classes`` (floor division, as the
        engine; a remainder of neurons joins extra classes past ``num_classes - 1``).
        """
        n = self.output_shape[-1] if self._layers else 0
        _api.neuron_classes(0, n, num_classes)  # check num_classes before the work
        out = self.predict(inputs, batch_size)
        return _api.neuron_classes(np.argmax(out, axis=-1).reshape(-1), n, num_classes)

    def evaluate(self, inputs: np.ndarray, labels: np.ndarray, num_classes: int = 0,
                 batch_size: int = 0) -> float:
        """Accuracy of the classes read from the last layer's outputs, as the engine.

        Outputs are :meth:`predict` without activation, :meth:`forward` spikes with it.
        For a spatial last layer the engine's own reading is kept (see
        :func:`edgekws.golden.akida_api.accuracy`).

        Parameters
        ----------
        inputs : ndarray of uint8, (n, X, Y, C)
        labels : ndarray of int, (n,)
        num_classes : int
            0 (one class per neuron) or a divisor of the neurons other than 1.
        """
        x = self._check_input(inputs)     # refuses an empty batch, as forward does
        labels = _api.check_labels(labels, x.shape[0])
        _api.check_evaluate_classes(self.output_shape[-1], num_classes)
        last = self._layers[-1]
        out = self.forward(x, batch_size) if last.activation else self.predict(x, batch_size)
        return _api.accuracy(out, labels, num_classes)

    @property
    def statistics(self) -> _api.Statistics:
        """Frame rate of the last ``forward``/``predict``/``evaluate`` call."""
        return _api.Statistics(*self._last_inference)

    # -- learning -----------------------------------------------------------------------
    def _learning_layer(self) -> FullyConnected:
        self._need_layers()
        layer = self._layers[-1]
        if not isinstance(layer, FullyConnected) or layer.weights_bits != 1 \
                or layer.input_bits != 1:
            raise ValueError("only a last FullyConnected layer with binary weights and "
                             "binary inputs can learn: the last layer is "
                             f"{type(layer).__name__} {layer.name!r} with weights_bits="
                             f"{getattr(layer, 'weights_bits', None)}, input_bits="
                             f"{layer.input_bits}")
        return layer

    def compile(self, optimizer: _learning.LearningParams, seed=None) -> None:
        """Prepare the last layer for native learning.

        Every neuron gets exactly ``num_weights`` ones at random positions (drawn from
        ``seed`` or :attr:`rng`: reproducible, unlike the engine); threshold_learning 0 and
        thswap at its initial value. threshold and act_step keep their values.
        """
        if not isinstance(optimizer, _learning.LearningParams):
            raise TypeError("optimizer must come from AkidaUnsupervised(...), not "
                            f"{optimizer!r}")
        layer = self._learning_layer()
        if layer.units % optimizer.num_classes:
            raise ValueError(f"{layer.units} units cannot be split evenly into "
                             f"{optimizer.num_classes} classes")
        if optimizer.num_weights > layer.num_inputs:
            raise ValueError(f"num_weights ({optimizer.num_weights}) cannot exceed the "
                             f"layer's {layer.num_inputs} inputs")
        rng = self.rng if seed is None else np.random.default_rng(seed)
        w = _learning.random_weights(layer.num_inputs, layer.units, optimizer.num_weights, rng)
        # threshold and act_step are kept, as the engine does (measured: compile on a
        # layer whose variables were set leaves them as they were).
        layer.attach_learning(optimizer, _learning.LearningState.initial(optimizer, w))

    @property
    def learning(self) -> _learning.LearningParams | None:
        last = self._layers[-1] if self._layers else None
        return getattr(last, "learning", None)

    def fit(self, inputs: np.ndarray, input_labels=-1) -> LazyArray:
        """Learn from ``inputs`` sample by sample with the native rule.

        Returns the last layer's outputs for each sample before its own update, as a
        :class:`~edgekws.golden.lazy_array.LazyArray`: the values are built when first
        read (``np.asarray`` gives the ndarray), since most callers drop them and they
        take longer to build than the learning itself (186 MB for 94,000 samples into
        495 neurons).
        """
        layer = self._learning_layer()
        if layer.learning is None:
            raise ValueError("the model is not compiled for learning: call "
                             "model.compile(AkidaUnsupervised(num_weights=...)) first")
        x = self._check_input(inputs)
        spikes = self._run(x, self._layers[:-1])
        state = layer.learning_state()
        pots = _learning.learn(layer.learning, state, fc_flatten(spikes), input_labels,
                               lazy=True)
        layer.store_learning_state(state)
        shape = (x.shape[0], 1, 1, layer.units)
        if not layer.activation:
            return LazyArray(shape, np.int32, lambda: pots.value.reshape(shape))
        # The activation variables as they are now, whenever the outputs are read.
        act = (layer.get_variable("threshold"), layer.get_variable("act_step"),
               layer.act_bits)
        return LazyArray(shape, np.uint8,
                         lambda: step_activation(pots.value.reshape(shape), *act))

    def add_classes(self, num_add_classes: int, seed=None) -> None:
        """Append classes to the learning layer; learned neurons stay as they are."""
        layer = self._learning_layer()
        if layer.learning is None:
            raise ValueError("add_classes needs a model compiled for learning")
        rng = self.rng if seed is None else np.random.default_rng(seed)
        params, state = _learning.add_classes(layer.learning, layer.learning_state(),
                                              num_add_classes, rng)
        layer.grow(state.weights.shape[1])
        layer.attach_learning(params, state)

    # -- description and files ------------------------------------------------------------
    def summary(self, file=None) -> str:
        """Print (and return) a table of layers, shapes and learning parameters."""
        from .summary import format_summary
        text = format_summary(self)
        print(text, file=file)
        return text

    def to_dict(self) -> dict:
        """The engine's model dictionary (``akida.Model.from_dict`` reads it)."""
        return _api.model_to_dict(self)

    def to_json(self) -> str:
        return _api.model_to_json(self)

    @staticmethod
    def from_dict(model_dict: dict) -> "Model":
        """A Model from :meth:`to_dict` or ``akida.Model.to_dict()`` output."""
        return _api.model_from_dict(model_dict)

    @staticmethod
    def from_json(model_str: str) -> "Model":
        import json
        return _api.model_from_dict(json.loads(model_str))

    def save(self, path) -> None:
        """Write the model, its learning state and :attr:`extra` atomically."""
        from .fileformat import save
        save(self, path, extra=self.extra or None)

    def __repr__(self):
        return f"Model({[l.name for l in self._layers]})"
