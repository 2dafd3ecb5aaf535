"""The reward model's report: accuracy per epoch, the noise-pair table, u per noise level,
the demonstrations' traits per noise level and the ground truth's own episodes beside them.

`reward_report.json` / `reward_report.md` / `reward_accuracy.png` in the reward model's folder
(the paper's Table 4 and its accuracy curves); the demo report reads the same JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..data.layout import SEAM_TOKENS, WINDOW_TOKENS
from ..evaluation.diagnostics import correlation, repeated_codes
from ..evaluation.physical import first_frame_floor, physical_terms, root_speed
from ..models import DancePolicy, DanceRewardModel, DanceVQVAE
from ..preferences import PAIR_KIND
from ..training.demonstrations import (
    GROUND_TRUTH_NOISE,
    ground_truth_demonstrations,
    music_segments,
)
from ..training.reward_trainer import PreferencePairs, RewardTrainer, accuracy_by_noise_pair
from ..utils.markdown import markdown_table
from ..utils.outputs import REWARD_REPORT

TRAITS = (
    ("repeated_codes", "repeated codes"),
    ("joint_speed", "joint speed (m/s)"),
    ("root_speed", "root speed (m/s)"),
    ("jitter", "jitter (m/s³)"),
    ("foot_skating", "foot skating (m/s)"),
    ("ref_logp", "pi_BC log-likelihood (nats)"),
)
"""The episodes' traits: key in `traits_by_noise` and `ground_truth_traits`, title. The
decoded ones need the VQ-VAE, the log-likelihood pi_BC; a u that follows pi_BC's own
log-likelihood is one that PPO can raise by sharpening pi_BC."""
DECODED_TRAITS = ("joint_speed", "root_speed", "jitter", "foot_skating")


@torch.no_grad()
def episode_scores(
    model: DanceRewardModel,
    music: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    batch_size: int = 256,
) -> np.ndarray:
    """The total reward u of each episode: music (N, steps, D), codes (N, steps)."""
    device = model.device
    scores = []
    for begin in range(0, len(music), batch_size):
        part = slice(begin, begin + batch_size)
        u = model.score(
            torch.from_numpy(np.asarray(music[part], dtype=np.float32)).to(device),
            torch.from_numpy(np.asarray(upper[part], dtype=np.int64)).to(device),
            torch.from_numpy(np.asarray(lower[part], dtype=np.int64)).to(device),
        )
        scores.append(u.cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def demonstration_music(demonstrations, segments) -> np.ndarray:
    """Each demonstration's music (N, steps, D), from its segment's row."""
    music = {
        int(s): m
        for s, m in zip(
            segments["segment_id"], segments.with_format("numpy")["music_features"], strict=True
        )
    }
    return np.stack([music[int(s)] for s in demonstrations["segment_id"]])


def demonstration_scores(
    model: DanceRewardModel, demonstrations, segments, batch_size: int = 256
) -> np.ndarray:
    """The total reward u of every demonstration, in the dataset's order."""
    rows = demonstrations.with_format("numpy")
    return episode_scores(
        model,
        demonstration_music(demonstrations, segments),
        np.stack(rows["upper_ids"]),
        np.stack(rows["lower_ids"]),
        batch_size,
    )


def noise_levels_of(demonstrations) -> tuple[np.ndarray, list[float]]:
    """Each demonstration's noise level and the sorted levels."""
    noises = np.asarray(demonstrations["noise"])
    return noises, sorted({round(float(n), 6) for n in noises.tolist()})


def mean_score_by_noise(scores: np.ndarray, demonstrations) -> dict[float, float]:
    """Mean total reward u of the demonstrations at each noise level (the paper's Table 4 u column)."""
    noises, levels = noise_levels_of(demonstrations)
    return {n: float(scores[np.isclose(noises, n)].mean()) for n in levels}


DECODED_DEMONSTRATIONS = 10_000
"""At most this many episodes, drawn at random, are decoded for their speeds: the paper's
170,000 demonstrations would take hours of a paper-size VQ-VAE on a CPU."""


