"""The demo's report: one list of blocks rendered to report.md and to a self-contained-ish report.html.

Figures and videos are files next to the report, referenced by relative path.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..evaluation.claims import SEED_METRICS, compare, compare_seeds, interval, mean_and_spread
from ..evaluation.leaderboard import results_document, write_results
from ..evaluation.metrics import EVAL_PREFIX
from ..evaluation.physical import (
    DIAGNOSTICS,
    FLAG_RULES,
    MOVEMENT,
    diagnostic_flags,
    format_diagnostic,
    raw_and_cleaned,
)
from ..evaluation.protocol import COLUMNS
from ..training.rewards import REWARDS, demo_runs
from ..utils.markdown import markdown_table
from ..utils.outputs import DANCES_INFO, PPO_REPORT, PREPARE_INFO, REWARD_REPORT
from .claims import claimed_differences
from .ppo import (
    CLEANUP_NOTE,
    COMPARISON_NOTE,
    CURVE_PLOT,
    comparisons,
    interval_sentence,
    is_matched,
    is_pi_bc,
    likelihood_sentence,
    plot_ppo_curves,
    repetition_sentence,
    undefined_sentences,
)
from .reward import (
    TRAITS,
    noise_label,
    present_traits,
    rollout_levels,
    trait_cells,
    trait_header,
    trait_name,
)
from .tables import PPO_COLUMNS, comparison_rows


@dataclass(frozen=True)
class DemoFolders:
    """The demo's folders under its --output_dir; the PPO runs' come from the reward registry."""

    data: str = "data"
    vqvae: str = "vqvae"
    bc: str = "bc"
    preferences: str = "preferences"
    reward: str = "reward"
    dances: str = "dances"
    seeds: str = "seeds"


FOLDERS = DemoFolders()

PPO_FOLDERS = tuple(run.folder for run in demo_runs())
"""The demo's PPO runs, one per reward of the demo (training/rewards.py)."""
LEARNED_FOLDER = REWARDS["learned"].demo_folder
"""The run against the learned reward: the method; its pi_BC rows stand for every run's."""

CURVES = (
    # (stage folder, log key, panel title)
    (FOLDERS.vqvae, "loss", "VQ-VAE training loss"),
    (FOLDERS.bc, "loss", "behaviour cloning loss"),
    (FOLDERS.reward, "loss", "reward model loss (Bradley-Terry)"),
    (FOLDERS.reward, "accuracy", "reward model pairwise accuracy (train batches)"),
    (LEARNED_FOLDER, "objective/scores", "PPO: learned reward of rollouts"),
    (LEARNED_FOLDER, "objective/kl", "PPO: KL to pi_BC"),
)


@dataclass
class Block:
    kind: str  # h1 | h2 | p | table | img | video
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    path: str = ""


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _with_interval(row: dict, key: str) -> str:
    """A table cell: the value and, where known, its 95% interval."""
    span = interval(row, key.removeprefix(EVAL_PREFIX))
    cell = _fmt(row.get(key))
    return (
        cell if span is None or row.get(key) is None else f"{cell} [{span[0]:.4g}, {span[1]:.4g}]"
    )


def _last_log_history(folder: Path) -> list[dict]:
    checkpoints = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    for checkpoint in reversed(checkpoints):
        state = checkpoint / "trainer_state.json"
        if state.is_file():
            return json.loads(state.read_text())["log_history"]
    return []


