"""Shared fixtures: the real data next to the checkout, and an isolated feature cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
os.environ.setdefault("E3D2_CACHE", str(REPO / ".cache" / "e3d2"))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped, with the reason, if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not available: {path} is missing (it lives in ../shared/data next to the checkout)"
        )
    return path
