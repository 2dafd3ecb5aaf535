"""Claim sentences a spread supports: "pi_RL beats pi_BC on X" only where the intervals part.

A row is a PPO report row: `eval_score` with `eval_score_sem` (over held-out episodes) and the
dance metrics with `eval_{metric}_low` / `_high` (95% bootstrap over pieces, bias-corrected).
Two 95% intervals that do not overlap support a difference; otherwise the sentence says none
was shown.
"""

from __future__ import annotations

from .metrics import metrics
from .physical import MOVEMENT
from .protocol import COLUMNS

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
    for entry in metrics("score", *COLUMNS):
        metric, title = entry.name, entry.title
        a, b = interval(row, metric), interval(baseline, metric)
        if a is None or b is None:
            continue
        value, base = row.get(f"eval_{metric}"), baseline.get(f"eval_{metric}")
        spans = f"{value:.4g} [{a[0]:.4g}, {a[1]:.4g}] vs {base:.4g} [{b[0]:.4g}, {b[1]:.4g}]"
        higher = True if a[0] > b[1] else False if a[1] < b[0] else None
        lower_better = bool(entry.lower_is_better)
        sentences.append(
            _sentence(name, baseline_name, title, higher, lower_better, spans, "spread")
        )
    return sentences


def _sentence(
    name: str, baseline_name: str, title: str, higher: bool | None, lower_better: bool,
    evidence: str, source: str,
) -> str:  # fmt: skip
    """`higher`: True/False where the evidence parts the two, None where it does not."""
    if higher is None:
        return (
            f"No difference on {title} between {name} and {baseline_name} that the {source} "
            f"support{'s' if source == 'spread' else ''}: {evidence}."
        )
    verb = "beats" if higher != lower_better else "is worse than"
    return f"{name} {verb} {baseline_name} on {title}: {evidence}."


SEED_METRICS = tuple(
    (m.key, m.label, m.lower_is_better) for m in metrics("score", "kl", *COLUMNS, *MOVEMENT)
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


def seed_claims(
    name: str, runs: list[dict], baseline_name: str, baselines: list[dict]
) -> list[str]:
    """Sentences from runs paired by seed: a difference is claimed where the 95% t-interval of
    the mean paired difference excludes 0 (needs two seeds or more)."""
    import numpy as np
    from scipy import stats

    sentences = []
    for key, title, lower_better in SEED_METRICS:
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
        span = (
            f"mean difference {diff.mean():+.4g} [{low:+.4g}, {high:+.4g}] over {len(diff)} seeds"
        )
        higher = True if low > 0 else False if high < 0 else None
        sentences.append(_sentence(name, baseline_name, title, higher, lower_better, span, "seeds"))
    return sentences
