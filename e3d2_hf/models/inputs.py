"""Input checks and weight init shared by the models that read (music, upper, lower) trajectories."""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init


def check_code_pair(upper_ids: torch.Tensor, lower_ids: torch.Tensor, codebook_size: int) -> None:
    """Both code streams are (batch, steps) and every id lies in the codebook."""
    if upper_ids.shape != lower_ids.shape or upper_ids.ndim != 2:
        raise ValueError(
            f"upper_ids and lower_ids must both be (batch, steps), got {tuple(upper_ids.shape)} "
            f"and {tuple(lower_ids.shape)}"
        )
    for name, ids in (("upper_ids", upper_ids), ("lower_ids", lower_ids)):
        if ids.numel() and (ids.min() < 0 or ids.max() >= codebook_size):
            raise ValueError(
                f"{name} must lie in [0, {codebook_size}), got [{int(ids.min())}, {int(ids.max())}]"
            )


def check_trajectory(
    music: torch.Tensor,
    upper_ids: torch.Tensor,
    lower_ids: torch.Tensor,
    *,
    music_dim: int,
    codebook_size: int,
    max_steps: int,
    past_steps: int = 0,
) -> None:
    """One music row per code pair, the right feature width, ids in range, no more than `max_steps`."""
    if music.ndim != 3 or music.shape[-1] != music_dim:
        raise ValueError(
            f"music_features must be (batch, steps, {music_dim}), got {tuple(music.shape)}"
        )
    if music.shape[:2] != upper_ids.shape:
        raise ValueError(
            f"music_features is {tuple(music.shape[:2])} (batch, steps) but the codes are "
            f"{tuple(upper_ids.shape)}: one music row per code pair"
        )
    if past_steps + upper_ids.shape[1] > max_steps:
        raise ValueError(
            f"{past_steps + upper_ids.shape[1]} steps exceed max_steps {max_steps} (the block size); "
            "use a sliding window for longer dances"
        )
    check_code_pair(upper_ids, lower_ids, codebook_size)


@torch.no_grad()
def init_transformer_weights(module: nn.Module, std: float) -> None:
    """GPT-2 init: N(0, std) weights, zero biases, unit LayerNorms; embeddings flagged
    `_zero_init` (Bailando's position table) start at zero."""
    if isinstance(module, nn.Linear):
        init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        if getattr(module, "_zero_init", False):
            init.zeros_(module.weight)
        else:
            init.normal_(module.weight, mean=0.0, std=std)
    elif isinstance(module, nn.LayerNorm):
        init.ones_(module.weight)
        init.zeros_(module.bias)
