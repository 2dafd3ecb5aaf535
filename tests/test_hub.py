"""Hub round trips through the real client code, against a loopback Hub server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, TINY
from .loopback_hub import LoopbackHub


def _hub_env(hub: LoopbackHub, home) -> dict:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": "hf_loopback",
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    return env


@pytest.fixture(scope="module")
def hub_roundtrip(tiny_preferences, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("hub")
    with LoopbackHub() as hub:
        env = _hub_env(hub, work / "hf_home")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.hub_roundtrip",
                str(tiny_preferences),
                str(work),
                str(TINY / "reward.yaml"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-4000:] + "\n".join(hub.state.errors)
        assert not hub.state.errors, hub.state.errors
        found = json.loads((work / "found.json").read_text())
        found["requests"] = list(hub.state.requests)
    return found


def test_preference_dataset_round_trips_through_the_hub(hub_roundtrip):
    assert all(hub_roundtrip["splits_equal"].values()), hub_roundtrip["splits_equal"]
    assert all(hub_roundtrip["features_equal"].values()), hub_roundtrip["features_equal"]
    assert hub_roundtrip["info_equal"]
    card = hub_roundtrip["dataset_card"]
    assert "# E3D2 ranked dance demonstrations" in card
    assert (
        "config_name: pairs" in card and "config_name: segments" in card
    )  # push_to_hub metadata kept
    assert "1, 0.75, 0.5, 0.25, 0.02" in card


def test_reward_model_trains_from_the_hub_dataset_and_loads_by_repo_id(hub_roundtrip):
    card = hub_roundtrip["model_card"]
    assert "noise levels 1, 0.75, 0.5, 0.25, 0.02" in card
    assert "| test_accuracy |" in card and "| 0.02 |" in card
    assert "e3d2-tester/dance-reward" in card
    assert hub_roundtrip["score_hub"] == pytest.approx(hub_roundtrip["score_disk"], abs=1e-5)
    assert len(set(hub_roundtrip["score_hub"])) > 1
    assert any(r.startswith("PUT /lfs-upload/") for r in hub_roundtrip["requests"])


def test_score_cli_reads_a_reward_model_by_repo_id(hub_roundtrip):
    assert hub_roundtrip["cli_exit"] == 0
    [score] = hub_roundtrip["cli_scores"]["scores"]
    assert score["num_windows"] == 1 and score["num_tokens"] == 29
    assert score["mean_u"] == pytest.approx(hub_roundtrip["score_hub"][0], abs=1e-4)


@pytest.fixture(scope="module")
def pushed(tiny_policy, tiny_vqvae, tiny_preferences, tiny_clips, tmp_path_factory) -> dict:
    """`e3d2 push` of a policy, its VQ-VAE and a preference dataset; read back in a fresh process."""
    from e3d2_hf.data.schema import load_clip_dataset
    from e3d2_hf.models import DancePolicy

    work = tmp_path_factory.mktemp("push")
    policy = DancePolicy.from_pretrained(tiny_policy)
    policy.config.vqvae_name_or_path = str(tiny_vqvae)
    policy.save_pretrained(work / "policy")
    song = load_clip_dataset(tiny_clips)[0]["music_path"]
    with LoopbackHub() as hub:
        for step, args in (
            ("push", [str(work / "policy"), str(tiny_vqvae), str(tiny_preferences)]),
            ("load", [song]),
        ):
            run = subprocess.run(
                [sys.executable, "-m", "tests.push_roundtrip", step, *args, str(work)],
                cwd=REPO,
                env=_hub_env(hub, work / f"hf_home_{step}"),  # the load starts with an empty cache
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert run.returncode == 0, run.stderr[-4000:] + "\n".join(hub.state.errors)
        found = json.loads((work / "load.json").read_text())
        found.update(json.loads((work / "push.json").read_text()))
    local = DancePolicy.from_pretrained(work / "policy")
    found["local_policy"] = local
    found["song"] = song
    found["tiny_vqvae"] = tiny_vqvae
    return found


def test_push_uploads_a_policy_with_its_vqvae_and_it_dances_from_the_repo_alone(pushed):
    assert pushed["exit_codes"][:3] == [0, 0, 0]
    assert pushed["exit_codes"][3] == 2  # a missing folder is a clear error, not a traceback
    files = pushed["e3d2-tester/dance-policy"]["files"]
    assert {"README.md", "config.json", "model.safetensors", "vqvae/config.json",
            "vqvae/model.safetensors"} <= set(files)  # fmt: skip
    assert not any(f.startswith(("checkpoint-", "runs/", "tokens/")) for f in files)
    assert pushed["dance_shape"] == [120, 24, 3]
    # the same dance as from the local folders
    from e3d2_hf.inference import dance_to_song, load_dancer

    policy, vqvae = load_dancer(str(pushed["local_policy"].name_or_path), str(pushed["tiny_vqvae"]))
    local = dance_to_song(policy, vqvae, pushed["song"], duration=2.0, seed=0)
    assert local.upper_ids.tolist() == pushed["dance_codes"]


def test_card_metadata_round_trips(pushed, tiny_vqvae):
    card = pushed["e3d2-tester/dance-vqvae"]
    assert card["library_name"] == "e3d2-hf"
    assert {"e3d2", "music-to-dance", "vqvae"} <= set(card["tags"])
    info = json.loads((tiny_vqvae / "card_info.json").read_text())
    expected = {
        k: v
        for k, v in info["metrics"].items()
        if "runtime" not in k and "per_second" not in k and k != "epoch"
    }
    assert expected and card["metrics"].keys() == expected.keys()
    for name, value in expected.items():
        assert card["metrics"][name] == pytest.approx(value, rel=1e-5)
    assert "e3d2-tester/dance-vqvae" in card["text"]  # re-rendered for the repo, not the local path
    policy_card = pushed["e3d2-tester/dance-policy"]
    assert policy_card["library_name"] == "e3d2-hf" and "policy" in policy_card["tags"]
    assert pushed["dataset_rows"]["train"] > 0 and "preference" in pushed["dataset_tags"]


def test_ppo_push_to_hub_uploads_the_plain_policy_with_its_vqvae(
    tiny_policy, tiny_vqvae, tiny_clips, tmp_path
):
    """`e3d2 ppo --push_to_hub true`: the repo (and the local folder) hold the value-head-free
    policy and its VQ-VAE, so the repo alone can dance; checkpoints stay local."""
    import torch

    from e3d2_hf.models import DanceRewardModel, preset_config

    torch.manual_seed(0)
    DanceRewardModel(preset_config("reward", "tiny")).save_pretrained(tmp_path / "rm")
    out, repo = tmp_path / "ppo", "e3d2-tester/ppo-policy"
    read_back = (
        "import json, sys; from huggingface_hub import HfApi, hf_hub_download; "
        "files = HfApi().list_repo_files(sys.argv[1]); "
        "config = json.load(open(hf_hub_download(sys.argv[1], 'config.json'))); "
        "print(json.dumps({'files': files, 'value_head': config['value_head']}))"
    )
    with LoopbackHub() as hub:
        env = _hub_env(hub, tmp_path / "hf_home")
        run = subprocess.run(
            [sys.executable, "-m", "e3d2_hf.cli", "ppo", "--config", str(TINY / "ppo.yaml"),
             "--policy_name_or_path", str(tiny_policy),
             "--reward_model_name_or_path", str(tmp_path / "rm"),
             "--vqvae_name_or_path", str(tiny_vqvae), "--clips_dir", str(tiny_clips),
             "--num_train_epochs", "1", "--output_dir", str(out), "--disable_tqdm", "true",
             "--push_to_hub", "true", "--hub_model_id", repo],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-4000:] + "\n".join(hub.state.errors)
        found = subprocess.run(
            [sys.executable, "-c", read_back, repo],
            cwd=tmp_path, env=_hub_env(hub, tmp_path / "hf_home_read"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert found.returncode == 0, found.stderr[-3000:]
    pushed = json.loads(found.stdout)
    assert pushed["value_head"] is False
    assert {"config.json", "model.safetensors", "README.md", "vqvae/config.json",
            "vqvae/model.safetensors"} <= set(pushed["files"])  # fmt: skip
    assert not any(f.startswith("checkpoint-") for f in pushed["files"])
    assert json.loads((out / "config.json").read_text())["value_head"] is False


def test_models_trained_with_relative_paths_work_from_another_directory_and_the_hub(
    tiny_clips, tmp_path
):
    """Train in one working directory with relative paths; dance from another, and from the
    loopback Hub in a fresh cache. Nothing saved may depend on the training directory."""
    from e3d2_hf.data.schema import load_clip_dataset

    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()

    def e3d2(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "e3d2_hf.cli", *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    for stage, extra in (
        ("vqvae", []),
        ("bc", ["--vqvae_name_or_path", "outputs/vqvae"]),
    ):
        run = e3d2(
            f"train-{stage}", "--config", str(TINY / f"{stage}.yaml"), "--dataset", str(tiny_clips),
            "--output_dir", f"outputs/{stage}", "--disable_tqdm", "true", *extra, cwd=here,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
    bc = here / "outputs" / "bc"
    assert json.loads((bc / "config.json").read_text())["vqvae_name_or_path"] == "vqvae"
    assert (bc / "vqvae" / "model.safetensors").is_file()
    card = (bc / "README.md").read_text()
    assert "outputs/" not in card and str(tmp_path) not in card
    song = load_clip_dataset(tiny_clips)[0]["music_path"]
    dance = e3d2("dance", song, "--policy", str(bc), "--duration", "2", "--formats", "npz",
                 "--output-dir", "dances", cwd=there)  # fmt: skip
    assert dance.returncode == 0, dance.stderr[-3000:]
    with LoopbackHub() as hub:
        pushed = e3d2("push", str(bc), "e3d2-tester/bc-relative", cwd=there,
                      env=_hub_env(hub, tmp_path / "hf_push"))  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        from_hub = e3d2("dance", song, "--policy", "e3d2-tester/bc-relative", "--duration", "2",
                        "--formats", "npz", "--output-dir", "hub-dances", cwd=there,
                        env=_hub_env(hub, tmp_path / "hf_fresh"))  # fmt: skip
        assert from_hub.returncode == 0, from_hub.stderr[-3000:] + "\n".join(hub.state.errors)
    assert sorted(p.name for p in (there / "dances").iterdir()) == sorted(
        p.name for p in (there / "hub-dances").iterdir()
    )


@pytest.mark.parametrize("failure", ["a refused token", "an unreachable endpoint"])
def test_push_failures_are_one_line_naming_the_repo_and_what_to_check(
    failure, tiny_reward, tmp_path
):
    """`e3d2 push` with a bad HF_TOKEN, or an HF_ENDPOINT where nothing listens: exit 2 and one
    line naming the repo and the setting, nothing on the Hub (each used to be a traceback)."""
    with LoopbackHub() as hub:
        hub.state.tokens = {"hf_the_right_one"}
        env = _hub_env(hub, tmp_path / "hf_home")
        if failure == "an unreachable endpoint":
            env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens on the discard port
        run = subprocess.run(
            [sys.executable, "-m", "e3d2_hf.cli", "push", str(tiny_reward), "me/reward"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert not hub.state.repos
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert lines[-1].startswith("e3d2 push: error: me/reward: "), lines
    expected = "HF_TOKEN" if failure == "a refused token" else "HF_ENDPOINT"
    assert expected in lines[-1] and len(lines) == 1, lines
