"""How a dance is drawn as a body: limb and head sizes, side colours, where the dancer faces.

One definition for the mp4 renderer and the glTF export, so the video, the browser view and
Blender show the same figure.
"""

from __future__ import annotations

import numpy as np

from ..data.skeleton import Skeleton

LIMB_RADIUS = 0.035  # m
JOINT_RADIUS = 0.045  # m
HEAD_RADIUS = 0.11  # m
FRONT_THREE_QUARTER_DEG = 35.0
"""The camera's azimuth from the dancer's front: the moves are seen, and depth too."""

COLOURS = {"left": (0.84, 0.15, 0.16), "right": (0.12, 0.47, 0.71), "centre": (0.35, 0.35, 0.38)}
"""RGB of a joint or limb by side (matplotlib's tab:red / tab:blue, and a dark grey)."""


def side(skeleton: Skeleton, joint: int) -> str:
    name = skeleton.joint_names[joint]
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "centre"


def up_vector(skeleton: Skeleton) -> np.ndarray:
    return np.eye(3)[{"x": 0, "y": 1, "z": 2}[skeleton.up_axis]]


def facing(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """The dancer's mean forward direction (unit, horizontal): (left - right) x up, over the
    hips and the shoulders. A skeleton without them faces +z (SMPL's rest pose does)."""
    up = up_vector(skeleton)
    names = skeleton.joint_names
    across = np.zeros(3)
    for part in ("hip", "shoulder"):
        if f"left_{part}" in names and f"right_{part}" in names:
            vector = (
                joints[:, names.index(f"left_{part}")] - joints[:, names.index(f"right_{part}")]
            )
            across = across + vector.mean(0)
    forward = np.cross(across, up)
    forward -= forward.dot(up) * up
    norm = np.linalg.norm(forward)
    return forward / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])


def head_centres(joints: np.ndarray, skeleton: Skeleton) -> np.ndarray | None:
    """(T, 3) centre of the head sphere: a head radius past the head joint, away from its parent."""
    if skeleton.head is None:
        return None
    head = joints[:, skeleton.head]
    parent = skeleton.parents[skeleton.head]
    away = head - joints[:, parent] if parent >= 0 else np.tile(up_vector(skeleton), (len(head), 1))
    away /= np.maximum(np.linalg.norm(away, axis=-1, keepdims=True), 1e-9)
    return head + 0.8 * HEAD_RADIUS * away
