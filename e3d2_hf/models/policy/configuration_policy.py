"""Configuration of the dance policy: Bailando's cross-conditional GPT (docs/bailando.md §4)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ...data.layout import WINDOW_TOKENS, MusicLayout
from ..config_checks import check_dropouts, check_heads, check_positive_ints

VQVAE_SUBFOLDER = "vqvae"
"""A policy folder or Hub repo keeps the VQ-VAE that decodes its codes in this subfolder."""
VQVAE_FILES = ("config.json", "model.safetensors", "README.md")
"""What of a VQ-VAE folder travels with a policy: weights, config and card."""


@strict
class DancePolicyConfig(PreTrainedConfig):
    """Sizes of the policy GPT and of its optional PPO value head.

    The defaults are the paper's: 12 blocks (Bailando's 6 "base" + 6 "head"),
    12 heads, width 768, block size 29, dropout 0.1, 512 codes per half, and a
    value head that reads block 6's output through 3 blocks of its own.
    """

    model_type = "e3d2_dance_policy"

    codebook_size: int = 512
    music_dim: int = MusicLayout.DIM
    hidden_size: int = 768
    num_attention_heads: int = 12
    num_hidden_layers: int = 12
    block_size: int = WINDOW_TOKENS - 1
    embd_dropout: float = 0.1
    resid_dropout: float = 0.1
    attn_dropout: float = 0.1
    initializer_range: float = 0.02
    value_head: bool = False
    value_shared_layers: int = 6
    value_num_layers: int = 3
    skeleton: str = "smpl24"
    vqvae_name_or_path: str | None = None
    """The VQ-VAE that decodes the codes: `VQVAE_SUBFOLDER` when the policy's folder or repo
    carries it, else a Hub repo id. Never a path that depends on the working directory."""

    @property
    def num_streams(self) -> int:
        """Music, upper codes, lower codes: three tokens per step."""
        return 3

    @property
    def joint_vocab_size(self) -> int:
        """Size of the (upper, lower) pair vocabulary `generate()` works in."""
        return self.codebook_size * self.codebook_size

    @property
    def num_cache_layers(self) -> int:
        return self.num_hidden_layers + (self.value_num_layers if self.value_head else 0)

    def validate_sizes(self) -> None:
        check_positive_ints(
            self,
            "codebook_size",
            "music_dim",
            "hidden_size",
            "num_attention_heads",
            "num_hidden_layers",
            "block_size",
        )
        check_heads(self)
        check_dropouts(self, "embd_dropout", "resid_dropout", "attn_dropout")
        if not 1 <= self.value_shared_layers <= self.num_hidden_layers:
            raise ValueError(
                f"value_shared_layers ({self.value_shared_layers}) must be between 1 and "
                f"num_hidden_layers ({self.num_hidden_layers})"
            )
        if self.value_num_layers < 1:
            raise ValueError(f"value_num_layers must be positive, got {self.value_num_layers}")