def plot_training_curves(out: Path, path: Path) -> bool:
    """One panel per curve in `CURVES`; False when no stage left a log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for folder, key, title in CURVES:
        points = [(e["step"], e[key]) for e in _last_log_history(out / folder) if key in e]
        if points:
            panels.append((title, points))
    if not panels:
        return False
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (title, points) in zip(axes.flat, panels, strict=False):
        ax.plot(*zip(*points, strict=True), lw=1.2)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def report_blocks(out: Path, timings: dict[str, float]) -> list[Block]:
    blocks = [Block("h1", "E3D2 demo report")]
    data_info = out / FOLDERS.data / PREPARE_INFO
    if data_info.is_file():
        info = json.loads(data_info.read_text())
        blocks.append(
            Block(
                "p",
                f"Data: {info['config']['source']}, {info['num_clips']} clips, {info['skeleton']} "
                f"skeleton ({info['total_frames'] / 60 / 60:.1f} min at 60 FPS). The evaluation uses "
                "held-out music that no model was trained on.",
            )
        )
    blocks += _evaluation_blocks(out)
    blocks += _seed_blocks(out)
    blocks += _curve_blocks(out)
    blocks += _reward_blocks(out)
    if plot_training_curves(out, out / "training_curves.png"):
        blocks += [
            Block("h2", "Training curves"),
            Block("img", "training curves", path="training_curves.png"),
        ]
    blocks += _dance_blocks(out)
    if timings:
        blocks += [
            Block("h2", "Stages"),
            Block(
                "table",
                header=("stage", "seconds"),
                rows=tuple((name, f"{seconds:.0f}") for name, seconds in timings.items())
                + (("total", f"{sum(timings.values()):.0f}"),),
            ),
        ]
    return blocks


def _evaluation_blocks(out: Path) -> list[Block]:
    rows: dict[str, dict] = {}
    truth: dict = {}
    flags: dict[str, list[str]] = {}
    spread = None
    for folder in PPO_FOLDERS:
        report = out / folder / PPO_REPORT
        if report.is_file():
            data = json.loads(report.read_text())
            rows.update(data["rows"])
            truth = truth or data.get("ground_truth", {})
            flags.update(data.get("flags", {}))
            spread = spread or interval_sentence(data)
    if not rows:
        return []
    blocks = [
        Block("h2", "Policies on held-out music"),
        Block(
            "table",
            header=("policy",) + tuple(title for _, title in PPO_COLUMNS),
            rows=tuple(
                (name,) + tuple(_with_interval(row, key) for key, _ in PPO_COLUMNS)
                for name, row in rows.items()
            ),
        ),
    ]
    if reasons := undefined_sentences(rows):
        blocks.append(
            Block(
                "p", "n/a: the metric is undefined on this held-out music, so no number is shown."
            )
        )
        blocks += [Block("p", sentence) for sentence in reasons]
    elif any(row.get(f"{EVAL_PREFIX}{m}", 0) is None for row in rows.values() for m in COLUMNS):
        blocks.append(
            Block(
                "p",
                "n/a: the metric is undefined on this held-out ground truth, so no number is "
                "shown: a feature that never varies in it (the protocol divides by its spread), "
                "fewer than two ground-truth dances, no known music beats, or (FID_g, DIV_g) a "
                "skeleton other than SMPL-24. The PPO log names the reason.",
            )
        )
    if truth:
        blocks += _diagnostic_blocks(rows, truth, flags, spread)
    bc = rows.get("pi_BC")
    if bc:
        blocks.append(
            Block(
                "p",
                "The score is the mean total reward u of 29-step episodes on held-out music "
                "(interval: ±1.96 standard errors over the episodes); FID/DIV/BAS follow the "
                "Bailando protocol on pieces of the held-out songs (intervals: 95% bootstrap over "
                "the pieces, moved by the bias that repeating pieces in a resample adds to FID "
                "and DIV; one training run: they show how much the numbers owe to the music "
                "drawn, not to training noise).",
            )
        )
        if sentence := likelihood_sentence(bc):
            blocks.append(Block("p", sentence))
        if sentence := repetition_sentence(rows):
            blocks.append(Block("p", sentence))
        verdicts = {
            (name, reference): compare(rows[name], rows[reference])
            for name, reference in comparisons(rows)
        }
        blocks += _comparison_blocks(verdicts, COMPARISON_NOTE)
    return blocks


def _comparison_blocks(verdicts: dict[tuple[str, str], list], note: str) -> list[Block]:
    """One table, a row per comparison and a marker per metric, then a sentence per claimed
    difference with its evidence."""
    if not any(verdicts.values()):
        return []
    header, rows = comparison_rows(verdicts)
    blocks = [Block("p", note), Block("table", header=header, rows=tuple(rows))]
    return blocks + [Block("p", paragraph) for paragraph in claimed_differences(verdicts)]


def _movement_verdicts(by_policy: dict[str, list[dict]], truth: dict, intervals: dict) -> list[str]:
    """Per policy: are its seed means of the four movement figures within ±30% of the ground
    truth's (`physical.FLAG_RULES`)? `intervals`: the ground truth's over its pieces."""
    sentences = []
    truth = {key: truth.get(f"{EVAL_PREFIX}{key}") for key in MOVEMENT}
    intervals = {key: intervals.get(f"{EVAL_PREFIX}{key}") for key in MOVEMENT}
    for name, rows in by_policy.items():
        means = {}
        for key in MOVEMENT:
            stats = mean_and_spread([r.get(f"{EVAL_PREFIX}{key}") for r in rows])
            means[key] = stats[0] if stats else None
        flags = diagnostic_flags(means, truth, "the ground truth's", intervals)
        margin = FLAG_RULES[MOVEMENT[0]][1]
        sentences.append(
            f"{name}, mean over the seeds: " + "; ".join(flags) + "."
            if flags
            else f"{name} moves within {margin:.0%} of the ground truth on all four movement "
            "figures (mean over the seeds)."
        )
    return sentences


SEED_COMPARISON_NOTE = (
    "Paired by seed: ▲ better or ▼ worse where the 95% t-interval of the mean same-seed "
    "difference (shown) excludes 0, · where it does not."
)


def seed_folder(out: Path, seed: int) -> Path:
    """Where a seed's stages after pi_BC go: the main folder for seed 0."""
    return out if seed == 0 else out / FOLDERS.seeds / f"seed-{seed}"


