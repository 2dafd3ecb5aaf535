"""Every number the reports compare policies on, declared once: its name, which way is better,
its unit, who computes it and its field on the Motius leaderboard.

The results, the PPO and demo reports, the claims over seeds and pieces, the curves, the
trackers (`eval_<name>`) and the leaderboard JSON all read this table, so a metric added here
(with the function that computes it) reaches every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .beat_align import beat_align_score, beat_align_score_30fps
from .physical import DEFECTS, DIAGNOSTICS, MOVEMENT

EVAL_PREFIX = "eval_"
"""Held-out metrics are logged and stored as `eval_<name>`, as transformers' evaluate() does."""


BAILANDO_PROTOCOL = "evaluation.protocol.evaluate_dances"
"""The evaluator of the paper's Table 1 metrics."""


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    better: Literal["lower", "higher"] | None = None
    """None: a measurement to read beside the ground truth's, not a score to win."""
    unit: str = ""
    computed_by: str = BAILANDO_PROTOCOL
    leaderboard: str | None = None
    """Its field in the Motius music-to-dance results schema (evaluation/leaderboard.py)."""
    digits: int = 2
    """Decimals in a table cell."""
    per_dance: Callable[[np.ndarray, np.ndarray], float] | None = None
    """A beat metric's score of one dance, from (music beat frames, joints) at 60 FPS: the
    protocol averages it over the dances whose music beats are known."""

    @property
    def key(self) -> str:
        """The tracker and report-row key."""
        return EVAL_PREFIX + self.name

    @property
    def lower_is_better(self) -> bool | None:
        return None if self.better is None else self.better == "lower"

    @property
    def label(self) -> str:
        """The title with its unit: a table header or a plot panel."""
        return f"{self.title} ({self.unit})" if self.unit else self.title

    @property
    def heading(self) -> str:
        """The label with the arrow of the better direction."""
        arrow = {"lower": " ↓", "higher": " ↑"}.get(self.better or "", "")
        return self.label + arrow


_PPO = "training.ppo_trainer.PPOTrainer.held_out_metrics"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("score", "reward-model score", "higher", computed_by=_PPO),
        Metric("kl", "KL to pi_BC", unit="nats", computed_by=_PPO),
        Metric("FID_k", "FID_k", "lower", leaderboard="fid_k"),
        Metric("FID_g", "FID_g", "lower", leaderboard="fid_g"),
        Metric("DIV_k", "DIV_k", "higher", leaderboard="diversity_k"),
        Metric("DIV_g", "DIV_g", "higher", leaderboard="diversity_g"),
        Metric(
            "BAS", "BAS", "higher", leaderboard="beat_align", digits=4, per_dance=beat_align_score
        ),
        Metric(
            "BAS_30fps",
            "BAS at 30 FPS",
            "higher",
            leaderboard="beat_align_30fps",
            digits=4,
            per_dance=beat_align_score_30fps,
        ),  # fmt: skip
        # how much a dance moves: the physical diagnostics' own declaration
        *(
            Metric(key, title, unit=unit, computed_by="evaluation.physical.dance_diagnostics")
            for key, title, unit in DIAGNOSTICS
            if key in MOVEMENT
        ),
        # visible defects: the physical diagnostics that a cleaner dance lowers
        *(
            Metric(
                key,
                title,
                "lower",
                unit=unit,
                digits=4,
                computed_by="evaluation.physical.dance_diagnostics",
            )  # fmt: skip
            for key, title, unit in DIAGNOSTICS
            if key in DEFECTS
        ),
    )
}

PROTOCOL = tuple(name for name, m in METRICS.items() if m.computed_by == BAILANDO_PROTOCOL)
"""The metrics the Bailando protocol's evaluator computes: the paper's Table 1 first, in its
order."""
BEAT_METRICS = tuple(name for name in PROTOCOL if METRICS[name].per_dance)
"""The protocol's metrics scored per dance against its music beats."""


def format_metric(name: str, value: float | None) -> str:
    """A table cell: n/a for an undefined metric, 0 for an exact zero."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:.{METRICS[name].digits}f}"


def metrics(*names: str) -> tuple[Metric, ...]:
    """The table's entries for `names`, in that order; an unknown name is a KeyError."""
    return tuple(METRICS[name] for name in names)
