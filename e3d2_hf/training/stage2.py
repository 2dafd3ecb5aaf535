"""Stage 2 end to end: ranked demonstrations of pi_BC -> reward model, with the paper's reports.

`recipes/demos.py`, `recipes/reward.py`, `e3d2 collect-demos` and
`e3d2 train-reward` call `main_demos` / `main_reward`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import set_seed

from ..models import DancePolicy, DanceRewardModel, preset_config
from ..models.reward.modeling_reward import policy_trunk_config
from .common import distributed_state, load_model
from .config_parser import parse_stage_args
from .demonstrations import DemonstrationConfig, build_preference_dataset
from .preferences import load_preferences, push_preferences_to_hub
from .reward_trainer import PreferencePairs, RewardConfig, RewardTrainer, accuracy_by_noise_pair
from .tokenize import load_token_splits

logger = logging.getLogger(__name__)


@dataclass
class DemosArguments:
    policy_name_or_path: str = field(
        default="outputs/demo/bc", metadata={"help": "pi_BC to roll out"}
    )
    tokens_dir: str | None = field(
        default=None,
        metadata={"help": "token datasets with train/ and heldout/ (default <policy>/tokens)"},
    )
    output_dir: str = field(
        default="outputs/demo/preferences", metadata={"help": "where the dataset goes"}
    )
    push_to_hub: bool = field(
        default=False, metadata={"help": "upload the dataset and its card to the Hub"}
    )
    hub_dataset_id: str | None = field(
        default=None, metadata={"help": "Hub dataset repo (namespace/name) for --push_to_hub"}
    )
    hub_private_repo: bool | None = field(
        default=None, metadata={"help": "create the Hub repo as private"}
    )


@dataclass
class RewardDataArguments:
    preferences_dir: str = field(
        default="outputs/demo/preferences",
        metadata={"help": "ranked pairs: a folder from collect-demos or a Hub dataset repo id"},
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


def run_demos(args: DemosArguments, config: DemonstrationConfig):
    state = distributed_state()
    policy = load_model(DancePolicy, args.policy_name_or_path)
    train_tokens, heldout_tokens = load_token_splits(
        args.tokens_dir or Path(args.policy_name_or_path) / "tokens"
    )
    if state.device.type != "cpu":
        policy.to(state.device)
    if args.push_to_hub and not args.hub_dataset_id:
        raise ValueError("--push_to_hub needs --hub_dataset_id namespace/name")
    dataset = build_preference_dataset(
        policy, train_tokens, heldout_tokens, args.output_dir, config
    )
    if args.push_to_hub and state.is_main_process:
        push_preferences_to_hub(args.output_dir, args.hub_dataset_id, args.hub_private_repo)
    return dataset


def run_reward(data: RewardDataArguments, config: RewardConfig) -> dict:
    """Train R_theta, save it with its card, and write the paper's reports next to it."""
    prefs, info = load_preferences(data.preferences_dir)
    codebook = (
        max(
            int(np.max(prefs["train_demonstrations"]["upper_ids"])),
            int(np.max(prefs["train_demonstrations"]["lower_ids"])),
        )
        + 1
    )
    sizes = {
        k: v
        for k, v in (
            ("hidden_size", data.hidden_size),
            ("num_attention_heads", data.num_attention_heads),
        )
        if v is not None
    }
    policy = None
    if data.trunk == "policy":
        source = data.trunk_policy or info.get("policy")
        if not source:
            raise ValueError("--trunk policy needs --trunk_policy (pi_BC's folder or repo id)")
        policy = load_model(DancePolicy, source)
        sizes = {"trunk": "policy", "policy_config": policy_trunk_config(policy.config)}
    reward_config = preset_config(
        "reward",
        data.model_preset,
        codebook_size=info["codebook_size"],
        skeleton=info["skeleton"],
        **sizes,
    )
    if codebook > reward_config.codebook_size:
        raise ValueError(
            f"the demonstrations use codes up to {codebook - 1} but the reward model has "
            f"{reward_config.codebook_size}: its codebook does not match the policy's"
        )
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed
    model = DanceRewardModel(reward_config)
    if policy is not None:
        model.init_from_policy(policy)
    train = PreferencePairs(prefs["train"], prefs["train_segments"])
    eval_sets = {
        "train": PreferencePairs(
            prefs["train"].select(range(min(len(prefs["train"]), len(prefs["test"])))),
            prefs["train_segments"],
        ),
        "test": PreferencePairs(prefs["test"], prefs["test_segments"]),
    }
    trainer = RewardTrainer(model=model, args=config, train_dataset=train, eval_dataset=eval_sets)
    # epoch 0: where training starts (chance for a fresh scorer, pi_BC's own ranking for its trunk)
    start = {
        name: trainer.evaluate(pairs, metric_key_prefix=f"start_{name}")[f"start_{name}_accuracy"]
        for name, pairs in eval_sets.items()
    }
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    report = reward_report(trainer, prefs, eval_sets["test"])
    report["accuracy_per_epoch"].insert(0, {"epoch": 0.0, **start})
    metrics = {f"test_{k}": v for k, v in report["test_metrics"].items()}
    noise_levels = info.get("config", {}).get("noise_levels", report["noise_levels"])
    trainer.card_data = {
        "model_name": "dance-reward-model",
        "metrics": metrics,
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


@torch.no_grad()
def mean_score_by_noise(
    model: DanceRewardModel, demos, segments, batch_size: int = 256
) -> dict[float, float]:
    """Mean total reward u of the demonstrations at each noise level (the paper's Table 4 u column)."""
    music = {
        int(s): m
        for s, m in zip(
            segments["segment_id"], segments.with_format("numpy")["music_features"], strict=True
        )
    }
    rows = demos.with_format("numpy")
    scores, noises = [], []
    device = model.device
    for begin in range(0, len(demos), batch_size):
        part = rows[begin : begin + batch_size]
        m = torch.from_numpy(np.stack([music[int(s)] for s in part["segment_id"]])).to(device)
        u = model.score(
            m,
            torch.from_numpy(np.stack(part["upper_ids"]).astype(np.int64)).to(device),
            torch.from_numpy(np.stack(part["lower_ids"]).astype(np.int64)).to(device),
        )
        scores.append(u.cpu().numpy())
        noises.append(np.asarray(part["noise"]))
    scores, noises = np.concatenate(scores), np.concatenate(noises)
    levels = sorted({round(float(n), 6) for n in noises.tolist()})
    return {n: float(scores[np.isclose(noises, n)].mean()) for n in levels}


def reward_report(trainer: RewardTrainer, prefs, test_pairs: PreferencePairs) -> dict:
    history = trainer.state.log_history
    per_epoch = [
        {
            "epoch": e["epoch"],
            "train": e.get("eval_train_accuracy"),
            "test": e.get("eval_test_accuracy"),
        }
        for e in history
        if "eval_test_accuracy" in e or "eval_train_accuracy" in e
    ]
    merged: dict[float, dict] = {}
    for row in per_epoch:
        merged.setdefault(row["epoch"], {"epoch": row["epoch"]}).update(
            {k: v for k, v in row.items() if v is not None}
        )
    output = trainer.predict(test_pairs, metric_key_prefix="test")
    scores = np.asarray(output.predictions).reshape(-1, 2)
    noise = np.asarray(output.label_ids).reshape(-1, 2)
    levels = sorted({round(float(x), 6) for x in np.unique(noise).tolist()})
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {
        "accuracy_per_epoch": list(merged.values()),
        "noise_levels": levels,
        "accuracy_by_noise_pair": accuracy_by_noise_pair(scores, noise, levels).tolist(),
        "mean_u_by_noise": mean_score_by_noise(
            model, prefs["train_demonstrations"], prefs["train_segments"]
        ),
        "test_metrics": {
            k.removeprefix("test_"): v
            for k, v in output.metrics.items()
            if "runtime" not in k and "per_second" not in k
        },
    }


def write_reward_report(report: dict, output_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (output_dir / "reward_report.json").write_text(json.dumps(report, indent=2))
    epochs = report["accuracy_per_epoch"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for split, style in (("train", "o-"), ("test", "s--")):
        points = [(e["epoch"], e[split]) for e in epochs if split in e]
        if points:
            ax.plot(*zip(*points, strict=True), style, label=f"{split} music")
    ax.set_xlabel("epoch")
    ax.set_ylabel("pairwise accuracy")
    ax.set_ylim(0.4, 1.0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(output_dir / "reward_accuracy.png", dpi=120)
    plt.close(fig)

    levels = report["noise_levels"]
    lines = [
        "# Reward model report",
        "",
        "## Pairwise accuracy per epoch",
        "",
        "| epoch | train music | held-out music |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {e['epoch']:g} | {e.get('train', float('nan')):.4f} | {e.get('test', float('nan')):.4f} |"
        for e in epochs
    ]
    lines += [
        "",
        "## Held-out accuracy by noise pair (row: chosen eps, column: rejected eps)",
        "",
        "| chosen \\ rejected | " + " | ".join(f"{n:g}" for n in levels) + " |",
        "|---|" + "---:|" * len(levels),
    ]
    for n, row in zip(levels, report["accuracy_by_noise_pair"], strict=True):
        cells = " | ".join("" if v is None or np.isnan(v) else f"{v:.3f}" for v in row)
        lines.append(f"| {n:g} | {cells} |")
    lines += [
        "",
        "## Mean total reward u over the training demonstrations",
        "",
        "| eps | mean u |",
        "|---:|---:|",
    ]
    lines += [f"| {float(n):g} | {u:.3f} |" for n, u in sorted(report["mean_u_by_noise"].items())]
    lines += ["", "![accuracy](reward_accuracy.png)", ""]
    (output_dir / "reward_report.md").write_text("\n".join(lines))


def main_demos(argv: list[str] | None = None):
    args, config = parse_stage_args((DemosArguments, DemonstrationConfig), argv)
    return run_demos(args, config)


def main_reward(argv: list[str] | None = None) -> dict:
    data, config = parse_stage_args((RewardDataArguments, RewardConfig), argv)
    return run_reward(data, config)
