"""The report of `e3d2 experiment`: every configuration of the matrix on held-out music, mean ±
spread over seeds, and its paired differences against pi_BC and the KL-matched pi_BC.

`report.md` and `results.json` in the experiment's folder, with `curves.png` (held-out metrics
per PPO iteration, seed 0 of each configuration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..evaluation.claims import SEED_METRICS, Verdict, compare_seeds, mean_and_spread
from ..evaluation.metrics import EVAL_PREFIX, METRICS
from ..evaluation.physical import MOVEMENT, diagnostic_flags
from ..training.rewards import REWARDS
from ..utils.markdown import markdown_table
from ..utils.outputs import PPO_REPORT, REWARD_REPORT
from .demo import FOLDERS, SEED_COMPARISON_NOTE
from .ppo import is_pi_bc, matched_row, plot_ppo_curves
from .tables import comparison_rows

REPORT = "report.md"
RESULTS = "results.json"
CURVES = "curves.png"

ACCEPTANCE_METRICS = ("FID_k", "DIV_k", "BAS", "foot_skating", "jitter")
"""What a run must beat the KL-matched pi_BC on (two of them, one not a term of its reward,
none worse) for RL to have earned its place."""


@dataclass(frozen=True)
class ExperimentFolders:
    """The experiment's folders under its --output_dir."""

    reward_models: str = "reward-models"
    runs: str = "runs"


EXPERIMENT_FOLDERS = ExperimentFolders()


def run_folder(out: Path, run: str, seed: int) -> Path:
    """Where one PPO run of the matrix goes."""
    return out / EXPERIMENT_FOLDERS.runs / run / f"seed-{seed}"


def reward_model_folder(out: Path, variant: str) -> Path:
    """Where a reward model variant's ranked demonstrations and reward model go."""
    return out / EXPERIMENT_FOLDERS.reward_models / variant


@dataclass(frozen=True)
class Run:
    """One configuration of the matrix: PPO overrides and the reward model variant it uses."""

    name: str
    reward: str
    estimator: str
    reward_model: str | None
    overrides: dict


@dataclass
class RunResults:
    """One configuration's PPO report rows, one per finished seed."""

    name: str
    reward_funcs: tuple[str, ...]
    rl: list[dict]
    matched: list[dict]
    bc: list[dict]
    curves: list[list[dict]]


def collect_runs(out: Path, runs: list[Run], seeds: int) -> tuple[list[RunResults], dict]:
    """Every configuration's rows over its finished seeds, and the ground truth's diagnostics."""
    results, truth = [], {}
    for run in runs:
        found = RunResults(run.name, tuple(run.overrides.get("reward_funcs", ())), [], [], [], [])
        for seed in range(seeds):
            report = run_folder(out, run.name, seed) / PPO_REPORT
            if not report.is_file():
                continue
            data = json.loads(report.read_text())
            truth = truth or data.get("ground_truth", {})
            rows = data["rows"]
            rl = next(name for name in rows if not is_pi_bc(name))
            found.rl.append(rows[rl])
            found.bc.append(rows["pi_BC"])
            found.matched.append(rows.get(matched_row(rl), {}))
            found.curves.append(data.get("curve") or [])
        if found.rl:
            results.append(found)
    return results, truth


def _columns(results: list[RunResults]) -> list[tuple[str, str]]:
    """(row key, title) of the seed metrics that some row defines."""
    rows = [row for r in results for row in (*r.rl, *r.bc)]
    return [
        (key, title)
        for key, title, _ in SEED_METRICS
        if any(row.get(key) is not None for row in rows)
    ]


def _cell(rows: list[dict], key: str) -> str:
    stats = mean_and_spread([r.get(key) for r in rows])
    if stats is None:
        return "n/a"
    mean, spread, n = stats
    return f"{mean:.4g}" if n < 2 else f"{mean:.4g} ± {spread:.2g}"


