"""Stage 3 end to end: PPO of pi_BC against the learned or the hand-designed reward.

`recipes/ppo.py` and `e3d2 ppo` call `main_ppo`. Before and after training the
policy is evaluated on held-out music: mean reward-model score and KL of sampled
29-step episodes, and the dance table (FID_k, FID_g, DIV_k, DIV_g, BAS) of
20-second dances decoded by the VQ-VAE; `ppo_report.{json,md}` holds both rows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from accelerate import PartialState
from transformers import set_seed

from ..data.layout import FRAMES_PER_TOKEN, WINDOW_TOKENS
from ..data.schema import load_clip_dataset
from ..evaluation.claims import compare
from ..evaluation.dance_table import DanceTable
from ..evaluation.physical import DIAGNOSTICS, diagnostic_flags, diagnostics_table
from ..models import DancePolicy, DanceRewardModel, DanceVQVAE
from ..ranges import check_ranges
from .common import load_model, locate_vqvae
from .config_parser import parse_stage_args
from .demonstrations import music_segments
from .ppo_trainer import PPOConfig, PPOTrainer, load_policy_with_value_head
from .rewards import BailandoReward, LearnedReward
from .tokenize import load_token_splits

logger = logging.getLogger(__name__)

REWARDS = ("learned", "bailando", "bailando-paper")


@dataclass
class PPOArguments:
    policy_name_or_path: str = field(default="outputs/demo/bc", metadata={"help": "pi_BC"})
    reward: str = field(
        default="learned",
        metadata={"help": "learned | bailando (released code's form) | bailando-paper"},
    )
    reward_model_name_or_path: str | None = field(
        default="outputs/demo/reward",
        metadata={"help": "R_theta (folder or Hub repo id); also scores held-out episodes"},
    )
    vqvae_name_or_path: str | None = field(
        default=None, metadata={"help": "VQ-VAE for decoding (default: the policy's)"}
    )
    tokens_dir: str | None = field(
        default=None,
        metadata={"help": "token datasets train/ and heldout/ (default <policy>/tokens)"},
    )
    clips_dir: str | None = field(
        default=None,
        metadata={
            "help": "prepared clips for the dance table (default: from pi_BC's data_args.json)"
        },
    )
    segment_stride: int = field(default=1, metadata={"help": "stride between training segments"})
    orientation_weight: float | None = field(
        default=None,
        metadata={"help": "Bailando orientation weight (default: 0 released, 1 paper)"},
    )
    eval_dance_tokens: int = field(
        default=150,
        metadata={"help": "tokens per evaluation dance (150 = 20 s); 0: no dance table"},
    )

    def __post_init__(self) -> None:
        check_ranges(self)


def _clips_for(args: PPOArguments):
    path = args.clips_dir
    if path is None:
        info = Path(args.policy_name_or_path) / "data_args.json"
        if info.is_file():
            data = json.loads(info.read_text())
            path = data.get("prepared_dir") or f"outputs/data/{data.get('dataset')}"
    if path is None or not Path(path).exists():
        return None
    return load_clip_dataset(path)


def build_ppo_trainer(args: PPOArguments, config: PPOConfig) -> PPOTrainer:
    if args.reward not in REWARDS:
        raise ValueError(f"--reward must be one of {REWARDS}, got {args.reward!r}")
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed
    policy = load_policy_with_value_head(args.policy_name_or_path)
    ref_policy = load_model(DancePolicy, args.policy_name_or_path)
    train_tokens, heldout_tokens = load_token_splits(
        args.tokens_dir or Path(args.policy_name_or_path) / "tokens"
    )
    train = music_segments(train_tokens, 0, args.segment_stride)
    heldout = music_segments(heldout_tokens, len(train), WINDOW_TOKENS - 1)
    learned = None
    if args.reward_model_name_or_path:
        learned = LearnedReward(
            load_model(DanceRewardModel, args.reward_model_name_or_path), policy.config
        )
    elif args.reward == "learned":
        raise ValueError("--reward learned needs --reward_model_name_or_path")
    found = locate_vqvae(
        args.policy_name_or_path, policy.config.vqvae_name_or_path, args.vqvae_name_or_path
    )
    vqvae = (
        load_model(DanceVQVAE, found[0], subfolder=found[1]).to(config.device) if found else None
    )
    if args.reward == "learned":
        reward_fn = learned
    else:
        if vqvae is None:
            raise ValueError("the hand-designed reward decodes dances: pass --vqvae_name_or_path")
        form = "paper" if args.reward == "bailando-paper" else "released"
        reward_fn = BailandoReward(vqvae, form, args.orientation_weight)
    if learned is not None:
        learned.model.to(config.device)
    evaluate_fn = None
    clips = _clips_for(args)
    if args.eval_dance_tokens and vqvae is not None and clips is not None:
        evaluate_fn = DanceTable(vqvae, heldout_tokens, clips, args.eval_dance_tokens, config.seed)
    elif args.eval_dance_tokens:
        logger.warning("no VQ-VAE or prepared clips found: the dance table is skipped")
    trainer = PPOTrainer(
        model=policy,
        ref_policy=ref_policy,
        reward_fn=reward_fn,
        args=config,
        train_dataset=train,
        eval_dataset=heldout,
        eval_reward_fn=learned,
        evaluate_fn=evaluate_fn,
    )
    trainer.card_data = {
        "model_name": f"dance-policy-ppo-{args.reward}",
        "dataset": str(args.policy_name_or_path),
        "vqvae_name_or_path": found[0] if found and not found[1] else None,
    }
    return trainer


def run_ppo(args: PPOArguments, config: PPOConfig) -> dict:
    trainer = build_ppo_trainer(args, config)
    rows = {}
    resuming = bool(config.resume_from_checkpoint)
    report_path = Path(config.output_dir) / "ppo_report.json"
    if resuming and report_path.is_file():
        rows = json.loads(report_path.read_text())["rows"]
    if "pi_BC" not in rows:
        rows["pi_BC"] = trainer.evaluate()
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    final = trainer.evaluate()
    rows[f"pi_RL ({args.reward} reward)"] = final
    trainer.card_data["metrics"] = {
        k: v
        for k, v in rows[f"pi_RL ({args.reward} reward)"].items()
        if v is not None and np.isfinite(v)
    }
    trainer.save_policy(config.output_dir)
    state = PartialState()
    if state.is_main_process:
        table = trainer.evaluate_fn
        truth = table.ground_truth_diagnostics if table else {}
        report = {
            "rows": rows,
            "ground_truth": {f"eval_{k}": v for k, v in truth.items()},
            "flags": {name: policy_flags(row, truth) for name, row in rows.items()},
            "dance_pieces": len(table.music) if table else 0,
            "ground_truth_dances": len(table.ground_truth.kinetic) if table else 0,
            "piece_frames": args.eval_dance_tokens * FRAMES_PER_TOKEN,
            "iterations": trainer.state.global_step,
            "kl_stop": config.kl_stop,
            "curve": ppo_curve(rows["pi_BC"], trainer.state.log_history, final),
        }
        report_path.write_text(json.dumps(report, indent=2))
        if len(report["curve"]) > 2:
            plot_ppo_curves({args.reward: report["curve"]}, Path(config.output_dir) / CURVE_PLOT)
        text = ppo_report_markdown(report)
        (Path(config.output_dir) / "ppo_report.md").write_text(text)
        print(text)
    if config.push_to_hub:
        trainer.push_to_hub()
    return rows


PPO_COLUMNS = (
    ("eval_score", "reward-model score ↑"),
    ("eval_kl", "KL to pi_BC"),
    ("eval_FID_k", "FID_k ↓"),
    ("eval_FID_g", "FID_g ↓"),
    ("eval_DIV_k", "DIV_k ↑"),
    ("eval_DIV_g", "DIV_g ↑"),
    ("eval_BAS", "BAS ↑"),
)


def ppo_table(rows: dict[str, dict[str, float]]) -> str:
    """The paper's Table 3 shape: one row per policy, held-out music."""
    lines = [
        "| policy | " + " | ".join(title for _, title in PPO_COLUMNS) + " |",
        "|---" * (len(PPO_COLUMNS) + 1) + "|",
    ]
    for name, row in rows.items():
        cells = []
        for key, _ in PPO_COLUMNS:
            value = row.get(key)
            cells.append(
                "n/a"
                if value is None or not np.isfinite(value)
                else "0"
                if value == 0
                else f"{value:.4g}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


CURVE_PLOT = "ppo_curves.png"
CURVE_PANELS = (
    ("eval_score", "reward-model score"),
    ("eval_kl", "KL to pi_BC (nats)"),
    ("eval_FID_k", "FID_k"),
    ("eval_DIV_k", "DIV_k"),
    ("eval_BAS", "BAS"),
    ("eval_FID_g", "FID_g"),
    ("eval_DIV_g", "DIV_g"),
)


def ppo_curve(before: dict, log_history: list[dict], after: dict) -> list[dict]:
    """Held-out metrics per PPO iteration: pi_BC at 0, every evaluation the run made
    (`eval_strategy: steps`), and the final policy; one point per iteration."""
    points = {0: before}
    for entry in log_history:
        if "eval_score" in entry or "eval_FID_k" in entry:
            points[int(entry["step"])] = {k: v for k, v in entry.items() if k.startswith("eval_")}
    last = max(points) if len(points) > 1 else 0
    points[max(last, 1)] = after
    return [{"iteration": step, **points[step]} for step in sorted(points)]


def plot_ppo_curves(curves: dict[str, list[dict]], path: Path) -> Path:
    """One panel per held-out metric that some curve defines, one line per reward."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def points(curve, key):
        return [
            (p["iteration"], p[key])
            for p in curve
            if p.get(key) is not None and np.isfinite(p[key])
        ]

    from matplotlib.ticker import MaxNLocator

    # "reward, seed k": one colour per reward, one line style per seed
    groups = list(dict.fromkeys(name.split(",")[0] for name in curves))
    styles = {}
    for name in curves:
        group = name.split(",")[0]
        styles[name] = (f"C{groups.index(group)}", ("-", "--", ":", "-.")[
            sum(other.split(",")[0] == group for other in styles) % 4
        ])  # fmt: skip
    panels = [(k, t) for k, t in CURVE_PANELS if any(points(c, k) for c in curves.values())]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8), squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        for name, curve in curves.items():
            if found := points(curve, key):
                colour, style = styles[name]
                ax.plot(*zip(*found, strict=True), style, color=colour, marker="o", ms=3,
                        lw=1.2, label=name)  # fmt: skip
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("PPO iteration", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def policy_flags(row: dict, ground_truth: dict) -> list[str]:
    """The diagnostics of a PPO report row (`eval_` keys) outside the ground truth's range."""
    return diagnostic_flags({k: row.get(f"eval_{k}") for k in ground_truth}, ground_truth)


def ppo_report_markdown(report: dict) -> str:
    """ppo_report.md: the metrics table, the diagnostics beside the ground truth's, the flags."""
    parts = ["# PPO report", ppo_table(report["rows"])]
    baseline = report["rows"].get("pi_BC")
    for name, row in report["rows"].items():
        if baseline and name != "pi_BC" and (claims := compare(name, row, "pi_BC", baseline)):
            parts.append(" ".join(claims))
    curve = report.get("curve") or []
    if len(curve) > 2:
        parts += [
            "## Held-out metrics per PPO iteration",
            ppo_table({f"iteration {p['iteration']}": p for p in curve}),
            f"![held-out metrics per iteration]({CURVE_PLOT})",
        ]
    truth = report.get("ground_truth") or {}
    if truth:
        rows = {"ground truth (same music)": {k.removeprefix("eval_"): v for k, v in truth.items()}}
        for name, row in report["rows"].items():
            rows[name] = {k: row.get(f"eval_{k}") for k, _, _ in DIAGNOSTICS}
        parts += [
            "## Physical and motion diagnostics",
            diagnostics_table(rows),
            "Definitions: `e3d2_hf/evaluation/physical.py`. The policies' dances are decoded "
            "without the decoder's boundary jumps, as `e3d2 dance` gives them.",
        ]
        for name, flags in report.get("flags", {}).items():
            if flags:
                parts.append(
                    f"**{name} leaves the ground truth's range:** " + "; ".join(flags) + "."
                )
    return "\n\n".join(parts) + "\n"


def main_ppo(argv: list[str] | None = None) -> dict:
    args, config = parse_stage_args((PPOArguments, PPOConfig), argv)
    return run_ppo(args, config)
