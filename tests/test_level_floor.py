"""Levelling a drifting floor (`data.motion.level_floor`), the Dance-with-Melody reader's default:
constructed motions with known answers, and the real recordings whose heights creep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from e3d2_hf.data.motion import level_floor, resample
from e3d2_hf.data.readers import dance_with_melody
from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23, SMPL24
from e3d2_hf.evaluation.physical import dance_diagnostics, estimate_floor

from .conftest import shared_data

FPS = 30.0


def stepping(seconds: float = 20.0, drift: float = 0.0) -> np.ndarray:
    """SMPL-24 at rest, 0.9 m up, lifting each foot 10 cm in turn (one foot always down) and
    walking along x, every joint raised by `drift` metres per second."""
    t = np.arange(int(seconds * FPS)) / FPS
    joints = np.repeat(SMPL24.rest_positions()[None], len(t), 0)
    joints[..., 1] -= joints[0, list(SMPL24.floor_joints), 1].min()  # feet on y = 0
    for foot, sign in zip(SMPL24.feet, (1, -1), strict=True):
        joints[:, list(foot), 1] += 0.1 * np.maximum(sign * np.sin(2 * np.pi * t), 0)[:, None]
    joints[..., 0] += 0.3 * t[:, None]
    joints[..., 1] += drift * t[:, None]
    return joints


def window_floors(joints: np.ndarray, skeleton=SMPL24, seconds: float = 2.0) -> np.ndarray:
    lowest = joints[:, skeleton.floor_joints, skeleton.up_index].min(1)
    w = int(seconds * FPS)
    return np.array([np.percentile(lowest[i : i + w], 5) for i in range(0, len(lowest) - w, w)])


def level(joints: np.ndarray, skeleton=SMPL24) -> np.ndarray:
    return level_floor(joints, skeleton.floor_joints, skeleton.up_index, FPS)


def test_a_creeping_floor_is_levelled_and_nothing_else_moves():
    drifting = stepping(drift=0.01)  # 20 cm in 20 s, as Dance with Melody's pieces creep
    assert np.ptp(window_floors(drifting)) > 0.15
    levelled = level(drifting)
    np.testing.assert_allclose(window_floors(levelled), 0.0, atol=0.003)
    np.testing.assert_array_equal(levelled[..., [0, 2]], drifting[..., [0, 2]])  # horizontal
    pose = levelled - levelled[:, :1]
    np.testing.assert_allclose(pose, drifting - drifting[:, :1], atol=1e-12)  # the pose
    # the correction is slow: it adds no jitter
    jitter = dance_diagnostics(levelled, SMPL24, 0.0, FPS)["jitter"]
    assert jitter == pytest.approx(
        dance_diagnostics(drifting, SMPL24, 0.0, FPS)["jitter"], rel=0.01
    )


def test_a_level_floor_is_kept_where_it_is():
    still = stepping()
    np.testing.assert_allclose(level(still), still, atol=1e-3)


def test_a_jump_stays_a_jump():
    joints = stepping(drift=0.0)
    t = np.arange(len(joints)) / FPS
    flight = (t >= 10.0) & (t < 10.5)
    height = np.where(flight, 0.2 * np.sin(np.pi * (t - 10.0) / 0.5), 0.0)
    jumping = joints + height[:, None, None] * np.array([0, 1, 0])
    levelled = level(jumping)
    lowest = levelled[:, SMPL24.floor_joints, 1].min(1)
    assert lowest[flight].max() == pytest.approx(0.2, abs=0.01)


def test_the_dance_with_melody_reader_levels_by_default_and_keeps_the_record_on_request():
    folder = shared_data("dance-with-melody", "DANCE_W_16")  # rises 37 cm in 53 s as recorded
    recorded = dance_with_melody.read_motion(folder, "recorded")
    levelled = dance_with_melody.read_motion(folder)
    skeleton = DANCE_WITH_MELODY23
    assert np.ptp(window_floors(recorded, skeleton)) > 0.3
    assert np.ptp(window_floors(levelled, skeleton)) < 0.05
    np.testing.assert_array_equal(levelled[..., [0, 2]], recorded[..., [0, 2]])
    recorded, levelled = (
        resample(m, dance_with_melody.SOURCE_FPS, 60) for m in (recorded, levelled)
    )
    before = dance_diagnostics(recorded, skeleton, estimate_floor([recorded], skeleton), 60)
    after = dance_diagnostics(levelled, skeleton, estimate_floor([levelled], skeleton), 60)
    assert before["floating"] > 0.2 and after["floating"] < 0.03  # it stands on its floor
    assert after["jitter"] == pytest.approx(before["jitter"], rel=0.01)
    with pytest.raises(ValueError, match="floor must be one of"):
        dance_with_melody.read_motion(folder, "flat")


@pytest.mark.parametrize("recorded_as", [{}, {"floor": "recorded"}])
def test_a_prepared_folder_of_the_other_floor_is_refused_not_reused(tmp_path, recorded_as):
    from e3d2_hf.data.training_clips import DataArguments, load_clips
    from e3d2_hf.utils.errors import DataFileError
    from e3d2_hf.utils.outputs import PREPARE_INFO

    info = tmp_path / "dwm" / PREPARE_INFO
    info.parent.mkdir()
    info.write_text(json.dumps({"config": {"source": "dance-with-melody", **recorded_as}}))
    data = DataArguments(dataset="dance-with-melody", prepared_dir=str(info.parent))
    with pytest.raises(DataFileError, match=rf"{PREPARE_INFO}.*--floor recorded.*--floor levelled"):
        load_clips(data)
