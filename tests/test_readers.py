import json
import os
import pickle
import shutil

import numpy as np
import pytest
import soundfile as sf

from e3d2_hf.data.layout import FRAMES_PER_TOKEN, MusicLayout
from e3d2_hf.data.readers import aistpp, dance_with_melody
from e3d2_hf.data.safe_pickle import safe_load_pickle
from e3d2_hf.utils.errors import DataFileError, UnsafePickleError

from .conftest import shared_data
from .test_music import click_track

SEQ = "gBR_sBM_cAll_d04_mBR0_ch02"


def write_aist_root(root, n_frames=300, music_seconds=6.0, **overrides):
    """A tiny AIST++ folder in the real layout: motions/<seq>.pkl, wav/<music>.wav, splits/."""
    rng = np.random.default_rng(0)
    (root / "motions").mkdir(parents=True)
    (root / "wav").mkdir()
    (root / "splits").mkdir()
    data = {
        "smpl_poses": (rng.normal(size=(n_frames, 72)) * 0.2).astype(np.float32),
        "smpl_trans": (rng.normal(size=(n_frames, 3)) * 10 + [0, 90, 0]).astype(np.float32),
        "smpl_scaling": np.array([93.7], dtype=np.float32),
        "smpl_loss": np.float64(1.5),
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    with open(root / "motions" / f"{SEQ}.pkl", "wb") as f:
        pickle.dump(data, f)
    sf.write(root / "wav" / "mBR0.wav", click_track(80, music_seconds, 22050), 22050)
    (root / "splits" / "crossmodal_train.txt").write_text(f"{SEQ}\ngBR_sBM_cAll_d05_mBR0_ch02\n")
    (root / "splits" / "crossmodal_test.txt").write_text("gBR_sBM_cAll_d04_mBR0_ch03")
    (root / "splits" / "ignore_list.txt").write_text("\ngBR_sBM_cAll_d05_mBR0_ch02 \n")
    return root


def test_aistpp_reads_the_real_format(tmp_path):
    root = write_aist_root(tmp_path / "aist")
    row = aistpp.read_sequence(root, SEQ, cache_dir=False)
    assert row["id"] == SEQ and row["genre"] == "break" and row["skeleton"] == "smpl24"
    assert row["joints"].shape == (300, 72)
    assert row["music"].shape == (300, MusicLayout.DIM)
    assert row["music_tokens"].shape == (300 // FRAMES_PER_TOKEN, MusicLayout.DIM)
    # translation is divided by smpl_scaling
    with open(root / "motions" / f"{SEQ}.pkl", "rb") as f:
        raw = pickle.load(f)
    np.testing.assert_allclose(row["joints"][:, :3], raw["smpl_trans"] / 93.7, atol=1e-5)


def test_aistpp_music_shorter_than_motion_truncates_with_a_warning(tmp_path, caplog):
    root = write_aist_root(tmp_path / "aist", n_frames=400, music_seconds=5.0)
    row = aistpp.read_sequence(root, SEQ, cache_dir=False)
    assert row["num_frames"] == 1 + int(5.0 * 30720) // 512 == len(row["joints"])
    assert "truncating" in caplog.text and "mBR0.wav" in caplog.text


def test_aistpp_splits_follow_bailando(tmp_path):
    root = write_aist_root(tmp_path / "aist")
    assert aistpp.split_names(root / "splits", "train") == [
        SEQ
    ]  # ignore list applied, whitespace stripped
    assert aistpp.split_names(root / "splits", "test") == ["gBR_sBM_cAll_d04_mBR0_ch03"]
    assert aistpp.music_id(SEQ) == "mBR0"


def test_real_split_files_parse():
    splits = shared_data("aistpp", "splits")
    assert len(aistpp.read_split(splits / "crossmodal_train.txt")) == 980
    assert len(aistpp.read_split(splits / "crossmodal_test.txt")) == 20
    ignored = aistpp.read_split(splits / "ignore_list.txt")
    assert len(ignored) == 45 and all(n == n.strip() for n in ignored)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"smpl_trans": None}, "missing keys"),
        ({"smpl_poses": np.zeros((300, 69))}, r"smpl_poses has shape"),
        ({"smpl_trans": np.full((300, 3), np.nan)}, "NaN"),
        ({"smpl_scaling": np.array([0.0])}, "smpl_scaling"),
    ],
    ids=["missing-key", "wrong-shape", "nan", "zero-scaling"],
)
def test_aistpp_bad_motion_names_the_file(tmp_path, overrides, message):
    root = write_aist_root(tmp_path / "aist", **overrides)
    with pytest.raises(DataFileError, match=message) as info:
        aistpp.read_motion(root / "motions" / f"{SEQ}.pkl")
    assert f"{SEQ}.pkl" in str(info.value)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_before_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"smpl_poses": _Exploit(str(marker))}, f)
    with pytest.raises(UnsafePickleError, match=r"posix\.mkdir|os\.mkdir") as info:
        safe_load_pickle(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_loads_numpy_arrays(tmp_path, protocol):
    data = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.float64(2.5),
        "c": [1, (2, 3)],
    }
    path = tmp_path / "ok.pkl"
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    loaded = safe_load_pickle(path)
    np.testing.assert_array_equal(loaded["a"], data["a"])
    assert loaded["b"] == 2.5 and loaded["c"] == [1, (2, 3)]


