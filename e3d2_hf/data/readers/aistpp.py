"""AIST++: `motions/<sequence>.pkl` (SMPL parameters, 60 FPS) + AIST Dance DB music `<music>.wav`.

Sequence names look like `gBR_sBM_cAll_d04_mBR0_ch02`; the music id (`mBR0`)
is the fifth field and the genre the first. Split files are the official
`crossmodal_{train,val,test}.txt` and Bailando's `ignore_list.txt`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...utils.errors import DataFileError
from ..kinematics import smpl_joints
from ..layout import MOTION_FPS, TOKEN_FPS
from ..music import music_features
from ..safe_pickle import safe_load_pickle
from ..schema import make_clip
from ..skeleton import SMPL24

GENRE_NAMES = {
    "gBR": "break", "gPO": "pop", "gLO": "lock", "gMH": "middle hip-hop", "gLH": "LA hip-hop",
    "gHO": "house", "gWA": "waack", "gKR": "krump", "gJS": "street jazz", "gJB": "ballet jazz",
}  # fmt: skip
REQUIRED_KEYS = ("smpl_poses", "smpl_trans", "smpl_scaling")

ANNOTATIONS_SOURCE = (
    "the AIST++ annotations (aist_plusplus_final/, CC BY 4.0) from "
    "https://google.github.io/aistplusplus_dataset/download.html"
)
MUSIC_SOURCE = "the AIST Dance DB music (mXXX.wav) from https://aistdancedb.ongaaccel.jp/"
SMPL_SOURCE = (
    "the SMPL model files (SMPL_MALE.pkl, registration required) from https://smpl.is.tue.mpg.de/"
)


def read_split(path: str | os.PathLike) -> list[str]:
    """Names in a split file, whitespace stripped and blank lines dropped."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "split file not found")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def split_names(splits_dir: str | os.PathLike, split: str) -> list[str]:
    """Bailando's splits: train minus the ignore list; test = crossmodal test + val."""
    splits_dir = Path(splits_dir)
    ignore_path = splits_dir / "ignore_list.txt"
    if not ignore_path.is_file():  # AIST++ keeps it beside splits/, Bailando inside
        ignore_path = splits_dir.parent / "ignore_list.txt"
    ignored = set(read_split(ignore_path)) if ignore_path.is_file() else set()
    if split == "train":
        return [n for n in read_split(splits_dir / "crossmodal_train.txt") if n not in ignored]
    if split == "test":
        names = read_split(splits_dir / "crossmodal_test.txt")
        val = splits_dir / "crossmodal_val.txt"
        return names + (read_split(val) if val.is_file() else [])
    raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")


def music_id(sequence: str) -> str:
    parts = sequence.split("_")
    if len(parts) < 6 or not parts[4].startswith("m"):
        raise ValueError(f"{sequence!r} is not an AIST++ sequence name (gXX_sXX_cXX_dXX_mXXX_chXX)")
    return parts[4]


