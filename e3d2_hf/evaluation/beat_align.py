"""Beat align score (Bailando `utils/beat_align_score.py`, docs/bailando.md §6)."""

from __future__ import annotations

import logging

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from ..data.layout import MOTION_FPS

logger = logging.getLogger(__name__)

SPEED_SMOOTHING_SIGMA = 5.0
BEAT_SIGMA = 3.0


def motion_beats(
    joints: np.ndarray, smoothing: float = SPEED_SMOOTHING_SIGMA
) -> tuple[np.ndarray, int]:
    """Strict local minima of the Gaussian-smoothed (sigma 5) mean joint speed; also T - 1."""
    p = np.asarray(joints, dtype=np.float64)
    p = p.reshape(len(p), -1, 3)
    speed = np.sqrt(((p[1:] - p[:-1]) ** 2).sum(-1)).mean(1)
    smoothed = gaussian_filter1d(speed, smoothing)
    return argrelextrema(smoothed, np.less)[0], len(speed)


def beat_align_score(
    music_beat_frames: np.ndarray,
    joints: np.ndarray,
    smoothing: float = SPEED_SMOOTHING_SIGMA,
    tolerance: float = BEAT_SIGMA,
) -> float:
    """Mean over music beats of exp(-d^2 / (2 * 3^2)), d = distance to the nearest motion beat.

    Music beats are truncated to the T - 1 speed frames, as in the reference.
    A dance with no motion beat (or music with no beat) scores 0 with a
    warning; the reference crashes there. `smoothing` and `tolerance` are in frames.
    """
    beats, length = motion_beats(joints, smoothing)
    music = np.asarray(music_beat_frames, dtype=np.int64)
    music = music[music < length]
    if len(music) == 0:
        logger.warning("beat align score: no music beat inside the dance; scoring 0")
        return 0.0
    if len(beats) == 0:
        logger.warning(
            "beat align score: the dance has no motion beat (no local minimum of speed); scoring 0"
        )
        return 0.0
    nearest = np.min((beats[None, :] - music[:, None]) ** 2, axis=1)
    return float(np.mean(np.exp(-nearest / (2 * tolerance**2))))


def beat_align_score_30fps(music_beat_frames: np.ndarray, joints: np.ndarray) -> float:
    """BAS of the dance at 30 FPS (Motius's `beat_align_30fps`): every second 60-FPS frame, the
    music beats on the 30-FPS frame that holds them, the same smoothing and tolerance in
    seconds (half as many frames)."""
    step = round(MOTION_FPS / 30)
    beats = np.asarray(music_beat_frames, dtype=np.int64) // step
    return beat_align_score(
        beats, np.asarray(joints)[::step], SPEED_SMOOTHING_SIGMA / step, BEAT_SIGMA / step
    )
