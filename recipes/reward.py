"""Train the reward model R_theta on ranked demonstration pairs (Bradley-Terry, docs/method.md §3).

    python recipes/reward.py --config recipes/configs/demo/reward.yaml [--key value ...]
    accelerate launch recipes/reward.py --config recipes/configs/demo/reward.yaml
    e3d2 train-reward --config ...             (this very module, as e3d2_hf.recipes.reward)

The model is the paper's Decision-Transformer scorer sized by a preset, or (`--trunk policy`)
pi_BC's GPT with a scalar head that starts from pi_BC's log-likelihood. The report holds the
paper's Table 4: accuracy per epoch, the noise-pair table, mean u per noise level; and per
noise level how often the demonstrations keep a code and (where the folder of the policy that
collected them is on this machine) their joint and root speeds, with u's correlation with each;
the same for the ground truth's own episodes of that policy's songs; with pi_BC's folder, u's
correlation with its log-likelihood; with corrupted pairs, the held-out accuracy per kind.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers import set_seed

from e3d2_hf.models import DancePolicy, DanceRewardModel, DanceVQVAE, preset_config
from e3d2_hf.models.folders import load_model, locate_vqvae
from e3d2_hf.models.reward.modeling_reward import policy_trunk_config
from e3d2_hf.models.tokens import load_token_splits
from e3d2_hf.preferences import load_preferences
from e3d2_hf.reports.reward import reward_report, write_reward_report
from e3d2_hf.training.config_parser import parse_stage_args
from e3d2_hf.training.reward_trainer import PreferencePairs, RewardConfig, RewardTrainer
from e3d2_hf.utils.errors import run_recipe


@dataclass
class RewardDataArguments:
    preferences_dir: str = field(
        default="outputs/demo/preferences",
        metadata={
            "help": "ranked pairs: a folder from collect-demonstrations or a Hub dataset repo id"
        },
    )
    model_preset: str = field(default="demo", metadata={"help": "tiny | demo | paper"})
    hidden_size: int | None = field(
        default=None, metadata={"help": "override the preset's reward-model width"}
    )
    num_attention_heads: int | None = field(
        default=None, metadata={"help": "override the preset's number of attention heads"}
    )
    trunk: str = field(
        default="decision-transformer",
        metadata={
            "help": "decision-transformer: the paper's scorer, sized by the preset; policy: "
            "pi_BC's GPT with a scalar head, starting from pi_BC's log-likelihood"
        },
    )
    trunk_policy: str | None = field(
        default=None,
        metadata={
            "help": "pi_BC for --trunk policy (default: the policy that collected the pairs)"
        },
    )


ARGUMENTS = (RewardDataArguments, RewardConfig)
"""The options: `--config` YAML keys and `--key value` flags, one dataclass each."""


def main(argv: list[str] | None = None) -> dict:
    """As `python recipes/reward.py` and `e3d2` run it: parse ARGUMENTS, then `run`."""
    return run(*parse_stage_args(ARGUMENTS, argv))


def demonstrations_tokens(info: dict) -> dict | None:
    """The collecting policy's tokenised training and held-out songs, where its folder is on
    this machine: the ground truth the report scores beside the demonstrations."""
    policy = info.get("policy")
    if not policy or not (Path(policy) / "tokens").is_dir():
        return None
    train, heldout = load_token_splits(Path(policy) / "tokens")
    return {"training songs": train, "held-out songs": heldout}


def demonstrations_policy(info: dict) -> DancePolicy | None:
    """pi_BC, the policy that collected the demonstrations, where its folder is on this
    machine: the report gives u's correlation with its log-likelihood."""
    policy = info.get("policy")
    if not policy or not (Path(policy) / "config.json").is_file():
        return None
    return load_model(DancePolicy, policy).eval()


def demonstrations_vqvae(info: dict) -> DanceVQVAE | None:
    """The VQ-VAE that decodes the demonstrations: the collecting policy's, where both are
    folders on this machine (a report never reaches for the Hub); else None."""
    policy = info.get("policy")
    if not policy or not Path(policy).is_dir():
        return None
    setting = DancePolicy.config_class.from_pretrained(policy).vqvae_name_or_path
    found = locate_vqvae(policy, setting if setting and Path(setting).is_dir() else None)
    if found is None or not Path(found[0], found[1]).is_dir():
        return None
    return load_model(DanceVQVAE, found[0], subfolder=found[1]).eval()


