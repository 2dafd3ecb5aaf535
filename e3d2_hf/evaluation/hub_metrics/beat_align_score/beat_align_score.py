"""Beat align score between music beats and motion beats (Bailando), as an `evaluate` module."""

import datasets
import evaluate
import numpy as np

from e3d2_hf.evaluation.beat_align import beat_align_score

_DESCRIPTION = """Mean over music beats of exp(-d^2 / 18), d = frames to the nearest motion beat (local minimum of
the sigma-5 smoothed mean joint speed), averaged over dances. 60 FPS."""
_KWARGS = """
Args:
    predictions: SMPL-24 dances as flattened joint positions (T * 72 values each, 60 FPS).
    references: music beat frames of each dance (60 FPS).
Returns:
    bas: float
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class BeatAlignScore(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Siyao et al., Bailando, CVPR 2022.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(self, predictions, references):
        scores = [
            beat_align_score(np.asarray(beats), np.asarray(joints).reshape(-1, 24, 3))
            for joints, beats in zip(predictions, references, strict=True)
        ]
        return {"bas": float(np.mean(scores))}