@torch.no_grad()
def decoded_traits(
    vqvae: DanceVQVAE, upper: np.ndarray, lower: np.ndarray, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """`DECODED_TRAITS` (`evaluation.physical`) of each (steps,) code pair row decoded without
    seams, as the policies' diagnostics decode dances, standing on its first frame's lowest
    foot joint (the decoder knows no floor); foot skating NaN where no foot touches it."""
    upper, lower = (torch.from_numpy(c.astype(np.int64)).to(vqvae.device) for c in (upper, lower))
    skeleton = vqvae.config.skeleton_def
    traits: dict[str, list[np.ndarray]] = {key: [] for key in DECODED_TRAITS}
    for begin in range(0, len(upper), batch_size):
        end = begin + batch_size
        joints = vqvae.decode(upper[begin:end], lower[begin:end], SEAM_TOKENS).float().cpu()
        joints = joints.view(*joints.shape[:2], -1, 3).double()
        terms = physical_terms(joints, skeleton, first_frame_floor(joints, skeleton))
        for key in DECODED_TRAITS:
            if key == "root_speed":
                traits[key].append(np.array([root_speed(j.numpy(), skeleton) for j in joints]))
            else:
                traits[key].append(terms[key].numpy())
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in traits.items()}


@torch.no_grad()
def policy_log_likelihoods(
    policy: DancePolicy,
    music: np.ndarray,
    first: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    batch_size: int = 256,
) -> np.ndarray:
    """log pi_BC of each episode's codes (N, steps) after p_init's (N, 2), on its music."""
    out = []
    for begin in range(0, len(upper), batch_size):
        part = slice(begin, begin + batch_size)
        tensors = [
            torch.from_numpy(np.asarray(a[part])).to(policy.device)
            for a in (music, first[:, 0], first[:, 1], upper, lower)
        ]
        logp, _, _ = policy.evaluate_actions(tensors[0].float(), *(t.long() for t in tensors[1:]))
        out.append(logp.sum(-1).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def episode_traits(
    upper: np.ndarray,
    lower: np.ndarray,
    first: np.ndarray,
    vqvae: DanceVQVAE | None = None,
    batch_size: int = 256,
    max_decoded: int = DECODED_DEMONSTRATIONS,
    policy: DancePolicy | None = None,
    music: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each trait of the episodes (codes (N, steps), p_init's codes `first` (N, 2)) as (rows
    measured, values): code repetition of every row; with the VQ-VAE, `DECODED_TRAITS` of
    p_init and the codes decoded; with pi_BC (`policy`) and the episodes' `music`, pi_BC's
    log-likelihood of them; the last two for `max_decoded` rows at most, drawn at random."""
    everyone = np.arange(len(upper))
    traits = {"repeated_codes": (everyone, repeated_codes(upper, lower))}
    chosen = everyone
    if len(chosen) > max_decoded:
        chosen = np.sort(np.random.default_rng(0).choice(everyone, max_decoded, False))
    if vqvae is not None:
        found = decoded_traits(
            vqvae,
            np.concatenate([first[chosen, :1], upper[chosen]], axis=1),
            np.concatenate([first[chosen, 1:], lower[chosen]], axis=1),
            batch_size,
        )
        for name, values in found.items():
            defined = ~np.isnan(values)
            traits[name] = (chosen[defined], values[defined])
    if policy is not None and music is not None:
        logp = policy_log_likelihoods(
            policy, music[chosen], first[chosen], upper[chosen], lower[chosen], batch_size
        )
        traits["ref_logp"] = (chosen, logp)
    return traits


def summarise_traits(
    scores: np.ndarray, traits: dict[str, tuple[np.ndarray, np.ndarray]], rows: np.ndarray
) -> dict[str, float | None]:
    """Each trait's mean over the episodes where `rows` (a mask over all episodes) holds, and
    u's correlation with it there (None where undefined)."""
    out: dict[str, float | None] = {}
    for name, (which, values) in traits.items():
        at = rows[which]
        u, trait = torch.from_numpy(scores[which][at]), torch.from_numpy(values[at])
        out[name] = float(values[at].mean()) if at.any() else None
        out[f"score_{name}_corr"] = correlation(u, trait)
    return out


def traits_by_noise(
    scores: np.ndarray,
    demonstrations,
    segments,
    vqvae: DanceVQVAE | None = None,
    batch_size: int = 256,
    max_decoded: int = DECODED_DEMONSTRATIONS,
    policy: DancePolicy | None = None,
) -> dict[float, dict[str, float | None]]:
    """Per noise level: how often the demonstrations keep a code (`repeated_codes`) and, with
    the VQ-VAE, their mean joint and root speeds (`episode_traits`); and u's correlation with
    each.

    A trait of the noise that u follows among the least noisy demonstrations, nearly pi_BC's
    own dances, is what PPO against the reward model can raise without dancing better.
    """
    rows = demonstrations.with_format("numpy")
    upper, lower = np.stack(rows["upper_ids"]), np.stack(rows["lower_ids"])
    init = {
        int(s): (int(u), int(lo))
        for s, u, lo in zip(
            segments["segment_id"], segments["init_upper"], segments["init_lower"], strict=True
        )
    }
    first = np.array([init[int(s)] for s in rows["segment_id"]], dtype=np.int64)
    music = None if policy is None else demonstration_music(demonstrations, segments)
    traits = episode_traits(
        upper, lower, first, vqvae, batch_size, max_decoded, policy=policy, music=music
    )
    noises, levels = noise_levels_of(demonstrations)
    return {n: summarise_traits(scores, traits, np.isclose(noises, n)) for n in levels}


def ground_truth_episodes(
    tokens, stride: int = WINDOW_TOKENS - 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dataset's own episodes: the windows `music_segments` cuts every `stride` tokens of
    each tokenised clip, with the codes the ground truth danced there
    (`ground_truth_demonstrations`). Returns music (N, 29, D), upper and lower (N, 29), p_init's
    codes (N, 2); empty where no clip is long enough."""
    try:
        segments = music_segments(tokens, 0, stride)
    except ValueError:  # no clip has a whole window
        codes = np.zeros((0, WINDOW_TOKENS - 1), np.int64)
        return np.zeros((0, WINDOW_TOKENS - 1, 0), np.float32), codes, codes, np.zeros((0, 2))
    demonstrations = ground_truth_demonstrations(tokens, segments).with_format("numpy")
    segments = segments.with_format("numpy")
    return (
        np.stack(segments["music_features"]),
        np.stack(demonstrations["upper_ids"]).astype(np.int64),
        np.stack(demonstrations["lower_ids"]).astype(np.int64),
        np.stack([segments["init_upper"], segments["init_lower"]], axis=1).astype(np.int64),
    )


def ground_truth_traits(
    model: DanceRewardModel,
    tokens,
    vqvae: DanceVQVAE | None = None,
    batch_size: int = 256,
    max_decoded: int = DECODED_DEMONSTRATIONS,
    policy: DancePolicy | None = None,
) -> dict[str, float | int | None] | None:
    """u of the ground truth's own episodes (`ground_truth_episodes`), their traits, and u's
    correlation with each; None for clips too short for an episode.

    The demonstrations rank pi_BC's samples by noise; nothing tells the reward model what the
    data itself does. Where u falls with a trait over the data's own moves, PPO against it
    trades that trait away."""
    music, upper, lower, first = ground_truth_episodes(tokens)
    if not len(music):
        return None
    scores = episode_scores(model, music, upper, lower, batch_size)
    traits = episode_traits(
        upper, lower, first, vqvae, batch_size, max_decoded, policy=policy, music=music
    )
    everyone = np.ones(len(scores), dtype=bool)
    return {
        "episodes": len(scores),
        "mean_u": float(scores.mean()),
        **summarise_traits(scores, traits, everyone),
    }


def reward_report(
    trainer: RewardTrainer,
    prefs,
    test_pairs: PreferencePairs,
    vqvae: DanceVQVAE | None = None,
    ground_truth: dict | None = None,
    ranked_ground_truth: bool = False,
    policy: DancePolicy | None = None,
) -> dict:
    """Accuracy per epoch, the held-out noise-pair table, u per noise level, and how often the
    demonstrations keep a code and (with the VQ-VAE that decodes them) how fast they move; with
    `ground_truth` ({"training songs": tokens, "held-out songs": tokens}, pi_BC's), the same
    for the data's own episodes (`ground_truth_traits`). `ranked_ground_truth`: the pairs rank
    the data's own codes at noise 0 (`DemonstrationConfig.ground_truth_demonstrations`). With
    `policy` (pi_BC), u's correlation with its log-likelihood; with pairs of several kinds
    (`corruptions`), the held-out accuracy of each kind."""
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
    kinds = (
        np.asarray(prefs["test"][PAIR_KIND]) if PAIR_KIND in prefs["test"].column_names else None
    )
    correct = scores[:, 0] > scores[:, 1]
    by_kind = (
        {}
        if kinds is None
        else {k: float(correct[kinds == k].mean()) for k in dict.fromkeys(kinds)}
    )
    if kinds is not None:  # the noise-pair table holds the noise pairs only
        scores, noise = scores[kinds == "noise"], noise[kinds == "noise"]
    levels = sorted({round(float(x), 6) for x in np.unique(noise).tolist()})
    model = trainer.accelerator.unwrap_model(trainer.model)
    demonstrations, segments = prefs["train_demonstrations"], prefs["train_segments"]
    u = demonstration_scores(model, demonstrations, segments)
    vqvae = None if vqvae is None else vqvae.to(model.device)
    policy = None if policy is None else policy.to(model.device).eval()
    traits = traits_by_noise(u, demonstrations, segments, vqvae, policy=policy)
    truth = {
        songs: found
        for songs, tokens in (ground_truth or {}).items()
        if (found := ground_truth_traits(model, tokens, vqvae, policy=policy)) is not None
    }
    return {
        "accuracy_per_epoch": list(merged.values()),
        "noise_levels": levels,
        "accuracy_by_noise_pair": accuracy_by_noise_pair(scores, noise, levels).tolist(),
        "accuracy_by_kind": by_kind,
        "mean_u_by_noise": mean_score_by_noise(u, demonstrations),
        "traits_by_noise": traits,
        "ground_truth": truth,
        "ground_truth_demonstrations": ranked_ground_truth,
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

    (output_dir / REWARD_REPORT).write_text(json.dumps(report, indent=2))
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
    accuracy = [
        (
            f"{e['epoch']:g}",
            f"{e.get('train', float('nan')):.4f}",
            f"{e.get('test', float('nan')):.4f}",
        )
        for e in epochs
    ]
    by_pair = [
        (f"{n:g}", *("" if v is None or np.isnan(v) else f"{v:.3f}" for v in row))
        for n, row in zip(levels, report["accuracy_by_noise_pair"], strict=True)
    ]
    mean_u = [
        (noise_label(n, report), f"{u:.3f}")
        for n, u in sorted(report["mean_u_by_noise"].items(), key=lambda x: float(x[0]))
    ]
    lines = [
        "# Reward model report",
        "",
        "## Pairwise accuracy per epoch",
        "",
        markdown_table(("epoch", "train music", "held-out music"), accuracy, align="rrr"),
        "",
        "## Held-out accuracy by noise pair (row: chosen eps, column: rejected eps)",
        "",
        markdown_table(
            ("chosen \\ rejected", *(f"{n:g}" for n in levels)), by_pair, "l" + "r" * len(levels)
        ),
        "",
        *(
            [
                "## Held-out accuracy by kind of pair",
                "",
                "Noise: the paper's pairs, lower noise chosen; any other: the data's own "
                "episode chosen over that corruption of it (`corruptions`).",
                "",
                markdown_table(
                    ("pairs", "accuracy"),
                    [(k, f"{v:.3f}") for k, v in report["accuracy_by_kind"].items()],
                    align="lr",
                ),
                "",
            ]
            if report.get("accuracy_by_kind")
            else []
        ),
        "## Mean total reward u over the training demonstrations",
        "",
        markdown_table(("eps", "mean u"), mean_u, align="rr"),
    ]
    if by_noise := report.get("traits_by_noise"):
        traits = present_traits(by_noise.values())
        rows = [
            (noise_label(n, report), *trait_cells(m, traits, _value))
            for n, m in sorted(by_noise.items(), key=lambda x: float(x[0]))
        ]
        lines += [
            "",
            "## The training demonstrations' traits, and u's correlation with them",
            "",
            markdown_table(("eps", *trait_header(traits)), rows, "r" * (1 + 2 * len(traits))),
        ]
    if truth := report.get("ground_truth"):
        traits = present_traits(truth.values())
        rows = [
            (songs, m["episodes"], f"{m['mean_u']:.3f}", *trait_cells(m, traits, _value))
            for songs, m in truth.items()
        ]
        lines += [
            "",
            "## The ground truth's own episodes (pi_BC's tokenised songs), and u's correlation"
            " with their traits",
            "",
            markdown_table(
                ("songs", "episodes", "mean u", *trait_header(traits)),
                rows,
                "lrr" + "r" * (2 * len(traits)),
            ),
        ]
    lines += ["", "![accuracy](reward_accuracy.png)", ""]
    (output_dir / Path(REWARD_REPORT).with_suffix(".md")).write_text("\n".join(lines))


def trait_name(title: str) -> str:
    """A trait's title without its unit: "joint speed (m/s)" -> "joint speed"."""
    return title.split(" (")[0]


def present_traits(rows) -> list[tuple[str, str]]:
    """The `TRAITS` (key, title) measured in the first of `rows` (entries of `traits_by_noise`
    or `ground_truth`): the speeds only where a VQ-VAE decoded the episodes."""
    first = next(iter(rows), {})
    return [(key, title) for key, title in TRAITS if key in first]


def trait_header(traits: list[tuple[str, str]]) -> list[str]:
    """Two columns per trait: its mean, and u's correlation with it."""
    return [c for _, t in traits for c in (t, f"correlation of u with {trait_name(t)}")]


def trait_cells(row: dict, traits: list[tuple[str, str]], fmt) -> list[str]:
    """`row`'s cells under `trait_header`: each trait's mean by `fmt`, then u's correlation."""
    return [
        cell
        for key, _ in traits
        for cell in (fmt(row.get(key)), format_correlation(row.get(f"score_{key}_corr")))
    ]


def noise_label(noise: float, report: dict) -> str:
    """A noise level as the tables print it; 0 names the data's own episodes where the pairs
    hold them (`DemonstrationConfig.ground_truth_demonstrations`)."""
    if report.get("ground_truth_demonstrations") and float(noise) == GROUND_TRUTH_NOISE:
        return f"{float(noise):g} (ground truth)"
    return f"{float(noise):g}"


def rollout_levels(report: dict) -> list:
    """The noise levels of pi_BC's rollouts (the ground truth's left out), lowest first, as
    keys of `traits_by_noise`."""
    levels = sorted(report.get("traits_by_noise") or {}, key=float)
    if report.get("ground_truth_demonstrations"):
        levels = [n for n in levels if float(n) != GROUND_TRUTH_NOISE]
    return levels


def format_correlation(value: float | None) -> str:
    """A correlation as the reports print it: signed, two decimals; `n/a` where undefined."""
    return "n/a" if value is None else f"{value:+.2f}"


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
