"""An array built on first use: what ``Model.fit`` returns.

The engine's ``fit`` returns every sample's potentials, 186 MB for the tutorial's 94,000
samples into 495 neurons, and most callers drop them: building that array cost more than
the learning itself. :class:`LazyArray` knows its shape and dtype at once and builds the
values the first time they are read; it then behaves as that ndarray
(``np.asarray``, numpy functions and ufuncs, operators, indexing, methods).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = ["LazyArray"]


def _arrays(obj):
    """``obj`` with every :class:`LazyArray` in it (also inside lists and tuples) built."""
    if isinstance(obj, LazyArray):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    return obj


class LazyArray(NDArrayOperatorsMixin):
    """An ndarray of known shape and dtype whose values ``build()`` makes on first use.

    Parameters
    ----------
    shape : tuple of int
    dtype : dtype
    build : callable
        Called once, with no arguments, to make the ndarray; it must return exactly
        ``shape`` and ``dtype`` (checked).
    """

    __slots__ = ("shape", "dtype", "_build", "_value")

    def __init__(self, shape, dtype, build: Callable[[], np.ndarray]):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._build = build
        self._value = None

    @property
    def value(self) -> np.ndarray:
        """The ndarray, built now if it was not yet."""
        if self._value is None:
            value = self._build()
            if value.shape != self.shape or value.dtype != self.dtype:
                raise RuntimeError(f"lazy array built as {value.shape} {value.dtype}, "
                                   f"announced as {self.shape} {self.dtype}")
            self._value, self._build = value, None
        return self._value

    @property
    def built(self) -> bool:
        """Whether the values have been made."""
        return self._value is not None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        a = self.value
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*_arrays(inputs), **_arrays(kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return func(*_arrays(args), **_arrays(kwargs))

    def __getattr__(self, name):
        # Only reached for what the class lacks: ndarray's methods and attributes.
        if name.startswith("__") or name in LazyArray.__slots__:
            raise AttributeError(name)
        return getattr(self.value, name)

    def __getitem__(self, key):
        return self.value[_arrays(key)]

    def __setitem__(self, key, item):
        self.value[_arrays(key)] = _arrays(item)

    def __iter__(self):
        return iter(self.value)

    def __bool__(self):
        return bool(self.value)

    def __reduce__(self):
        # Pickled as the plain ndarray: the builder may be a closure.
        return self.value.__reduce__()

    def __copy__(self):
        return self.value.copy()

    def __deepcopy__(self, memo):
        return self.value.copy()

    def __repr__(self):
        return repr(self.value)

    def __str__(self):
        return str(self.value)
