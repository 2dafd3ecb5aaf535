"""DancePolicy: Bailando's cross-conditional GPT as a transformers model with a KV cache.

Step t of an episode holds three tokens: the music row m_t, and the upper and
lower codes of the previous pose token (p_init at t = 0). A token at step t
sees every token of steps <= t (docs/bailando.md §4). Bailando concatenates the
three streams; we interleave them step by step, which with step-based masks
and stream-specific position embeddings computes the same function and lets
a cache grow by one step at a time. Logits for p_t are read at the upper and
lower token of step t.

The paper preset is Bailando's `CrossCondGPT2` (87,032,832 parameters both);
`convert_bailando` maps its checkpoints key for key:

- `blocks[:6]` are `gpt_base.blocks`, `blocks[6:]` are `gpt_head.blocks`;
  `final_norm` is `gpt_head.ln_f` (the base has no final norm).
- `position_embedding` is `gpt_base.pos_emb[0]`, one `block_size` slice per
  stream in Bailando's order [music | upper | lower].
- Blocks are pre-norm with LayerNorm eps 1e-5, exact-erf GELU and a 4x MLP;
  attention with a step-causal mask equals Bailando's explicit softmax with
  its lower-triangular mask tiled 3 x 3; both heads are bias-free.
- `sample_dance` is `sample`: argmax (its top-1), with the context cropped to
  the last `block_size - 1` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicLayer
from transformers.utils import ModelOutput

from ..inputs import check_trajectory, init_transformer_weights
from ..loading import StrictLoadingMixin
from ..transformer import TransformerBlock
from .configuration_policy import DancePolicyConfig

MUSIC, UPPER, LOWER = 0, 1, 2
"""Stream order within a step."""


@dataclass
class DancePolicyOutput(ModelOutput):
    """Per-step logits for both halves; `logits` is the joint (upper, lower) table for `generate()`."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    upper_logits: torch.Tensor | None = None
    lower_logits: torch.Tensor | None = None
    state_values: torch.Tensor | None = None
    cache: Cache | None = None
    hidden_states: torch.Tensor | None = None  # (batch, steps, stream, hidden), final-normed


@dataclass
class DanceRollout(ModelOutput):
    """One batch of episodes from `DancePolicy.rollout`, all (batch, steps)."""

    upper_ids: torch.Tensor | None = None
    lower_ids: torch.Tensor | None = None
    log_probs: torch.Tensor | None = None
    state_values: torch.Tensor | None = None
    random_actions: torch.Tensor | None = None


class DancePolicyPreTrainedModel(StrictLoadingMixin, PreTrainedModel):
    config_class = DancePolicyConfig
    config: DancePolicyConfig
    base_model_prefix = "policy"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerBlock"]

    def _init_weights(self, module: nn.Module) -> None:
        init_transformer_weights(module, self.config.initializer_range)


