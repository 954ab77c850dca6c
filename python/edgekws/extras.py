"""Optional dependencies: a command that needs a missing one says which extra brings it.

The base install (``pip install edgekws``) covers the golden model, the host driver and
the board CLI; training, simulation, FPGA builds, neural speech synthesis and the
microphone come with the extras declared in ``pyproject.toml``. A command calls
:func:`require` on entry, before any long work, so a missing extra costs one line::

    edgekws train needs TensorFlow: pip install 'edgekws[train]'

instead of a traceback from deep inside the command.
"""
from __future__ import annotations

import importlib.util

__all__ = ["MissingExtra", "require", "available"]


class MissingExtra(Exception):
    """A command's optional dependency is not installed; the message says how to get it.

    ``edgekws`` (:func:`edgekws.cli.main`) prints the message alone and exits with 2.
    """


def available(module: str) -> bool:
    """True if ``module`` can be imported (found on the path, without importing it).

    A module set to ``None`` in :data:`sys.modules` counts as missing, as ``import``
    treats it; tests use that to simulate an absent package.
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):   # a missing parent package, or a __spec__ of None
        return False


def require(module: str, extra: str | None, what: str, name: str | None = None) -> None:
    """Raise :class:`MissingExtra` unless ``module`` can be imported.

    Parameters
    ----------
    module : str
        Import name, e.g. ``"tensorflow"``.
    extra : str or None
        The ``edgekws`` extra that installs it (``"train"``, ``"sim"``, ...); ``None`` for
        a base dependency, whose hint names the PyPI package ``name`` instead.
    what : str
        The command that needs it, e.g. ``"edgekws train"``.
    name : str, optional
        The dependency's name in the message (default: ``module``); for ``extra=None``
        it must be the PyPI package name.

    Raises
    ------
    MissingExtra
        ``"<what> needs <name>: pip install 'edgekws[<extra>]'"``.
    """
    if not isinstance(extra, (str, type(None))) or extra == "":
        raise ValueError(f"extra must be an extra's name or None, not {extra!r}")
    if available(module):
        return
    name = name or module
    install = f"'edgekws[{extra}]'" if extra else f"'{name}'"
    raise MissingExtra(f"{what} needs {name}: pip install {install}")
