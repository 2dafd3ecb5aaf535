"""`evaluate` modules over the same functions: `evaluate.load(metric_path("motion_fid"))`."""

from __future__ import annotations

from pathlib import Path

METRICS = ("motion_fid", "motion_diversity", "beat_align_score")


def metric_path(name: str) -> str:
    """Folder of a bundled `evaluate` module, for `evaluate.load(...)` (works offline)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; bundled: {METRICS}")
    return str(Path(__file__).resolve().parent / name)
