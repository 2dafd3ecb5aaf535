"""`bf16: true` on every trainer (CPU autocast here): training runs, losses and metrics stay finite.

The numerics of bf16 against fp32 are tested on the models (tests/test_models.py);
here each stage is driven the way a user turns it on, from its recipe's flags.
"""

from __future__ import annotations

import json
import math

import pytest
from e3d2_hf.recipes.bc import main as main_bc
from e3d2_hf.recipes.ppo import main as main_ppo
from e3d2_hf.recipes.reward import main as main_reward
from e3d2_hf.recipes.vqvae import main as main_vqvae

from .conftest import TINY

BF16 = ["--bf16", "true", "--use_cpu", "true", "--disable_tqdm", "true"]


def _last_state(output_dir):
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return checkpoints[-1] / "trainer_state.json"


def _finite(metrics: dict) -> bool:
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


def test_vqvae_and_bc_train_in_bf16(tiny_clips, tiny_vqvae, tmp_path):
    vqvae = main_vqvae(
        ["--config", str(TINY / "vqvae.yaml"), "--dataset", str(tiny_clips),
         "--output_dir", str(tmp_path / "vqvae"), *BF16]
    )  # fmt: skip
    bc = main_bc(
        ["--config", str(TINY / "bc.yaml"), "--dataset", str(tiny_clips),
         "--vqvae_name_or_path", str(tiny_vqvae), "--output_dir", str(tmp_path / "bc"), *BF16]
    )  # fmt: skip
    assert _finite(vqvae) and _finite(bc)
    for stage in ("vqvae", "bc"):
        state = json.loads(_last_state(tmp_path / stage).read_text())
        losses = [e["loss"] for e in state["log_history"] if "loss" in e]
        assert len(losses) >= 2 and all(math.isfinite(x) for x in losses)
        assert losses[-1] < losses[0], (stage, losses)


def test_reward_model_trains_in_bf16(tiny_preferences, tmp_path):
    report = main_reward(
        ["--config", str(TINY / "reward.yaml"), "--preferences_dir", str(tiny_preferences),
         "--output_dir", str(tmp_path / "reward"), *BF16]
    )  # fmt: skip
    assert report["test_metrics"]["accuracy"] > 0.75  # as in fp32 (tests/test_reward.py)
    u = report["mean_u_by_noise"]
    assert u[0.02] > u[1.0]


@pytest.mark.parametrize("reward", ["learned", "bailando"])
def test_ppo_runs_in_bf16(reward, tiny_policy, tiny_vqvae, tiny_clips, tmp_path):
    import torch

    from e3d2_hf.models import DanceRewardModel, preset_config

    torch.manual_seed(0)
    DanceRewardModel(preset_config("reward", "tiny")).save_pretrained(tmp_path / "rm")
    rows = main_ppo(
        ["--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
         "--reward_model_name_or_path", str(tmp_path / "rm"),
         "--vqvae_name_or_path", str(tiny_vqvae), "--clips_dir", str(tiny_clips),
         "--reward_funcs", reward, "--num_train_epochs", "2", "--output_dir", str(tmp_path / "ppo"),
         *BF16]
    )  # fmt: skip
    assert rows["pi_BC"]["eval_kl"] == 0.0  # against itself: its own log-probs, not a 2nd pass
    for row in rows.values():
        assert math.isfinite(row["eval_score"]) and math.isfinite(row["eval_kl"])
