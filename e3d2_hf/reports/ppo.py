"""The PPO report: pi_BC and pi_RL on held-out music, per iteration, beside the ground truth.

`ppo_report.json` / `ppo_report.md` (and `ppo_curves.png`) in a PPO run's folder; the demo
report reads the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.layout import FRAMES_PER_TOKEN
from ..evaluation.claims import compare
from ..evaluation.metrics import EVAL_PREFIX, METRICS, metrics
from ..evaluation.physical import DIAGNOSTICS, diagnostic_flags, raw_and_cleaned
from ..evaluation.protocol import COLUMNS
from ..utils.markdown import markdown_table
from ..utils.outputs import write_owned_files
from .claims import claimed_differences
from .tables import comparison_table, diagnostics_table, ppo_table

CURVE_PLOT = "ppo_curves.png"
CLEANUP_NOTE = (
    "Each policy's dances twice: raw, as the VQ-VAE decodes them (what the policy produced), and "
    "cleaned, as `e3d2 dance` writes them (contact clean-up, `e3d2_hf/export/cleanup.py`: "
    "smoothed, standing where the ground truth's supporting feet stand, planted feet held)."
)
CURVE_PANELS = tuple(
    (m.key, m.label)
    for m in metrics("score", "kl", *COLUMNS, "joint_speed", "jitter", "foot_skating")
)
"""(row key, title) of the curves' panels; joint speed: how much the dances still move; jitter
and foot skating: the defects the physical rewards aim at."""
CURVE_COLUMNS = 4


COMPARISON_NOTE = (
    "Against pi_BC on the same held-out music, and against pi_BC sampled at the temperature whose "
    "KL to pi_BC equals pi_RL's (the KL-matched row: what sampling pi_BC colder or hotter alone "
    "gives at that distance): ▲ better or ▼ worse where the two 95% intervals do not overlap, · where they do "
    "(no difference the spread supports)."
)


def ppo_curve(before: dict, log_history: list[dict], after: dict) -> list[dict]:
    """Held-out metrics per PPO iteration: pi_BC at 0, every evaluation the run made
    (`eval_strategy: steps`), and the final policy; one point per iteration."""
    points = {0: before}
    for entry in log_history:
        if METRICS["score"].key in entry or METRICS["FID_k"].key in entry:
            points[int(entry["step"])] = {
                k: v for k, v in entry.items() if k.startswith(EVAL_PREFIX)
            }
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
    groups: dict[str, list[str]] = {}
    for name in curves:
        groups.setdefault(name.split(",")[0], []).append(name)
    # more rewards than the 10 default colours would repeat one: then 20 paired hues
    palette = (
        [f"C{i}" for i in range(10)]
        if len(groups) <= 10
        else [plt.get_cmap("tab20")(i % 20) for i in range(len(groups))]
    )
    styles = {
        name: (palette[colour], ("-", "--", ":", "-.")[dash % 4])
        for colour, names in enumerate(groups.values())
        for dash, name in enumerate(names)
    }
    panels = [(k, t) for k, t in CURVE_PANELS if any(points(c, k) for c in curves.values())]
    cols = min(len(panels), CURVE_COLUMNS)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    for ax, (key, title) in zip(axes.flat, panels, strict=False):
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


def policy_flags(row: dict, ground_truth: dict, intervals: dict | None = None) -> list[str]:
    """The diagnostics of a PPO report row (`eval_` keys) outside the ground truth's range;
    `intervals`: the ground truth's movement intervals over its pieces."""
    policy = {k: row.get(f"{EVAL_PREFIX}{k}") for k in ground_truth}
    return diagnostic_flags(policy, ground_truth, intervals=intervals)


def interval_sentence(report: dict) -> str | None:
    """What the ground truth's movement figures owe to the few pieces held out, from a
    `ppo_report.json` (its `ground_truth_intervals`, `dance_pieces` and `diagnostic_samples`)."""
    intervals = report.get("ground_truth_intervals") or {}
    pieces = report.get("dance_pieces", 0)
    found = [
        f"{title} {intervals[EVAL_PREFIX + key][0]:.3g} to {intervals[EVAL_PREFIX + key][1]:.3g}"
        for key, title, _ in DIAGNOSTICS
        if intervals.get(f"{EVAL_PREFIX}{key}")
    ]
    if not found:
        return None
    samples = report.get("diagnostic_samples", 1)
    policies = (
        f" Each policy's figures are means over {samples} sampled dances per piece (the metrics "
        "score the first): one sample is mostly noise."
        if samples > 1
        else ""
    )
    return (
        f"The ground truth's movement figures are means over {pieces} held-out pieces; their "
        f"95% bootstrap intervals over the pieces: {'; '.join(found)}. A policy outside ±30% "
        f"of the mean but inside this interval may owe the gap to the pieces drawn.{policies}"
    )


def reference_row(temperature: float) -> str:
    """The report row of pi_BC sampled at `temperature` (`reference_temperatures`)."""
    return f"pi_BC (temperature {temperature:g})"


MATCHED = "pi_BC (KL-matched to "


