"""Motion utilities with Bailando's semantics (docs/bailando.md §2).

Arrays are (T, J, 3) joint positions unless stated otherwise.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

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
