"""Policy diagnostics of the paper: next-token accuracy of the two code streams."""

from __future__ import annotations

import numpy as np


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