def matched_row(policy: str) -> str:
    """The report row of pi_BC at the temperature whose held-out KL to pi_BC equals that of
    `policy` (a pi_RL row); the temperature is the row's `eval_temperature`."""
    return f"{MATCHED}{policy})"


def is_matched(name: str) -> bool:
    return name.startswith(MATCHED)


def matched_policy(name: str) -> str:
    """The pi_RL row a `matched_row` is matched to."""
    return name.removeprefix(MATCHED)[:-1]


def is_pi_bc(name: str) -> bool:
    """pi_BC's row, one of its `reference_row`s or a `matched_row`: pi_BC, sampled at some
    temperature."""
    return name == "pi_BC" or name.startswith("pi_BC (temperature ") or is_matched(name)


def comparisons(names) -> list[tuple[str, str]]:
    """(policy, reference) pairs that the demo report compares: each policy against pi_BC and
    against each `reference_row`, those against pi_BC, and each pi_RL against its
    `matched_row`."""
    references = [n for n in names if is_pi_bc(n)]
    return [
        (name, reference)
        for name in names
        for reference in references
        if name != reference
        and (reference == "pi_BC" or not is_pi_bc(name))
        and (not is_matched(reference) or matched_policy(reference) == name)
    ]


def matched_sentence(rows: dict[str, dict]) -> str | None:
    """At which temperature each KL-matched pi_BC was sampled, and both KLs."""
    found = [
        f"{name} is pi_BC sampled at temperature {row['eval_temperature']:.3g}, "
        f"{row['eval_kl']:.4g} nats from pi_BC on held-out music "
        f"({matched_policy(name)}: {rows[matched_policy(name)]['eval_kl']:.4g})"
        for name, row in rows.items()
        if is_matched(name) and matched_policy(name) in rows and "eval_temperature" in row
    ]
    if not found:
        return None
    return (
        "; ".join(found) + ". A temperature moves pi_BC as far as pi_RL went (colder, it raises "
        "a likelihood-like score too): a gain of pi_RL over this row is one that the "
        "temperature knob does not give at the same KL."
    )


def likelihood_sentence(row: dict) -> str | None:
    """How far the held-out score of pi_BC's episodes follows pi_BC's own log-likelihood."""
    corr = row.get("eval_score_ref_logp_corr")
    if corr is None:
        return None
    return (
        f"Over pi_BC's held-out episodes the reward-model score correlates {corr:.2f} with "
        "pi_BC's log-likelihood of them. Near 1, raising the score mostly sharpens pi_BC, "
        "which a lower sampling temperature also does (rows 'pi_BC (temperature T)', "
        "`reference_temperatures`)."
    )


def repetition_sentence(rows: dict[str, dict]) -> str | None:
    """How often each policy keeps a body half's code in its held-out episodes."""
    found = {
        n: r["eval_repeated_codes"]
        for n, r in rows.items()
        if r.get("eval_repeated_codes") is not None
    }
    if not found:
        return None
    each = "; ".join(f"{name} {value:.0%}" for name, value in found.items())
    return (
        f"Steps at which a body half keeps its previous code, over the same held-out episodes: "
        f"{each}. Holding a code holds a pose: a policy that holds more moves less."
    )


def undefined_sentences(rows: dict[str, dict]) -> list[str]:
    """Why metrics are n/a: one sentence per reason, naming its metrics and rows ("every row"
    when all share it). Rows written before the reasons were kept have none."""
    groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for name, row in rows.items():
        metrics_by_reason: dict[str, list[str]] = {}
        for metric, reason in (row.get("eval_undefined") or {}).items():
            metrics_by_reason.setdefault(reason, []).append(metric)
        for reason, undefined in metrics_by_reason.items():
            groups.setdefault((tuple(undefined), reason), []).append(name)
    sentences = []
    for (undefined, reason), names in groups.items():
        which = "every row" if len(names) == len(rows) > 1 else ", ".join(names)
        sentences.append(f"{', '.join(undefined)} of {which} n/a: {reason}.")
    return sentences


