"""Claim sentences a spread supports: "pi_RL beats pi_BC on X" only where the intervals part.

A row is a PPO report row: `eval_score` with `eval_score_sem` (over held-out episodes) and the
dance metrics with `eval_{metric}_low` / `_high` (95% bootstrap over pieces). Two 95% intervals
that do not overlap support a difference; otherwise the sentence says none was shown.
"""

from __future__ import annotations

from .protocol import COLUMNS, LOWER_IS_BETTER

Z95 = 1.96


def interval(row: dict, metric: str) -> tuple[float, float] | None:
    """The 95% interval of a row's metric, None when the row has none."""
    if metric == "score":
        mean, sem = row.get("eval_score"), row.get("eval_score_sem")
        if mean is None or sem is None:
            return None
        return mean - Z95 * sem, mean + Z95 * sem
    low, high = row.get(f"eval_{metric}_low"), row.get(f"eval_{metric}_high")
    return None if low is None or high is None else (low, high)


def compare(name: str, row: dict, baseline_name: str, baseline: dict) -> list[str]:
    """One sentence per metric: which of the two is better, or that the spread decides nothing."""
    sentences = []
    for metric in ("score", *COLUMNS):
        title = "reward-model score" if metric == "score" else metric
        a, b = interval(row, metric), interval(baseline, metric)
        if a is None or b is None:
            continue
        value, base = row.get(f"eval_{metric}"), baseline.get(f"eval_{metric}")
        spans = f"{value:.4g} [{a[0]:.4g}, {a[1]:.4g}] vs {base:.4g} [{b[0]:.4g}, {b[1]:.4g}]"
        if a[0] > b[1] or a[1] < b[0]:
            higher = a[0] > b[1]
            better = higher != LOWER_IS_BETTER.get(metric, False)
            verb = "beats" if better else "is worse than"
            sentences.append(f"{name} {verb} {baseline_name} on {title}: {spans}.")
        else:
            sentences.append(
                f"No difference on {title} between {name} and {baseline_name} that the spread "
                f"supports: {spans}."
            )
    return sentences
