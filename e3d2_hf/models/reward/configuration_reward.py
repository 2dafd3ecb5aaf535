"""Configuration of the reward model R_theta (docs/method.md §3)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ...data.layout import WINDOW_TOKENS, MusicLayout
from ..config_checks import check_dropouts, check_heads, check_positive_ints

TRUNKS = ("decision-transformer", "policy")


@strict
class DanceRewardConfig(PreTrainedConfig):
    """Defaults are the paper's: hidden 768, 12 heads, 1 post-norm block, dropouts 0.1, 29 steps."""

    model_type = "e3d2_dance_reward"

    codebook_size: int = 512
    music_dim: int = MusicLayout.DIM
    hidden_size: int = 768
    num_attention_heads: int = 12
    num_hidden_layers: int = 1
    max_steps: int = WINDOW_TOKENS - 1
    embd_dropout: float = 0.1
    resid_dropout: float = 0.1
    attn_dropout: float = 0.1
    initializer_range: float = 0.02
    skeleton: str = "smpl24"
    num_labels: int = 1
    trunk: str = "decision-transformer"
    """"decision-transformer": the paper's scorer (the sizes above); "policy": pi_BC's GPT
    (its sizes in `policy_config`), with a scalar head and its log-likelihood of each action."""
    policy_config: dict | None = None

    def validate_sizes(self) -> None:
        check_positive_ints(
            self,
            "codebook_size",
            "music_dim",
            "hidden_size",
            "num_attention_heads",
            "num_hidden_layers",
            "max_steps",
        )
        if self.trunk not in TRUNKS:
            raise ValueError(f"trunk must be one of {TRUNKS}, got {self.trunk!r}")
        if self.trunk == "policy" and not self.policy_config:
            raise ValueError("a reward model with trunk='policy' needs the policy's policy_config")
        check_heads(self)
        check_dropouts(self, "embd_dropout", "resid_dropout", "attn_dropout")
        if self.num_labels != 1:
            raise ValueError(f"a reward model has num_labels = 1, got {self.num_labels}")