def seed_runs(out: Path) -> list[Path]:
    """The folders of each seed's stages after pi_BC: `out` (seed 0), then `seeds/seed-k`."""
    extra = sorted((out / FOLDERS.seeds).glob("seed-*"), key=lambda p: int(p.name.split("-")[1]))
    return [out, *extra]


def _seed_blocks(out: Path) -> list[Block]:
    """Each policy's mean ± standard deviation over the seeds, and the claims they support."""
    runs = [r for r in seed_runs(out) if (r / LEARNED_FOLDER / PPO_REPORT).is_file()]
    if len(runs) < 2:
        return []
    by_policy: dict[str, list[dict]] = {}
    truth: dict = {}
    intervals: dict = {}
    for run in runs:
        for folder in PPO_FOLDERS:
            report = run / folder / PPO_REPORT
            if report.is_file():
                data = json.loads(report.read_text())
                truth = truth or data.get("ground_truth", {})
                intervals = intervals or data.get("ground_truth_intervals", {})
                for name, row in data["rows"].items():
                    if is_pi_bc(name) and not is_matched(name) and folder != LEARNED_FOLDER:
                        continue  # the same policy, evaluated the same way in both runs
                    by_policy.setdefault(name, []).append(row)

    def cell(rows: list[dict], key: str) -> str:
        stats = mean_and_spread([r.get(key) for r in rows])
        return "n/a" if stats is None else f"{stats[0]:.4g} ± {stats[1]:.2g} ({stats[2]})"

    table = [
        (name,) + tuple(cell(rows, key) for key, _, _ in SEED_METRICS)
        for name, rows in by_policy.items()
    ]
    if truth:
        table.append(
            ("ground truth (same music)",)
            + tuple(format_diagnostic(truth[k]) if k in truth else "–" for k, _, _ in SEED_METRICS)
        )
    blocks = [
        Block("h2", f"Spread over {len(runs)} seeds"),
        Block(
            "p",
            "Mean ± sample standard deviation (number of seeds) of every policy on held-out music; "
            "each seed redoes the demonstrations, the reward model and both PPO runs from the "
            "same pi_BC.",
        ),
        Block(
            "table",
            header=("policy",) + tuple(title for _, title, _ in SEED_METRICS),
            rows=tuple(table),
        ),
    ]
    if truth:
        blocks.append(Block("p", " ".join(_movement_verdicts(by_policy, truth, intervals))))
    verdicts = {
        (name, reference): compare_seeds(by_policy[name], by_policy[reference])
        for name, reference in comparisons(by_policy)
    }
    blocks += _comparison_blocks(verdicts, SEED_COMPARISON_NOTE)
    accuracy = []
    for run in runs:
        report = run / FOLDERS.reward / REWARD_REPORT
        if report.is_file():
            accuracy.append(json.loads(report.read_text())["test_metrics"].get("accuracy"))
    if (stats := mean_and_spread(accuracy)) is not None:
        blocks.append(
            Block(
                "p",
                f"Reward model, held-out music pairwise accuracy over {stats[2]} seeds: "
                f"{stats[0]:.4f} ± {stats[1]:.2g} (each: {', '.join(f'{a:.4f}' for a in accuracy)}).",
            )
        )
    return blocks


