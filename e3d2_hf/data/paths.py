"""Where e3d2-hf keeps what it fetches or computes once: `$E3D2_HOME` (like `$HF_HOME`)."""

from __future__ import annotations

import os
from pathlib import Path


def e3d2_home() -> Path:
    """`$E3D2_HOME`, else `$XDG_CACHE_HOME/e3d2_hf`, else `~/.cache/e3d2_hf`."""
    if os.environ.get("E3D2_HOME"):
        return Path(os.environ["E3D2_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "e3d2_hf"


def datasets_home() -> Path:
    """Downloaded raw datasets, one folder each: `<E3D2_HOME>/datasets/<name>`."""
    return e3d2_home() / "datasets"
