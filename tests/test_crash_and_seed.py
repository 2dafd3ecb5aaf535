"""kill -9 in the middle of a save, then `--resume_from_checkpoint true`; and same seed, same run.

Every trainer runs as a user runs it, `e3d2 <command>` in a fresh interpreter. Run A
goes through uninterrupted. Run B, the same command with the same seed, alongside A, is killed
(SIGKILL) inside the save of its second checkpoint, after the weights are written
and before the save finished, then resumed with `--resume_from_checkpoint true`:

- B's first checkpoint equals A's, bit for bit: the same seed gives the same run;
- the resume skips the torn checkpoint, says so in one line, and ends at A's weights.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .conftest import TINY, demonstrations_argv, side_by_side

RUN = """
import os, signal, sys

kill_at = int(os.environ.get("E3D2_TEST_KILL_AT_STEP", "0"))
kill_shard = os.environ.get("E3D2_TEST_KILL_IN_SHARD")
if kill_at:
    import transformers

    save_rng_state = transformers.Trainer._save_rng_state

    def save_rng_state_then_die(self, output_dir):
        if self.state.global_step == kill_at:  # the weights are on disk, the save is not done
            os.kill(os.getpid(), signal.SIGKILL)
        return save_rng_state(self, output_dir)

    transformers.Trainer._save_rng_state = save_rng_state_then_die
if kill_shard:
    import datasets

    save_to_disk = datasets.Dataset.save_to_disk

    def save_then_die(self, path, *args, **kwargs):
        save_to_disk(self, path, *args, **kwargs)
        if kill_shard in str(path):  # written into its temporary folder, not yet renamed
            os.kill(os.getpid(), signal.SIGKILL)

    datasets.Dataset.save_to_disk = save_then_die
from e3d2_hf.cli import main

sys.exit(main(sys.argv[1:]))
"""


def e3d2(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return both((argv, env), cwd=cwd)[0]


def both(*runs: tuple[list[str], dict[str, str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Each (argv, env) as `e3d2 <argv>` in its own interpreter, side by side: runs A and B
    share nothing but their inputs."""

    def run(argv_env: tuple[list[str], dict[str, str]]) -> subprocess.CompletedProcess:
        argv, env = argv_env
        return subprocess.run(
            [sys.executable, "-c", RUN, *argv],
            cwd=cwd,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )

    return side_by_side(run, runs)


def assert_same_weights(a: Path, b: Path) -> None:
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(second[key], first[key], atol=0, rtol=0, msg=key)


def _trainer_argv(name, tiny_clips, tiny_vqvae, tiny_policy, tiny_preferences, reward_model):
    """(command, options, first checkpoint step, killed checkpoint step) of each trainer."""
    keep = ["--save_total_limit", "5", "--report_to", "none"]
    return {
        "vqvae": (
            "train-vqvae",
            ["--config", str(TINY / "vqvae.yaml"), "--dataset", str(tiny_clips), *keep],
            10,
            20,
        ),
        "bc": (
            "train-bc",
            ["--config", str(TINY / "bc.yaml"), "--dataset", str(tiny_clips),
             "--vqvae_name_or_path", str(tiny_vqvae), *keep],
            10,
            20,
        ),
        "reward": (
            "train-reward",
            ["--config", str(TINY / "reward.yaml"), "--preferences_dir", str(tiny_preferences),
             "--save_steps", "10", *keep],
            10,
            20,
        ),
        "ppo": (
            "ppo",
            ["--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
             "--reward_model_name_or_path", str(reward_model), "--save_steps", "1", *keep],
            1,
            2,
        ),
        # group-relative advantages (no critic), with a physical term and a weighted sum
        **{
            f"ppo-{estimator}": (
                "ppo",
                ["--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
                 "--reward_model_name_or_path", str(reward_model), "--save_steps", "1",
                 "--advantage_estimator", estimator, "--num_generations", "4",
                 "--reward_funcs", "learned", "jitter", "--reward_weights", "1", "0.5",
                 "--vqvae_name_or_path", str(tiny_vqvae), "--eval_dance_tokens", "0", *keep],
                1,
                2,
            )
            for estimator in ("grpo", "rloo")
        },
    }[name]  # fmt: skip


