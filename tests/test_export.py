"""BVH and video export: round trips to the joint positions, Blender's conventions, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from e3d2_hf.data.kinematics import forward_kinematics
from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23, SMPL24
from e3d2_hf.export import find_ffmpeg, media_duration, read_bvh, write_bvh, write_video
from e3d2_hf.utils.errors import DataFileError

from .conftest import shared_data

MM = 1e-3


def fk_dance(frames: int = 40, seed: int = 0) -> np.ndarray:
    """A rigid SMPL-24 dance: random poses through forward kinematics, a moving root."""
    g = torch.Generator().manual_seed(seed)
    poses = torch.randn(frames, 24, 3, generator=g, dtype=torch.float64) * 0.4
    trans = torch.cumsum(torch.randn(frames, 3, generator=g, dtype=torch.float64) * 0.02, 0)
    return forward_kinematics(poses, trans).numpy() * 1.07  # another body size than the template


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX"])
def test_rigid_dance_round_trips_through_rotations_alone(tmp_path, order):
    joints = fk_dance()
    export = write_bvh(tmp_path / "d.bvh", joints, SMPL24, 60, rotation_order=order,
                       joint_translations=False)  # fmt: skip
    back = read_bvh(export.path).positions_for(SMPL24)
    assert np.abs(back - joints).max() < 0.01 * MM
    assert export.max_deviation < 0.01 * MM


def test_real_aistpp_clips_round_trip_within_a_millimetre(tmp_path):
    for csv in sorted(shared_data("aistpp", "joints-edge").glob("*.csv")):
        joints = np.loadtxt(csv, delimiter=",").reshape(-1, 24, 3)
        path = tmp_path / f"{csv.stem}.bvh"
        write_bvh(path, joints, SMPL24, 30, scale=100.0, joint_translations=False)
        motion = read_bvh(path)
        assert motion.frame_time == pytest.approx(1 / 30, abs=1e-7)
        assert np.abs(motion.positions_for(SMPL24, scale=100.0) - joints).max() < MM, csv.name


def test_non_rigid_dance_is_exact_with_joint_channels_and_nearest_rigid_without(tmp_path):
    rng = np.random.default_rng(0)
    joints = fk_dance() + rng.normal(scale=0.01, size=(40, 24, 3))  # bones that wobble by ~1 cm
    exact = write_bvh(tmp_path / "exact.bvh", joints, SMPL24, 60)
    assert np.abs(read_bvh(exact.path).positions_for(SMPL24) - joints).max() < 0.01 * MM
    rigid = write_bvh(tmp_path / "rigid.bvh", joints, SMPL24, 60, joint_translations=False)
    back = read_bvh(rigid.path).positions_for(SMPL24)
    assert np.abs(back - rigid.rigid_joints).max() < 0.01 * MM
    deviation = np.linalg.norm(back - joints, axis=-1).max()
    assert deviation == pytest.approx(rigid.max_deviation, abs=0.01 * MM)
    assert 0.005 < deviation < 0.2
    bones = np.linalg.norm(back[:, 1:] - back[:, list(SMPL24.parents[1:])], axis=-1)
    assert bones.std(axis=0).max() < 1e-6  # rotations only: every bone keeps its length


def test_dance_with_melody_skeleton_exports_exactly(tmp_path):
    rng = np.random.default_rng(1)
    joints = DANCE_WITH_MELODY23.rest_positions() + rng.normal(scale=0.03, size=(30, 23, 3))
    export = write_bvh(tmp_path / "dwm.bvh", joints, DANCE_WITH_MELODY23, 60)
    assert (
        np.abs(read_bvh(export.path).positions_for(DANCE_WITH_MELODY23) - joints).max() < 0.01 * MM
    )


def test_bvh_follows_blender_importer_conventions(tmp_path):
    path = write_bvh(tmp_path / "d.bvh", fk_dance(), SMPL24, 60, joint_translations=False).path
    lines = path.read_text().splitlines()
    assert lines[0] == "HIERARCHY" and lines[1] == "ROOT pelvis"
    assert lines[4].split() == ["CHANNELS", "6", "Xposition", "Yposition", "Zposition",
                                "Zrotation", "Xrotation", "Yrotation"]  # fmt: skip
    leaves = [j for j in range(24) if j not in SMPL24.parents]
    assert sum(line.strip() == "End Site" for line in lines) == len(leaves)
    assert lines.count("MOTION") == 1
    motion_at = lines.index("MOTION")
    assert lines[motion_at + 1] == "Frames: 40"
    assert lines[motion_at + 2] == "Frame Time: 0.01666667"
    assert len(lines[motion_at + 3].split()) == 6 + 3 * 23
    motion = read_bvh(path)
    assert sorted(motion.joint_names) == sorted(SMPL24.joint_names)
    # parents in the file agree with the skeleton
    for j, name in enumerate(motion.joint_names):
        parent = motion.parents[j]
        expected = SMPL24.parents[SMPL24.index(name)]
        assert (parent < 0 and expected < 0) or motion.joint_names[parent] == SMPL24.joint_names[
            expected
        ]


def test_broken_bvh_files_name_the_file_and_the_problem(tmp_path):
    good = write_bvh(tmp_path / "d.bvh", fk_dance(), SMPL24, 60).path
    text = good.read_text()
    cut = tmp_path / "cut.bvh"
    cut.write_text(text[: len(text) - 200])
    with pytest.raises(DataFileError, match="cut.bvh"):
        read_bvh(cut)
    other = tmp_path / "other.bvh"
    other.write_text("hello\n")
    with pytest.raises(DataFileError, match="not a BVH"):
        read_bvh(other)


def test_bad_joints_are_refused_and_nothing_is_written(tmp_path):
    joints = fk_dance()
    joints[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_bvh(tmp_path / "nan.bvh", joints, SMPL24, 60)
    with pytest.raises(ValueError, match=r"\(T, 24, 3\)"):
        write_bvh(tmp_path / "shape.bvh", np.zeros((5, 23, 3)), SMPL24, 60)
    assert list(tmp_path.iterdir()) == []


def test_video_has_the_song_and_the_dance_length(tmp_path):
    if find_ffmpeg() is None:
        pytest.skip("no ffmpeg (pip install imageio-ffmpeg)")
    import subprocess

    joints = fk_dance(frames=150)  # 2.5 s at 60 FPS
    rate = 16000
    t = np.arange(rate * 4) / rate
    song = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # longer than the dance: cut
    path = write_video(tmp_path / "d.mp4", joints, SMPL24, audio=(song, rate), fps=20)
    assert media_duration(path) == pytest.approx(2.5, abs=0.06)
    probe = subprocess.run([find_ffmpeg(), "-i", str(path)], capture_output=True, text=True).stderr
    assert "Video: h264" in probe and "Audio: aac" in probe
    gif = write_video(tmp_path / "d.gif", joints[:30], SMPL24, fps=10)
    from PIL import Image

    with Image.open(gif) as image:
        assert image.n_frames == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.gif", "d.mp4"]  # no temporary files


def test_the_gltf_dance_is_the_dance_keyframe_for_keyframe(tmp_path):
    from e3d2_hf.export.figure import facing
    from e3d2_hf.export.gltf import accessor_array, read_glb, write_glb

    joints = fk_dance(frames=90)  # 1.5 s at 60 FPS -> 45 keyframes at 30 FPS
    path = write_glb(tmp_path / "d.glb", joints, SMPL24, source_fps=60, fps=30)
    document, blob = read_glb(path)
    assert document["asset"]["version"] == "2.0"
    assert len(blob) == document["buffers"][0]["byteLength"]
    for view in document["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= len(blob)
    names = [n["name"] for n in document["nodes"]]
    (animation,) = document["animations"]
    keys = {}
    for channel in animation["channels"]:
        sampler = animation["samplers"][channel["sampler"]]
        target = channel["target"]
        keys[names[target["node"]], target["path"]] = accessor_array(
            document, blob, sampler["output"]
        )
        times = accessor_array(document, blob, sampler["input"])[:, 0]
    np.testing.assert_allclose(times, np.arange(45) / 30, atol=1e-6)
    expected = joints[::2]
    for j, name in enumerate(SMPL24.joint_names):
        np.testing.assert_allclose(keys[name, "translation"], expected[:, j], atol=1e-6)
    # each limb is a unit cylinder along +y: scaled, turned and placed, its ends are the joints
    for child, parent in SMPL24.bones:
        name = f"{SMPL24.joint_names[parent]}-{SMPL24.joint_names[child]}"
        q = keys[name, "rotation"]
        x, y, z, w = q.T
        up = np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], -1)
        half = 0.5 * keys[name, "scale"][:, 1:2] * up
        np.testing.assert_allclose(keys[name, "translation"] + half, expected[:, child], atol=1e-5)
        np.testing.assert_allclose(keys[name, "translation"] - half, expected[:, parent], atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1, atol=1e-6)
    assert ("head", "translation") in keys
    extras = document["scenes"][0]["extras"]
    np.testing.assert_allclose(extras["facing"], facing(expected, SMPL24), atol=1e-6)
    with pytest.raises(ValueError, match="not a glTF"):
        read_glb(
            tmp_path / "d.glb.broken" if (tmp_path / "d.glb.broken").write_bytes(b"x" * 20) else ""
        )


def test_the_dancer_faces_the_way_its_hips_and_shoulders_say():
    from e3d2_hf.export.figure import facing

    rest = np.repeat(SMPL24.rest_positions()[None], 5, axis=0)
    np.testing.assert_allclose(facing(rest, SMPL24), [0, 0, 1], atol=0.05)  # SMPL faces +z
    turned = rest[..., [2, 1, 0]] * np.array([1, 1, -1])  # a quarter turn about y: z -> x
    np.testing.assert_allclose(facing(turned, SMPL24), [1, 0, 0], atol=0.05)
