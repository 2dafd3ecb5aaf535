import numpy as np
import pytest

from e3d2_hf.data.motion import (
    from_root_relative,
    integrate_root_velocity,
    resample,
    root_velocity,
    to_root_relative,
    window_starts,
    z_up_to_y_up,
)


def test_root_relative_keeps_absolute_root_and_round_trips():
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(50, 24, 3))
    rel = to_root_relative(joints)
    np.testing.assert_array_equal(rel[:, 0], joints[:, 0])
    np.testing.assert_allclose(rel[:, 5], joints[:, 5] - joints[:, 0])
    np.testing.assert_allclose(from_root_relative(rel), joints, atol=1e-12)
    rel2 = to_root_relative(joints, root=2)
    np.testing.assert_allclose(from_root_relative(rel2, root=2), joints, atol=1e-12)


def test_root_velocity_copies_last_and_integrates_from_origin():
    root = np.cumsum(np.arange(30, dtype=float).reshape(10, 3), axis=0)
    vel = root_velocity(root)
    np.testing.assert_array_equal(vel[:-1], root[1:] - root[:-1])
    np.testing.assert_array_equal(vel[-1], vel[-2])
    np.testing.assert_allclose(integrate_root_velocity(vel), root - root[0])


def test_resample_25_to_60_is_linear_and_has_the_right_length():
    t25 = np.arange(26) / 25.0  # exactly 1 s
    motion = np.stack([t25, 2 * t25, -t25], axis=-1)[:, None, :]
    out = resample(motion, 25.0, 60.0)
    assert out.shape == (61, 1, 3)
    np.testing.assert_allclose(out[:, 0, 0], np.arange(61) / 60.0, atol=1e-12)
    with pytest.raises(ValueError):
        resample(motion, 0, 60)


def test_window_starts_drop_short_sequences():
    assert window_starts(239) == []
    assert window_starts(240) == [0]
    assert window_starts(300, stride=40) == [0, 40]
    assert window_starts(256, stride=8) == [0, 8, 16]


def test_z_up_to_y_up_puts_height_on_y():
    joints = np.array([[[1.0, 2.0, 3.0]]])
    np.testing.assert_array_equal(z_up_to_y_up(joints), [[[1.0, 3.0, -2.0]]])