def run(data: RewardDataArguments, config: RewardConfig) -> dict:
    # 1. the options: the pairs and the model's size; RewardTrainer's settings

    # 2. data: the ranked pairs of training and held-out music, with their music segments
    prefs, info = load_preferences(data.preferences_dir)
    train = PreferencePairs(prefs["train"], prefs["train_segments"])
    eval_sets = {
        "train": PreferencePairs(
            prefs["train"].select(range(min(len(prefs["train"]), len(prefs["test"])))),
            prefs["train_segments"],
        ),
        "test": PreferencePairs(prefs["test"], prefs["test_segments"]),
    }

    # 3. the model: the preset's scorer, or pi_BC's trunk with its weights
    sizes = {"hidden_size": data.hidden_size, "num_attention_heads": data.num_attention_heads}
    sizes = {k: v for k, v in sizes.items() if v is not None}
    policy = None
    if data.trunk == "policy":
        source = data.trunk_policy or info.get("policy")
        if not source:
            raise ValueError("--trunk policy needs --trunk_policy (pi_BC's folder or repo id)")
        policy = load_model(DancePolicy, source)
        sizes = {"trunk": "policy", "policy_config": policy_trunk_config(policy.config)}
    reward_config = preset_config(
        "reward", data.model_preset,
        codebook_size=info["codebook_size"], skeleton=info["skeleton"], **sizes,
    )  # fmt: skip
    demonstrations = prefs["train_demonstrations"]
    used = (
        max(int(np.max(demonstrations["upper_ids"])), int(np.max(demonstrations["lower_ids"]))) + 1
    )
    if used > reward_config.codebook_size:
        raise ValueError(
            f"the demonstrations use codes up to {used - 1} but the reward model has "
            f"{reward_config.codebook_size}: its codebook does not match the policy's"
        )
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed
    model = DanceRewardModel(reward_config)
    if policy is not None:
        model.init_from_policy(policy)

    # 4. the trainer; epoch 0 is where training starts (chance, or pi_BC's own ranking)
    trainer = RewardTrainer(model=model, args=config, train_dataset=train, eval_dataset=eval_sets)
    start = {
        name: trainer.evaluate(pairs, metric_key_prefix=f"start_{name}")[f"start_{name}_accuracy"]
        for name, pairs in eval_sets.items()
    }

    # 5. train, then the report: accuracy per epoch, the noise-pair table, u per noise level
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    report = reward_report(
        trainer, prefs, eval_sets["test"], demonstrations_vqvae(info), demonstrations_tokens(info),
        ranked_ground_truth=bool(info.get("config", {}).get("ground_truth_demonstrations")),
        policy=demonstrations_policy(info),
    )  # fmt: skip
    report["accuracy_per_epoch"].insert(0, {"epoch": 0.0, **start})

    # 6. save with its card, write the report, push
    noise_levels = info.get("config", {}).get("noise_levels", report["noise_levels"])
    trainer.card_data = {
        "model_name": "dance-reward-model",
        "metrics": {f"test_{k}": v for k, v in report["test_metrics"].items()},
        "dataset": data.preferences_dir,
        "repo_id": config.hub_model_id or config.output_dir,
        "noise_levels": ", ".join(f"{e:g}" for e in noise_levels),
        "num_train_pairs": len(prefs["train"]),
        "policy": info.get("policy", "unknown"),
        "mean_u_table": "\n".join(
            f"| {n:g} | {u:.3f} |" for n, u in sorted(report["mean_u_by_noise"].items())
        ),
    }
    trainer.save_model(config.output_dir)
    if trainer.is_world_process_zero():
        write_reward_report(report, Path(config.output_dir))
        trainer.create_model_card()
    if config.push_to_hub:
        trainer.push_to_hub()
    return report


if __name__ == "__main__":
    sys.exit(run_recipe("train-reward", main))
