"""Kinetic motion features (72-d for SMPL-24), vectorised over frames.

Same numbers as the AIST++/Bailando `extract_kinetic_features` (docs/bailando.md
§6): per joint, [horizontal KE, vertical KE, energy expenditure], joint-major,
frame time 1/60, windowed velocities over j in [-2, 2]. The released code
misses a pair of parentheses in the acceleration, so its "energy expenditure"
measures position (about 3600 x the distance from the origin); that is the
default (`reference_bug=True`) because published FID_k numbers depend on it.
"""

from __future__ import annotations

import numpy as np

from ..data.layout import MOTION_FPS

SLIDING_WINDOW = 2
COMPONENTS = ("horizontal KE", "vertical KE", "energy expenditure")
"""The three kinetic features of each joint, in their order."""


def feature_name(index: int, joint_names: tuple[str, ...] | None = None) -> str:
    """Feature `index` of the joint-major layout: 'left_wrist vertical KE' ('joint 20 …' without
    names)."""
    joint = joint_names[index // 3] if joint_names else f"joint {index // 3}"
    return f"{joint} {COMPONENTS[index % 3]}"


def _window_sum(
    terms: np.ndarray, valid_lo: int, valid_hi: int, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """For frames i = 1..T-1, sum terms[k] over k = i + j, j in [-2, 2], lo <= k <= hi.

    Summation runs in increasing j, as in the reference loop. Returns the sums
    (T-1, ...) and the counts (T-1,).
    """
    frames = np.arange(1, n_frames)
    total = np.zeros((n_frames - 1, *terms.shape[1:]))
    count = np.zeros(n_frames - 1)
    for j in range(-SLIDING_WINDOW, SLIDING_WINDOW + 1):
        k = frames + j
        valid = (k >= valid_lo) & (k <= valid_hi)
        total[valid] += terms[k[valid]]
        count += valid
    return total, count


def kinetic_features(
    joints: np.ndarray,
    frame_time: float = 1.0 / MOTION_FPS,
    up_axis: str = "y",
    reference_bug: bool = True,
) -> np.ndarray:
    """(T, J, 3) positions -> (3J,) float32 [KE_horizontal, KE_vertical, energy] per joint."""
    p = np.asarray(joints, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3 or len(p) < 4:
        raise ValueError(f"joints must be (T >= 4, J, 3), got {p.shape}")
    n = len(p)
    vertical = {"y": 1, "z": 2}[up_axis]
    horizontal = [a for a in (0, 1, 2) if a != vertical]

    # velocity terms d[k] = p[k] - p[k-1], valid for 1 <= k <= T-1
    d = np.zeros_like(p)
    d[1:] = p[1:] - p[:-1]
    vel_sum, vel_count = _window_sum(d, 1, n - 1, n)
    scale = (vel_count * frame_time)[:, None, None]
    v = vel_sum[..., horizontal] / scale
    ke_horizontal = (np.sqrt((v**2).sum(-1)) ** 2).mean(0)
    ke_vertical = (np.abs(vel_sum[..., vertical] / scale[..., 0]) ** 2).mean(0)

    # acceleration terms, valid for 1 <= k <= T-2
    a = np.zeros_like(p)
    v2 = (p[2:] - p[1:-1]) / frame_time
    v1 = (p[1:-1] - p[:-2] / frame_time) if reference_bug else (p[1:-1] - p[:-2]) / frame_time
    a[1:-1] = (v2 - v1) / frame_time
    acc_sum, acc_count = _window_sum(a, 1, n - 2, n)
    energy = np.sqrt(((acc_sum / acc_count[:, None, None]) ** 2).sum(-1)).mean(0)

    return np.stack([ke_horizontal, ke_vertical, energy], axis=-1).reshape(-1).astype(np.float32)
