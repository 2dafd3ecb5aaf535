"""DanceRewardModel R_theta (docs/method.md §3): a Decision-Transformer-style scorer of dance snippets.

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
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from ..inputs import check_trajectory, init_transformer_weights
from ..loading import StrictLoadingMixin
from ..policy.modeling_policy import LOWER, action_log_probs
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
    """Scores (music, pose-token) trajectories; higher is a better dance.

    With `config.trunk == "policy"` the scorer is pi_BC's GPT (as reward models in RLHF start
    from the SFT policy): r_t = w . h_t + a * log pi(p_t | m_<=t, p_<t), where h_t is the
    trunk's state before the action and the log-likelihood comes from its own heads;
    `init_from_policy` copies pi_BC in with w = 0 and a = 1, so training starts from pi_BC's
    log-likelihood. The paper's Decision-Transformer scorer is the default.
    """

    def __init__(self, config: DanceRewardConfig):
        super().__init__(config)
        if config.trunk == "policy":
            from ..policy.configuration_policy import DancePolicyConfig
            from ..policy.modeling_policy import DancePolicy

            trunk = DancePolicyConfig(**{**config.policy_config, "value_head": False})
            self.policy_trunk = DancePolicy(trunk)
            self.reward_head = nn.Linear(trunk.hidden_size, 1)
            self.likelihood_weight = nn.Parameter(torch.ones(()))
            self.post_init()
            return
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
        if config.trunk == "policy":
            return self._policy_forward(music_features, upper_ids, lower_ids)
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

    def _policy_forward(
        self, music_features: torch.Tensor, upper_ids: torch.Tensor, lower_ids: torch.Tensor
    ) -> DanceRewardOutput:
        # the action before step 0 is not part of a trajectory: p_0 stands in for it
        upper_in = torch.cat([upper_ids[:, :1], upper_ids[:, :-1]], 1)
        lower_in = torch.cat([lower_ids[:, :1], lower_ids[:, :-1]], 1)
        out = self.policy_trunk(music_features, upper_in, lower_in, check_inputs=False)
        log_likelihood, _ = action_log_probs(
            out.upper_logits, out.lower_logits, upper_ids, lower_ids
        )
        state = out.hidden_states[:, :, LOWER].float()
        head = self.reward_head
        with torch.autocast(device_type=state.device.type, enabled=False):
            rewards = F.linear(state, head.weight.float(), head.bias.float()).squeeze(-1)
            rewards = rewards + self.likelihood_weight.float() * log_likelihood
        return DanceRewardOutput(logits=rewards.sum(-1, keepdim=True), rewards=rewards)

    @torch.no_grad()
    def init_from_policy(self, policy: nn.Module) -> None:
        """Copy pi_BC's weights into the trunk (its value head, if any, stays out); the scalar
        head starts at 0 and the log-likelihood weight at 1, so u starts as pi_BC's
        log-likelihood of the dance."""
        if self.config.trunk != "policy":
            raise ValueError("init_from_policy needs a reward model with trunk='policy'")
        weights = {k: v for k, v in policy.state_dict().items() if not k.startswith("value_")}
        self.policy_trunk.load_state_dict(weights, strict=True)
        self.reward_head.weight.zero_()
        self.reward_head.bias.zero_()
        self.likelihood_weight.fill_(1.0)

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


def policy_trunk_config(policy_config: PreTrainedConfig) -> dict:
    """The fields of a policy's config a reward model with trunk='policy' stores (no value head)."""
    from dataclasses import fields

    own = {f.name for f in fields(type(policy_config))} - {f.name for f in fields(PreTrainedConfig)}
    values = {name: getattr(policy_config, name) for name in sorted(own)}
    values["value_head"] = False
    values.pop("vqvae_name_or_path", None)
    return values


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