def test_truncated_pickle_is_reported(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros(100)})[:40])
    with pytest.raises(DataFileError, match="not a readable pickle"):
        safe_load_pickle(path)


def copy_dwm(tmp_path, name="DANCE_C_6"):
    src = shared_data("dance-with-melody", name)
    dst = tmp_path / "dwm" / name
    shutil.copytree(src, dst)
    return dst


def test_dance_with_melody_aligns_music_at_the_start_position():
    folder = shared_data("dance-with-melody", "DANCE_W_10")  # start_position 50 (2 s)
    row = dance_with_melody.read_sequence(folder)
    motion_frames = int(np.floor((1224 - 1) / 25 * 60)) + 1
    assert row["num_frames"] == motion_frames == len(row["joints"]) == len(row["music"])
    assert row["genre"] == "waltz" and row["skeleton"] == "dance_with_melody23"
    # the music frame 0 is 2 s into the song: same features as extracting from there
    from e3d2_hf.data.music import music_features

    direct = music_features(folder / "audio.mp3", 60, offset=2.0, duration=4.0, cache_dir=False)
    # (MFCC 0 moves with the per-crop dB reference; the other coefficients do not)
    np.testing.assert_allclose(row["music"][:50, 1:20], direct[:50, 1:20], atol=1e-2, rtol=1e-3)
    unaligned = music_features(folder / "audio.mp3", 60, offset=0.0, duration=4.0, cache_dir=False)
    assert np.abs(row["music"][:50, 1:20] - unaligned[:50, 1:20]).max() > 1.0
    # heights: head above the waist, toes near the floor
    joints = row["joints"].reshape(-1, 23, 3)
    assert joints[:, 0, 1].mean() > joints[:, 2, 1].mean() + 0.3
    assert abs(np.percentile(joints[:, [11, 20], 1], 5)) < 0.1


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda f: (f / "skeletons.json").write_text("{not json"), "not valid JSON"),
        (lambda f: (f / "skeletons.json").write_text(json.dumps({"length": 1})), "expected keys"),
        (lambda f: (f / "config.json").unlink(), "config.json: file not found"),
        (lambda f: (f / "audio.mp3").write_bytes(b"\x00" * 1000), "audio.mp3"),
    ],
    ids=["bad-json", "missing-keys", "no-config", "bad-audio"],
)
def test_dance_with_melody_bad_files_name_the_file(tmp_path, corrupt, message):
    folder = copy_dwm(tmp_path)
    corrupt(folder)
    with pytest.raises(DataFileError, match=message):
        dance_with_melody.read_sequence(folder, cache_dir=False)


def test_dance_with_melody_nan_motion_is_reported(tmp_path):
    folder = copy_dwm(tmp_path)
    data = json.loads((folder / "skeletons.json").read_text())
    data["skeletons"][5][3][1] = float("nan")
    (folder / "skeletons.json").write_text(json.dumps(data).replace("NaN", "NaN"))
    with pytest.raises(DataFileError, match="NaN"):
        dance_with_melody.read_motion(folder)


def test_aistpp_present_sequences_and_prepare(tmp_path):
    from e3d2_hf.data.prepare import PrepareConfig, prepare
    from e3d2_hf.data.schema import load_clip_dataset

    root = write_aist_root(tmp_path / "aist")
    assert aistpp.present_sequences(root, "train") == [SEQ]
    with pytest.raises(DataFileError, match="none of the 1 test sequences"):
        aistpp.present_sequences(root, "test")
    out = prepare(
        PrepareConfig(source="aistpp", path=str(root), output_dir=str(tmp_path / "clips"))
    )
    ds = load_clip_dataset(out)
    assert ds["id"] == [SEQ] and ds[0]["skeleton"] == "smpl24"


def _prepare_aistpp(root, *extra: str):
    import subprocess
    import sys

    argv = [sys.executable, "-m", "e3d2_hf.cli", "prepare", "--data", "aistpp", "--path", str(root)]
    return subprocess.run(
        [*argv, "--output-dir", str(root.parent / "clips"), *extra],
        capture_output=True, text=True, timeout=120, cwd=root.parent,
    )  # fmt: skip


def test_aistpp_layout_check_names_each_missing_piece_and_where_it_comes_from(tmp_path):
    empty = tmp_path / "aist_plusplus_final"
    empty.mkdir()
    result = _prepare_aistpp(empty)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the AIST++ tree is incomplete" in result.stderr
    assert f"{empty / 'motions'}/*.pkl (SMPL motions) missing" in result.stderr
    assert "crossmodal_train.txt missing" in result.stderr
    assert result.stderr.count("google.github.io/aistplusplus_dataset/download.html") == 2

    root = write_aist_root(tmp_path / "aist")
    (root / "wav" / "mBR0.wav").unlink()
    result = _prepare_aistpp(root, "--smpl-model-path", str(tmp_path / "no-smpl"))
    assert result.returncode == 2
    assert f"{root / 'wav'}: 1 of 1 songs missing (mBR0.wav)" in result.stderr
    assert "aistdancedb.ongaaccel.jp" in result.stderr and "--music_dir" in result.stderr
    assert "SMPL model folder not found" in result.stderr and "smpl.is.tue.mpg.de" in result.stderr
    assert not (tmp_path / "clips").exists()
