"""Skeletons, forward kinematics, motion utilities, music features and dataset readers.

`data/` knows nothing of models or trainers.
"""

from .layout import (
    FRAMES_PER_TOKEN,
    MOTION_FPS,
    TOKEN_FPS,
    WINDOW_FRAMES,
    WINDOW_TOKENS,
    MusicLayout,
)
from .skeleton import DANCE_WITH_MELODY23, SKELETONS, SMPL24, Skeleton, get_skeleton

__all__ = [
    "DANCE_WITH_MELODY23",
    "FRAMES_PER_TOKEN",
    "MOTION_FPS",
    "SKELETONS",
    "SMPL24",
    "TOKEN_FPS",
    "WINDOW_FRAMES",
    "WINDOW_TOKENS",
    "MusicLayout",
    "Skeleton",
    "get_skeleton",
]
