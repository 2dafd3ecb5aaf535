"""Motion utilities with Bailando's semantics (docs/bailando.md §2).

Arrays are (T, J, 3) joint positions unless stated otherwise.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter1d

from .layout import WINDOW_FRAMES

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def to_root_relative(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """Every joint minus the root, frame by frame; the root keeps its absolute position."""
    rel = joints - joints[:, root : root + 1]
    rel[:, root] = joints[:, root]
    return rel


def from_root_relative(relative: np.ndarray, root: int = 0) -> np.ndarray:
    """Inverse of `to_root_relative`."""
    absolute = relative + relative[:, root : root + 1]
    absolute[:, root] = relative[:, root]
    return absolute


def root_velocity(root_positions: ArrayT, axis: int = 0) -> ArrayT:
    """vel[t] = root[t+1] - root[t] along `axis`; the last frame copies the previous velocity.

    Works on numpy arrays and torch tensors alike, so data preparation and the
    VQ-VAE share one definition.
    """
    n = root_positions.shape[axis]
    if n < 2:
        return root_positions * 0
    head = _take(root_positions, 1, n, axis) - _take(root_positions, 0, n - 1, axis)
    return _concat([head, _take(head, n - 2, n - 1, axis)], axis)


def integrate_root_velocity(velocity: ArrayT, axis: int = 0) -> ArrayT:
    """root[0] = 0, root[t] = root[t-1] + vel[t-1]: generated dances start at the origin."""
    n = velocity.shape[axis]
    zero = _take(velocity, 0, 1, axis) * 0
    if n < 2:
        return zero
    steps = _take(velocity, 0, n - 1, axis)
    summed = steps.cumsum(axis) if isinstance(steps, np.ndarray) else steps.cumsum(dim=axis)
    return _concat([zero, summed], axis)


def _take(x: ArrayT, start: int, stop: int, axis: int) -> ArrayT:
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _concat(parts: list[ArrayT], axis: int) -> ArrayT:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts, axis=axis)
    return torch.cat(parts, dim=axis)


def resample(motion: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Linear interpolation in time from `source_fps` to `target_fps` (axis 0)."""
    if source_fps <= 0 or target_fps <= 0:
        raise ValueError("frame rates must be positive")
    n = len(motion)
    if n == 0 or source_fps == target_fps:
        return motion.copy()
    duration = (n - 1) / source_fps
    n_out = int(np.floor(duration * target_fps + 1e-9)) + 1
    t = np.arange(n_out) * (source_fps / target_fps)
    lo = np.minimum(np.floor(t).astype(np.int64), n - 1)
    hi = np.minimum(lo + 1, n - 1)
    w = (t - lo).reshape(-1, *([1] * (motion.ndim - 1)))
    return ((1.0 - w) * motion[lo] + w * motion[hi]).astype(motion.dtype)


def window_starts(num_frames: int, window: int = WINDOW_FRAMES, stride: int = 8) -> list[int]:
    """Start frames of full windows; a sequence shorter than `window` gives none."""
    if window <= 0 or stride <= 0:
        raise ValueError("window and stride must be positive")
    return list(range(0, num_frames - window + 1, stride))


def z_up_to_y_up(joints: np.ndarray) -> np.ndarray:
    """Rotate (x, y, z) z-up coordinates to y-up: (x, z, -y)."""
    out = np.empty_like(joints)
    out[..., 0] = joints[..., 0]
    out[..., 1] = joints[..., 2]
    out[..., 2] = -joints[..., 1]
    return out


def level_floor(
    joints: np.ndarray,
    floor_joints: list[int],
    up: int,
    fps: float,
    window: float = 3.0,
    smoothing: float = 0.5,
    percentile: float = 5.0,
) -> np.ndarray:
    """`joints` (T, J, 3) with a drifting floor removed: the floor at height 0 in every frame.

    The floor under frame t is a low percentile of the lowest `floor_joints` over the `window`
    seconds around t, smoothed by a Gaussian of `smoothing` seconds, and the whole body is moved
    down by it. A capture whose recorded heights creep (Dance with Melody's rise up to 45 cm over
    a piece) stands level; a jump shorter than the window stays a jump, because a window's low
    percentile is set by the frames the feet are down.
    """
    lowest = joints[:, floor_joints, up].min(1).astype(np.float64)
    half = max(1, int(round(window * fps / 2)))
    floor = np.zeros_like(lowest)
    for _ in range(2):  # a creeping window's percentile lags the creep; a second pass levels it
        windows = sliding_window_view(np.pad(lowest - floor, half, mode="edge"), 2 * half + 1)
        rest = np.percentile(windows, percentile, axis=1)
        floor += gaussian_filter1d(rest, sigma=max(smoothing * fps, 1e-6), mode="nearest")
    out = joints.copy()
    out[..., up] -= floor[:, None].astype(joints.dtype)
    return out
