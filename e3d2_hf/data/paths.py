"""Where e3d2-hf keeps what it fetches or computes once: `$E3D2_HOME` (like `$HF_HOME`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..utils.errors import DataFileError


def e3d2_home() -> Path:
    """`$E3D2_HOME`, else `$XDG_CACHE_HOME/e3d2_hf`, else `~/.cache/e3d2_hf`; a setting that
    names a file is an error naming the variable."""
    if os.environ.get("E3D2_HOME"):
        home, source = Path(os.environ["E3D2_HOME"]).expanduser(), "E3D2_HOME"
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        home, source = Path(cache) / "e3d2_hf", "XDG_CACHE_HOME"
    return checked_folder_setting(home, source)


def checked_folder_setting(folder: Path, variable: str) -> Path:
    """`folder` (set by the environment `variable`), refused when it or a parent is a file."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                raise DataFileError(
                    path,
                    f"is a file, not a folder: {variable} must name a folder where e3d2-hf may "
                    "keep its cache",
                )
            break
    return folder


def datasets_home() -> Path:
    """Downloaded raw datasets, one folder each: `<E3D2_HOME>/datasets/<name>`."""
    return e3d2_home() / "datasets"
