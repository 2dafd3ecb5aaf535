"""The tables the reports share, rendered from the metric table (evaluation/metrics.py) with
the one markdown renderer (utils/markdown.py)."""

from __future__ import annotations

import math

from ..evaluation.claims import Verdict
from ..evaluation.metrics import METRICS, format_metric, metrics
from ..evaluation.physical import DIAGNOSTICS, format_diagnostic
from ..evaluation.protocol import COLUMNS, UNDEFINED
from ..utils.markdown import markdown_table

PPO_COLUMNS = tuple((m.key, m.heading) for m in metrics("score", "kl", *COLUMNS))
"""(row key, header) of the PPO table: the paper's Table 3 shape."""


def metrics_table(rows: dict[str, dict]) -> str:
    """The protocol's metrics, the paper's Table 1 first, one row per set; the reason for each
    n/a follows the table."""
    table = markdown_table(
        ("Method", *(METRICS[c].heading for c in COLUMNS)),
        [(name, *(format_metric(c, result[c]) for c in COLUMNS)) for name, result in rows.items()],
    )
    notes: dict[str, list[str]] = {}
    for name, result in rows.items():
        for metric, reason in result.get(UNDEFINED, {}).items():
            notes.setdefault(reason, []).append(f"{metric} of {name}")
    return table + "".join(f"\n\nn/a ({', '.join(w)}): {r}." for r, w in notes.items())


def diagnostics_table(rows: dict[str, dict]) -> str:
    """One row per set (the ground truth's among them), one column per physical diagnostic."""
    return markdown_table(
        ("Set", *(f"{t} ({u})" for _, t, u in DIAGNOSTICS)),
        [
            (name, *(format_diagnostic(row.get(k)) for k, _, _ in DIAGNOSTICS))
            for name, row in rows.items()
        ],
    )


def value_cell(value: float | None) -> str:
    """A PPO-table cell: four significant digits, n/a where undefined."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return "0" if value == 0 else f"{value:.4g}"


def ppo_table(rows: dict[str, dict[str, float]]) -> str:
    """The paper's Table 3 shape: one row per policy, held-out music."""
    return markdown_table(
        ("policy", *(title for _, title in PPO_COLUMNS)),
        [
            (name, *(value_cell(row.get(key)) for key, _ in PPO_COLUMNS))
            for name, row in rows.items()
        ],
    )


MARKERS = {"better": "▲ better", "worse": "▼ worse", "none": "· none shown"}
"""A comparison cell's marker: the policy is better, worse, or no difference the spread (or
the seeds) supports."""


def comparison_rows(
    comparisons: dict[tuple[str, str], list[Verdict]],
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """(header, rows) of one comparison table: a row per (policy, baseline), a column per
    metric any of them compares, a marker (and, for seeds, the paired difference) per cell."""
    names = list(
        dict.fromkeys(v.metric.name for verdicts in comparisons.values() for v in verdicts)
    )
    header = ("comparison", *(METRICS[n].heading for n in names))
    rows = []
    for (name, baseline), verdicts in comparisons.items():
        by_metric = {v.metric.name: v for v in verdicts}
        cells = []
        for n in names:
            v = by_metric.get(n)
            cells.append(
                "–"
                if v is None
                else MARKERS[v.outcome] + (f" {v.difference}" if v.difference else "")
            )
        rows.append((f"{name} vs {baseline}", *cells))
    return header, rows


def comparison_table(comparisons: dict[tuple[str, str], list[Verdict]]) -> str:
    """`comparison_rows` as markdown; empty when nothing was compared."""
    if not any(comparisons.values()):
        return ""
    return markdown_table(*comparison_rows(comparisons))
