"""A restricted unpickler for AIST++ motion files.

AIST++ ships `motions/*.pkl` as pickles of a dict of numpy arrays. A pickle can
run arbitrary code on load, so only the globals that rebuild numpy arrays and
scalars are allowed; anything else is refused before it is imported.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

from ..utils.errors import DataFileError, UnsafePickleError

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol-2 pickles encode array bytes through it
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            self._source,
            f"refusing to unpickle global {module}.{name}: only numpy arrays and plain containers are allowed",
        )


def safe_load_pickle(path: str | os.PathLike) -> Any:
    """Load a pickle that may only hold numpy arrays, scalars and plain containers."""
    source = os.fspath(path)
    if not os.path.isfile(source):
        raise DataFileError(source, "file not found")
    try:
        with open(source, "rb") as f:
            return _RestrictedUnpickler(f, source).load()
    except UnsafePickleError:
        raise
    except Exception as exc:
        raise DataFileError(
            source, f"not a readable pickle ({type(exc).__name__}: {exc})"
        ) from None
