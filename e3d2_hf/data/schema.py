"""The clip Dataset schema shared by every reader, and its validation."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.errors import DataFileError
from .layout import FRAMES_PER_TOKEN, MusicLayout
from .skeleton import Skeleton

logger = logging.getLogger(__name__)

CLIP_COLUMNS = (
    "id",
    "genre",
    "skeleton",
    "fps",
    "num_frames",
    "joints",
    "music",
    "music_tokens",
    "beat_frames",
    "music_path",
    "motion_path",
)


def clip_features(skeleton: Skeleton):
    """`datasets.Features` of a clip row.

    joints: (T, 3J) absolute positions in metres, y-up, at `fps`;
    music: (T, 438) features at `fps`; music_tokens: (T // 8, 438) at fps / 8;
    beat_frames: music beat frames (column 53) inside the clip.
    """
    from datasets import Array2D, Features, Sequence, Value

    return Features(
        {
            "id": Value("string"),
            "genre": Value("string"),
            "skeleton": Value("string"),
            "fps": Value("float32"),
            "num_frames": Value("int32"),
            "joints": Array2D(shape=(None, 3 * skeleton.num_joints), dtype="float32"),
            "music": Array2D(shape=(None, MusicLayout.DIM), dtype="float32"),
            "music_tokens": Array2D(shape=(None, MusicLayout.DIM), dtype="float32"),
            "beat_frames": Sequence(Value("int32")),
            "music_path": Value("string"),
            "motion_path": Value("string"),
        }
    )


MIN_CLIP_FRAMES = 4 * FRAMES_PER_TOKEN
"""Shorter clips cannot hold the VQ-VAE's downsampling and one step of the policy."""


def make_clip(
    *,
    clip_id: str,
    genre: str,
    skeleton: Skeleton,
    fps: float,
    joints: np.ndarray,
    music: np.ndarray,
    music_tokens: np.ndarray,
    music_path: str,
    motion_path: str,
) -> dict[str, Any]:
    """Validate one clip and truncate music and motion to the shorter of the two."""
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim == 3:
        joints = joints.reshape(len(joints), -1)
    if joints.ndim != 2 or joints.shape[1] != 3 * skeleton.num_joints:
        raise DataFileError(
            motion_path, f"motion has shape {joints.shape}, expected (T, {3 * skeleton.num_joints})"
        )
    if not np.isfinite(joints).all():
        raise DataFileError(motion_path, "motion contains NaN or infinite values")
    n = min(len(joints), len(music))
    if n < MIN_CLIP_FRAMES:
        raise DataFileError(
            motion_path,
            f"{n} frames of motion with music; a clip needs at least {MIN_CLIP_FRAMES} "
            f"({MIN_CLIP_FRAMES / fps:g} s)",
        )
    if len(music) < len(joints):
        logger.warning(
            "%s: music covers %d frames, motion %d: truncating the motion to the music",
            music_path, len(music), len(joints),
        )  # fmt: skip
    n_tokens = min(len(music_tokens), n // FRAMES_PER_TOKEN)
    music = np.asarray(music[:n], dtype=np.float32)
    from .music import beat_frames

    return {
        "id": clip_id,
        "genre": genre,
        "skeleton": skeleton.name,
        "fps": float(fps),
        "num_frames": int(n),
        "joints": joints[:n],
        "music": music,
        "music_tokens": np.asarray(music_tokens[:n_tokens], dtype=np.float32),
        "beat_frames": beat_frames(music).astype(np.int32),
        "music_path": os.fspath(music_path),
        "motion_path": os.fspath(motion_path),
    }


def build_dataset(rows: Iterable[dict[str, Any]], skeleton: Skeleton):
    """A `datasets.Dataset` of clip rows (generator-backed, so memory stays flat)."""
    from datasets import Dataset

    rows = list(rows)
    if not rows:
        raise ValueError("no clips to build a dataset from")

    def gen():
        yield from rows

    return Dataset.from_generator(gen, features=clip_features(skeleton), keep_in_memory=True)


def validate_clip_dataset(dataset, source: str | os.PathLike = "dataset") -> None:
    """Raise `DataFileError` unless `dataset` has the clip schema."""
    missing = [c for c in CLIP_COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataFileError(source, f"not a clip dataset: missing columns {missing}")


def load_clip_dataset(path: str | os.PathLike):
    """`load_from_disk` + schema validation, with errors that name the folder."""
    from datasets import load_from_disk

    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "dataset folder not found")
    try:
        dataset = load_from_disk(str(path))
    except Exception as exc:
        raise DataFileError(path, f"not a saved dataset ({exc})") from None
    validate_clip_dataset(dataset, path)
    return dataset