def read_motion(
    path: str | os.PathLike, smpl_model_path: str | os.PathLike | None = None
) -> np.ndarray:
    """(T, 24, 3) joints from an AIST++ motion pickle, loaded without running code."""
    path = Path(path)
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise DataFileError(path, f"expected a dict of arrays, got {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DataFileError(path, f"missing keys {missing} (has {sorted(data)})")
    poses = np.asarray(data["smpl_poses"], dtype=np.float64)
    trans = np.asarray(data["smpl_trans"], dtype=np.float64)
    scaling = np.asarray(data["smpl_scaling"], dtype=np.float64).reshape(-1)
    if poses.ndim == 3:
        poses = poses.reshape(len(poses), -1)
    if poses.ndim != 2 or poses.shape[1] != 72:
        raise DataFileError(path, f"smpl_poses has shape {poses.shape}, expected (N, 72)")
    if trans.shape != (len(poses), 3):
        raise DataFileError(path, f"smpl_trans has shape {trans.shape}, expected ({len(poses)}, 3)")
    if scaling.size != 1 or not np.isfinite(scaling).all() or scaling[0] <= 0:
        raise DataFileError(path, f"smpl_scaling must be one positive number, got {scaling}")
    if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
        raise DataFileError(path, "motion contains NaN or infinite values")
    return smpl_joints(poses, trans, float(scaling[0]), model_path=smpl_model_path)


def read_sequence(
    root: str | os.PathLike,
    sequence: str,
    music_dir: str | os.PathLike | None = None,
    smpl_model_path: str | os.PathLike | None = None,
    cache_dir=None,
) -> dict[str, Any]:
    root = Path(root)
    motion_path = root / "motions" / f"{sequence}.pkl"
    music_path = Path(music_dir or root / "wav") / f"{music_id(sequence)}.wav"
    joints = read_motion(motion_path, smpl_model_path)
    music = music_features(music_path, MOTION_FPS, cache_dir=cache_dir)
    music_tokens = music_features(music_path, TOKEN_FPS, cache_dir=cache_dir)
    return make_clip(
        clip_id=sequence,
        genre=GENRE_NAMES.get(sequence[:3], sequence[:3]),
        skeleton=SMPL24,
        fps=MOTION_FPS,
        joints=joints,
        music=music,
        music_tokens=music_tokens,
        music_path=str(music_path),
        motion_path=str(motion_path),
    )


def present_sequences(
    root: str | os.PathLike, split: str, splits_dir: str | os.PathLike | None = None
) -> list[str]:
    """The `split` sequences whose motion file exists under `root/motions`."""
    root = Path(root)
    names = split_names(splits_dir or root / "splits", split)
    present = [n for n in names if (root / "motions" / f"{n}.pkl").is_file()]
    if not present:
        raise DataFileError(
            root / "motions", f"none of the {len(names)} {split} sequences is present"
        )
    return present


def check_layout(
    root: str | os.PathLike,
    split: str,
    music_dir: str | os.PathLike | None = None,
    smpl_model_path: str | os.PathLike | None = None,
) -> None:
    """Raise one error that names every missing piece of an AIST++ tree and where it comes from."""
    root = Path(root)
    problems: list[str] = []
    splits = root / "splits"
    split_files = {"train": ["crossmodal_train.txt"], "test": ["crossmodal_test.txt"]}.get(split)
    if split_files is None:
        raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")
    if not root.is_dir():
        raise DataFileError(root, f"AIST++ root not found; it is {ANNOTATIONS_SOURCE}")
    motions = root / "motions"
    if not motions.is_dir() or not any(motions.glob("*.pkl")):
        problems.append(f"{motions}/*.pkl (SMPL motions) missing: from {ANNOTATIONS_SOURCE}")
    missing_splits = [f for f in split_files if not (splits / f).is_file()]
    if missing_splits:
        problems.append(
            f"{splits}/{', '.join(missing_splits)} missing: the split files of {ANNOTATIONS_SOURCE}"
        )
    if not problems:
        music = Path(music_dir or root / "wav")
        songs = sorted({music_id(n) for n in present_sequences(root, split)})
        absent = [s for s in songs if not (music / f"{s}.wav").is_file()]
        if absent:
            shown = ", ".join(f"{s}.wav" for s in absent[:5]) + (" ..." if len(absent) > 5 else "")
            problems.append(
                f"{music}: {len(absent)} of {len(songs)} songs missing ({shown}): {MUSIC_SOURCE}; "
                "pass their folder with --music_dir"
            )
    if smpl_model_path is not None and not Path(smpl_model_path).is_dir():
        problems.append(
            f"{smpl_model_path}: SMPL model folder not found: {SMPL_SOURCE} "
            "(only for --smpl_model_path; the built-in skeleton needs none)"
        )
    if problems:
        raise DataFileError(root, "the AIST++ tree is incomplete:\n  " + "\n  ".join(problems))
