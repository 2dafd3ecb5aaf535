"""Configuration of the choreographic memory: Bailando's upper/lower VQ-VAEs (docs/bailando.md §3)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ...data.layout import FRAMES_PER_TOKEN
from ...data.skeleton import SKELETONS, Skeleton, get_skeleton
from ..config_checks import check_positive_ints

ROOT_HEIGHTS = ("velocity", "absolute")
MAX_OUTPUT_SMOOTHING = 8.0
"""frames: one code's length; more would blur whole codes into each other."""


@strict
class DanceVQVAEConfig(PreTrainedConfig):
    """Defaults are the paper's (Bailando `sep_vqvae.yaml` / `sep_vqvae_root.yaml`).

    Input channels per half follow the skeleton's upper/lower split
    (45/27 for SMPL-24). `down_t` stride-2 convolutions give the temporal
    downsampling `2**down_t`, which must equal the token rate of the data
    layout (8 frames per code).
    """

    model_type = "e3d2_dance_vqvae"

    skeleton: str = "smpl24"
    codebook_size: int = 512
    code_dim: int = 512
    width: int = 512
    down_t: int = 3
    depth: int = 3
    dilation_growth_rate: int = 3
    commitment_weight: float = 0.02
    velocity_weight: float = 1.0
    acceleration_weight: float = 1.0
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0
    root_velocity_weight: float = 1.0
    root_velocity_diff_weight: float = 1.0
    root_height: str = "velocity"
    """`velocity`: the root decoder's vertical channel is the root's vertical velocity,
    integrated from 0 as Bailando does (its drift sinks and lifts the body). `absolute`: that
    channel is the root's height in the data's frame, decoded directly, so it cannot drift."""
    root_path_weight: float = 0.0
    """Weight of an L1 loss on the root's path over a training window: the decoded velocities
    summed from the window's start against the data's. A velocity loss alone leaves a small
    bias per frame that integrates into metres of drift over a dance; 0 (Bailando) adds none."""
    output_smoothing: float = 0.0
    """Sigma in frames of a fixed zero-phase Gaussian on every decoder's output, trained
    through: the decoded motion is smooth across code boundaries. 0 (Bailando) leaves none."""

    @property
    def skeleton_def(self) -> Skeleton:
        return get_skeleton(self.skeleton)

    @property
    def upper_channels(self) -> int:
        return self.skeleton_def.upper_channels

    @property
    def lower_channels(self) -> int:
        return self.skeleton_def.lower_channels

    @property
    def frames_per_token(self) -> int:
        return 2**self.down_t

    def validate_sizes(self) -> None:
        if self.skeleton not in SKELETONS:
            raise ValueError(f"unknown skeleton {self.skeleton!r}; known: {sorted(SKELETONS)}")
        check_positive_ints(
            self, "codebook_size", "code_dim", "width", "depth", "dilation_growth_rate"
        )
        if 2**self.down_t != FRAMES_PER_TOKEN:
            raise ValueError(
                f"down_t={self.down_t} downsamples by {2**self.down_t}, but the token layout has "
                f"{FRAMES_PER_TOKEN} frames per token (down_t must be 3)"
            )
        if self.root_height not in ROOT_HEIGHTS:
            raise ValueError(f"root_height must be one of {ROOT_HEIGHTS}, got {self.root_height!r}")
        if not 0.0 <= self.output_smoothing <= MAX_OUTPUT_SMOOTHING:
            raise ValueError(
                f"output_smoothing must be in [0, {MAX_OUTPUT_SMOOTHING:g}] frames, "
                f"got {self.output_smoothing}"
            )
        if self.root_path_weight < 0:
            raise ValueError(f"root_path_weight must be >= 0, got {self.root_path_weight}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
