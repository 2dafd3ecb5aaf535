"""DIV: mean pairwise distance of GT-normalised motion features (Bailando protocol), as an `evaluate` module."""

import datasets
import evaluate
import numpy as np

from e3d2_hf.evaluation.distribution import average_pairwise_distance, normalise

_DESCRIPTION = """Mean Euclidean distance over all pairs of generated motion feature vectors after normalising by
the ground-truth mean and std (DIV_k with kinetic features, DIV_g with geometric features)."""
_KWARGS = """
Args:
    predictions: feature vectors of the generated dances (N x D).
    reference_features: ground-truth feature vectors used for normalisation (M x D).
Returns:
    diversity: float
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class MotionDiversity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Siyao et al., Bailando, CVPR 2022.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float64"))}
            ),
        )

    def _compute(self, predictions, reference_features):
        reference = np.asarray(reference_features, dtype=np.float64)
        return {
            "diversity": average_pairwise_distance(
                normalise(np.asarray(predictions, dtype=np.float64), reference)
            )
        }
