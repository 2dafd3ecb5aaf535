"""DanceRewardModel R_theta (method.md §3): a Decision-Transformer-style scorer of dance snippets.

The trajectory (m_0, p_0, ..., m_{T-1}, p_{T-1}) is one interleaved causal
sequence. Music rows and pose tokens have their own linear embeddings, a
learned timestep embedding is shared by both modalities, and a post-norm
transformer reads it. The per-step reward r_t is a linear head on p_t's
output, which has seen the state (m_0..m_t, p_0..p_{t-1}) and the action p_t;
the trajectory score is u = sum_t r_t, exposed as `logits` (num_labels = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ..inputs import check_trajectory, init_transformer_weights
from ..loading import StrictLoadingMixin
from ..transformer import TransformerBlock
from .configuration_reward import DanceRewardConfig


@dataclass
class DanceRewardOutput(ModelOutput):
    """`logits` (batch, 1) is the summed score u; `rewards` (batch, steps) the per-step r_t."""

    logits: torch.Tensor | None = None
    rewards: torch.Tensor | None = None


class DanceRewardPreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config_class = DanceRewardConfig
    config: DanceRewardConfig
    base_model_prefix = "reward"
    main_input_name = "upper_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        init_transformer_weights(module, self.config.initializer_range)


class DanceRewardModel(DanceRewardPreTrainedModel):
    """Scores (music, pose-token) trajectories; higher is a better dance."""

    def __init__(self, config: DanceRewardConfig):
        super().__init__(config)
        hidden = config.hidden_size
        self.music_embedding = nn.Linear(config.music_dim, hidden)
        self.upper_embedding = nn.Embedding(config.codebook_size, hidden)
        self.lower_embedding = nn.Embedding(config.codebook_size, hidden)
        self.timestep_embedding = nn.Embedding(config.max_steps, hidden)
        self.embedding_norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(config.embd_dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                hidden,
                config.num_attention_heads,
                config.attn_dropout,
                config.resid_dropout,
                layer_idx=i,
                pre_norm=False,
            )
            for i in range(config.num_hidden_layers)
        )
        self.reward_head = nn.Linear(hidden, 1)
        self.post_init()

    def forward(
        self,
        music_features: torch.Tensor,
        upper_ids: torch.Tensor,
        lower_ids: torch.Tensor,
        **kwargs,
    ) -> DanceRewardOutput:
        config = self.config
        check_trajectory(
            music_features,
            upper_ids,
            lower_ids,
            music_dim=config.music_dim,
            codebook_size=config.codebook_size,
            max_steps=config.max_steps,
        )
        batch, steps = upper_ids.shape
        timestep = self.timestep_embedding(torch.arange(steps, device=upper_ids.device))
        music = self.music_embedding(music_features.to(self.dtype)) + timestep
        pose = self.upper_embedding(upper_ids) + self.lower_embedding(lower_ids) + timestep
        sequence = torch.stack((music, pose), dim=2).reshape(batch, 2 * steps, -1)
        hidden = self.dropout(self.embedding_norm(sequence))
        positions = torch.arange(2 * steps, device=hidden.device)
        mask = positions[None, :] <= positions[:, None]
        for block in self.blocks:
            hidden = block(hidden, mask)
        pose_hidden = hidden.view(batch, steps, 2, -1)[:, :, 1]
        with torch.autocast(device_type=pose_hidden.device.type, enabled=False):
            # r_t and u = sum_t r_t in fp32 even under bf16 autocast: u is a sum of 29 terms
            head = self.reward_head
            rewards = F.linear(pose_hidden.float(), head.weight.float(), head.bias.float())
        rewards = rewards.squeeze(-1)
        return DanceRewardOutput(logits=rewards.sum(-1, keepdim=True), rewards=rewards)

    @torch.no_grad()
    def score(
        self,
        music_features: torch.Tensor,
        upper_ids: torch.Tensor,
        lower_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The total reward u of each trajectory, (batch,), in eval mode.

        The dance is `upper_ids` and `lower_ids` (batch, steps), or one `tokens`
        argument: (batch, steps, 2) code pairs or the policy's pair ids
        `upper * codebook_size + lower` (batch, steps).
        """
        if lower_ids is None:
            upper_ids, lower_ids = split_tokens(upper_ids, self.config.codebook_size)
        was_training = self.training
        self.eval()
        try:
            return self(music_features, upper_ids, lower_ids).logits.squeeze(-1)
        finally:
            self.train(was_training)


def split_tokens(tokens: torch.Tensor, codebook_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(upper, lower) ids from (batch, steps, 2) code pairs or (batch, steps) pair ids."""
    if tokens.ndim == 3 and tokens.shape[-1] == 2:
        return tokens[..., 0], tokens[..., 1]
    if tokens.ndim == 2:
        if tokens.min() < 0 or tokens.max() >= codebook_size**2:
            raise ValueError(
                f"pair ids must lie in [0, {codebook_size**2}), got {tokens.min()}..{tokens.max()}"
            )
        return tokens // codebook_size, tokens % codebook_size
    raise ValueError(
        f"tokens must be (batch, steps, 2) code pairs or (batch, steps) pair ids, got {tuple(tokens.shape)}"
    )
