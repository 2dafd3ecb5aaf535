"""Motion quality metrics with the Bailando protocol: FID_k, FID_g, DIV_k, DIV_g, BAS."""

from .beat_align import beat_align_score, motion_beats
from .diagnostics import token_accuracy
from .distribution import average_pairwise_distance, frechet_distance, normalise
from .geometric import geometric_features
from .kinetic import kinetic_features
from .protocol import (
    Dance,
    FeatureSet,
    dance_features,
    evaluate_dances,
    ground_truth_features,
)

__all__ = [
    "Dance",
    "FeatureSet",
    "average_pairwise_distance",
    "beat_align_score",
    "dance_features",
    "evaluate_dances",
    "frechet_distance",
    "geometric_features",
    "ground_truth_features",
    "kinetic_features",
    "motion_beats",
    "normalise",
    "token_accuracy",
]
