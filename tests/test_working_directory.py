"""Every training command, run from an empty working directory, leaves that directory empty
and logs under its own output folder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import TINY


@pytest.fixture(scope="module")
def tiny_reward_dir(tmp_path_factory):
    import torch

    from e3d2_hf.models import DanceRewardModel, preset_config

    out = tmp_path_factory.mktemp("rm")
    torch.manual_seed(0)
    DanceRewardModel(preset_config("reward", "tiny")).save_pretrained(out)
    return out


def test_each_stage_keeps_the_working_directory_empty(
    tiny_clips, tiny_vqvae, tiny_policy, tiny_preferences, tiny_reward_dir, tmp_path
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    tb = ["--report_to", "tensorboard", "--disable_tqdm", "true"]
    stages = {
        "train-vqvae": ["--config", str(TINY / "vqvae.yaml"), "--dataset", str(tiny_clips), *tb],
        "train-bc": ["--config", str(TINY / "bc.yaml"), "--dataset", str(tiny_clips),
                     "--vqvae_name_or_path", str(tiny_vqvae), *tb],
        "collect-demonstrations": ["--config", str(TINY / "demonstrations.yaml"),
                          "--policy_name_or_path", str(tiny_policy)],
        "train-reward": ["--config", str(TINY / "reward.yaml"),
                         "--preferences_dir", str(tiny_preferences), *tb],
        "ppo": ["--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
                "--reward_model_name_or_path", str(tiny_reward_dir), "--eval_dance_tokens", "0",
                "--num_train_epochs", "1", *tb],
    }  # fmt: skip
    for stage, argv in stages.items():
        out = tmp_path / stage
        result = subprocess.run(
            [sys.executable, "-m", "e3d2_hf.cli", stage, *argv, "--output_dir", str(out)],
            cwd=cwd, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, f"{stage}: {result.stderr[-3000:]}"
        assert list(cwd.iterdir()) == [], f"{stage} wrote into the working directory"
        if "tensorboard" in argv:
            assert list(out.glob("runs/*/events.out.tfevents.*")), f"{stage}: no logs in {out}"


def test_trackio_gets_one_run_per_job_in_the_e3d2_project(
    tiny_clips, tiny_policy, tiny_reward_dir, tmp_path
):
    """The evaluation after train() (VQ-VAE) and before it (PPO) log into the job's own run."""
    import os
    import sqlite3

    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio")}
    jobs = {
        "vqvae": ["train-vqvae", "--config", str(TINY / "vqvae.yaml"), "--dataset", str(tiny_clips)],
        "ppo": ["ppo", "--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
                "--reward_model_name_or_path", str(tiny_reward_dir), "--eval_dance_tokens", "0",
                "--num_train_epochs", "1"],
    }  # fmt: skip
    for name, argv in jobs.items():
        result = subprocess.run(
            [sys.executable, "-m", "e3d2_hf.cli", *argv, "--output_dir", str(tmp_path / name),
             "--report_to", "trackio", "--disable_tqdm", "true"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
    database = sqlite3.connect(tmp_path / "trackio" / "e3d2-hf.db")
    runs = sorted(r for (r,) in database.execute("select distinct run_name from metrics"))
    assert [r.rsplit("-", 2)[0] for r in runs] == ["ppo", "vqvae"], runs
    ppo_run = next(r for r in runs if r.startswith("ppo-"))
    rows = database.execute("select metrics from metrics where run_name = ?", (ppo_run,))
    logged = " ".join(bytes(m).decode() if not isinstance(m, str) else m for (m,) in rows)
    assert (
        "train/objective/scores" in logged and logged.count('"eval/score":') == 2
    )  # before + after
