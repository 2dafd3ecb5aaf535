"""What a GPU does for e3d2-hf, measured in one run and written to docs/results/gpu.md.

    benchmarks/gpu.sh                     # paper-size models on the GPU (about 5 minutes on one)
    benchmarks/gpu.sh --preset tiny       # the same script on CPU, in seconds (the suite runs it)

Randomly initialised models of the preset (policy with value head, frozen pi_BC, reward model)
and random music, so it needs no data. It measures, in fp32 and in bf16 autocast:

- one PPO iteration split into rollout, reference log-probs, reward and update (the real
  `PPOTrainer.iteration`), beside the same iteration with Bailando's uncached sampler: the ratio
  baseline / ours;
- the cached sampler's tokens/s, and what fraction of the card's dense bf16 peak its
  matrix multiplies reach (2 FLOPs per parameter per token);
- reward-model training pairs/s (`RewardTrainer.training_step` and an optimizer step);
- peak GPU memory of each.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ppo import PHASES, time_preset  # noqa: E402

from e3d2_hf.models import DancePolicy, DanceRewardModel, preset_config  # noqa: E402

RESULTS = ROOT / "docs" / "results" / "gpu.md"
TITLE = "# GPU check"

DENSE_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
}
"""Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, by device-name part."""


def peak_tflops(name: str, override: float | None) -> tuple[float | None, str]:
    if override:
        return override, "given by --peak_tflops"
    for part, tflops in DENSE_BF16_TFLOPS.items():
        if part in name:
            return tflops, f"data-sheet dense bf16 peak of {part}"
    return None, f"n/a: no dense bf16 peak known for {name!r} (pass --peak_tflops)"


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reset_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> str:
    if not device.startswith("cuda"):
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"


def rollout_speed(args, bf16: bool) -> dict:
    """Tokens/s of the cached sampler (the PPO rollout's), and its share of the bf16 peak."""
    torch.manual_seed(0)
    config = preset_config("policy", args.preset)
    policy = DancePolicy(config).to(args.device).eval()
    steps = 29
    music = torch.randn(args.episodes, steps, config.music_dim, device=args.device)
    upper = torch.randint(config.codebook_size, (args.episodes,), device=args.device)
    lower = torch.randint(config.codebook_size, (args.episodes,), device=args.device)
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=bf16)
    reset_memory(args.device)
    with torch.no_grad(), autocast:
        policy.rollout(music[:2, :2], upper[:2], lower[:2])  # warm-up
        synchronize(args.device)
        started = time.perf_counter()
        for _ in range(args.iterations):
            policy.rollout(music, upper, lower)
        synchronize(args.device)
    seconds = (time.perf_counter() - started) / args.iterations
    tokens_per_s = args.episodes * steps / seconds
    params = sum(p.numel() for p in policy.parameters())
    return {
        "tokens_per_s": tokens_per_s,
        "tflops": 2 * params * tokens_per_s / 1e12,
        "memory": peak_memory(args.device),
    }


def reward_speed(args, bf16: bool) -> dict:
    """Preference pairs per second through `RewardTrainer.training_step` and an optimizer step."""
    from e3d2_hf.training.reward_trainer import RewardConfig, RewardTrainer

    torch.manual_seed(0)
    config = preset_config("reward", args.preset)
    model = DanceRewardModel(config).to(args.device)
    trainer = RewardTrainer(
        model=model,
        args=RewardConfig(
            output_dir=tempfile.mkdtemp(), report_to="none", bf16=bf16, disable_tqdm=True,
            use_cpu=args.device == "cpu", save_strategy="no", eval_strategy="no",
        ),
    )  # fmt: skip
    trainer.create_optimizer()
    trainer.current_gradient_accumulation_steps = 1  # what `Trainer.train` sets before a step
    batch, steps = args.minibatch, 29
    codes = lambda: torch.randint(config.codebook_size, (batch, steps), device=args.device)  # noqa: E731
    inputs = {
        f"{who}_{key}": value
        for who in ("chosen", "rejected")
        for key, value in (
            ("music_features", torch.randn(batch, steps, config.music_dim, device=args.device)),
            ("upper_ids", codes()),
            ("lower_ids", codes()),
        )
    }
    reset_memory(args.device)
    trainer.training_step(trainer.model, inputs)  # warm-up
    synchronize(args.device)
    started = time.perf_counter()
    for _ in range(args.iterations):
        trainer.training_step(trainer.model, inputs)
        trainer.optimizer.step()
        trainer.optimizer.zero_grad(set_to_none=True)
    synchronize(args.device)
    seconds = (time.perf_counter() - started) / args.iterations
    return {"pairs_per_s": batch / seconds, "memory": peak_memory(args.device)}


