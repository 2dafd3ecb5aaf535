"""The reward model's report: accuracy per epoch, the noise-pair table, u per noise level.

`reward_report.json` / `reward_report.md` / `reward_accuracy.png` in the reward model's folder
(the paper's Table 4 and its accuracy curves); the demo report reads the same JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data.layout import SEAM_TOKENS
from ..evaluation.diagnostics import correlation, repeated_codes
from ..evaluation.physical import dance_diagnostics
from ..models import DanceRewardModel, DanceVQVAE
from ..training.reward_trainer import PreferencePairs, RewardTrainer, accuracy_by_noise_pair

TRAITS = (("repeated_codes", "repeated codes"), ("joint_speed", "joint speed (m/s)"))
"""The demonstrations' traits per noise level: key in `traits_by_noise`, title."""


@torch.no_grad()
def demonstration_scores(
    model: DanceRewardModel, demos, segments, batch_size: int = 256
) -> np.ndarray:
    """The total reward u of every demonstration, in the dataset's order."""
    music = {
        int(s): m
        for s, m in zip(
            segments["segment_id"], segments.with_format("numpy")["music_features"], strict=True
        )
    }
    rows = demos.with_format("numpy")
    scores = []
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
    return np.concatenate(scores)


def noise_levels_of(demos) -> tuple[np.ndarray, list[float]]:
    """Each demonstration's noise level and the sorted levels."""
    noises = np.asarray(demos["noise"])
    return noises, sorted({round(float(n), 6) for n in noises.tolist()})


def mean_score_by_noise(scores: np.ndarray, demos) -> dict[float, float]:
    """Mean total reward u of the demonstrations at each noise level (the paper's Table 4 u column)."""
    noises, levels = noise_levels_of(demos)
    return {n: float(scores[np.isclose(noises, n)].mean()) for n in levels}


DECODED_DEMONSTRATIONS = 10_000
"""At most this many demonstrations, drawn at random, are decoded for their joint speed: the
paper's 170,000 would take hours of a paper-size VQ-VAE on a CPU."""


@torch.no_grad()
def decoded_joint_speeds(
    vqvae: DanceVQVAE, upper: np.ndarray, lower: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Mean joint speed of each (steps,) code pair row decoded without seams, as the policies'
    diagnostics decode dances."""
    upper, lower = (torch.from_numpy(c.astype(np.int64)).to(vqvae.device) for c in (upper, lower))
    skeleton = vqvae.config.skeleton_def
    speeds = []
    for begin in range(0, len(upper), batch_size):
        end = begin + batch_size
        joints = vqvae.decode(upper[begin:end], lower[begin:end], SEAM_TOKENS).float().cpu()
        speeds += [
            dance_diagnostics(j.reshape(len(j), -1, 3).numpy(), skeleton)["joint_speed"]
            for j in joints
        ]
    return np.asarray(speeds)


def traits_by_noise(
    scores: np.ndarray,
    demos,
    segments,
    vqvae: DanceVQVAE | None = None,
    batch_size: int = 256,
    max_decoded: int = DECODED_DEMONSTRATIONS,
) -> dict[float, dict[str, float | None]]:
    """Per noise level: how often the demonstrations keep a code (`repeated_codes`) and, with
    the VQ-VAE, their mean joint speed (p_init and their 29 codes decoded; of `max_decoded`
    of them at most, drawn at random); and the correlation of u with each.

    A trait of the noise that u follows among the least noisy demonstrations, nearly pi_BC's
    own dances, is what PPO against the reward model can raise without dancing better.
    """
    rows = demos.with_format("numpy")
    upper, lower = np.stack(rows["upper_ids"]), np.stack(rows["lower_ids"])
    noises, levels = noise_levels_of(demos)
    everyone = np.arange(len(demos))
    traits = {"repeated_codes": (everyone, repeated_codes(upper, lower))}
    if vqvae is not None:
        decoded = everyone
        if len(decoded) > max_decoded:
            decoded = np.sort(np.random.default_rng(0).choice(everyone, max_decoded, False))
        init = {
            int(s): (int(u), int(lo))
            for s, u, lo in zip(
                segments["segment_id"], segments["init_upper"], segments["init_lower"], strict=True
            )
        }
        first = np.array([init[int(s)] for s in rows["segment_id"][decoded]], dtype=np.int64)
        speeds = decoded_joint_speeds(
            vqvae,
            np.concatenate([first[:, :1], upper[decoded]], axis=1),
            np.concatenate([first[:, 1:], lower[decoded]], axis=1),
            batch_size,
        )
        traits["joint_speed"] = (decoded, speeds)
    by_noise: dict[float, dict[str, float | None]] = {n: {} for n in levels}
    for name, (which, values) in traits.items():
        for n in levels:
            at = np.isclose(noises[which], n)
            u, trait = torch.from_numpy(scores[which][at]), torch.from_numpy(values[at])
            by_noise[n][name] = float(values[at].mean()) if at.any() else None
            by_noise[n][f"score_{name}_corr"] = correlation(u, trait)
    return by_noise


def reward_report(
    trainer: RewardTrainer, prefs, test_pairs: PreferencePairs, vqvae: DanceVQVAE | None = None
) -> dict:
    """Accuracy per epoch, the held-out noise-pair table, u per noise level, and how often the
    demonstrations keep a code and (with the VQ-VAE that decodes them) how fast they move."""
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
    demos, segments = prefs["train_demonstrations"], prefs["train_segments"]
    u = demonstration_scores(model, demos, segments)
    traits = traits_by_noise(u, demos, segments, None if vqvae is None else vqvae.to(model.device))
    return {
        "accuracy_per_epoch": list(merged.values()),
        "noise_levels": levels,
        "accuracy_by_noise_pair": accuracy_by_noise_pair(scores, noise, levels).tolist(),
        "mean_u_by_noise": mean_score_by_noise(u, demos),
        "traits_by_noise": traits,
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
    if by_noise := report.get("traits_by_noise"):
        traits = [(k, t) for k, t in TRAITS if k in next(iter(by_noise.values()))]
        lines += [
            "",
            "## The training demonstrations' traits, and u's correlation with them",
            "",
            "| eps | " + " | ".join(f"{t} | correlation of u with {t}" for _, t in traits) + " |",
            "|---:|" + "---:|" * (2 * len(traits)),
        ]
        for n, m in sorted(by_noise.items(), key=lambda x: float(x[0])):
            cells = [
                f"{_value(m[k])} | {format_correlation(m[f'score_{k}_corr'])}" for k, _ in traits
            ]
            lines.append(f"| {float(n):g} | " + " | ".join(cells) + " |")
    lines += ["", "![accuracy](reward_accuracy.png)", ""]
    (output_dir / "reward_report.md").write_text("\n".join(lines))


def format_correlation(value: float | None) -> str:
    """A correlation as the reports print it: signed, two decimals; `n/a` where undefined."""
    return "n/a" if value is None else f"{value:+.2f}"


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