def ppo_report_markdown(report: dict) -> str:
    """ppo_report.md: the metrics table, the diagnostics beside the ground truth's, the flags."""
    parts = ["# PPO report", ppo_table(report["rows"]), *undefined_sentences(report["rows"])]
    if sentence := likelihood_sentence(report["rows"].get("pi_BC", {})):
        parts.append(sentence)
    if sentence := repetition_sentence(report["rows"]):
        parts.append(sentence)
    baseline = report["rows"].get("pi_BC")
    verdicts = {
        (name, "pi_BC"): compare(row, baseline)
        for name, row in report["rows"].items()
        if baseline and name != "pi_BC"
    }
    for matched in filter(is_matched, report["rows"]):
        if (policy := matched_policy(matched)) in report["rows"]:
            verdicts[(policy, matched)] = compare(report["rows"][policy], report["rows"][matched])
    if sentence := matched_sentence(report["rows"]):
        parts.append(sentence)
    if table := comparison_table(verdicts):
        parts += [COMPARISON_NOTE, table, *claimed_differences(verdicts)]
    if table := reward_components_table(report.get("reward_components") or []):
        parts += [
            "## Reward components per iteration",
            "Each reward's own per-episode total on the training rollouts, before its weight: "
            "mean ± std over the iteration's episodes (logged as `rewards/<name>/mean`, `/std`).",
            table,
        ]
    curve = report.get("curve") or []
    if len(curve) > 2:
        parts += [
            "## Held-out metrics per PPO iteration",
            ppo_table({f"iteration {p['iteration']}": p for p in curve}),
            f"![held-out metrics per iteration]({CURVE_PLOT})",
        ]
    truth = report.get("ground_truth") or {}
    if truth:
        rows = {
            "ground truth (same music)": {k.removeprefix(EVAL_PREFIX): v for k, v in truth.items()}
        }
        rows.update(raw_and_cleaned(report["rows"], EVAL_PREFIX))
        parts += [
            "## Physical and motion diagnostics",
            diagnostics_table(rows),
            "Definitions: `e3d2_hf/evaluation/physical.py`. The policies' dances are decoded "
            "without the decoder's boundary jumps, as `e3d2 dance` gives them.",
        ]
        if any(name.endswith(", cleaned") for name in rows):
            parts.append(CLEANUP_NOTE)
        if sentence := interval_sentence(report):
            parts.append(sentence)
        for name, flags in report.get("flags", {}).items():
            if flags:
                parts.append(
                    f"**{name} leaves the ground truth's range:** " + "; ".join(flags) + "."
                )
    return "\n\n".join(parts) + "\n"


def reward_components(log_history: list[dict]) -> list[dict]:
    """[{"iteration": k, name: [mean, std], ...}] from the logged `rewards/<name>/mean|std`."""
    out = []
    for entry in log_history:
        names = [
            k[len("rewards/") : -len("/mean")]
            for k in entry
            if k.startswith("rewards/") and k.endswith("/mean")
        ]
        if names:
            point = {"iteration": int(entry["step"])}
            for name in names:
                point[name] = [entry[f"rewards/{name}/mean"], entry.get(f"rewards/{name}/std")]
            out.append(point)
    return out


def reward_components_table(points: list[dict]) -> str | None:
    """A markdown table of `reward_components`: one row per iteration, one column per reward."""
    if not points:
        return None
    names = [k for k in points[0] if k != "iteration"]
    rows = [
        (point["iteration"], *(
            "n/a" if point.get(n) is None else f"{point[n][0]:.4g} ± {point[n][1] or 0:.2g}"
            for n in names
        ))
        for point in points
    ]  # fmt: skip
    return markdown_table(("iteration", *names), rows)


def previous_rows(path: Path) -> dict:
    """The policies' rows of an earlier `ppo_report.json` (a resumed run keeps its pi_BC)."""
    return json.loads(path.read_text())["rows"] if path.is_file() else {}


def finite_metrics(row: dict) -> dict:
    """A row's defined metrics, for a model card (an undefined one is left out, not NaN)."""
    return {k: v for k, v in row.items() if isinstance(v, int | float) and np.isfinite(v)}


def write_ppo_report(
    path: Path, rows: dict, state, table, reward: str, kl_stop: float | None = None
) -> str:
    """`ppo_report.json` at `path`, `ppo_report.md` (returned) and, when the run evaluated
    along the way, `ppo_curves.png` beside it. `rows`: pi_BC's first, the final policy's last;
    `state`: the trainer's `TrainerState`; `table`: its `DanceTable`, or None."""
    truth = table.ground_truth_diagnostics if table else {}
    intervals = table.ground_truth_intervals if table else {}
    last = list(rows)[-1]
    report = {
        "rows": rows,
        "ground_truth": {f"{EVAL_PREFIX}{k}": v for k, v in truth.items()},
        "ground_truth_intervals": {f"{EVAL_PREFIX}{k}": list(v) for k, v in intervals.items()},
        "flags": {name: policy_flags(row, truth, intervals) for name, row in rows.items()},
        "dance_pieces": len(table.music) if table else 0,
        "diagnostic_samples": table.diagnostic_samples if table else 0,
        "ground_truth_dances": len(table.ground_truth.kinetic) if table else 0,
        "piece_frames": table.music.shape[1] * FRAMES_PER_TOKEN if table else 0,
        "iterations": state.global_step,
        "kl_stop": kl_stop,
        "curve": ppo_curve(rows["pi_BC"], state.log_history, rows[last]),
        "reward_components": reward_components(state.log_history),
    }
    if len(report["curve"]) > 2:
        plot_ppo_curves({reward: report["curve"]}, path.parent / CURVE_PLOT)
    text = ppo_report_markdown(report)
    write_owned_files(path.parent, {path.with_suffix(".md").name: text})
    # the JSON last, whole or not at all: `e3d2 demo` and `e3d2 experiment` take it for the
    # mark of a finished run
    write_owned_files(path.parent, {path.name: json.dumps(report, indent=2)})
    return text
