"""Reading the user's `.npy` / `.npz` files: plain arrays only, every failure naming the file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..utils.errors import DataFileError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def load_arrays(path: str | os.PathLike, what: str = "numpy file") -> dict[str, np.ndarray]:
    """{name: array} of an `.npz`, or {"joints": array} of an `.npy`; pickles are refused.

    A missing, empty, truncated or foreign file is a `DataFileError` that says which.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, f"{what} not found")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != NPY_MAGIC and not magic.startswith(ZIP_MAGIC):
        raise DataFileError(path, f"not a .npy or .npz file (a {what} was expected)")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return {"joints": data}
        with data:
            return {name: data[name] for name in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataFileError(path, "holds pickled objects, which are refused") from None
        raise DataFileError(path, f"unreadable ({' '.join(str(exc).split())})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(path, f"truncated or damaged ({' '.join(str(exc).split())})") from None
