import json
import os

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from e3d2_hf.cli import main
from e3d2_hf.data import prepare as prepare_module
from e3d2_hf.data.layout import FRAMES_PER_TOKEN, MOTION_FPS
from e3d2_hf.data.prepare import PrepareConfig, prepare
from e3d2_hf.data.readers import dance_with_melody
from e3d2_hf.data.readers.synthetic import GENRES, generate_sequences
from e3d2_hf.data.schema import load_clip_dataset
from e3d2_hf.data.skeleton import DANCE_WITH_MELODY23
from e3d2_hf.demo import data_workers

from .conftest import shared_data


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "synthetic"
    code = main(["prepare", "--num-sequences", "4", "--duration", "8", "--output-dir", str(out)])
    assert code == 0
    return out


def test_prepare_synthetic_writes_the_clip_schema(synthetic_dir):
    ds = load_clip_dataset(synthetic_dir)
    assert len(ds) == 4
    assert type(ds.features["joints"]).__name__ == "Array2D"
    assert sorted(set(ds["genre"])) == sorted(GENRES)
    row = ds.with_format("numpy")[0]
    assert row["joints"].shape == (8 * 60, 72) and row["joints"].dtype == np.float32
    assert row["music"].shape == (480, 438)
    assert row["music_tokens"].shape == (480 // FRAMES_PER_TOKEN, 438)
    assert row["fps"] == MOTION_FPS
    assert (synthetic_dir / "audio" / f"{row['id']}.wav").is_file()
    assert row["music_path"] == str(synthetic_dir / "audio" / f"{row['id']}.wav")
    summary = json.loads((synthetic_dir / "prepare.json").read_text())
    assert summary["num_clips"] == 4 and summary["skeleton"] == "smpl24"


def test_prepare_refuses_to_overwrite_a_finished_dataset(synthetic_dir, capsys):
    code = main(["prepare", "--num-sequences", "1", "--output-dir", str(synthetic_dir)])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert len(load_clip_dataset(synthetic_dir)) == 4


def test_a_failed_prepare_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    real = prepare_module._synthetic_row

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            from e3d2_hf.utils.errors import DataFileError

            raise DataFileError("synthetic_0001.wav", "audio is silent")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "_synthetic_row", flaky)
    out = tmp_path / "data"
    code = main(["prepare", "--num-sequences", "3", "--duration", "5", "--output-dir", str(out)])
    assert code == 2
    assert "synthetic_0001.wav: audio is silent" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_worker_processes_write_the_same_clips(synthetic_dir, tmp_path):
    out = prepare(
        PrepareConfig(
            source="synthetic",
            output_dir=str(tmp_path / "two"),
            num_sequences=4,
            duration=8.0,
            num_workers=2,
        )
    )
    one = load_clip_dataset(synthetic_dir).with_format("numpy")
    two = load_clip_dataset(out).with_format("numpy")
    assert list(one["id"]) == list(two["id"])
    for a, b in zip(one, two, strict=True):
        for column in ("joints", "music", "music_tokens", "beat_frames"):
            np.testing.assert_array_equal(a[column], b[column], err_msg=f"{a['id']} {column}")


def test_the_numba_kernels_are_compiled_before_any_worker_starts(monkeypatch):
    # workers compiling at once corrupt numba's on-disk cache (segfaults on fresh venvs)
    events = []
    monkeypatch.setattr(prepare_module, "compile_feature_kernels", lambda: events.append("compile"))

    class Pool:
        def __init__(self, **kwargs):
            events.append("pool")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, function, jobs):
            return [function(job) for job in jobs]

    monkeypatch.setattr(prepare_module, "ProcessPoolExecutor", Pool)
    rows = prepare_module._run([lambda: {"id": "a"}, lambda: {"id": "b"}], 2, desc="t")
    assert rows == [{"id": "a"}, {"id": "b"}] and events == ["compile", "pool"]
    assert prepare_module._run([lambda: {"id": "a"}], 1, desc="t") == [{"id": "a"}]
    assert events == ["compile", "pool"]  # one process: nothing to protect


