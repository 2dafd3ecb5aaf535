"""Policy diagnostics on code streams: the paper's next-token accuracy, how often a dance keeps
its codes, and the correlations the reports read."""

from __future__ import annotations

import numpy as np
import torch


def token_accuracy(pred_upper, pred_lower, target_upper, target_lower) -> dict[str, float]:
    """'complete': both halves right; 'partial': at least one (the paper's Table 5)."""
    pu, pl, tu, tl = (
        np.asarray(x).reshape(-1) for x in (pred_upper, pred_lower, target_upper, target_lower)
    )
    if not (len(pu) == len(pl) == len(tu) == len(tl)) or len(pu) == 0:
        raise ValueError("token accuracy needs four non-empty arrays of equal size")
    up, low = pu == tu, pl == tl
    return {
        "complete": float(np.mean(up & low)),
        "partial": float(np.mean(up | low)),
        "upper": float(np.mean(up)),
        "lower": float(np.mean(low)),
    }


def repeated_codes(upper, lower) -> np.ndarray:
    """Per dance (rows of (N, steps) code arrays), the fraction of steps at which a body half
    keeps its previous code, averaged over the two halves.

    pi_BC holds a code about half the time; epsilon-greedy noise draws uniform codes, which
    repeat about once per codebook size. A reward model learned from such demonstrations can
    rank by this alone, and PPO against it then holds poses longer.
    """
    up, low = np.asarray(upper), np.asarray(lower)
    if up.shape != low.shape or up.ndim != 2 or up.shape[1] < 2:
        raise ValueError(
            f"repeated_codes needs two (N, steps >= 2) arrays, got {up.shape}, {low.shape}"
        )
    return ((np.diff(up, axis=1) == 0).mean(1) + (np.diff(low, axis=1) == 0).mean(1)) / 2


def correlation(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """Pearson correlation of two (N,) tensors; None where either is constant or N < 3.
    Of the reward-model score with pi_BC's log-likelihood (near 1, maximising the score sharpens
    pi_BC) or with a trait of the dances (what the score rewards besides quality)."""
    if len(x) < 3 or float(x.std()) == 0 or float(y.std()) == 0:
        return None
    return float(torch.corrcoef(torch.stack([x.float(), y.float()]))[0, 1])
