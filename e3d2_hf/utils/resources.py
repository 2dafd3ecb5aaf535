"""Folders that live at the top of the checkout and ship inside the wheel (see setup.py)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def shipped_folder(in_package: str, in_checkout: str) -> Path:
    """The wheel's copy `e3d2_hf/<in_package>`, else the checkout's own `<in_checkout>`."""
    packaged = PACKAGE / in_package
    return packaged if packaged.is_dir() else PACKAGE.parent / in_checkout