@pytest.mark.parametrize("trainer", ["vqvae", "bc", "reward", "ppo", "ppo-grpo", "ppo-rloo"])
def test_a_save_killed_midway_resumes_from_the_last_complete_checkpoint_to_the_same_weights(
    trainer, tiny_clips, tiny_vqvae, tiny_policy, tiny_preferences, tiny_reward, tmp_path
):
    command, argv, first, killed = _trainer_argv(
        trainer, tiny_clips, tiny_vqvae, tiny_policy, tiny_preferences, tiny_reward
    )
    a, b = tmp_path / "a", tmp_path / "b"
    run_a, run_b = both(
        ([command, *argv, "--output_dir", str(a)], {}),
        ([command, *argv, "--output_dir", str(b)], {"E3D2_TEST_KILL_AT_STEP": str(killed)}),
        cwd=tmp_path,
    )
    assert run_a.returncode == 0, run_a.stderr[-3000:]
    assert run_b.returncode == -signal.SIGKILL, run_b.stderr[-3000:]
    torn = b / f"checkpoint-{killed}"
    assert (torn / "model.safetensors").is_file() and not (
        torn / "checkpoint_complete.json"
    ).exists()
    assert_same_weights(a / f"checkpoint-{first}", b / f"checkpoint-{first}")  # same seed

    resumed = e3d2(
        [command, *argv, "--output_dir", str(b), "--resume_from_checkpoint", "true"], tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    skipped = [line for line in resumed.stderr.splitlines() if "save was interrupted" in line]
    assert len(skipped) == 1 and f"checkpoint-{killed}" in skipped[0]
    assert_same_weights(a, b)
    assert (b / f"checkpoint-{killed}" / "checkpoint_complete.json").is_file()


def test_demonstration_collection_killed_in_a_shard_resumes_to_the_same_dataset(
    tiny_policy, tmp_path
):
    from datasets import DatasetDict

    a, b = tmp_path / "a" / "preferences", tmp_path / "b" / "preferences"
    run_a, killed = both(
        (["collect-demonstrations", *demonstrations_argv(tiny_policy, a)], {}),
        (
            ["collect-demonstrations", *demonstrations_argv(tiny_policy, b)],
            {"E3D2_TEST_KILL_IN_SHARD": "shard-00001"},
        ),
        cwd=tmp_path,
    )
    assert run_a.returncode == 0, run_a.stderr[-3000:]
    assert not a.with_name("preferences.shards").exists()  # removed once the dataset is saved
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not b.exists()
    shards = b.with_name("preferences.shards") / "train"
    assert (shards / "shard-00000" / "dataset_info.json").is_file()
    assert not (shards / "shard-00001").exists()

    resumed = e3d2(["collect-demonstrations", *demonstrations_argv(tiny_policy, b)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "already collected, resuming" in resumed.stderr
    assert not b.with_name("preferences.shards").exists()
    first, second = DatasetDict.load_from_disk(str(a)), DatasetDict.load_from_disk(str(b))
    assert first.keys() == second.keys()
    for split in first:
        assert first[split].to_dict() == second[split].to_dict(), split


def test_overwrite_output_dir_starts_afresh_so_a_resume_cannot_find_the_old_run(
    tiny_clips, tmp_path
):
    argv = ["train-vqvae", "--config", str(TINY / "vqvae.yaml"), "--dataset", str(tiny_clips),
            "--save_total_limit", "5", "--report_to", "none", "--output_dir", str(tmp_path / "run")]  # fmt: skip
    first = e3d2(argv, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    old = sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*"))
    assert old == ["checkpoint-10", "checkpoint-20", "checkpoint-30"]
    again = e3d2([*argv, "--overwrite_output_dir", "true", "--max_steps", "10"], tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [p.name for p in (tmp_path / "run").glob("checkpoint-*")] == ["checkpoint-10"]
    assert "removed the earlier run's" in again.stderr
    resumed = e3d2([*argv, "--resume_from_checkpoint", "true", "--max_steps", "10"], tmp_path)
    assert resumed.returncode == 0 and "checkpoint-30" not in resumed.stderr
