"""Results a leaderboard can read: the schema of the Motius music-to-dance leaderboard.

Motius (github.com/ZeyuLing/Motius, `docs/leaderboards/hf_space_music_to_dance/
music_to_dance_results.json`) publishes its table as `schema_version`, `task`, `dataset`,
`population`, `updated`, a `protocol` block and `rows` of metrics per method. e3d2-hf writes
the same fields for its own evaluation and states its protocol as it is: the Bailando
protocol at 60 FPS, no UTMR evaluator (those fields are null), and its own physical
diagnostics, whose definitions and units are named in `protocol.diagnostics`, since they are
not Motius's.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from .. import __version__
from ..data.layout import EVAL_FRAMES, MOTION_FPS
from .beat_align import BEAT_SIGMA, SPEED_SMOOTHING_SIGMA
from .metrics import METRICS
from .physical import CLEANED, CONTACT_HEIGHT, DIAGNOSTICS

SCHEMA_VERSION = 1
TASK = "music_to_dance"

MOTIUS_METRIC_FIELDS = (
    "fid_k", "fid_g", "diversity_k", "diversity_g", "beat_align", "beat_align_30fps", "fid_utmr",
)  # fmt: skip
"""The metric fields of a Motius row."""
METRIC_FIELDS = {m.leaderboard: name for name, m in METRICS.items() if m.leaderboard}
"""Motius row field -> e3d2-hf metric (evaluation/metrics.py)."""
DIAGNOSTIC_FIELDS = {
    # Motius row field: e3d2-hf diagnostic (our definitions; see protocol.diagnostics)
    "jitter": "jitter",
    "float": "floating",
    "slide": "foot_skating",
    "penetration": "penetration",
}
UNAVAILABLE_FIELDS = tuple(f for f in MOTIUS_METRIC_FIELDS if f not in METRIC_FIELDS)
"""Motius row fields no metric of the table fills: written as null."""


def results_document(
    rows: dict[str, dict],
    diagnostics: dict[str, dict],
    *,
    dataset: str,
    population: int,
    reference_pool: int,
    reference_rows: tuple[str, ...] = ("ground truth", "Ground truth"),
    reference_bug: bool = True,
    clip_frames: int = EVAL_FRAMES,
    checkpoints: dict[str, str] | None = None,
) -> dict:
    """One results document: a row per set of `rows` (metrics) / `diagnostics`, by name.

    `population`: generated dances per set; `reference_pool`: ground-truth dances behind the
    feature statistics; `clip_frames`: the length each generated dance is scored on (60 FPS).
    A metric that is undefined stays null, never a number.
    """
    checkpoints = checkpoints or {}
    out_rows = []
    for name in dict.fromkeys([*diagnostics, *rows]):
        metrics, diag = rows.get(name, {}), diagnostics.get(name, {})
        row = {
            "method": name,
            "version": f"e3d2-hf {__version__}",
            "reference": name in reference_rows,
            "checkpoint": checkpoints.get(name),
        }
        row.update({field: metrics.get(key) for field, key in METRIC_FIELDS.items()})
        row.update(dict.fromkeys(UNAVAILABLE_FIELDS))
        row.update({field: diag.get(key) for field, key in DIAGNOSTIC_FIELDS.items()})
        row["e3d2_diagnostics"] = {key: diag.get(key) for key, _, _ in DIAGNOSTICS}
        if f"{CLEANED}jitter" in diag:  # what `e3d2 dance` writes, after the contact clean-up
            row["e3d2_cleaned_diagnostics"] = {
                key: diag.get(f"{CLEANED}{key}") for key, _, _ in DIAGNOSTICS
            }
        if metrics.get("undefined"):
            row["undefined"] = metrics["undefined"]
        out_rows.append(row)
    units = {key: f"{title}, {unit}" for key, title, unit in DIAGNOSTICS}
    return {
        "schema_version": SCHEMA_VERSION,
        "task": TASK,
        "dataset": dataset,
        "population": population,
        "updated": datetime.date.today().isoformat(),
        "protocol": {
            "official_reference_pool": reference_pool,
            "official_motion_fps": MOTION_FPS,
            "motius_motion_fps": None,
            "utmr_evaluator": None,
            "utmr_embedding_normalization": None,
            "beat_tolerance_seconds": BEAT_SIGMA / MOTION_FPS,
            "beat_smoothing_seconds": SPEED_SMOOTHING_SIGMA / MOTION_FPS,
            "evaluator": f"e3d2-hf {__version__}, Bailando protocol (docs/bailando.md §6)",
            "clip_seconds": clip_frames / MOTION_FPS,
            "clip_frames": clip_frames,
            "kinetic_energy_reference_bug": reference_bug,
            "contact_height_m": CONTACT_HEIGHT,
            "diagnostics": {
                "jitter": units["jitter"],
                "float": units["floating"],
                "slide": units["foot_skating"],
                "penetration": units["penetration"],
                "note": "e3d2-hf's definitions (e3d2_hf/evaluation/physical.py), not Motius's",
            },
        },
        "rows": out_rows,
        "paper_parity": [],
    }


def write_results(document: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
