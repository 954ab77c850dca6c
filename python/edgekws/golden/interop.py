"""Bring Akida 1.0 models into the golden model and back.

:func:`from_akida` reads an ``akida.Model`` (or a ``.fbz`` file saved by ``akida``) made
of InputData, InputConvolutional, SeparableConvolutional and FullyConnected layers;
:func:`to_akida` builds the ``akida.Model`` of a golden model. Both need the ``akida``
package (``pip install akida==2.19.3``) and say so when it is missing.
"""
from __future__ import annotations

import os

from .akida_api import PARAMETERS, model_from_dict
from .engine import to_engine


def _akida(what: str):
    try:
        import akida
    except ImportError:
        raise ImportError(f"{what} needs the akida package (the Akida Execution Engine): "
                          "pip install akida==2.19.3") from None
    return akida


def _engine_model(model_or_path):
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no Akida model file at {path!r}")
        akida = _akida("from_akida")
        try:
            return akida.Model(path)
        except Exception as exc:  # the engine raises bare RuntimeErrors on bad files
            raise ValueError(f"{path!r} is not an Akida model file the installed akida "
                             f"{akida.__version__} can read: {exc}") from None
    akida = _akida("from_akida")
    if not isinstance(model_or_path, akida.Model):
        raise TypeError(f"from_akida takes an akida.Model or the path of a .fbz file, not "
                        f"{type(model_or_path).__name__}")
    return model_or_path


def engine_dict(eng) -> dict:
    """``eng.to_dict()`` with the variables kept as arrays (no slow nested lists)."""
    layers = []
    for layer in eng.layers:
        p = layer.parameters
        type_name = p.layer_type.name
        if type_name not in PARAMETERS:
            raise ValueError(f"layer {layer.name!r} is a {type_name}, which is not one of "
                             f"the Akida 1.0 layers edgekws supports: {sorted(PARAMETERS)}")
        params = {a: getattr(p, a) for a in dir(p)
                  if not a.startswith("_") and a != "layer_type"}
        variables = {}
        for name in layer.get_variable_names():
            v = layer.get_variable(name)
            variables[name] = {"shape": v.shape, "dtype": str(v.dtype), "data": v}
        layers.append({"name": layer.name, "parameters": {**params, "layer_type": type_name},
                       "variables": variables})
    learning = None
    if eng.learning is not None:
        learning = {a: getattr(eng.learning, a) for a in dir(eng.learning)
                    if not a.startswith("_")}
    return {"IP version": eng.ip_version.name, "layers": layers, "learning": learning}


def from_akida(model_or_path):
    """The golden Model equal to an Akida 1.0 model: layers, variables, learning.

    Parameters
    ----------
    model_or_path : akida.Model or str or os.PathLike
        A model of the ``akida`` package, or the path of a file it saved (``.fbz``).

    Returns
    -------
    edgekws.golden.Model
        Same outputs as the engine on every input. A learning layer continues learning
        identically when the engine's spread-selection offset is 0 (any ``set_variable``
        or a reload resets it); the engine does not expose it.

    Raises
    ------
    ImportError
        The ``akida`` package is not installed.
    ValueError
        The model is not Akida 1.0 or holds a layer type edgekws does not support (named
        in the message).
    """
    eng = _engine_model(model_or_path)
    ip = eng.ip_version.name
    if ip != "v1":
        raise ValueError(f"only Akida 1.0 models (IpVersion.v1) can be imported; this model "
                         f"is {ip}")
    return model_from_dict(engine_dict(eng))


def to_akida(model, path=None):
    """The ``akida.Model`` equal to golden ``model``; saved to ``path`` (.fbz) if given."""
    from .model import Model
    if not isinstance(model, Model):
        raise TypeError(f"to_akida takes an edgekws.golden.Model, not {type(model).__name__}")
    _akida("to_akida")
    eng = to_engine(model)
    if path is not None:
        eng.save(os.fspath(path))
    return eng
