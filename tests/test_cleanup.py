"""The contact-aware clean-up on constructed motions with known answers, and on real mocap."""

from __future__ import annotations

import numpy as np
import pytest

from e3d2_hf.data.motion import resample
from e3d2_hf.data.readers.dance_with_melody import read_motion
from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23, SMPL24
from e3d2_hf.evaluation.physical import dance_diagnostics, estimate_floor
from e3d2_hf.export.cleanup import (
    CleanupConfig,
    clean_dance,
    lock_feet,
    support_height,
    two_bone_ik,
)

from .conftest import shared_data

FPS = 60
LEFT_LEG = (1, 4, 7)  # SMPL-24 hip, knee, ankle
LEFT_FOOT = (7, 10)


def standing(frames: int = 240, skeleton=SMPL24) -> np.ndarray:
    """The rest pose held still, its lowest joint exactly on the floor (height 0)."""
    rest = skeleton.rest_positions()
    rest[:, 1] -= rest[:, 1].min()
    return np.repeat(rest[None], frames, axis=0)


def swaying(frames: int = 240) -> np.ndarray:
    """Standing, the arms and head swaying 10 cm at 1 Hz: a dance that must keep moving."""
    motion = standing(frames)
    t = np.arange(frames) / FPS
    upper = [j for j in range(24) if j in SMPL24.upper_body]
    motion[:, upper, 0] += 0.1 * np.sin(2 * np.pi * t)[:, None]
    return motion


def bone(motion: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(motion[:, a] - motion[:, b], axis=-1)


def test_a_sinking_body_is_put_back_on_the_floor():
    motion = swaying()
    motion[..., 1] -= np.linspace(0, 0.2, len(motion))[:, None]  # 20 cm into the floor
    before = dance_diagnostics(motion)
    assert before["penetration"] > 0.09
    after = dance_diagnostics(clean_dance(motion, SMPL24))
    assert after["penetration"] < 1e-3 and after["floating"] < 2e-3
    assert after["joint_speed"] == pytest.approx(dance_diagnostics(swaying())["joint_speed"], 0.1)


def test_a_sliding_planted_foot_is_held_with_its_leg_lengths_kept():
    motion = swaying()
    drift = np.linspace(0, 0.06, len(motion))  # 1.5 cm/s: a planted foot creeping forward
    for j in LEFT_FOOT:
        motion[:, j, 2] += drift
    assert dance_diagnostics(motion)["foot_skating"] > 0.005
    cleaned = clean_dance(motion, SMPL24)
    ankle = cleaned[:, 7]
    assert np.ptp(ankle[:, [0, 2]], axis=0).max() < 1e-3  # held still
    assert dance_diagnostics(cleaned)["foot_skating"] < 1e-3
    hip, knee, ank = LEFT_LEG
    for a, b in ((hip, knee), (knee, ank), (7, 10)):
        np.testing.assert_allclose(bone(cleaned, a, b), bone(motion, a, b), atol=2e-3)


def test_the_lock_leaves_a_leg_alone_where_its_foot_is_not_planted():
    motion = swaying()
    lift = np.zeros(len(motion))
    lift[100:180] = 0.3  # the left leg raised from the knee down, mid-dance
    for j in (4, 7, 10):
        motion[:, j, 1] += lift
        motion[:, j, 2] += lift
    locked = lock_feet(motion, SMPL24, 0.0, CleanupConfig())
    free = slice(100 + 10, 180 - 10)  # past the lock's 0.1-s fade at either end
    left_leg = [1, 4, 7, 10]  # the right foot stays planted: its leg may be re-solved
    np.testing.assert_array_equal(locked[free][:, left_leg], motion[free][:, left_leg])


def test_two_bone_ik_reaches_the_target_and_keeps_both_bones():
    rng = np.random.default_rng(0)
    hip = rng.normal(0, 0.1, (50, 3))
    knee = hip + rng.normal(0, 1, (50, 3))
    knee = hip + 0.4 * (knee - hip) / np.linalg.norm(knee - hip, axis=-1, keepdims=True)
    ankle = knee + np.array([0, -0.4, 0.05])
    target = hip + rng.uniform(-0.3, 0.3, (50, 3)) + np.array([0, -0.3, 0])
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, target)
    reachable = np.linalg.norm(target - hip, axis=-1) < bone(np.stack([hip, knee], 1), 0, 1) + (
        np.linalg.norm(ankle - knee, axis=-1)
    )
    np.testing.assert_allclose(new_ankle[reachable], target[reachable], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=-1), 0.4, atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.norm(new_ankle - new_knee, axis=-1), np.linalg.norm(ankle - knee, axis=-1),
        atol=1e-6,
    )  # fmt: skip


