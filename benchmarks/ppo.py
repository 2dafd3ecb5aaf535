"""Seconds per PPO iteration, split into rollout, reward, reference log-probs and update.

    python benchmarks/ppo.py [--presets demo paper] [--episodes 64] [--minibatch 32] [--threads N]

Randomly initialised models of each preset (policy with value head, frozen
pi_BC, reward model) and random music; one warm-up iteration, then the mean
of `--iterations` timed ones through the real `PPOTrainer.iteration`. The
baseline is the same iteration with Bailando's uncached sampler in the
rollout phase; the script prints the ratio baseline / ours per preset.
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

from e3d2_hf.models import DancePolicy, DanceRewardModel, preset_config  # noqa: E402
from e3d2_hf.preferences import segment_features  # noqa: E402
from e3d2_hf.training.ppo_trainer import PPOConfig, PPOTrainer  # noqa: E402
from e3d2_hf.training.rewards import LearnedReward  # noqa: E402

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


def time_preset(preset: str, args, use_cache: bool, bf16: bool = False) -> dict[str, float]:
    torch.manual_seed(0)
    policy = DancePolicy(preset_config("policy", preset, value_head=True)).to(args.device)
    ref = DancePolicy(preset_config("policy", preset)).to(args.device)
    reward = LearnedReward(DanceRewardModel(preset_config("reward", preset)).to(args.device))
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
    )
    data = segments(args.episodes, policy.config.codebook_size)
    trainer = PPOTrainer(
        model=policy, ref_policy=ref, reward_fn=reward, args=config, train_dataset=data
    )
    trainer.num_iterations  # noqa: B018 - validates the schedule
    trainer.create_optimizer_and_scheduler(num_training_steps=1000)
    if not use_cache:
        real = policy.rollout
        policy.rollout = lambda *a, **k: real(*a, **{**k, "use_cache": False})
    totals = dict.fromkeys((*PHASES, "total"), 0.0)
    for i in range(args.iterations + 1):
        started = time.perf_counter()
        trainer.iteration(i)
        elapsed = time.perf_counter() - started
        if i == 0:
            continue  # warm-up
        for phase in PHASES:
            totals[phase] += trainer._timings[phase] / args.iterations
        totals["total"] += elapsed / args.iterations
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
    print("| preset | sampler | rollout s | reference s | reward s | update s | iteration s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for preset in args.presets:
        ours = time_preset(preset, args, use_cache=True)
        base = time_preset(preset, args, use_cache=False)
        for name, t in (("cached (ours)", ours), ("uncached (Bailando)", base)):
            cells = " | ".join(f"{t[p]:.2f}" for p in (*PHASES, "total"))
            print(f"| {preset} | {name} | {cells} |")
        print(
            f"| {preset} | ratio baseline / ours | | | | | {base['total'] / ours['total']:.2f}x |"
        )


if __name__ == "__main__":
    main()
