"""Dance with Melody (Tang et al. 2018): `DANCE_<genre>_<n>/{audio.mp3, skeletons.json, config.json}`.

Motion is 25 FPS, root-centred, y-up, centimetres; `center` holds the body's
trajectory. The dance starts `start_position / 25` seconds into the song.

The recorded heights are not level: in most pieces the whole body rises through the piece
(0.1 to 1 cm/s, up to 45 cm over a piece) while the feet keep their place under the root, a
capture drift rather than a dancer climbing. `FLOORS`: `levelled` (the default) stands every
frame on a floor at height 0 (`motion.level_floor`); `recorded` keeps the heights as captured.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from ...utils.errors import DataFileError
from ..layout import MOTION_FPS, TOKEN_FPS
from ..motion import level_floor, resample
from ..music import music_features
from ..schema import make_clip
from ..skeleton import DANCE_WITH_MELODY23

SOURCE_FPS = 25.0
CENTIMETRES = 0.01
GENRE_NAMES = {"C": "cha-cha", "R": "rumba", "T": "tango", "W": "waltz"}
FLOORS = ("levelled", "recorded")
"""How the reader treats the recorded heights (see the module's docstring); the first is the
default."""


def floor_option() -> Any:
    """The `--floor` field of every command that may prepare these pieces (`e3d2 prepare`,
    `e3d2 demo`, the recipes' data options)."""
    return field(
        default=FLOORS[0],
        metadata={
            "choices": FLOORS,
            "help": "dance-with-melody: stand every frame on a level floor (the recorded "
            "heights drift up through a piece), or keep the heights as recorded",
        },
    )


_FOLDER = re.compile(r"^DANCE_([A-Z])_(\d+)$")


def is_piece_folder(folder: str | os.PathLike) -> bool:
    """`folder` is named as a piece is (`DANCE_<genre>_<n>`)."""
    return bool(_FOLDER.match(Path(folder).name))


def list_sequences(root: str | os.PathLike) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DataFileError(root, "Dance-with-Melody folder not found")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name))
    if not folders:
        raise DataFileError(root, "no DANCE_<genre>_<n> folders inside")
    return folders


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataFileError(path, "file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(path, f"not valid JSON ({exc})") from None


def read_motion(folder: Path, floor: str = FLOORS[0]) -> np.ndarray:
    """(T, 23, 3) absolute joint positions in metres at 25 FPS, on a level floor unless
    `floor="recorded"`."""
    if floor not in FLOORS:
        raise ValueError(f"floor must be one of {FLOORS}, got {floor!r}")
    path = folder / "skeletons.json"
    data = _read_json(path)
    if not isinstance(data, dict) or "skeletons" not in data or "center" not in data:
        raise DataFileError(path, "expected keys 'skeletons' and 'center'")
    try:
        skeletons = np.asarray(data["skeletons"], dtype=np.float64)
        center = np.asarray(data["center"], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataFileError(path, f"skeletons/center are not numeric arrays ({exc})") from None
    n_joints = DANCE_WITH_MELODY23.num_joints
    if skeletons.ndim != 3 or skeletons.shape[1:] != (n_joints, 3):
        raise DataFileError(
            path, f"'skeletons' has shape {skeletons.shape}, expected (T, {n_joints}, 3)"
        )
    if center.shape != (len(skeletons), 3):
        raise DataFileError(
            path, f"'center' has shape {center.shape}, expected ({len(skeletons)}, 3)"
        )
    if not (np.isfinite(skeletons).all() and np.isfinite(center).all()):
        raise DataFileError(path, "motion contains NaN or infinite values")
    joints = (skeletons + center[:, None, :]) * CENTIMETRES
    if floor == "recorded":
        return joints
    skeleton = DANCE_WITH_MELODY23
    return level_floor(joints, skeleton.floor_joints, skeleton.up_index, SOURCE_FPS)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_sequence(
    folder: str | os.PathLike,
    cache_dir: str | os.PathLike | None | bool = None,
    floor: str = FLOORS[0],
) -> dict[str, Any]:
    """One clip row: motion resampled to 60 FPS, music cropped at the dance start, both truncated;
    `floor` as `read_motion`'s."""
    folder = Path(folder)
    match = _FOLDER.match(folder.name)
    if not match:
        raise DataFileError(folder, "folder name is not DANCE_<genre>_<n>")
    config_path = folder / "config.json"
    config = _read_json(config_path)
    if not isinstance(config, dict) or "start_position" not in config:
        raise DataFileError(config_path, "expected key 'start_position'")
    for key in ("start_position", "end_position"):
        value = config.get(key)
        if (key == "start_position" or value is not None) and not _finite_number(value):
            raise DataFileError(
                config_path, f"{key} must be a finite number of frames, got {value!r}"
            )
    start = float(config["start_position"]) / SOURCE_FPS
    end = config.get("end_position")
    if start < 0 or (end is not None and float(end) / SOURCE_FPS <= start):
        raise DataFileError(
            config_path,
            f"start_position {config['start_position']} must be >= 0 and before end_position {end}",
        )
    motion = resample(read_motion(folder, floor), SOURCE_FPS, MOTION_FPS)
    audio = folder / "audio.mp3"
    duration = len(motion) / MOTION_FPS + 1.0
    music = music_features(audio, MOTION_FPS, offset=start, duration=duration, cache_dir=cache_dir)
    music_tokens = music_features(
        audio, TOKEN_FPS, offset=start, duration=duration, cache_dir=cache_dir
    )
    return make_clip(
        clip_id=folder.name,
        genre=GENRE_NAMES.get(match.group(1), match.group(1)),
        skeleton=DANCE_WITH_MELODY23,
        fps=MOTION_FPS,
        joints=motion,
        music=music,
        music_tokens=music_tokens,
        music_path=str(audio.resolve()),
        motion_path=str((folder / "skeletons.json").resolve()),
    )