def test_a_step_at_a_code_boundary_is_smoothed_without_lag():
    motion = swaying()
    upper = list(SMPL24.upper_body)
    motion[120:, upper, 0] += 0.03  # the decoder's seam: 3 cm in one frame
    before = dance_diagnostics(motion)
    cleaned = clean_dance(motion, SMPL24)
    after = dance_diagnostics(cleaned)
    assert after["max_step"] < before["max_step"] / 2
    assert after["jitter"] < before["jitter"] / 3
    # zero-phase: the sway's peaks stay on their frames
    hand = 20
    peaks = [np.argmax(m[30:60, hand, 0]) for m in (swaying(), cleaned)]
    assert peaks[0] == peaks[1]


def test_a_jump_stays_a_jump():
    motion = swaying(360)
    t = np.arange(360) / FPS
    air = (t >= 2.0) & (t < 2.35)
    lift = np.where(air, 4.9 * (t - 2.0) * (2.35 - t), 0.0)  # 0.35 s of flight: 15 cm up
    motion[..., 1] += lift[:, None]
    cleaned = clean_dance(motion, SMPL24)
    lowest = cleaned[..., 1].min(1)
    assert lift.max() == pytest.approx(0.15, abs=0.001)
    assert lowest[air].max() > 0.1  # still in the air at the top, lowered by at most 5 cm
    assert np.abs(lowest[t < 1.5]).max() < 5e-3 and np.abs(lowest[t > 3.0]).max() < 5e-3


def test_a_deliberate_slide_is_not_locked():
    motion = swaying()
    slide = np.clip(np.arange(len(motion)) - 60, 0, 60) / FPS * 1.0  # 1 m/s for one second
    for j in LEFT_FOOT:
        motion[:, j, 2] += slide
    cleaned = clean_dance(motion, SMPL24)
    travelled = cleaned[-1, 10, 2] - cleaned[0, 10, 2]
    assert travelled == pytest.approx(1.0, abs=0.02)


def test_no_cleanup_settings_change_nothing_but_the_floor():
    motion = swaying() + np.array([0.3, 0.0, -0.2])
    config = CleanupConfig(smoothing=0.0, floor_smoothing=0.0, lock_speed=0.0)
    np.testing.assert_allclose(clean_dance(motion, SMPL24, config=config), motion, atol=1e-12)
    np.testing.assert_allclose(
        clean_dance(motion, SMPL24, floor=0.5, config=config)[..., 1], motion[..., 1] + 0.5
    )
    with pytest.raises(ValueError, match="smpl24"):
        clean_dance(motion[:, :23], SMPL24)


def test_real_mocap_keeps_its_dance_and_a_sunk_copy_is_lifted_back():
    folder = shared_data("dance-with-melody", "DANCE_W_24")
    skeleton = DANCE_WITH_MELODY23
    joints = resample(read_motion(folder)[:500], 25, FPS)  # 20 s at 60 FPS
    floor = estimate_floor([joints], skeleton)
    stand = floor + support_height([joints], skeleton, floor)
    assert 0.0 <= stand - floor < 0.05  # levelled: supporting feet stand on its low percentile
    truth = dance_diagnostics(joints, skeleton, floor)
    cleaned = dance_diagnostics(clean_dance(joints, skeleton, stand), skeleton, floor)
    for key in ("joint_speed", "pose_range", "root_travel"):
        assert cleaned[key] == pytest.approx(truth[key], rel=0.1), key
    assert cleaned["jitter"] < truth["jitter"]
    sunk = joints.copy()
    sunk[..., 1] -= np.linspace(0, 0.5, len(sunk))[:, None]
    lifted = dance_diagnostics(clean_dance(sunk, skeleton, stand), skeleton, floor)
    assert dance_diagnostics(sunk, skeleton, floor)["penetration"] > 0.05
    assert lifted["penetration"] < truth["penetration"] + 0.01
    assert lifted["floating"] < truth["floating"] + 0.01