def acceptance(
    verdicts: list[Verdict], reward_funcs: tuple[str, ...], movement_flags: list[str]
) -> tuple[bool, str]:
    """Whether a run beats the KL-matched pi_BC as the RL issue asks, and why (not)."""
    by_name = {v.metric.name: v for v in verdicts if v.metric.name in ACCEPTANCE_METRICS}
    if not by_name:
        return False, "fewer than two seeds to pair"
    better = [n for n, v in by_name.items() if v.outcome == "better"]
    worse = [n for n, v in by_name.items() if v.outcome == "worse"]
    own = {m for f in reward_funcs if f in REWARDS for m in REWARDS[f].measures}
    independent = [n for n in better if n not in own]
    reasons = []
    if len(better) < 2:
        reasons.append(f"better on {len(better)} ({', '.join(better) or 'none'}), not 2")
    if better and not independent:
        reasons.append("every gain is a term of its own reward")
    if worse:
        reasons.append(f"worse on {', '.join(worse)}")
    if movement_flags:
        reasons.append("; ".join(movement_flags))
    if reasons:
        return False, "; ".join(reasons)
    return True, f"better on {', '.join(better)} (not its reward's terms: {', '.join(independent)})"


def _reward_model_rows(out: Path, variants: list[str]) -> list[tuple[str, ...]]:
    """Per variant: held-out accuracy (all pairs, and per kind of pair), and u's correlation
    with pi_BC's log-likelihood and the physical diagnostics among the least noisy rollouts."""
    rows = []
    for variant in variants:
        path = reward_model_folder(out, variant) / FOLDERS.reward / REWARD_REPORT
        if not path.is_file():
            continue
        report = json.loads(path.read_text())
        accuracy = report.get("test_metrics", {}).get("accuracy")
        kinds = ", ".join(f"{k} {v:.3f}" for k, v in (report.get("accuracy_by_kind") or {}).items())
        by_noise = report.get("traits_by_noise") or {}
        least = by_noise[min(by_noise, key=float)] if by_noise else {}

        def corr(trait: str, least=least) -> str:
            value = least.get(f"score_{trait}_corr")
            return "n/a" if value is None else f"{value:+.2f}"

        rows.append(
            (
                variant,
                "n/a" if accuracy is None else f"{accuracy:.4f}",
                kinds or "noise pairs only",
                corr("ref_logp"),
                corr("jitter"),
                corr("foot_skating"),
                corr("joint_speed"),
            )
        )
    return rows


