"""Validation helpers shared by the model configs (used from their `validate_*` hooks)."""

from __future__ import annotations

from typing import Any


def check_positive_ints(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


def check_dropouts(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1), got {value!r}")


def check_heads(config: Any) -> None:
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(
            f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
            f"({config.num_attention_heads})"
        )


def check_same_interface(scored: Any, scorer: Any, what: str = "reward model") -> None:
    """Raise unless `scorer` reads the tokens and music features that `scored` writes.

    Both configs name a codebook size, a music feature width and a skeleton; a
    reward model trained on another VQ-VAE or feature layout would score noise.
    """
    mismatches = [
        f"{name} {getattr(scorer, name)} != {getattr(scored, name)}"
        for name in ("codebook_size", "music_dim", "skeleton")
        if hasattr(scorer, name)
        and hasattr(scored, name)
        and getattr(scorer, name) != getattr(scored, name)
    ]
    if mismatches:
        raise ValueError(
            f"the {what} ({getattr(scorer, 'name_or_path', '') or scorer.model_type}) does not match "
            f"{getattr(scored, 'name_or_path', '') or scored.model_type}: " + "; ".join(mismatches)
        )