def _curve_blocks(out: Path) -> list[Block]:
    """Held-out metrics per PPO iteration, both rewards, every seed (where the runs evaluated
    along the way: `eval_strategy: steps`)."""
    curves = {}
    for seed, run in enumerate(seed_runs(out)):
        for demo_run in demo_runs():
            folder, reward = demo_run.folder, demo_run.label
            report = run / folder / PPO_REPORT
            curve = json.loads(report.read_text()).get("curve") if report.is_file() else None
            if curve and len(curve) > 2:
                curves[f"{reward}, seed {seed}"] = curve
    if not curves:
        return []
    plot_ppo_curves(curves, out / CURVE_PLOT)
    return [
        Block("h2", "Held-out metrics per PPO iteration"),
        Block(
            "p",
            "Iteration 0 is pi_BC. The paper's Table 3 has the hand-designed reward's FID rise "
            "and diversity fall as its steps grow; each point is one evaluation on held-out music.",
        ),
        Block("img", "held-out metrics per PPO iteration", path=CURVE_PLOT),
    ]


def _diagnostic_blocks(rows: dict, truth: dict, flags: dict, spread: str | None) -> list[Block]:
    """The physical diagnostics per policy, the ground truth's (same music) first; `spread`:
    how much the ground truth's movement owes to its pieces (`interval_sentence`)."""
    table = raw_and_cleaned({"ground truth": truth, **rows}, EVAL_PREFIX)
    blocks = [
        Block("h2", "Physical and motion diagnostics on held-out music"),
        Block(
            "table",
            header=("set",) + tuple(f"{title} ({unit})" for _, title, unit in DIAGNOSTICS),
            rows=tuple(
                (name,) + tuple(format_diagnostic(row.get(k)) for k, _, _ in DIAGNOSTICS)
                for name, row in table.items()
            ),
        ),
        Block(
            "p",
            "How much each dance moves, and how physically: definitions in "
            "`e3d2_hf/evaluation/physical.py`. The ground truth dances the same pieces of music; "
            "the policies' dances are decoded without the decoder's boundary jumps, as "
            "`e3d2 dance` gives them (the metrics above decode as Bailando does).",
        ),
    ]
    if any(name.endswith(", cleaned") for name in table):
        blocks.append(Block("p", CLEANUP_NOTE))
    if spread:
        blocks.append(Block("p", spread))
    for name, found in flags.items():
        if found:
            blocks.append(
                Block("p", f"{name} leaves the ground truth's range: {'; '.join(found)}.")
            )
    return blocks


