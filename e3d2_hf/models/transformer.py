"""The transformer pieces shared by the policy GPT and the reward model.

Attention takes an explicit boolean mask (True = may attend) so each model
states its own causal structure, and an optional `transformers.Cache` so the
policy can sample with a KV cache.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.cache_utils import Cache
from transformers.modeling_layers import GradientCheckpointingLayer


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key/value cache slot `layer_idx`."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        attn_dropout: float,
        resid_dropout: float,
        layer_idx: int,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.layer_idx = layer_idx
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.attn_dropout = attn_dropout
        self.resid_dropout = nn.Dropout(resid_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, cache: Cache | None = None
    ) -> torch.Tensor:
        query, key, value = (
            self._heads(self.query(hidden)),
            self._heads(self.key(hidden)),
            self._heads(self.value(hidden)),
        )
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        batch, _, length, _ = out.shape
        out = out.transpose(1, 2).reshape(batch, length, -1)
        return self.resid_dropout(self.proj(out))


class TransformerBlock(GradientCheckpointingLayer):
    """Attention + 4x GELU MLP; pre-norm (GPT-2, Bailando) or post-norm (the reward model)."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        attn_dropout: float,
        resid_dropout: float,
        layer_idx: int,
        pre_norm: bool = True,
    ):
        super().__init__()
        self.pre_norm = pre_norm
        self.ln_attn = nn.LayerNorm(hidden_size)
        self.ln_mlp = nn.LayerNorm(hidden_size)
        self.attn = SelfAttention(hidden_size, num_heads, attn_dropout, resid_dropout, layer_idx)
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, 4 * hidden_size),
            nn.GELU(),
            nn.Linear(4 * hidden_size, hidden_size),
            nn.Dropout(resid_dropout),
        )

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, cache: Cache | None = None
    ) -> torch.Tensor:
        if self.pre_norm:
            hidden = hidden + self.attn(self.ln_attn(hidden), mask, cache)
            return hidden + self.mlp(self.ln_mlp(hidden))
        hidden = self.ln_attn(hidden + self.attn(hidden, mask, cache))
        return self.ln_mlp(hidden + self.mlp(hidden))
