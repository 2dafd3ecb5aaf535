"""FID between generated and ground-truth motion features (Bailando protocol), as an `evaluate` module."""

import datasets
import evaluate
import numpy as np

from e3d2_hf.evaluation.distribution import frechet_distance, normalise

_DESCRIPTION = """Fréchet distance of generated motion feature vectors (kinetic 72-d for FID_k, geometric 32-d for
FID_g) against a ground-truth feature set, both normalised by the ground-truth mean and std."""
_KWARGS = """
Args:
    predictions: feature vectors of the generated dances (N x D).
    reference_features: feature vectors of the ground-truth set (M x D).
    method: "sqrtm" (reference, default) or "svd" (exact).
Returns:
    fid: float
"""
_CITATION = "Siyao et al., Bailando, CVPR 2022; Li et al., AIST++, ICCV 2021."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class MotionFid(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float64"))}
            ),
        )

    def _compute(self, predictions, reference_features, method="sqrtm"):
        reference = np.asarray(reference_features, dtype=np.float64)
        generated = normalise(np.asarray(predictions, dtype=np.float64), reference)
        return {"fid": frechet_distance(generated, normalise(reference, reference), method=method)}
