"""Bridge to the real Akida Execution Engine (the ``akida`` package), the oracle.

:func:`to_engine` rebuilds a golden model in ``akida`` with the same layers and
variables, so that any golden model (a trained one, a random one) can be checked or
timed against the engine. ``akida`` is a test/benchmark dependency, imported lazily.
"""
from __future__ import annotations

from .layers import Padding, PoolType


def _akida():
    try:
        import akida
    except ImportError as exc:  # pragma: no cover - akida is in the dev extra
        raise ImportError("the akida engine is needed here: pip install akida==2.19.3") from exc
    return akida


def engine_layer(layer):
    """An ``akida`` layer with the same constructor arguments as golden ``layer``."""
    akida = _akida()
    cfg = dict(layer.get_config())
    if "padding" in cfg:
        cfg["padding"] = getattr(akida.Padding, Padding[cfg["padding"]].name)
    if "pool_type" in cfg:
        cfg["pool_type"] = getattr(akida.PoolType, PoolType[cfg["pool_type"]].name)
    return getattr(akida, type(layer).__name__)(**cfg)


def to_engine(model, compile_learning: bool = True):
    """An ``akida.Model`` equal to ``model``: layers, variables and learning parameters.

    The engine's spread-selection offset starts at 0 (setting any variable resets it),
    so learning continues identically only from a golden layer whose offset is 0.
    """
    akida = _akida()
    eng = akida.Model()
    for layer in model.layers:
        eng.add(engine_layer(layer))
    params = model.learning
    if params is not None and compile_learning:
        eng.compile(optimizer=akida.AkidaUnsupervised(**params.to_dict()))
    for gl, el in zip(model.layers, eng.layers):
        for name in gl.get_variable_names():
            if name in ("threshold_learning", "thswap") and (params is None or not compile_learning):
                continue
            el.set_variable(name, gl.get_variable(name))
    return eng