def _reward_blocks(out: Path) -> list[Block]:
    report_file = out / FOLDERS.reward / REWARD_REPORT
    if not report_file.is_file():
        return []
    report = json.loads(report_file.read_text())
    levels = report["noise_levels"]
    blocks = [Block("h2", "Reward model")]
    if (out / FOLDERS.reward / "reward_accuracy.png").is_file():
        blocks.append(
            Block("img", "pairwise accuracy per epoch", path="reward/reward_accuracy.png")
        )
    blocks.append(
        Block(
            "table",
            header=("epoch", "accuracy, training music", "accuracy, held-out music"),
            rows=tuple(
                (_fmt(e["epoch"]), _fmt(e.get("train")), _fmt(e.get("test")))
                for e in report["accuracy_per_epoch"]
            ),
        )
    )
    blocks += [
        Block(
            "p",
            "Mean total reward u of the training demonstrations per noise level (the paper's "
            "Table 4), and of the ground truth's own 29-step episodes:",
        ),
        _mean_u_table(report),
        *_repetition_sentence(report),
        *_ground_truth_sentence(report.get("ground_truth")),
        Block("p", "Held-out pairwise accuracy by noise pair (row: chosen ε, column: rejected ε):"),
        Block(
            "table",
            header=("chosen \\ rejected",) + tuple(f"{n:g}" for n in levels),
            rows=tuple(
                (f"{levels[i]:g}",) + tuple(_fmt(v) for v in row)
                for i, row in enumerate(report["accuracy_by_noise_pair"])
            ),
        ),
    ]
    return blocks


FOLLOWS = 0.3
"""A correlation of u with a trait beyond ±this (a moderate one) is read as the reward model
following it: at 0.16 a trait explains under 3% of u's spread, too little to say the reward
model favours it."""


def _mean_u_table(report: dict) -> Block:
    """Mean u per noise level, with the demonstrations' traits (`reports.reward.TRAITS`) and
    u's correlation with each."""
    by_noise = report.get("traits_by_noise") or {}
    traits = present_traits(by_noise.values())
    rows = [
        (noise_label(n, report), _fmt(u), *trait_cells(by_noise.get(n, {}), traits, _fmt))
        for n, u in sorted(report["mean_u_by_noise"].items(), key=lambda x: float(x[0]))
    ]
    rows += [
        (f"ground truth, {songs}", _fmt(m["mean_u"]), *trait_cells(m, traits, _fmt))
        for songs, m in (report.get("ground_truth") or {}).items()
    ]
    header = ("noise ε", "mean u", *trait_header(traits))
    return Block("table", header=header, rows=tuple(rows))


def _ground_truth_sentence(truth: dict | None) -> list[Block]:
    """Which of the data's own traits u punishes over its held-out episodes."""
    m = (truth or {}).get("held-out songs")
    if not m:
        return []
    falls = [
        (trait_name(title), m[f"score_{key}_corr"])
        for key, title in TRAITS
        if key != "repeated_codes" and (m.get(f"score_{key}_corr") or 0.0) < -FOLLOWS
    ]
    if not falls:
        return []
    named = " and ".join(f"{corr:+.2f} with {title}" for title, corr in falls)
    return [
        Block(
            "p",
            f"Over the ground truth's own episodes of the held-out songs (rows 'ground truth'), "
            f"u correlates {named}: the reward model scores the data's own moves lower the more "
            "they move, so PPO against it can raise u by moving less than the data (the "
            "movement figures under the policies' table).",
        )
    ]


def _repetition_sentence(report: dict) -> list[Block]:
    """How far u follows code repetition among the least noisy rollouts of pi_BC."""
    by_noise = report.get("traits_by_noise")
    levels = rollout_levels(report)
    if not by_noise or len(levels) < 2:
        return []
    least, most = by_noise[levels[0]], by_noise[levels[-1]]
    corr = least.get("score_repeated_codes_corr")
    if corr is None:
        return []
    if corr > FOLLOWS:
        meaning = (
            "the reward model favours held poses, which PPO can raise without dancing better "
            "(each policy's fraction on held-out music is stated under the policies' table above)"
        )
    elif corr < -FOLLOWS:
        meaning = "the reward model favours changing codes"
    else:
        meaning = "the reward model hardly follows it"
    noisiest = f"the ε={float(levels[-1]):g} ones"
    if float(levels[-1]) == 1.0:
        noisiest += ", uniform random codes,"
    return [
        Block(
            "p",
            f"The ε={float(levels[0]):g} demonstrations, nearly pi_BC's own dances, keep a body "
            f"half's code at {least['repeated_codes']:.0%} of steps; {noisiest} at "
            f"{most['repeated_codes']:.0%}. Among the former, u correlates {corr:+.2f} with that "
            f"fraction: {meaning}.",
        )
    ]


