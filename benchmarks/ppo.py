"""Seconds per PPO iteration, split into rollout, reward, reference log-probs and update.

    python benchmarks/ppo.py [--presets demo paper] [--episodes 64] [--minibatch 32] [--threads N]

Randomly initialised models of each preset (policy with value head, frozen
pi_BC, reward model, VQ-VAE) and random music; one warm-up iteration, then the mean
of `--iterations` timed ones through the real `PPOTrainer.iteration`. Three tables, each
with its ratio:

1. the sampler: the baseline is the same iteration with Bailando's uncached sampler in the
   rollout phase (ratio baseline / ours);
2. the physical rewards: the learned reward alone against it plus the four physical terms
   (ratio with / without: the target is at most 1.10 on the paper preset);
3. the advantage estimators: GAE against GRPO and RLOO with K = 4 rollouts per segment
   (the same episodes per iteration), with the number of sampler calls per iteration (one
   call of K x B episodes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e3d2_hf.models import DancePolicy, DanceRewardModel, DanceVQVAE, preset_config  # noqa: E402
from e3d2_hf.preferences import segment_features  # noqa: E402
from e3d2_hf.training.ppo_trainer import PPOConfig, PPOTrainer  # noqa: E402
from e3d2_hf.training.rewards import LearnedReward, RewardInputs, build_rewards  # noqa: E402

PHYSICAL = ("foot_skating", "ground", "jitter", "anti_freezing")
GROUP = 4

PHASES = ("rollout", "reference", "reward", "update")


def segments(n: int, codebook: int, steps: int = 29) -> Dataset:
    rng = np.random.default_rng(0)
    rows = [
        {
            "segment_id": i,
            "music_id": "random",
            "start": 0,
            "init_upper": int(rng.integers(codebook)),
            "init_lower": int(rng.integers(codebook)),
            "music_features": rng.standard_normal((steps, 438)).astype(np.float32),
        }
        for i in range(n)
    ]
    return Dataset.from_list(rows, features=segment_features())


def random_tokens(n: int, codebook: int, steps: int = 116) -> Dataset:
    """Random training codes: the physical terms' data level (`PhysicalReference`)."""
    rng = np.random.default_rng(1)
    return Dataset.from_dict(
        {
            "upper_ids": [rng.integers(codebook, size=steps).tolist() for _ in range(n)],
            "lower_ids": [rng.integers(codebook, size=steps).tolist() for _ in range(n)],
        }
    )


def time_preset(
    preset: str,
    args,
    use_cache: bool = True,
    bf16: bool = False,
    physical: bool = False,
    estimator: str = "gae",
) -> dict[str, float]:
    torch.manual_seed(0)
    group = estimator in ("grpo", "rloo")
    policy = DancePolicy(preset_config("policy", preset, value_head=not group)).to(args.device)
    ref = DancePolicy(preset_config("policy", preset)).to(args.device)
    reward_model = DanceRewardModel(preset_config("reward", preset)).to(args.device)
    reward = {"learned": LearnedReward(reward_model)}
    if physical:
        vqvae = DanceVQVAE(preset_config("vqvae", preset)).to(args.device).eval()
        codebook = vqvae.config.codebook_size
        inputs = RewardInputs(
            policy.config, reward_model, vqvae, train_tokens=random_tokens(8, codebook),
            device=args.device,
        )  # fmt: skip
        reward.update(build_rewards(list(PHYSICAL), inputs))
    config = PPOConfig(
        output_dir=tempfile.mkdtemp(),
        episodes_per_iteration=args.episodes,
        per_device_train_batch_size=args.minibatch,
        rollout_batch_size=args.episodes,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=args.device == "cpu",
        bf16=bf16,
        advantage_estimator=estimator,
        num_generations=GROUP if group else 1,
    )
    data = segments(args.episodes, policy.config.codebook_size)
    trainer = PPOTrainer(
        model=policy, ref_policy=ref, reward_funcs=reward, args=config, train_dataset=data
    )
    trainer.num_iterations  # noqa: B018 - validates the schedule
    trainer.create_optimizer_and_scheduler(num_training_steps=1000)
    real = policy.rollout
    calls = []

    def rollout(*a, **k):
        calls.append(1)
        return real(*a, **{**k, "use_cache": use_cache})

    policy.rollout = rollout
    totals = dict.fromkeys((*PHASES, "total", "rollout_calls"), 0.0)
    for i in range(args.iterations + 1):
        calls.clear()
        started = time.perf_counter()
        trainer.iteration(i)
        elapsed = time.perf_counter() - started
        if i == 0:
            continue  # warm-up
        for phase in PHASES:
            totals[phase] += trainer._timings[phase] / args.iterations
        totals["total"] += elapsed / args.iterations
        totals["rollout_calls"] += len(calls) / args.iterations
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["demo", "paper"])
    parser.add_argument("--episodes", type=int, default=64, help="episodes per iteration")
    parser.add_argument("--minibatch", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"{args.episodes} episodes x 29 steps per iteration, minibatch {args.minibatch}, "
        f"device {args.device}, {torch.get_num_threads()} threads\n"
    )
    header = "| rollout s | reference s | reward s | update s | iteration s |"
    rule = "|---|---|---:|---:|---:|---:|---:|"

    def cells(t: dict) -> str:
        return " | ".join(f"{t[p]:.2f}" for p in (*PHASES, "total"))

    ours = {preset: time_preset(preset, args) for preset in args.presets}
    pairs = (
        ("sampler", ("cached (ours)", "uncached (Bailando)"), {"use_cache": False},
         "ratio baseline / ours", lambda base, mine: base / mine),
        ("rewards", ("learned", "learned + 4 physical"), {"physical": True},
         "ratio with / without physical", lambda other, mine: other / mine),
    )  # fmt: skip
    for column, (mine_name, other_name), options, ratio_name, ratio in pairs:
        print(f"\n| preset | {column} {header}\n{rule}")
        for preset in args.presets:
            other = time_preset(preset, args, **options)
            for name, t in ((mine_name, ours[preset]), (other_name, other)):
                print(f"| {preset} | {name} | {cells(t)} |")
            value = ratio(other["total"], ours[preset]["total"])
            print(f"| {preset} | {ratio_name} | | | | | {value:.2f}x |")
    print(f"\n| preset | advantages | sampler calls {header}\n{rule}---:|")
    for preset in args.presets:
        for estimator in ("gae", "grpo", "rloo"):
            t = (
                ours[preset]
                if estimator == "gae"
                else time_preset(preset, args, estimator=estimator)
            )
            k = f" (K = {GROUP})" if estimator != "gae" else ""
            print(f"| {preset} | {estimator}{k} | {t['rollout_calls']:.0f} | {cells(t)} |")


if __name__ == "__main__":
    main()
