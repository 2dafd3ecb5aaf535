import pickle

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from e3d2_hf.data.kinematics import axis_angle_to_matrix, forward_kinematics, smpl_joints
from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23, SMPL24, get_skeleton

from .conftest import shared_data


def test_smpl24_split_matches_bailando():
    assert SMPL24.lower_body == (0, 1, 2, 4, 5, 7, 8, 10, 11)
    assert (SMPL24.lower_channels, SMPL24.upper_channels) == (27, 45)
    assert SMPL24.joint_names[18] == "left_elbow" and SMPL24.parents[18] == 16
    assert (
        abs(SMPL24.bone_lengths()[18] - 0.2568) < 5e-4
    )  # humerus length of the geometric features


def test_dance_with_melody_skeleton_is_a_tree_with_root_in_lower_body():
    s = DANCE_WITH_MELODY23
    assert s.num_joints == 23 and s.root == 2
    assert s.lower_channels + s.upper_channels == 69
    assert set(s.topological_order) == set(range(23))
    assert get_skeleton("dance_with_melody23") is s
    with pytest.raises(ValueError, match="unknown skeleton"):
        get_skeleton("nope")


def test_axis_angle_matches_scipy():
    rng = np.random.default_rng(0)
    aa = rng.normal(size=(64, 3)) * 1.5
    aa[0] = 0.0
    ours = axis_angle_to_matrix(torch.as_tensor(aa)).numpy()
    ref = Rotation.from_rotvec(aa).as_matrix()
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_fk_rest_pose_is_cumulative_offsets_and_root_rotation_rotates_everything():
    poses = torch.zeros(2, 24, 3, dtype=torch.float64)
    trans = torch.tensor([[0.0, 1.0, 0.0], [0.5, 1.0, -2.0]], dtype=torch.float64)
    joints = forward_kinematics(poses, trans)
    offsets = SMPL24.offsets_array()
    expected = np.zeros((24, 3))
    for j in SMPL24.topological_order:
        p = SMPL24.parents[j]
        expected[j] = offsets[j] + (expected[p] if p >= 0 else 0)
    np.testing.assert_allclose(joints[0].numpy(), expected + [0, 1, 0], atol=1e-12)
    poses[1, 0] = torch.tensor([0.0, np.pi / 2, 0.0], dtype=torch.float64)
    rotated = forward_kinematics(poses, trans)[1].numpy() - trans[1].numpy()
    np.testing.assert_allclose(
        rotated, expected @ Rotation.from_rotvec([0, np.pi / 2, 0]).as_matrix().T, atol=1e-12
    )


def test_fk_keeps_bone_lengths_under_random_poses():
    rng = np.random.default_rng(1)
    poses = torch.as_tensor(rng.normal(size=(10, 72)) * 0.8)
    joints = forward_kinematics(poses, torch.zeros(10, 3, dtype=torch.float64)).numpy()
    for child, parent in SMPL24.bones:
        lengths = np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1)
        np.testing.assert_allclose(lengths, SMPL24.bone_lengths()[child], atol=1e-12)


def test_fk_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(24, 3\)"):
        forward_kinematics(torch.zeros(3, 23, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="translation"):
        forward_kinematics(torch.zeros(3, 24, 3), torch.zeros(4, 3))


def test_builtin_bone_lengths_match_real_aistpp_joints_within_1cm():
    files = sorted(shared_data("aistpp", "joints-edge").glob("*.csv"))
    assert len(files) == 6
    measured = []
    for f in files:
        joints = np.loadtxt(f, delimiter=",").reshape(-1, 24, 3)
        assert joints.shape[0] == 150
        measured.append(
            [np.linalg.norm(joints[:, c] - joints[:, p], axis=-1) for c, p in SMPL24.bones]
        )
    measured = np.median(np.concatenate(measured, axis=-1), axis=-1)
    builtin = SMPL24.bone_lengths()[[c for c, _ in SMPL24.bones]]
    assert np.abs(measured - builtin).max() < 0.01, np.abs(measured - builtin)


def _write_fake_smpl_model(folder, pelvis=(0.0, 0.0, 0.0)):
    """An SMPL-format model file with the real keys and shapes whose joints are the built-in rest skeleton."""
    rng = np.random.default_rng(0)
    n_verts = 6890
    rest = np.zeros((24, 3))
    offsets = SMPL24.offsets_array()
    for j in SMPL24.topological_order:
        p = SMPL24.parents[j]
        rest[j] = offsets[j] + (rest[p] if p >= 0 else np.asarray(pelvis))
    v_template = rng.normal(scale=0.3, size=(n_verts, 3))
    v_template[:24] = rest  # vertex j sits on joint j; J_regressor picks it
    j_regressor = np.zeros((24, n_verts))
    j_regressor[np.arange(24), np.arange(24)] = 1.0
    weights = np.zeros((n_verts, 24))
    weights[np.arange(n_verts), rng.integers(0, 24, n_verts)] = 1.0
    kintree = np.stack(
        [np.array([4294967295] + list(SMPL24.parents[1:]), dtype=np.int64), np.arange(24)]
    )
    model = {
        "v_template": v_template,
        "shapedirs": np.zeros((n_verts, 3, 10)),
        "posedirs": np.zeros((n_verts, 3, 207)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, n_verts, size=(13776, 3)).astype(np.uint32),
    }
    with open(folder / "SMPL_MALE.pkl", "wb") as f:
        pickle.dump(model, f)


def test_smplx_path_matches_builtin_fk(tmp_path):
    _write_fake_smpl_model(tmp_path)
    rng = np.random.default_rng(2)
    poses = rng.normal(size=(5, 72)) * 0.5
    trans = rng.normal(size=(5, 3)) * 100
    builtin = smpl_joints(poses, trans, scaling=100.0)
    via_smplx = smpl_joints(poses, trans, scaling=100.0, model_path=tmp_path, gender="male")
    assert via_smplx.shape == builtin.shape == (5, 24, 3)
    np.testing.assert_allclose(via_smplx, builtin, atol=1e-5)


def test_smplx_path_adds_the_models_pelvis_rest_position(tmp_path):
    pelvis = (0.002, -0.223, 0.028)  # about the real male model's
    _write_fake_smpl_model(tmp_path, pelvis)
    poses = np.zeros((2, 72))
    trans = np.ones((2, 3))
    diff = smpl_joints(poses, trans, model_path=tmp_path) - smpl_joints(poses, trans)
    np.testing.assert_allclose(diff, np.broadcast_to(pelvis, diff.shape), atol=1e-5)
