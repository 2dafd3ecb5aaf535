"""PPO fine-tuning of pi_BC against a reward: pi_RL (docs/method.md §4).

    python recipes/ppo.py --config recipes/configs/demo/ppo.yaml [--key value ...]
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/ppo.py --config ...
    e3d2 ppo --config ...                      (this very module, as e3d2_hf.recipes.ppo)

The models: pi_RL (pi_BC with a value head), the frozen pi_BC for the KL penalty, the reward
model R_theta (the learned reward, and the held-out score of every policy), the VQ-VAE (for
Bailando's hand-designed reward and for the dance table). The data: 29-step music segments of
pi_BC's training songs (rollouts) and of its held-out songs (evaluation).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from accelerate import PartialState
from transformers import set_seed

from e3d2_hf.data.layout import WINDOW_TOKENS
from e3d2_hf.evaluation.dance_table import DanceTable
from e3d2_hf.models import DancePolicy, DanceRewardModel, DanceVQVAE
from e3d2_hf.models.folders import load_model, locate_vqvae, policy_clips
from e3d2_hf.models.tokens import load_token_splits
from e3d2_hf.reports.ppo import (
    finite_metrics,
    matched_row,
    previous_rows,
    reference_row,
    write_ppo_report,
)
from e3d2_hf.training.config_parser import parse_stage_args
from e3d2_hf.training.demonstrations import music_segments
from e3d2_hf.training.ppo_trainer import (
    GROUP_ESTIMATORS,
    PPOConfig,
    PPOTrainer,
    load_policy_with_value_head,
)
from e3d2_hf.training.rewards import REWARDS, RewardInputs, build_rewards, reward_label
from e3d2_hf.utils.errors import run_recipe
from e3d2_hf.utils.outputs import PPO_REPORT
from e3d2_hf.utils.ranges import check_ranges


@dataclass
class PPOArguments:
    policy_name_or_path: str = field(default="outputs/demo/bc", metadata={"help": "pi_BC"})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["learned"],
        metadata={
            "help": "the rewards, summed with reward_weights: "
            + "; ".join(f"{r.name}: {r.help}" for r in REWARDS.values())
            + "; module:function or file.py:function: your callable; any other string: a "
            "reward model folder or Hub id"
        },
    )
    reward_model_name_or_path: str | None = field(
        default="outputs/demo/reward", metadata={"help": "R_theta; also scores held-out episodes"}
    )
    vqvae_name_or_path: str | None = field(
        default=None, metadata={"help": "VQ-VAE for decoding (default: the policy's)"}
    )
    tokens_dir: str | None = field(
        default=None, metadata={"help": "token datasets train/, heldout/ (default <policy>/tokens)"}
    )
    clips_dir: str | None = field(
        default=None, metadata={"help": "clips for the dance table (default: pi_BC's data_args)"}
    )
    segment_stride: int = field(default=1, metadata={"help": "stride between training segments"})
    orientation_weight: float | None = field(
        default=None,
        metadata={"help": "Bailando orientation weight (default: 0 released, 1 paper)"},
    )
    eval_dance_tokens: int = field(
        default=150, metadata={"help": "tokens per evaluation dance (150 = 20 s); 0: no table"}
    )
    reference_temperatures: list[float] = field(
        default_factory=list,
        metadata={
            "help": "also measure pi_BC sampled at each temperature (rows 'pi_BC (temperature "
            "T)'): the score and dances that sharpening pi_BC alone gives, beside pi_RL's"
        },
    )

    match_kl: bool = field(
        default=True,
        metadata={
            "help": "also measure pi_BC at the temperature whose held-out KL to pi_BC equals "
            "pi_RL's (found by bisection, row 'pi_BC (temperature T, KL-matched)'), and compare "
            "pi_RL against it"
        },
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        if not self.reward_funcs:
            raise ValueError("--reward_funcs is empty: name at least one reward")
        if "learned" in self.reward_funcs and not self.reward_model_name_or_path:
            raise ValueError("--reward_funcs learned needs --reward_model_name_or_path")
        if any(not t > 0 for t in self.reference_temperatures):
            raise ValueError(
                f"--reference_temperatures must be > 0, got {self.reference_temperatures}"
            )


ARGUMENTS = (PPOArguments, PPOConfig)
"""The options: `--config` YAML keys and `--key value` flags, one dataclass each."""


def main(argv: list[str] | None = None) -> dict:
    """As `python recipes/ppo.py` and `e3d2` run it: parse ARGUMENTS, then `run`."""
    return run(*parse_stage_args(ARGUMENTS, argv))


def run(args: PPOArguments, config: PPOConfig) -> dict:
    # 1. the options: the recipe's arguments and PPOTrainer's, from --config YAML and flags
    set_seed(config.seed)  # before the value head is built: its initial weights come from it

    # 2. models: pi_RL = pi_BC + value head (none for the group estimators), the frozen pi_BC,
    # R_theta, the VQ-VAE
    if config.advantage_estimator in GROUP_ESTIMATORS:
        policy = load_model(DancePolicy, args.policy_name_or_path)
    else:
        policy = load_policy_with_value_head(args.policy_name_or_path)
    ref_policy = load_model(DancePolicy, args.policy_name_or_path)
    named = args.reward_model_name_or_path
    reward_model = load_model(DanceRewardModel, named).to(config.device) if named else None
    found = locate_vqvae(
        args.policy_name_or_path, policy.config.vqvae_name_or_path, args.vqvae_name_or_path
    )
    vqvae = load_model(DanceVQVAE, found[0], subfolder=found[1]) if found else None

    # 3. data: 29-step music segments of pi_BC's training and held-out songs
    train_tokens, heldout_tokens = load_token_splits(
        args.tokens_dir or Path(args.policy_name_or_path) / "tokens"
    )
    train = music_segments(train_tokens, 0, args.segment_stride)
    heldout = music_segments(heldout_tokens, len(train), WINDOW_TOKENS - 1)

    # 4. rewards by name (training/rewards.py: R_theta's sparse u, Bailando's beat reward, the
    # physical terms, a user's callable); R_theta also scores the held-out episodes whichever
    # rewards PPO trains against
    inputs = RewardInputs(
        policy.config, reward_model, vqvae and vqvae.to(config.device), args.orientation_weight,
        train_tokens, config.device,
    )  # fmt: skip
    reward_funcs = build_rewards(args.reward_funcs, inputs)
    learned = None
    if reward_model is not None:
        learned = reward_funcs.get("learned") or build_rewards(["learned"], inputs)["learned"]

    # 5. the dance table: FID/DIV/BAS and the physical diagnostics of 20-s held-out dances
    clips = policy_clips(args.policy_name_or_path, args.clips_dir)
    table = None
    if args.eval_dance_tokens and vqvae is not None and clips is not None:
        table = DanceTable(
            vqvae.to(config.device), heldout_tokens, clips, args.eval_dance_tokens, config.seed
        )

    # 6. the trainer: rollouts, KL to pi_BC, GAE, clipped updates (training/ppo_trainer.py)
    trainer = PPOTrainer(
        model=policy, ref_policy=ref_policy, reward_funcs=reward_funcs, args=config,
        train_dataset=train, eval_dataset=heldout, eval_reward_fn=learned, evaluate_fn=table,
        vqvae_name_or_path=found[0] if found and not found[1] else None,
    )  # fmt: skip
    trainer.card_data = {
        "model_name": f"dance-policy-ppo-{'-'.join(reward_funcs)}",
        "dataset": str(args.policy_name_or_path),
    }

    # 7. evaluate pi_BC (and sharpened), train, evaluate pi_RL (a resumed run keeps pi_BC's rows)
    report_path = Path(config.output_dir) / PPO_REPORT
    rows = previous_rows(report_path) if config.resume_from_checkpoint else {}
    if "pi_BC" not in rows:
        rows["pi_BC"] = trainer.evaluate(reference=True)
    for temperature in args.reference_temperatures:
        name = reference_row(temperature)
        rows[name] = rows.get(name) or trainer.evaluate_reference(temperature)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    label = reward_label(args.reward_funcs, config.reward_weights)
    name = f"pi_RL ({label} reward)"
    final = trainer.evaluate()
    # the fairest baseline: pi_BC at the temperature whose KL to pi_BC equals pi_RL's
    matched = trainer.matched_kl_temperature(final.get("eval_kl") or 0) if args.match_kl else None
    if matched is not None:
        rows[matched_row(name)] = {
            **trainer.evaluate_reference(matched),
            "eval_temperature": matched,
        }
    rows[name] = final

    # 8. save the plain policy (with its card and VQ-VAE), write the report, push
    trainer.card_data["metrics"] = finite_metrics(rows[name])
    trainer.save_policy(config.output_dir)
    if PartialState().is_main_process:
        print(write_ppo_report(report_path, rows, trainer.state, table, label, config.kl_stop))
    if config.push_to_hub:
        trainer.push_to_hub()
    return rows


if __name__ == "__main__":
    sys.exit(run_recipe("ppo", main))
