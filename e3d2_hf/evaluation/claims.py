"""Which policy is better on what, as far as a spread supports: "better" only where the
intervals part (the reports put the verdicts into words and tables).

A row is a PPO report row: `eval_score` with `eval_score_sem` (over held-out episodes) and the
dance metrics with `eval_{metric}_low` / `_high` (95% bootstrap over pieces, bias-corrected).
Two 95% intervals that do not overlap support a difference; otherwise the verdict is "none".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .metrics import EVAL_PREFIX, METRICS, Metric, metrics
from .physical import DEFECTS, MOVEMENT
from .protocol import COLUMNS

Z95 = 1.96


def interval(row: dict, metric: str) -> tuple[float, float] | None:
    """The 95% interval of a row's metric, None when the row has none."""
    key = EVAL_PREFIX + metric
    if metric == "score":
        mean, sem = row.get(key), row.get(f"{key}_sem")
        if mean is None or sem is None:
            return None
        return mean - Z95 * sem, mean + Z95 * sem
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    return None if low is None or high is None else (low, high)


@dataclass(frozen=True)
class Verdict:
    """How a policy compares with a baseline on one metric."""

    metric: Metric
    outcome: Literal["better", "worse", "none"]
    """"none": no difference that the evidence supports."""
    evidence: str
    """The numbers behind it: both values with their intervals, or the paired difference."""
    source: Literal["spread", "seeds"]
    difference: str = ""
    """Over seeds: the mean paired difference and its 95% interval, for a table cell."""


def _outcome(higher: bool | None, lower_better: bool) -> Literal["better", "worse", "none"]:
    """`higher`: True/False where the evidence parts the two, None where it does not."""
    if higher is None:
        return "none"
    return "better" if higher != lower_better else "worse"


def compare(row: dict, baseline: dict) -> list[Verdict]:
    """A verdict per metric where both rows have a 95% interval: better or worse where the
    intervals part, "none" where they overlap."""
    verdicts = []
    for entry in metrics("score", *COLUMNS, *DEFECTS):
        a, b = interval(row, entry.name), interval(baseline, entry.name)
        if a is None or b is None:
            continue
        value, base = row.get(entry.key), baseline.get(entry.key)
        spans = f"{value:.4g} [{a[0]:.4g}, {a[1]:.4g}] vs {base:.4g} [{b[0]:.4g}, {b[1]:.4g}]"
        higher = True if a[0] > b[1] else False if a[1] < b[0] else None
        outcome = _outcome(higher, bool(entry.lower_is_better))
        verdicts.append(Verdict(entry, outcome, spans, "spread"))
    return verdicts


SEED_METRICS = tuple(
    (m.key, m.label, m.lower_is_better)
    for m in metrics("score", "kl", *COLUMNS, *MOVEMENT, *DEFECTS)
)
"""(row key, title, lower is better) of what the seed table and its claims compare."""


def mean_and_spread(values: list[float | None]) -> tuple[float, float, int] | None:
    """(mean, sample standard deviation, n) of the defined values; None when there are none."""
    import numpy as np

    defined = [float(v) for v in values if v is not None]
    if not defined:
        return None
    spread = float(np.std(defined, ddof=1)) if len(defined) > 1 else float("nan")
    return float(np.mean(defined)), spread, len(defined)


def compare_seeds(runs: list[dict], baselines: list[dict]) -> list[Verdict]:
    """Verdicts from runs paired by seed: a difference is claimed where the 95% t-interval of
    the mean paired difference excludes 0 (needs two seeds or more)."""
    import numpy as np
    from scipy import stats

    by_key = {m.key: m for m in METRICS.values()}
    verdicts = []
    for key, _, lower_better in SEED_METRICS:
        if lower_better is None:
            continue
        pairs = [
            (run.get(key), base.get(key))
            for run, base in zip(runs, baselines, strict=False)
            if run.get(key) is not None and base.get(key) is not None
        ]
        if len(pairs) < 2:
            continue
        diff = np.array([a - b for a, b in pairs])
        half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
        low, high = diff.mean() - half, diff.mean() + half
        difference = f"{diff.mean():+.4g} [{low:+.4g}, {high:+.4g}]"
        span = f"mean difference {difference} over {len(diff)} seeds"
        higher = True if low > 0 else False if high < 0 else None
        verdicts.append(
            Verdict(by_key[key], _outcome(higher, lower_better), span, "seeds", difference)
        )
    return verdicts