def write_experiment_report(
    out: Path,
    pipeline: Path,
    seeds: int,
    variants: list[str],
    runs: list[Run],
    timings: dict[str, float],
) -> Path:
    """report.md, results.json and curves.png from whatever runs have finished: `runs` with
    `seeds` each from the pi_BC in `pipeline`, the reward model `variants`."""
    results, truth = collect_runs(out, runs, seeds)
    lines = [
        "# RL fine-tuning matrix on held-out music",
        "",
        f"pi_BC and its VQ-VAE: `{pipeline}`. {seeds} PPO seed(s) per configuration; "
        "each reward model variant is trained once (seed 0) and scores every run that uses it. "
        "Every number is measured on music no model was trained on.",
    ]
    if model_rows := _reward_model_rows(out, variants):
        lines += [
            "",
            "## Reward models",
            "",
            "Held-out pairwise accuracy, and the correlation of u with each trait over the least "
            "noisy demonstrations (nearly pi_BC's own dances): a reward that follows pi_BC's "
            "log-likelihood teaches PPO to sharpen pi_BC.",
            "",
            markdown_table(
                (
                    "variant",
                    "accuracy",
                    "accuracy by kind",
                    "corr(u, pi_BC log-lik)",
                    "corr(u, jitter)",
                    "corr(u, foot skating)",
                    "corr(u, joint speed)",
                ),
                model_rows,
            ),  # fmt: skip
        ]
    if missing := [r.name for r in runs if r.name not in {found.name for found in results}]:
        lines += ["", f"Not run yet (no seed finished): {', '.join(missing)}."]
    summary: dict[str, dict] = {}
    if results:
        columns = _columns(results)
        table = []
        for r in results:
            temperature = mean_and_spread([m.get(f"{EVAL_PREFIX}temperature") for m in r.matched])
            at = f" (T = {temperature[0]:.3g})" if temperature else ""
            table += [
                (f"{r.name}: pi_RL", str(len(r.rl)), *(_cell(r.rl, k) for k, _ in columns)),
                (f"{r.name}: KL-matched pi_BC{at}", str(len(r.matched)),
                 *(_cell(r.matched, k) for k, _ in columns)),
                (f"{r.name}: pi_BC", str(len(r.bc)), *(_cell(r.bc, k) for k, _ in columns)),
            ]  # fmt: skip
        if truth:
            table.append(
                ("ground truth (same music)", "",
                 *(f"{truth[k]:.4g}" if truth.get(k) is not None else "" for k, _ in columns))
            )  # fmt: skip
        lines += [
            "",
            "## Held-out metrics",
            "",
            "Mean ± sample standard deviation over the seeds (n: seeds). pi_BC's score is under "
            "the run's reward model, so it differs between variants.",
            "",
            markdown_table(("policy", "n", *(t for _, t in columns)), table),
        ]
        verdicts: dict[tuple[str, str], list[Verdict]] = {}
        verdicts_matched = {}
        for r in results:
            verdicts[(r.name, "pi_BC")] = compare_seeds(r.rl, r.bc)
            pairs = [(a, b) for a, b in zip(r.rl, r.matched, strict=True) if b]
            verdicts_matched[r.name] = (
                compare_seeds(*map(list, zip(*pairs, strict=True))) if pairs else []
            )
            verdicts[(r.name, "KL-matched pi_BC")] = verdicts_matched[r.name]
        header, rows = comparison_rows(verdicts)
        lines += [
            "",
            "## Paired differences",
            "",
            SEED_COMPARISON_NOTE,
            "",
            markdown_table(header, rows),
        ]
        lines += ["", "## Does RL beat the KL-matched pi_BC?", ""]
        lines.append(
            "A run passes where, paired by seed, it is better than the KL-matched pi_BC on at "
            f"least two of {', '.join(METRICS[m].label for m in ACCEPTANCE_METRICS)}, at least "
            "one of them not a term of its own reward, worse on none, and its seed means of the "
            "movement figures lie within ±30% of the ground truth's."
        )
        lines.append("")
        gt = {k: truth.get(EVAL_PREFIX + k) for k in MOVEMENT}  # flags on movement only
        for r in results:
            flags = diagnostic_flags(_means(r.rl), gt) if truth else []
            passed, why = acceptance(verdicts_matched[r.name], r.reward_funcs, flags)
            line = f"- **{r.name}**: {'passes' if passed else 'does not pass'} — {why}."
            # a baseline that wins on the defects by barely moving is no dance either: say so
            if truth and (baseline := diagnostic_flags(_means(r.matched), gt)):
                line += f" Its KL-matched pi_BC: {'; '.join(baseline)}."
            lines.append(line)
            summary[r.name] = {
                "seeds": len(r.rl),
                "passes": passed,
                "why": why,
                "pi_RL": _means(r.rl),
                "kl_matched_pi_BC": _means(r.matched),
                "pi_BC": _means(r.bc),
                "vs_pi_BC": {v.metric.name: v.difference for v in verdicts[(r.name, "pi_BC")]},
                "vs_kl_matched": {v.metric.name: v.difference for v in verdicts_matched[r.name]},
            }
        curves = {f"{r.name}, seed 0": r.curves[0] for r in results if len(r.curves[0]) > 2}
        if curves:
            plot_ppo_curves(curves, out / CURVES)
            lines += [
                "",
                "## Held-out metrics per PPO iteration",
                "",
                "Seed 0 of each configuration; iteration 0 is pi_BC.",
                "",
                f"![held-out metrics per PPO iteration]({CURVES})",
            ]
    if timings:
        lines += [
            "",
            "## Stages",
            "",
            markdown_table(
                ("stage", "seconds"),
                [
                    *((n, f"{s:.0f}") for n, s in timings.items()),
                    ("total", f"{sum(timings.values()):.0f}"),
                ],
            ),  # fmt: skip
        ]
    (out / RESULTS).write_text(json.dumps({"runs": summary, "ground_truth": truth}, indent=2))
    path = out / REPORT
    path.write_text("\n".join(lines) + "\n")
    return path


def _means(rows: list[dict]) -> dict[str, float]:
    """Each defined seed metric's mean over the seeds."""
    out = {}
    for key, _, _ in SEED_METRICS:
        if (stats := mean_and_spread([r.get(key) for r in rows])) is not None:
            out[key.removeprefix(EVAL_PREFIX)] = stats[0]
    return out