def ppo_phases(args, bf16: bool) -> tuple[dict, dict, str]:
    reset_memory(args.device)
    ours = time_preset(args.preset, args, use_cache=True, bf16=bf16)
    memory = peak_memory(args.device)
    base = time_preset(args.preset, args, use_cache=False, bf16=bf16)
    return ours, base, memory


def report(args) -> str:
    device = args.device
    name = torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor()
    name = name or platform.machine()
    peak, peak_source = peak_tflops(name, args.peak_tflops)
    command = " ".join(["benchmarks/gpu.sh", *sys.argv[1:]])
    import transformers

    lines = [
        TITLE,
        "",
        f"Device: **{name}** ({device}); torch {torch.__version__}, transformers "
        f"{transformers.__version__}; preset `{args.preset}`, {args.episodes} episodes x 29 "
        f"steps per PPO iteration, minibatch {args.minibatch}, mean of {args.iterations} timed "
        "runs after a warm-up. Random weights and music: speed and memory only.",
        "",
        f"Reproduce: `{command}` (written by benchmarks/gpu.py on {time.strftime('%Y-%m-%d')}).",
        "",
        "## PPO iteration (seconds per phase)",
        "",
        "| precision | sampler | rollout | reference | reward | update | iteration | peak memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    speeds = {}
    for precision, bf16 in (("fp32", False), ("bf16", True)):
        ours, base, memory = ppo_phases(args, bf16)
        for sampler, t in (("cached (ours)", ours), ("uncached (Bailando)", base)):
            cells = " | ".join(f"{t[p]:.3f}" for p in (*PHASES, "total"))
            shown = memory if t is ours else ""
            lines.append(f"| {precision} | {sampler} | {cells} | {shown} |")
        lines.append(
            f"| {precision} | ratio baseline / ours | | | | | "
            f"{base['total'] / ours['total']:.2f}x | |"
        )
        speeds[precision] = (rollout_speed(args, bf16), reward_speed(args, bf16))
        print(f"{precision}: done", file=sys.stderr, flush=True)
    lines += [
        "",
        "## Throughput",
        "",
        f"Peak used for the fraction: {peak_source}.",
        "",
        "| precision | cached rollout tokens/s | TFLOP/s | fraction of bf16 peak "
        "| peak memory | reward training pairs/s | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for precision, (rollout, reward) in speeds.items():
        fraction = f"{rollout['tflops'] / peak:.2%}" if peak else "n/a"
        lines.append(
            f"| {precision} | {rollout['tokens_per_s']:,.0f} | {rollout['tflops']:.3g} | "
            f"{fraction} | {rollout['memory']} | {reward['pairs_per_s']:,.1f} | "
            f"{reward['memory']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper", choices=["tiny", "demo", "paper"])
    parser.add_argument("--episodes", type=int, default=64, help="episodes per PPO iteration")
    parser.add_argument("--minibatch", type=int, default=32, help="PPO and reward minibatch")
    parser.add_argument("--iterations", type=int, default=2, help="timed runs of each")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak_tflops", type=float, default=None, help="the card's bf16 peak")
    parser.add_argument(
        "--output",
        default=None,
        help=f"markdown file (default on a GPU: {RESULTS.relative_to(ROOT)})",
    )
    args = parser.parse_args()
    output = Path(args.output) if args.output else RESULTS if args.device != "cpu" else None
    if output is not None and output.exists() and not output.read_text().startswith(TITLE):
        sys.exit(f"{output}: exists and was not written by this script; choose another --output")
    text = report(args)
    if output is None:
        print(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text)
    tmp.replace(output)  # whole or not at all
    print(text)
    print(f"wrote {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