class DancePolicy(DancePolicyPreTrainedModel, GenerationMixin):
    """Music + (upper, lower) code streams -> next-token logits, with an optional PPO value head."""

    def __init__(self, config: DancePolicyConfig):
        super().__init__(config)
        hidden, size = config.hidden_size, config.codebook_size
        self.music_embedding = nn.Linear(config.music_dim, hidden)
        self.upper_embedding = nn.Embedding(size, hidden)
        self.lower_embedding = nn.Embedding(size, hidden)
        self.position_embedding = nn.Embedding(config.num_streams * config.block_size, hidden)
        self.position_embedding._zero_init = True  # Bailando starts positions at zero
        self.dropout = nn.Dropout(config.embd_dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                hidden,
                config.num_attention_heads,
                config.attn_dropout,
                config.resid_dropout,
                layer_idx=i,
            )
            for i in range(config.num_hidden_layers)
        )
        self.final_norm = nn.LayerNorm(hidden)
        self.upper_head = nn.Linear(hidden, size, bias=False)
        self.lower_head = nn.Linear(hidden, size, bias=False)
        if config.value_head:
            self.value_blocks = nn.ModuleList(
                TransformerBlock(
                    hidden,
                    config.num_attention_heads,
                    config.attn_dropout,
                    config.resid_dropout,
                    layer_idx=config.num_hidden_layers + i,
                )
                for i in range(config.value_num_layers)
            )
            self.value_norm = nn.LayerNorm(hidden)
            self.value_out = nn.Linear(hidden, 1)
        self.post_init()

    # --- forward -----------------------------------------------------------------------------
    def forward(
        self,
        music_features: torch.Tensor,
        upper_ids: torch.Tensor | None = None,
        lower_ids: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool = False,
        upper_labels: torch.Tensor | None = None,
        lower_labels: torch.Tensor | None = None,
        return_joint_logits: bool = False,
        check_inputs: bool = True,
        **kwargs,
    ) -> DancePolicyOutput:
        """Step t reads music_features[:, t] and the codes of the previous token (p_init at t=0).

        With labels (the codes of p_t, -100 to ignore) the loss is Bailando's
        CE(upper) + CE(lower), each averaged over tokens. `input_ids` may
        replace the two code streams as pair ids (upper * codebook_size + lower).
        """
        config = self.config
        if input_ids is not None:
            if upper_ids is not None or lower_ids is not None:
                raise ValueError("pass either input_ids or upper_ids/lower_ids, not both")
            upper_ids, lower_ids = self.split_pair_ids(input_ids)
        if upper_ids is None or lower_ids is None:
            raise ValueError("the policy needs upper_ids and lower_ids (or pair input_ids)")
        if use_cache and cache is None:
            cache = DynamicCache()
        if cache is not None and len(cache.layers) < config.num_cache_layers:
            # generate() sizes its cache by num_hidden_layers; the value blocks need slots too
            cache.layers.extend(
                DynamicLayer() for _ in range(config.num_cache_layers - len(cache.layers))
            )
        past_steps = cache.get_seq_length() // config.num_streams if cache is not None else 0
        if check_inputs:
            check_trajectory(
                music_features,
                upper_ids,
                lower_ids,
                music_dim=config.music_dim,
                codebook_size=config.codebook_size,
                max_steps=config.block_size,
                past_steps=past_steps,
            )
        batch, steps = upper_ids.shape
        hidden_size = config.hidden_size

        tokens = torch.stack(
            (
                self.music_embedding(music_features.to(self.dtype)),
                self.upper_embedding(upper_ids),
                self.lower_embedding(lower_ids),
            ),
            dim=2,
        )  # (batch, steps, stream, hidden)
        step_index = torch.arange(past_steps, past_steps + steps, device=tokens.device)
        stream_offset = torch.arange(config.num_streams, device=tokens.device) * config.block_size
        tokens = tokens + self.position_embedding(step_index[:, None] + stream_offset[None, :])
        hidden = self.dropout(tokens.reshape(batch, steps * config.num_streams, hidden_size))

        key_steps = torch.arange(past_steps + steps, device=tokens.device)
        query_steps = step_index.repeat_interleave(config.num_streams)
        mask = key_steps.repeat_interleave(config.num_streams)[None, :] <= query_steps[:, None]

        values = None
        for i, block in enumerate(self.blocks):
            hidden = block(hidden, mask, cache=cache)
            if config.value_head and i + 1 == config.value_shared_layers:
                value_hidden = hidden
                for value_block in self.value_blocks:
                    value_hidden = value_block(value_hidden, mask, cache=cache)
                per_token = (
                    self.value_out(self.value_norm(value_hidden)).float().view(batch, steps, -1)
                )
                values = per_token[:, :, UPPER] + per_token[:, :, LOWER]
        hidden = self.final_norm(hidden).view(batch, steps, config.num_streams, hidden_size)
        upper_logits = self.upper_head(hidden[:, :, UPPER])
        lower_logits = self.lower_head(hidden[:, :, LOWER])

        loss = None
        if upper_labels is not None or lower_labels is not None:
            if upper_labels is None or lower_labels is None:
                raise ValueError("pass both upper_labels and lower_labels, or neither")
            loss = F.cross_entropy(  # fp32 under bf16 autocast too
                upper_logits.float().flatten(0, 1), upper_labels.flatten()
            ) + F.cross_entropy(lower_logits.float().flatten(0, 1), lower_labels.flatten())
        logits = None
        if return_joint_logits:
            last_upper = F.log_softmax(upper_logits[:, -1:].float(), dim=-1)
            last_lower = F.log_softmax(lower_logits[:, -1:].float(), dim=-1)
            logits = (last_upper[..., :, None] + last_lower[..., None, :]).flatten(-2)
        return DancePolicyOutput(
            loss=loss,
            logits=logits,
            upper_logits=upper_logits,
            lower_logits=lower_logits,
            state_values=values,
            cache=cache if use_cache else None,
            hidden_states=hidden,
        )

    # --- generate() support: pair ids are upper * codebook_size + lower --------------------------
    def pair_ids(self, upper_ids: torch.Tensor, lower_ids: torch.Tensor) -> torch.Tensor:
        return upper_ids * self.config.codebook_size + lower_ids

    def split_pair_ids(self, pair_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return pair_ids // self.config.codebook_size, pair_ids % self.config.codebook_size

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.Tensor,
        cache: Cache | None = None,
        music_features: torch.Tensor | None = None,
        **kwargs,
    ) -> dict:
        if music_features is None:
            raise ValueError("generate() needs music_features=(batch, steps, music_dim)")
        past_steps = 0 if cache is None else cache.get_seq_length() // self.config.num_streams
        new = input_ids[:, past_steps:]
        return {
            "music_features": music_features[:, past_steps : past_steps + new.shape[1]],
            "input_ids": new,
            "cache": cache,
            "use_cache": True,
            "return_joint_logits": True,
        }

    # --- the explicit sampler for RL -------------------------------------------------------------
    @torch.no_grad()
    def rollout(
        self,
        music_features: torch.Tensor,
        init_upper: torch.Tensor,
        init_lower: torch.Tensor,
        *,
        greedy: bool = False,
        temperature: float = 1.0,
        epsilon: float = 0.0,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> DanceRollout:
        """Sample one episode per music row sequence: len(music) steps after (p_init).

        With probability `epsilon` per step the action is a uniformly random
        (upper, lower) pair (docs/method.md §2), else the policy's sample (or argmax
        when `greedy`). `log_probs` are the policy's log-probabilities of the
        taken actions at `temperature`; `state_values` come from the value head
        (named so because a `ModelOutput` is a dict, whose `values()` must stay a method).
        `use_cache=False` re-runs the whole context every step, as Bailando's
        sampler does (the benchmark's baseline).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        batch, steps = music_features.shape[:2]
        device = music_features.device
        size = self.config.codebook_size
        upper_in, lower_in = init_upper.view(batch, 1), init_lower.view(batch, 1)
        # checked once here: sampled ids are in range by construction, and a per-step check
        # would synchronise the device twice every step
        check_trajectory(
            music_features,
            upper_in.expand(batch, steps),
            lower_in.expand(batch, steps),
            music_dim=self.config.music_dim,
            codebook_size=size,
            max_steps=self.config.block_size,
        )
        cache = DynamicCache() if use_cache else None
        taken_upper, taken_lower, log_probs, values, random_actions = [], [], [], [], []
        for t in range(steps):
            if use_cache:
                out = self(
                    music_features[:, t : t + 1],
                    upper_in[:, -1:],
                    lower_in[:, -1:],
                    cache=cache,
                    use_cache=True,
                    check_inputs=False,
                )
            else:
                out = self(music_features[:, : t + 1], upper_in, lower_in, check_inputs=False)
            upper, lower, upper_logp, lower_logp = sample_codes(
                out.upper_logits[:, -1], out.lower_logits[:, -1], temperature, greedy, generator
            )
            explore = torch.zeros(batch, dtype=torch.bool, device=device)
            if epsilon > 0:
                explore = torch.rand(batch, generator=generator, device=device) < epsilon
                upper = torch.where(
                    explore,
                    torch.randint(size, (batch,), generator=generator, device=device),
                    upper,
                )
                lower = torch.where(
                    explore,
                    torch.randint(size, (batch,), generator=generator, device=device),
                    lower,
                )
            taken_upper.append(upper)
            taken_lower.append(lower)
            log_probs.append(
                upper_logp.gather(1, upper[:, None]).squeeze(1)
                + lower_logp.gather(1, lower[:, None]).squeeze(1)
            )
            random_actions.append(explore)
            if out.state_values is not None:
                values.append(out.state_values[:, -1].float())
            upper_in = torch.cat([upper_in, upper[:, None]], dim=1)
            lower_in = torch.cat([lower_in, lower[:, None]], dim=1)
        return DanceRollout(
            upper_ids=torch.stack(taken_upper, 1),
            lower_ids=torch.stack(taken_lower, 1),
            log_probs=torch.stack(log_probs, 1),
            state_values=torch.stack(values, 1) if values else None,
            random_actions=torch.stack(random_actions, 1),
        )

    @property
    def sample_context(self) -> int:
        """Steps of context `sample_dance` keeps once a song is longer: Bailando crops to
        `block_size - 1` (its `sample` sets `block_size = get_block_size() - 1`)."""
        return max(1, self.config.block_size - 1)

    @torch.no_grad()
    def sample_dance(
        self,
        music_features: torch.Tensor,
        init_upper: torch.Tensor,
        init_lower: torch.Tensor,
        *,
        greedy: bool = False,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes for music of any length, (batch, steps) each, as Bailando's test-time sampler.

        As `CrossCondGPT2.sample`, the context is the last `sample_context`
        (= block_size - 1 = 28) steps: the first 28 steps are one cached
        rollout, and every later step re-reads only the last 28 steps (music
        and previous codes), a sliding window over the song.
        """
        window = self.sample_context
        first = self.rollout(
            music_features[:, :window], init_upper, init_lower,
            greedy=greedy, temperature=temperature, generator=generator,
        )  # fmt: skip
        batch = music_features.shape[0]
        uppers = torch.cat([init_upper.view(batch, 1), first.upper_ids], 1)
        lowers = torch.cat([init_lower.view(batch, 1), first.lower_ids], 1)
        for t in range(window, music_features.shape[1]):
            # step t reads music t and the codes of step t - 1 (index t in uppers, after p_init)
            out = self(
                music_features[:, t - window + 1 : t + 1],
                uppers[:, t - window + 1 : t + 1],
                lowers[:, t - window + 1 : t + 1],
                check_inputs=False,
            )
            upper, lower, _, _ = sample_codes(
                out.upper_logits[:, -1], out.lower_logits[:, -1], temperature, greedy, generator
            )
            uppers = torch.cat([uppers, upper[:, None]], 1)
            lowers = torch.cat([lowers, lower[:, None]], 1)
        return uppers[:, 1:], lowers[:, 1:]

    def evaluate_actions(
        self,
        music_features: torch.Tensor,
        init_upper: torch.Tensor,
        init_lower: torch.Tensor,
        upper_ids: torch.Tensor,
        lower_ids: torch.Tensor,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Teacher-forced log-probs, entropies and values of a batch of episodes, (batch, steps) each.

        Equal (to float round-off) to what `rollout` returned, so PPO can
        recompute log-probs with gradients.
        """
        upper_in, lower_in = shift_actions(init_upper, init_lower, upper_ids, lower_ids)
        out = self(music_features, upper_in, lower_in)
        log_probs, entropy = action_log_probs(
            out.upper_logits, out.lower_logits, upper_ids, lower_ids, temperature
        )
        return log_probs, entropy, out.state_values


def sample_codes(
    upper_logits: torch.Tensor,
    lower_logits: torch.Tensor,
    temperature: float,
    greedy: bool,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step's (upper, lower) codes, argmax or sampled at `temperature`, with the log-probs."""
    upper_logp = F.log_softmax(upper_logits.float() / temperature, dim=-1)
    lower_logp = F.log_softmax(lower_logits.float() / temperature, dim=-1)
    if greedy:
        return upper_logp.argmax(-1), lower_logp.argmax(-1), upper_logp, lower_logp
    upper = torch.multinomial(upper_logp.exp(), 1, generator=generator).squeeze(1)
    lower = torch.multinomial(lower_logp.exp(), 1, generator=generator).squeeze(1)
    return upper, lower, upper_logp, lower_logp


def shift_actions(
    init_upper: torch.Tensor,
    init_lower: torch.Tensor,
    upper_ids: torch.Tensor,
    lower_ids: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pose inputs that produced `upper_ids`/`lower_ids`: p_init, then the actions shifted by one."""
    upper_in = torch.cat([init_upper.view(-1, 1), upper_ids[:, :-1]], dim=1)
    lower_in = torch.cat([init_lower.view(-1, 1), lower_ids[:, :-1]], dim=1)
    return upper_in, lower_in


def action_log_probs(
    upper_logits: torch.Tensor,
    lower_logits: torch.Tensor,
    upper_ids: torch.Tensor,
    lower_ids: torch.Tensor,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability and entropy of (upper, lower) actions under factorised heads, (batch, steps)."""
    upper_logp = F.log_softmax(upper_logits.float() / temperature, dim=-1)
    lower_logp = F.log_softmax(lower_logits.float() / temperature, dim=-1)
    log_probs = upper_logp.gather(-1, upper_ids[..., None]).squeeze(-1) + lower_logp.gather(
        -1, lower_ids[..., None]
    ).squeeze(-1)
    entropy = -(upper_logp.exp() * upper_logp).sum(-1) - (lower_logp.exp() * lower_logp).sum(-1)
    return log_probs, entropy
