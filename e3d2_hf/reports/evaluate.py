"""What `e3d2 evaluate` writes: metrics.json, diagnostics.json and metrics.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..utils.outputs import claim_output_dir, write_owned_files
from .tables import diagnostics_table, metrics_table


def write_report(
    rows: dict[str, dict[str, float]],
    output_dir: str | os.PathLike,
    diagnostics: dict[str, dict] | None = None,
) -> tuple[Path, Path]:
    """metrics.json (one row per set), diagnostics.json and metrics.md (both tables)."""
    output_dir = claim_output_dir(output_dir, "choose another --output_dir")
    json_path, md_path = output_dir / "metrics.json", output_dir / "metrics.md"
    files = {json_path.name: json.dumps(rows, indent=2)}
    if diagnostics:
        files["diagnostics.json"] = json.dumps(diagnostics, indent=2)
    text = metrics_table(rows)
    if diagnostics:
        text += "\n\nPhysical and motion diagnostics (`e3d2_hf/evaluation/physical.py`):\n\n"
        text += diagnostics_table(diagnostics)
    files[md_path.name] = text + "\n"
    write_owned_files(output_dir, files)
    return json_path, md_path