def _dance_blocks(out: Path) -> list[Block]:
    summary_file = out / FOLDERS.dances / DANCES_INFO
    if not summary_file.is_file():
        return []
    summary = json.loads(summary_file.read_text())
    blocks = [
        Block("h2", "Dances"),
        Block(
            "p",
            f"Every policy dances {summary['duration']:.1f} s of the held-out song "
            f"`{Path(summary['song']).name}` from the same first pose and seed.",
        ),
    ]
    for title, files in summary["dances"].items():
        video = files.get("mp4") or files.get("gif")
        blocks.append(
            Block("video" if video and video.endswith(".mp4") else "img", title, path=video or "")
        )
        links = ", ".join(f"[{kind}]({path})" for kind, path in files.items())
        blocks.append(Block("p", f"{title}: {links}"))
    return blocks


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            lines += [f"# {b.text}", ""]
        elif b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "table":
            lines += [markdown_table(b.header, b.rows), ""]
        elif b.kind == "img":
            lines += [f"![{b.text}]({b.path})", ""]
        elif b.kind == "video":
            lines += [f'<video src="{b.path}" controls width="480"></video>', "", f"*{b.text}*", ""]
    return "\n".join(lines)


def _inline_markdown(text: str) -> str:
    """Links and code spans of a paragraph, escaped."""
    import re

    escaped = html.escape(text)
    escaped = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def render_html(blocks: list[Block]) -> str:
    body: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            body.append(f"<{b.kind}>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{_inline_markdown(b.text)}</p>")
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.kind == "img":
            body.append(
                f'<figure><img src="{html.escape(b.path)}" alt="{html.escape(b.text)}"><figcaption>{html.escape(b.text)}</figcaption></figure>'
            )
        elif b.kind == "video":
            body.append(
                f'<figure><video src="{html.escape(b.path)}" controls preload="metadata" width="480"></video>'
                f"<figcaption>{html.escape(b.text)}</figcaption></figure>"
            )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}figure{margin:1em 0}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>E3D2 demo report</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(out: Path, timings: dict[str, float]) -> Path:
    """Write `report.md` and `report.html` into `out`; returns the markdown path."""
    blocks = report_blocks(out, timings)
    write_demo_results(out)
    md_path = out / "report.md"
    md_path.write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks))
    return md_path


def write_demo_results(out: Path) -> Path | None:
    """`results.json` (the Motius leaderboard schema) from the PPO reports, if there are any."""
    rows, truth, counts = {}, {}, {}
    for folder in PPO_FOLDERS:
        path = out / folder / PPO_REPORT
        if path.is_file():
            data = json.loads(path.read_text())
            for name, row in data["rows"].items():
                rows[name] = {k.removeprefix(EVAL_PREFIX): v for k, v in row.items()}
            truth = truth or {
                k.removeprefix(EVAL_PREFIX): v for k, v in data.get("ground_truth", {}).items()
            }
            counts = counts or data
    if not rows:
        return None
    info = out / FOLDERS.data / PREPARE_INFO
    dataset = json.loads(info.read_text())["config"]["source"] if info.is_file() else "unknown"
    diagnostics = {"ground truth": truth, **rows} if truth else rows
    document = results_document(
        rows,
        diagnostics,
        dataset=f"{dataset} (held-out music of the demo)",
        population=int(counts.get("dance_pieces", 0)),
        reference_pool=int(counts.get("ground_truth_dances", 0)),
        clip_frames=int(counts.get("piece_frames", 0)),
    )
    return write_results(document, out / "results.json")