def test_the_demo_spawns_a_data_worker_per_16_clips_up_to_the_cpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert [data_workers(n) for n in (4, 15, 16, 32, 48, 400)] == [1, 1, 1, 2, 2, 2]


def test_synthetic_is_deterministic_from_the_seed():
    a = generate_sequences(2, 4.0, seed=3)
    b = generate_sequences(2, 4.0, seed=3)
    c = generate_sequences(2, 4.0, seed=4)
    np.testing.assert_array_equal(a[1].audio, b[1].audio)
    np.testing.assert_array_equal(a[1].poses, b[1].poses)
    assert not np.array_equal(a[1].poses, c[1].poses)


def test_synthetic_motion_beats_fall_on_the_music_beats(synthetic_dir):
    ds = load_clip_dataset(synthetic_dir).with_format("numpy")
    for row in ds:
        joints = row["joints"].reshape(-1, 24, 3)
        speed = gaussian_filter1d(np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1), 5)
        motion_beats = argrelextrema(speed, np.less)[0]
        music_beats = row["beat_frames"]
        assert len(music_beats) >= 8
        score = np.mean([np.exp(-np.min((motion_beats - b) ** 2) / 18.0) for b in music_beats])
        assert score > 0.6, (row["id"], score)
        # feet stay near the floor
        assert joints[:, [10, 11], 1].min() > -0.05


DWM_SUBSET = ("DANCE_C_7", "DANCE_R_2", "DANCE_T_5", "DANCE_W_24")
"""One piece per genre (two of them among the ten added last): prepared in full, in seconds."""


def test_dance_with_melody_lists_28_pieces_of_four_genres_and_31_minutes():
    root = shared_data("dance-with-melody")
    folders = dance_with_melody.list_sequences(root)
    assert len(folders) == 28
    genres = {f.name.split("_")[1] for f in folders}
    assert genres == {"C", "R", "T", "W"}
    total_frames = 0
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        assert config["start_position"] >= 0, folder
        total_frames += json.loads((folder / "skeletons.json").read_text())["length"]
    assert 1750 < total_frames / 25 < 1950  # "about 47,000 frames (31 minutes)"


def test_dance_with_melody_pieces_load_into_a_dataset(tmp_path):
    root = shared_data("dance-with-melody")
    subset = tmp_path / "pieces"
    subset.mkdir()
    for piece in DWM_SUBSET:
        (subset / piece).symlink_to(root / piece, target_is_directory=True)
    out = prepare(
        PrepareConfig(
            source="dance-with-melody",
            path=str(subset),
            output_dir=str(tmp_path / "dwm"),
            num_workers=2,
        )
    )
    ds = load_clip_dataset(out)
    assert sorted(ds["id"]) == sorted(DWM_SUBSET)
    assert sorted(set(ds["genre"])) == ["cha-cha", "rumba", "tango", "waltz"]
    assert json.loads((out / "prepare.json").read_text())["config"]["floor"] == "levelled"
    for row in ds.with_format("numpy"):
        n = row["num_frames"]
        assert row["joints"].shape == (n, 69) and row["music"].shape == (n, 438)
        assert len(row["music_tokens"]) == n // FRAMES_PER_TOKEN
        source_frames = len(
            json.loads((root / row["id"] / "skeletons.json").read_text())["skeletons"]
        )
        assert n == int(np.floor((source_frames - 1) / 25 * 60)) + 1, row["id"]
        beats = row["beat_frames"]
        assert len(beats) > n / 60 and beats.min() >= 0 and beats.max() < n
        lowest = row["joints"].reshape(n, 23, 3)[:, DANCE_WITH_MELODY23.floor_joints, 1].min(1)
        assert abs(np.percentile(lowest, 5)) < 0.02, row["id"]  # stands on height 0
