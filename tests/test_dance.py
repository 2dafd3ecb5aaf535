"""`e3d2 dance`: any song -> codes past the policy's window -> joints -> mp4, BVH, npz."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import soundfile
import torch

from e3d2_hf.cli import main
from e3d2_hf.data.layout import MOTION_FPS, TOKEN_FPS
from e3d2_hf.data.skeleton import SMPL24
from e3d2_hf.export import find_ffmpeg, media_duration, read_bvh
from e3d2_hf.export.cleanup import clean_dance
from e3d2_hf.inference import dance_to_song, load_dancer, save_dance


@pytest.fixture(scope="module")
def song(tiny_clips) -> str:
    from e3d2_hf.data.schema import load_clip_dataset

    return load_clip_dataset(tiny_clips)[0]["music_path"]


def test_sliding_window_matches_the_cached_rollout_then_reads_only_bailandos_28_steps(tiny_policy):
    from e3d2_hf.models import DancePolicy

    policy = DancePolicy.from_pretrained(tiny_policy).eval()
    window = policy.config.block_size - 1  # CrossCondGPT2.sample crops to block_size - 1
    assert policy.sample_context == window == 28
    g = torch.Generator().manual_seed(0)
    music = torch.randn(2, window + 12, policy.config.music_dim, generator=g)
    init = torch.tensor([3, 5])
    upper, lower = policy.sample_dance(music, init, init, greedy=True)
    assert upper.shape == lower.shape == (2, window + 12)
    first = policy.rollout(music[:, :window], init, init, greedy=True)
    assert torch.equal(upper[:, :window], first.upper_ids)
    # step t >= window: the argmax of one forward pass over the last `window` steps alone
    for t in (window, window + 7):
        previous_upper = torch.cat([init[:, None], upper], 1)[:, t - window + 1 : t + 1]
        previous_lower = torch.cat([init[:, None], lower], 1)[:, t - window + 1 : t + 1]
        out = policy(music[:, t - window + 1 : t + 1], previous_upper, previous_lower)
        assert torch.equal(upper[:, t], out.upper_logits[:, -1].argmax(-1))
        assert torch.equal(lower[:, t], out.lower_logits[:, -1].argmax(-1))


def test_dance_to_song_covers_the_segment_and_is_seeded(tiny_policy, tiny_vqvae, song):
    policy, vqvae = load_dancer(str(tiny_policy), str(tiny_vqvae))
    dance = dance_to_song(policy, vqvae, song, offset=1.0, duration=5.3, seed=3)
    assert dance.joints.shape == (int(round(5.3 * MOTION_FPS)), 24, 3)
    assert len(dance.upper_ids) == int(
        np.ceil(5.3 * TOKEN_FPS)
    )  # 40 tokens: past the 29-step window
    assert dance.duration == pytest.approx(5.3)
    again = dance_to_song(policy, vqvae, song, offset=1.0, duration=5.3, seed=3)
    other = dance_to_song(policy, vqvae, song, offset=1.0, duration=5.3, seed=4)
    assert np.array_equal(dance.upper_ids, again.upper_ids)
    assert not np.array_equal(dance.upper_ids, other.upper_ids)


def test_cli_dance_writes_a_playable_video_a_bvh_that_round_trips_and_an_npz(
    tiny_policy, tiny_vqvae, song, tmp_path
):
    if find_ffmpeg() is None:
        pytest.skip("no ffmpeg (pip install imageio-ffmpeg)")
    out = tmp_path / "dances"
    code = main(["dance", song, "--policy", str(tiny_policy), "--vqvae", str(tiny_vqvae),
                 "--start", "0.5", "--duration", "4", "--output-dir", str(out), "--name", "d",
                 "--video-fps", "15"])  # fmt: skip
    assert code == 0
    assert media_duration(out / "d.mp4") == pytest.approx(4.0, abs=0.07)
    with np.load(out / "d.npz", allow_pickle=False) as npz:
        joints = npz["joints"]
        assert joints.shape == (240, 24, 3) and float(npz["fps"]) == MOTION_FPS
        assert len(npz["upper_ids"]) == 30
    back = read_bvh(out / "d.bvh").positions_for(SMPL24)
    assert np.abs(back - joints).max() < 1e-3
    info = json.loads((out / "d.json").read_text())
    assert info["duration"] == pytest.approx(4.0) and set(info["files"]) == {"mp4", "bvh", "npz"}
    assert info["cleanup"] == "contact"


def test_cli_dance_cleans_up_by_default_and_cleanup_none_writes_the_raw_decode(
    tiny_policy, tiny_vqvae, song, tmp_path
):
    out = tmp_path / "dances"
    common = ["dance", song, "--policy", str(tiny_policy), "--vqvae", str(tiny_vqvae),
              "--duration", "3", "--formats", "npz",
              "--output_dir", str(out), "--seed", "2"]  # fmt: skip
    assert main([*common, "--name", "clean"]) == 0
    assert main([*common, "--name", "raw", "--cleanup", "none"]) == 0
    with np.load(out / "clean.npz") as clean, np.load(out / "raw.npz") as raw:
        assert str(clean["cleanup"]) == "contact" and str(raw["cleanup"]) == "none"
        np.testing.assert_array_equal(clean["upper_ids"], raw["upper_ids"])
        expected = clean_dance(raw["joints"], SMPL24)
        np.testing.assert_allclose(clean["joints"], expected, atol=1e-6)
        lowest = clean["joints"][..., 1].min(1)  # the tiny model's figure is not always on its feet
        assert np.median(lowest) == pytest.approx(0.0, abs=0.02)  # standing on height 0
        assert np.median(raw["joints"][..., 1].min(1)) < -0.1  # the raw root starts at the origin
    assert json.loads((out / "raw.json").read_text())["cleanup"] == "none"


def test_without_ffmpeg_the_video_falls_back_to_a_gif(
    tiny_policy, tiny_vqvae, song, tmp_path, monkeypatch
):
    import e3d2_hf.export.video as video

    policy, vqvae = load_dancer(str(tiny_policy), str(tiny_vqvae))
    dance = dance_to_song(policy, vqvae, song, duration=1.5)
    monkeypatch.setattr(video, "find_ffmpeg", lambda: None)
    written = save_dance(dance, tmp_path, "d", ("mp4",), video_fps=8)
    assert set(written) == {"gif"} and written["gif"].suffix == ".gif"
    with pytest.raises(video.FFmpegNotFound, match="ffmpeg"):
        video.write_video(tmp_path / "x.mp4", dance.joints, dance.skeleton)
    assert not (tmp_path / "x.mp4").exists()


def test_a_rerun_replaces_its_own_dance_and_a_failed_one_leaves_it_whole(
    tiny_policy, tiny_vqvae, song, tmp_path, monkeypatch
):
    import e3d2_hf.export.bvh as bvh

    policy, vqvae = load_dancer(str(tiny_policy), str(tiny_vqvae))
    dance = dance_to_song(policy, vqvae, song, duration=1.5)
    formats = ("npz", "bvh")

    def contents() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    save_dance(dance, tmp_path, "d", formats)
    first = contents()
    assert set(first) == {"d.npz", "d.bvh", "d.json"}
    save_dance(dance, tmp_path, "d", formats)  # its own, unchanged: replaced
    assert set(contents()) == set(first)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bvh, "write_bvh", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_dance(dance, tmp_path, "d", formats)  # the npz was written, the bvh failed
    assert contents() == first  # the previous dance, its manifest and no partial file

    monkeypatch.undo()
    (tmp_path / "d.bvh").write_text("edited by the user since")
    with pytest.raises(FileExistsError, match="d.bvh: exists and was not written by e3d2 dance"):
        save_dance(dance, tmp_path, "d", formats)
    assert (tmp_path / "d.bvh").read_text() == "edited by the user since"


def test_a_song_whose_name_is_not_utf8_dances_under_that_name_with_its_bytes_replaced(
    tiny_policy, tiny_vqvae, song, tmp_path
):
    """A valid wav named in Latin-1 (`café.wav`, one byte 0xE9) used to be "cannot be decoded"."""
    latin1 = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.wav")
    shutil.copy(song, latin1)
    out = tmp_path / "dances"
    code = main(["dance", latin1, "--policy", str(tiny_policy), "--vqvae", str(tiny_vqvae),
                 "--duration", "4", "--output-dir", str(out), "--formats", "npz,bvh"])  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "caf\ufffd.bvh",
        "caf\ufffd.json",
        "caf\ufffd.npz",
    ]
    with np.load(out / "caf\ufffd.npz", allow_pickle=False) as npz:
        assert npz["joints"].shape == (240, 24, 3)


def test_several_songs_in_one_call_load_the_models_once_and_are_named_after_their_piece(
    tiny_policy, tiny_vqvae, song, tmp_path, monkeypatch, capsys
):
    import e3d2_hf.inference as inference

    songs = []
    for folder, stem in (
        ("DANCE_C_1", "audio"),
        ("DANCE_W_7", "audio"),
        ("a", "mix"),
        ("b", "mix"),
    ):
        (tmp_path / folder).mkdir()
        songs.append(str(tmp_path / folder / f"{stem}.wav"))
        shutil.copy(song, songs[-1])
    loads = []
    real = inference.load_dancer
    monkeypatch.setattr(inference, "load_dancer", lambda *a: loads.append(a) or real(*a))
    out = tmp_path / "dances"
    argv = ["dance", *songs, "--policy", str(tiny_policy), "--vqvae", str(tiny_vqvae),
            "--duration", "4", "--output-dir", str(out), "--formats", "npz"]  # fmt: skip
    assert main(argv) == 0
    assert len(loads) == 1
    assert sorted(p.name for p in out.glob("*.npz")) == [
        "DANCE_C_1.npz", "DANCE_W_7.npz", "a_mix.npz", "b_mix.npz"
    ]  # fmt: skip
    # the same seed per song: a song danced alone gives the same dance as in the batch
    assert main(["dance", songs[0], *argv[5:-4], "--output-dir", str(tmp_path / "alone"),
                 "--formats", "npz"]) == 0  # fmt: skip
    with (
        np.load(out / "DANCE_C_1.npz") as batch,
        np.load(tmp_path / "alone" / "DANCE_C_1.npz") as alone,
    ):
        np.testing.assert_array_equal(batch["upper_ids"], alone["upper_ids"])
    capsys.readouterr()
    # --name names one dance; a missing song is named before any model is loaded
    assert main([*argv, "--name", "x"]) == 2
    assert "--name: names one dance" in capsys.readouterr().err
    assert main(["dance", songs[0], str(tmp_path / "gone.wav"), *argv[5:]]) == 2
    assert "gone.wav: audio file not found" in capsys.readouterr().err and len(loads) == 2


def test_bad_songs_and_mismatched_models_fail_clearly(tiny_policy, tiny_vqvae, tmp_path, capsys):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000 * 3, dtype=np.float32), 16000)
    garbage = tmp_path / "song.mp3"
    garbage.write_bytes(b"not audio at all" * 100)
    out = tmp_path / "out"
    for path, problem in ((silent, "silent"), (garbage, "cannot be decoded as audio")):
        code = main(["dance", str(path), "--policy", str(tiny_policy), "--vqvae", str(tiny_vqvae),
                     "--output-dir", str(out)])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and str(path) in err and problem in err
    assert not out.exists()
    # a VQ-VAE of another skeleton cannot decode this policy's codes
    from e3d2_hf.models import DanceVQVAE, preset_config

    other = tmp_path / "vqvae-dwm"
    DanceVQVAE(preset_config("vqvae", "tiny", skeleton="dance_with_melody23")).save_pretrained(
        other
    )
    code = main(["dance", str(silent), "--policy", str(tiny_policy), "--vqvae", str(other)])
    assert code == 2 and "skeleton" in capsys.readouterr().err


def test_a_decoded_dance_has_no_seam_at_either_end(tiny_policy, tiny_vqvae, tiny_clips, song):
    """The decoder's zero padding makes its first and last frames jump (Bailando decodes so);
    `edge_tokens` keeps the jump out: the largest step stays within the ground truth's."""
    from e3d2_hf.data.schema import load_clip_dataset
    from e3d2_hf.evaluation.physical import dance_diagnostics
    from e3d2_hf.models import DanceVQVAE

    vqvae = DanceVQVAE.from_pretrained(tiny_vqvae).eval()
    truth = np.asarray(load_clip_dataset(tiny_clips)[0]["joints"], dtype=np.float32)[:480]
    upper, lower = vqvae.encode(torch.from_numpy(truth.reshape(1, len(truth), -1)))

    def steps(edge_tokens):
        joints = vqvae.decode(upper, lower, edge_tokens)[0].numpy().reshape(-1, 24, 3)
        return np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(1)

    truth_max = dance_diagnostics(truth.reshape(-1, 24, 3))["max_step"]
    raw, padded = steps(0), steps(1)
    assert max(raw[0], raw[-1]) > truth_max  # the seam this guards against is real
    assert padded.max() <= truth_max
    assert len(padded) == len(raw)
    # `e3d2 dance` decodes so by default, then cleans the decode up (`--cleanup none`: raw)
    policy, vqvae = load_dancer(str(tiny_policy), str(tiny_vqvae))
    dance = dance_to_song(policy, vqvae, song, duration=3.0, seed=1, cleanup="none")
    ids = (torch.from_numpy(dance.upper_ids)[None], torch.from_numpy(dance.lower_ids)[None])
    expected = vqvae.decode(*ids, edge_tokens=1)[0].numpy().reshape(-1, 24, 3)
    np.testing.assert_allclose(dance.joints, expected[: len(dance.joints)], atol=1e-6)
    assert dance.cleanup == "none"
    cleaned = dance_to_song(policy, vqvae, song, duration=3.0, seed=1)
    assert cleaned.cleanup == "contact"
    np.testing.assert_allclose(
        cleaned.joints, clean_dance(dance.joints, vqvae.config.skeleton_def), atol=1e-6
    )
