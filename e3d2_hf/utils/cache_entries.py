"""Files the toolkit caches (music features, ground-truth features): each entry carries its
key and a checksum of its arrays, so a truncated, edited or swapped entry is never trusted."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

_KEY, _SHA = "__key__", "__sha256__"


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_cache_entry(path: str | os.PathLike, key: str, **arrays: np.ndarray) -> None:
    """Save `arrays` under `key`, written beside and renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays, **{_KEY: np.array(key), _SHA: np.array(_digest(arrays))})
    os.replace(tmp, path)


def read_cache_entry(path: str | os.PathLike, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of the entry at `path` if it is whole, finite, unchanged and the entry of
    `key`; None otherwise (the caller recomputes and rewrites it)."""
    try:
        entry = np.load(path, allow_pickle=False)
        if not isinstance(entry, np.lib.npyio.NpzFile):
            return None
        with entry:
            arrays = {name: entry[name] for name in entry.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    stored_key, digest = arrays.pop(_KEY, None), arrays.pop(_SHA, None)
    if stored_key is None or digest is None or str(stored_key) != key:
        return None
    if str(digest) != _digest(arrays):
        return None
    if not all(np.issubdtype(a.dtype, np.number) and np.isfinite(a).all() for a in arrays.values()):
        return None
    return arrays
