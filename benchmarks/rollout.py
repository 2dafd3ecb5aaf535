"""Rollout speed of the policy: the KV-cached sampler vs re-running the whole context every step.

    python benchmarks/rollout.py [--preset paper] [--batch 64] [--steps 29] [--threads N]

The uncached loop is what Bailando's sampler does (one full forward of the
growing context per step). Both runs sample greedily from the same weights
and music, so their tokens must agree; the script checks that and prints
tokens/s of each and the ratio (target: at least 5x).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e3d2_hf.models import DancePolicy, preset_config  # noqa: E402


def timed_rollout(policy: DancePolicy, music, upper, lower, use_cache: bool):
    start = time.perf_counter()
    out = policy.rollout(music, upper, lower, greedy=True, use_cache=use_cache)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper", choices=["tiny", "demo", "paper"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=29)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    config = preset_config("policy", args.preset)
    policy = DancePolicy(config).to(args.device).eval()
    music = torch.randn(args.batch, args.steps, config.music_dim, device=args.device)
    upper = torch.randint(config.codebook_size, (args.batch,), device=args.device)
    lower = torch.randint(config.codebook_size, (args.batch,), device=args.device)
    params = sum(p.numel() for p in policy.parameters())
    print(
        f"policy {args.preset}: {params / 1e6:.1f} M parameters, batch {args.batch}, "
        f"{args.steps} steps, device {args.device}, {torch.get_num_threads()} threads"
    )

    policy.rollout(music[:2, :2], upper[:2], lower[:2], greedy=True)  # warm-up
    cached, cached_s = timed_rollout(policy, music, upper, lower, use_cache=True)
    uncached, uncached_s = timed_rollout(policy, music, upper, lower, use_cache=False)
    same = torch.equal(cached.upper_ids, uncached.upper_ids) and torch.equal(
        cached.lower_ids, uncached.lower_ids
    )
    tokens = args.batch * args.steps
    print(f"cached sampler:   {cached_s:8.2f} s  {tokens / cached_s:9.1f} tokens/s")
    print(f"uncached loop:    {uncached_s:8.2f} s  {tokens / uncached_s:9.1f} tokens/s")
    print(f"same tokens: {same}")
    print(f"speed-up (cached / uncached tokens/s): {uncached_s / cached_s:.1f}x (target >= 5x)")
    if not same:
        sys.exit("cached and uncached greedy rollouts disagree")


if __name__ == "__main__":
    main()
