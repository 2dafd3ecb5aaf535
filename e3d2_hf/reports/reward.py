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
from ..evaluation.diagnostics import repeated_codes
from ..evaluation.physical import dance_diagnostics
from ..models import DanceRewardModel, DanceVQVAE
from ..training.ppo_trainer import correlation
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


@torch.no_grad()
def traits_by_noise(
    scores: np.ndarray, demos, segments, vqvae: DanceVQVAE | None = None, batch_size: int = 256
) -> dict[float, dict[str, float | None]]:
    """Per noise level: how often the demonstrations keep a code (`repeated_codes`) and, with
    the VQ-VAE, their mean joint speed (decoded from p_init and their 29 codes without seams,
    as the policies' diagnostics are); and the correlation of u with each.

    A trait of the noise that u follows among the least noisy demonstrations, nearly pi_BC's
    own dances, is what PPO against the reward model can raise without dancing better.
    """
    rows = demos.with_format("numpy")
    upper, lower = np.stack(rows["upper_ids"]), np.stack(rows["lower_ids"])
    traits = {"repeated_codes": repeated_codes(upper, lower)}
    if vqvae is not None:
        init = {
            int(s): (int(u), int(lo))
            for s, u, lo in zip(
                segments["segment_id"], segments["init_upper"], segments["init_lower"], strict=True
            )
        }
        first = np.array([init[int(s)] for s in rows["segment_id"]], dtype=np.int64)
        codes = [
            np.concatenate([first[:, i : i + 1], ids], axis=1)
            for i, ids in enumerate((upper, lower))
        ]
        speeds = []
        for begin in range(0, len(demos), batch_size):
            joints = vqvae.decode(
                *(
                    torch.from_numpy(c[begin : begin + batch_size].astype(np.int64)).to(
                        vqvae.device
                    )
                    for c in codes
                ),
                SEAM_TOKENS,
            )
            speeds += [
                dance_diagnostics(j.reshape(len(j), -1, 3), vqvae.config.skeleton_def)[
                    "joint_speed"
                ]
                for j in joints.float().cpu().numpy()
            ]
        traits["joint_speed"] = np.asarray(speeds)
    noises, levels = noise_levels_of(demos)
    by_noise = {}
    for n in levels:
        at = np.isclose(noises, n)
        u = torch.from_numpy(scores[at])
        by_noise[n] = {}
        for name, values in traits.items():
            by_noise[n][name] = float(values[at].mean())
            by_noise[n][f"score_{name}_corr"] = correlation(u, torch.from_numpy(values[at]))
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
    traits = traits_by_noise(u, demos, segments, vqvae)
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
            cells = [f"{m[k]:.3f} | {_corr(m[f'score_{k}_corr'])}" for k, _ in traits]
            lines.append(f"| {float(n):g} | " + " | ".join(cells) + " |")
    lines += ["", "![accuracy](reward_accuracy.png)", ""]
    (output_dir / "reward_report.md").write_text("\n".join(lines))


def _corr(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"
