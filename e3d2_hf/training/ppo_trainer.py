"""PPO fine-tuning of the dance policy against a reward (docs/method.md §4), on `transformers.Trainer`.

One iteration, in order:
  1. rollouts of pi_RL on music segments with the cached sampler (log-probs, values);
  2. log-probs of the same actions under the frozen pi_BC;
  3. the reward: one score per episode at the last step (sparse u) or per-step rewards;
  4. per-step rewards r_t = -kl_coef * KL_t (+ the score);
  5. advantages (GAE(gamma, lam), or the paper's return minus value) and returns; or, with
     `num_generations` K rollouts per music segment, group-relative advantages without a critic
     (GRPO's normalised scores, RLOO's leave-one-out baseline);
  6. `num_ppo_epochs` passes of minibatch updates: clipped policy loss + vf_coef x clipped value
     loss - ent_coef x entropy, gradient clipping.
`Trainer` supplies the accelerator, optimizer and scheduler, logging callbacks,
checkpoints (`global_step` counts iterations) and `push_to_hub`. Rollouts are
seeded by (seed, iteration, rank), so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import TrainerState
from transformers.trainer_callback import ExportableState
from trl.trainer.utils import disable_dropout_in_model

from ..cards import save_card_info
from ..evaluation.diagnostics import correlation, repeated_codes
from ..evaluation.metrics import EVAL_PREFIX
from ..models import DancePolicy
from ..models.config_checks import check_same_interface
from ..models.folders import bundle_vqvae, load_model
from ..models.policy.modeling_policy import action_log_probs, shift_actions
from .checkpoints import TrainingStopped
from .private_api import load_model_from_checkpoint, load_optimizer_and_rng, save_checkpoint
from .rewards import RewardFunction, score_episodes, unique_name
from .trainer import E3D2Trainer, E3D2TrainingArguments

logger = logging.getLogger(__name__)

ADVANTAGE_ESTIMATORS = ("gae", "return_minus_value", "grpo", "rloo")
GROUP_ESTIMATORS = ("grpo", "rloo")
MATCH_STEPS = 10
"""Bisection steps of the KL-matched temperature: 2^-10 of the log-temperature range."""
MATCH_WIDEST = 20.0
"""The matched temperature lies within base / 20 and base x 20."""
"""Estimators whose baseline is the group of K rollouts of one segment: no value head."""


@dataclass
class PPOConfig(E3D2TrainingArguments):
    """PPO settings with TRL's field names and the paper's defaults (docs/method.md §4).

    An iteration rolls out `episodes_per_iteration` episodes (default: one per
    training music segment) and updates on them in minibatches of
    `per_device_train_batch_size`; `num_train_epochs` iterations, or
    `total_episodes` / `episodes_per_iteration` when that is set. Logging,
    evaluation and checkpoint intervals count iterations.
    """

    num_ppo_epochs: int = field(default=1, metadata={"help": "passes over each rollout batch"})
    kl_coef: float = field(default=5e-3, metadata={"help": "per-step KL penalty against pi_BC"})
    kl_estimator: str = field(default="k1", metadata={"help": "k1 (log ratio) or k3"})
    cliprange: float = field(default=0.2, metadata={"help": "PPO ratio clip"})
    cliprange_value: float = field(default=0.2, metadata={"help": "value clip (0: off)"})
    vf_coef: float = field(default=0.1, metadata={"help": "value-loss weight"})
    ent_coef: float = field(default=0.0, metadata={"help": "entropy bonus weight"})
    gamma: float = field(default=1.0, metadata={"help": "discount"})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda"})
    advantage_estimator: str = field(
        default="gae",
        metadata={
            "help": "gae; return_minus_value (the paper's eq. 14); grpo or rloo: group-relative, "
            "no critic (needs num_generations >= 2)"
        },
    )
    num_generations: int = field(
        default=1,
        metadata={
            "help": "rollouts per music segment (K): an iteration's episodes are "
            "episodes_per_iteration / K segments, K times each, in one batch"
        },
    )
    reward_weights: list[float] | None = field(
        default=None,
        metadata={"help": "one weight per reward_funcs entry (default: 1 each)"},
    )
    whiten_advantages: bool = field(default=True, metadata={"help": "normalise advantages"})
    whiten_rewards: bool = field(
        default=False, metadata={"help": "divide the scores by their batch std (TRL's)"}
    )
    center_scores: bool = field(
        default=False,
        metadata={
            "help": "subtract the batch's mean score first: the value head starts near 0 and, "
            "clipped to cliprange_value per update, cannot reach an offset such as u ~ -150, "
            "which GAE then turns into advantages of the step, not of the dance"
        },
    )
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    total_episodes: int | None = field(default=None, metadata={"help": "episodes in all"})
    episodes_per_iteration: int | None = field(
        default=None, metadata={"help": "episodes per iteration (default: every training segment)"}
    )
    rollout_batch_size: int = field(default=256, metadata={"help": "episodes per sampler call"})
    kl_stop: float | None = field(
        default=None,
        metadata={"help": "stop when the mean episode KL to pi_BC exceeds this (nats; none: off)"},
    )
    eval_episodes: int = field(default=256, metadata={"help": "held-out episodes per evaluation"})
    # the paper's optimiser (AdamW lr 3e-4, clip 0.5) and a 512-episode minibatch
    learning_rate: float = field(default=3e-4, metadata={"help": "AdamW learning rate"})
    max_grad_norm: float = field(default=0.5, metadata={"help": "gradient clipping"})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1"})
    per_device_train_batch_size: int = field(default=512, metadata={"help": "PPO minibatch"})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "lr schedule"})
    logging_steps: float = field(default=1, metadata={"help": "log every N iterations"})
    save_steps: float = field(default=10, metadata={"help": "checkpoint every N iterations"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.advantage_estimator not in ADVANTAGE_ESTIMATORS:
            raise ValueError(
                f"advantage_estimator must be one of {ADVANTAGE_ESTIMATORS}, got {self.advantage_estimator!r}"
            )
        if self.advantage_estimator in GROUP_ESTIMATORS and self.num_generations < 2:
            raise ValueError(
                f"advantage_estimator {self.advantage_estimator} compares K rollouts of a "
                f"segment: set num_generations >= 2, got {self.num_generations}"
            )
        if self.num_generations < 1:
            raise ValueError(f"num_generations must be at least 1, got {self.num_generations}")
        if self.kl_estimator not in ("k1", "k3"):
            raise ValueError(f"kl_estimator must be k1 or k3, got {self.kl_estimator!r}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"gamma and lam must lie in [0, 1], got {self.gamma}, {self.lam}")
        if self.temperature <= 0 or self.cliprange <= 0:
            raise ValueError("temperature and cliprange must be positive")


# --- the pieces of the algorithm, as functions -------------------------------------------------


def kl_per_step(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-step KL(pi_RL || pi_BC) estimate from the sampled actions' log-probs."""
    log_ratio = logp - ref_logp
    if estimator == "k1":
        return log_ratio
    return torch.expm1(-log_ratio) + log_ratio  # k3: (r - 1) - log r with r = pi_BC / pi_RL


def shape_rewards(score: torch.Tensor, kl: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """r_t = -kl_coef * KL_t, plus the score: at the last step (batch,) or per step (batch, steps)."""
    rewards = -kl_coef * kl
    if score.ndim == 1:
        rewards[:, -1] += score
    elif score.shape == kl.shape:
        rewards = rewards + score
    else:
        raise ValueError(
            f"a reward must be (batch,) or (batch, steps) = {tuple(kl.shape)}, got {tuple(score.shape)}"
        )
    return rewards


def advantages_and_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    gamma: float,
    lam: float,
    estimator: str = "gae",
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(gamma, lam) advantages and returns = advantages + values; or the discounted
    return-to-go minus the value (the paper's eq. 14, which is GAE with lam = 1)."""
    steps = rewards.shape[1]
    if estimator == "return_minus_value":
        returns = torch.zeros_like(rewards)
        running = torch.zeros_like(rewards[:, 0])
        for t in reversed(range(steps)):
            running = rewards[:, t] + gamma * running
            returns[:, t] = running
        return returns - values, returns
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    return advantages, advantages + values


def group_advantages(
    sequence_rewards: torch.Tensor, group_size: int, estimator: str
) -> torch.Tensor:
    """(N,) rewards of N / K groups of K consecutive episodes -> (N,) advantages: GRPO's
    (r - group mean) / (group std + 1e-4), the std unbiased as TRL's; or RLOO's r minus the
    mean of the group's other K - 1 episodes."""
    grouped = sequence_rewards.view(-1, group_size)
    if estimator == "grpo":
        mean, std = grouped.mean(1, keepdim=True), grouped.std(1, keepdim=True)
        return ((grouped - mean) / (std + 1e-4)).flatten()
    if estimator == "rloo":
        others = (grouped.sum(1, keepdim=True) - grouped) / (group_size - 1)
        return (grouped - others).flatten()
    raise ValueError(f"not a group estimator: {estimator!r}")


def whiten(x: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    mean, var = x.mean(), x.var(unbiased=False)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return out if shift_mean else out + mean


def ppo_losses(
    new_logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor | None,
    cliprange: float,
    cliprange_value: float,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped policy loss and (clipped) value loss, with the usual diagnostics; without a
    critic (`returns` None) the value loss is 0."""
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    pg_losses = torch.maximum(
        -advantages * ratio, -advantages * ratio.clamp(1 - cliprange, 1 + cliprange)
    )
    stats = {
        "approxkl": 0.5 * (log_ratio**2).mean(),
        "clipfrac": ((ratio - 1).abs() > cliprange).float().mean(),
        "ratio": ratio.mean(),
    }
    if returns is None:
        return pg_losses.mean(), pg_losses.new_zeros(()), stats
    value_error = (new_values - returns) ** 2
    value_clipfrac = torch.zeros((), device=value_error.device)
    if cliprange_value > 0:
        clipped = old_values + (new_values - old_values).clamp(-cliprange_value, cliprange_value)
        clipped_error = (clipped - returns) ** 2
        value_clipfrac = (clipped_error > value_error).float().mean()
        value_error = torch.maximum(value_error, clipped_error)
    stats["value_clipfrac"] = value_clipfrac
    return pg_losses.mean(), 0.5 * value_error.mean(), stats


def minibatch_loss(
    model,
    episodes: Episodes,
    index: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor | None,
    args: PPOConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's objective on the episodes at `index`: (loss, policy loss, value loss, entropy,
    diagnostics); `model` is the policy with its value head, wrapped by any engine."""
    upper_in, lower_in = shift_actions(
        episodes.init_upper[index], episodes.init_lower[index],
        episodes.upper[index], episodes.lower[index],
    )  # fmt: skip
    out = model(
        music_features=episodes.music[index],
        upper_ids=upper_in,
        lower_ids=lower_in,
        check_inputs=False,  # the sampler's own ids: checking would sync
    )
    new_logp, entropy = action_log_probs(
        out.upper_logits, out.lower_logits,
        episodes.upper[index], episodes.lower[index], args.temperature,
    )  # fmt: skip
    critic = returns is not None
    pg_loss, vf_loss, extra = ppo_losses(
        new_logp, episodes.logp[index], advantages[index],
        out.state_values.float() if critic else None,
        episodes.values[index] if critic else None,
        returns[index] if critic else None,
        args.cliprange, args.cliprange_value,
    )  # fmt: skip
    loss = pg_loss + args.vf_coef * vf_loss - args.ent_coef * entropy.mean()
    return loss, pg_loss, vf_loss, entropy, extra


@torch.no_grad()
def exact_kl(
    policy: DancePolicy,
    temperature: float,
    reference: DancePolicy,
    reference_temperature: float,
    episodes: Episodes,
    batch_size: int = 256,
) -> torch.Tensor:
    """KL(policy at `temperature` || reference at `reference_temperature`) of each episode:
    the exact KL of both heads' next-code distributions at every visited state, summed over
    the steps, (N,). Its mean over episodes estimates the same KL as the sampled log-ratio
    (`kl_per_step`), never below 0 and with far less spread: what matching a KL needs."""
    out = []
    for begin in range(0, len(episodes.upper), batch_size):
        index = slice(begin, begin + batch_size)
        upper_in, lower_in = shift_actions(
            episodes.init_upper[index], episodes.init_lower[index],
            episodes.upper[index], episodes.lower[index],
        )  # fmt: skip
        music = episodes.music[index]
        ours = policy(music_features=music, upper_ids=upper_in, lower_ids=lower_in)
        theirs = (
            ours
            if reference is policy
            else reference(music_features=music, upper_ids=upper_in, lower_ids=lower_in)
        )
        kl = torch.zeros(len(music), device=music.device)
        for mine, other in (
            (ours.upper_logits, theirs.upper_logits),
            (ours.lower_logits, theirs.lower_logits),
        ):
            logp = torch.log_softmax(mine.float() / temperature, dim=-1)
            logq = torch.log_softmax(other.float() / reference_temperature, dim=-1)
            kl += (logp.exp() * (logp - logq)).sum((-1, -2))
        out.append(kl)
    return torch.cat(out)


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    var = returns.var(unbiased=False)
    return float("nan") if var == 0 else float(1 - (returns - values).var(unbiased=False) / var)


def load_policy_with_value_head(name_or_path: str) -> DancePolicy:
    """pi_BC (folder or repo id) with a value head for PPO, reported in one line.

    pi_BC has no value head, so its tensors start fresh: the one documented
    exception to strict loading. Any other missing, unexpected or mis-shaped
    tensor is an error that names them.
    """
    policy, info = load_model(
        DancePolicy, name_or_path, value_head=True, allow_missing=("value_",),
        output_loading_info=True,
    )  # fmt: skip
    fresh = sorted(k for k in info["missing_keys"] if k.startswith("value_"))
    if fresh:
        count = sum(p.numel() for n, p in policy.named_parameters() if n.startswith("value_"))
        logger.info(
            "%s: value head initialised fresh (%d tensors, %s parameters; pi_BC has none)",
            name_or_path, len(fresh), f"{count:,}",
        )  # fmt: skip
    return policy


UPDATE_LOG_KEYS = {
    "policy_loss": "loss/policy_avg",
    "value_loss": "loss/value_avg",
    "entropy": "policy/entropy_avg",
    "approxkl": "policy/approxkl_avg",
    "clipfrac": "policy/clipfrac_avg",
    "ratio": "val/ratio",
    "value_clipfrac": "val/clipfrac_avg",
    "grad_norm": "train/grad_norm",
}
"""Update statistics -> logged names: TRL's PPOTrainer names where the meaning is the same."""


def named_rewards(
    reward_funcs: RewardFunction | list[RewardFunction] | dict[str, RewardFunction],
) -> dict[str, RewardFunction]:
    """The trainer's rewards by name: a dict as given; a function or a list of them named
    after each function (or its class), made unique."""
    if isinstance(reward_funcs, dict):
        named = dict(reward_funcs)
    else:
        functions = reward_funcs if isinstance(reward_funcs, list | tuple) else [reward_funcs]
        named = {}
        for function in functions:
            named[unique_name(getattr(function, "__name__", type(function).__name__), named)] = (
                function
            )
    if not named:
        raise ValueError("PPO needs at least one reward function")
    return named


def plain_policy(policy: DancePolicy) -> DancePolicy:
    """pi_RL without its value head: a `DancePolicy` like pi_BC, for `from_pretrained` users."""
    config = policy.config.__class__.from_dict({**policy.config.to_dict(), "value_head": False})
    plain = DancePolicy(config)
    state = {k: v for k, v in policy.state_dict().items() if not k.startswith("value_")}
    plain.load_state_dict(state, strict=True)
    return plain


@dataclass
class Episodes:
    """One iteration's rollouts on this rank, flattened over episodes."""

    music: torch.Tensor
    init_upper: torch.Tensor
    init_lower: torch.Tensor
    upper: torch.Tensor
    lower: torch.Tensor
    logp: torch.Tensor
    ref_logp: torch.Tensor
    values: torch.Tensor | None  # None: the policy has no value head (pi_BC)
    score: torch.Tensor
    components: dict[str, torch.Tensor] = field(default_factory=dict)
    """Each reward's own per-episode total, unweighted: `rewards/<name>/mean` in the logs."""


class PPOTrainer(E3D2Trainer):
    """PPO on `DancePolicy` with a value head; `ref_policy` is the frozen pi_BC.

    `train_dataset` / `eval_dataset` are music-segment tables (`preferences.segment_features`:
    `music_features`, `init_upper`, `init_lower`). `reward_funcs`: a `RewardFunction`, a list
    of them or a dict name -> function (`rewards.build_rewards`), summed with
    `args.reward_weights`; `eval_reward_fn` (default: the first reward) scores the held-out
    rollouts, and `evaluate_fn(policy, temperature=t) -> dict` may add metrics (the dance table).
    `vqvae_name_or_path`: the VQ-VAE that decodes the policy's codes; a local folder is copied
    into every saved policy's `vqvae/`, so the saved folder alone can dance.
    """

    model_family = "e3d2_dance_policy"
    card_template = "policy"

    def __init__(
        self,
        model: DancePolicy,
        ref_policy: DancePolicy,
        reward_funcs: RewardFunction | list[RewardFunction] | dict[str, RewardFunction],
        args: PPOConfig,
        train_dataset: Dataset,
        eval_dataset: Dataset | None = None,
        eval_reward_fn: RewardFunction | None = None,
        evaluate_fn: Callable[..., dict[str, float | None]] | None = None,
        vqvae_name_or_path: str | None = None,
        **kwargs,
    ):
        if not model.config.value_head and args.advantage_estimator not in GROUP_ESTIMATORS:
            raise ValueError(
                f"advantage_estimator {args.advantage_estimator} needs a policy with a value head: "
                "from_pretrained(path, value_head=True)"
            )
        check_same_interface(ref_policy.config, model.config, "policy pi_RL")
        if len(train_dataset) == 0:
            raise ValueError("no training music segments to roll out on")
        super().__init__(
            model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, **kwargs
        )
        per_rank = self.episodes_per_iteration // self.accelerator.num_processes
        if args.episodes_per_iteration and per_rank % args.num_generations:
            raise ValueError(
                f"episodes_per_iteration ({self.episodes_per_iteration} over "
                f"{self.accelerator.num_processes} process(es)) must give each process a multiple "
                f"of num_generations ({args.num_generations}): a group stays on one process"
            )
        disable_dropout_in_model(self.model)  # rollout and update log-probs must agree
        self.ref_policy = ref_policy.to(self.args.device).eval().requires_grad_(False)
        self.reward_funcs = named_rewards(reward_funcs)
        weights = args.reward_weights
        if weights is not None and len(weights) != len(self.reward_funcs):
            raise ValueError(
                f"{len(weights)} reward_weights for {len(self.reward_funcs)} reward functions "
                f"({', '.join(self.reward_funcs)})"
            )
        self.eval_reward_fn = eval_reward_fn or next(iter(self.reward_funcs.values()))
        self.evaluate_fn = evaluate_fn
        self.vqvae_name_or_path = vqvae_name_or_path
        self._timings: dict[str, float] = defaultdict(float)

    # --- schedule ------------------------------------------------------------------------------
    @property
    def episodes_per_iteration(self) -> int:
        return self.args.episodes_per_iteration or len(self.train_dataset)

    @property
    def num_iterations(self) -> int:
        if self.args.total_episodes:
            return max(1, self.args.total_episodes // self.episodes_per_iteration)
        return max(1, math.ceil(self.args.num_train_epochs))

    def _episode_indices(self, iteration: int) -> np.ndarray:
        """This rank's segments for `iteration`: a seeded draw, split evenly across ranks, each
        repeated `num_generations` times in a row (a group stays on one rank)."""
        world, rank = self.accelerator.num_processes, self.accelerator.process_index
        group = self.args.num_generations
        n = len(self.train_dataset)
        per_rank = max(1, self.episodes_per_iteration // world // group)
        rng = np.random.default_rng([self.args.seed, iteration])
        order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(per_rank * world / n))])
        return np.repeat(order[rank * per_rank : (rank + 1) * per_rank], group)

    def _generator(self, iteration: int, salt: int = 0) -> torch.Generator:
        seed = (
            self.args.seed * 1_000_003 + iteration * 1_009 + salt
        ) * 64 + self.accelerator.process_index
        return torch.Generator(device=self.args.device).manual_seed(seed)

    # --- 1-4: rollouts, reference log-probs, rewards -------------------------------------------
    @torch.no_grad()
    def collect(
        self,
        segments: Dataset,
        generator: torch.Generator,
        reward_funcs: dict[str, RewardFunction],
        policy: DancePolicy | None = None,
        temperature: float | None = None,
    ) -> Episodes:
        """Episodes of `segments` danced by `policy` (default: pi_RL) at `temperature` (default:
        the config's); under `bf16: true` in autocast, with log-probs, values and u in fp32.
        `ref_logp` is pi_BC's at the config's temperature: the KL's reference. The score is
        `reward_funcs` summed with the config's `reward_weights` (one reward: its own score). When `policy` is
        pi_BC at that temperature, `ref_logp` is the rollout's own log-probs, so its KL to itself
        is exactly 0 (a second forward pass would round differently and print 1e-7 nats)."""
        policy = policy or self.accelerator.unwrap_model(self.model)
        temperature = temperature or self.args.temperature
        is_reference = policy is self.ref_policy and temperature == self.args.temperature
        policy.eval()
        device = self.args.device
        data = segments.with_format("torch")
        parts = defaultdict(list)
        for begin in range(0, len(segments), self.args.rollout_batch_size):
            batch = data[begin : begin + self.args.rollout_batch_size]
            music = batch["music_features"].to(device)
            init_upper = batch["init_upper"].long().to(device)
            init_lower = batch["init_lower"].long().to(device)
            started = time.perf_counter()
            with self.accelerator.autocast():
                episode = policy.rollout(
                    music, init_upper, init_lower,
                    temperature=temperature, generator=generator,
                )  # fmt: skip
                self._timings["rollout"] += time.perf_counter() - started
                started = time.perf_counter()
                if is_reference:
                    ref_logp = episode.log_probs
                else:
                    ref_logp, _, _ = self.ref_policy.evaluate_actions(
                        music, init_upper, init_lower,
                        episode.upper_ids, episode.lower_ids, self.args.temperature,
                    )  # fmt: skip
                self._timings["reference"] += time.perf_counter() - started
                started = time.perf_counter()
                weights = self.args.reward_weights if len(reward_funcs) > 1 else None
                score, components = (
                    score_episodes(
                        reward_funcs,
                        weights,
                        music,
                        init_upper,
                        init_lower,
                        episode.upper_ids,
                        episode.lower_ids,
                    )  # fmt: skip
                    if reward_funcs
                    else (torch.zeros(len(music), device=device), {})
                )
            self._timings["reward"] += time.perf_counter() - started
            for name, value in components.items():
                parts[f"rewards/{name}"].append(value.to(device))
            for name, value in (
                ("music", music),
                ("init_upper", init_upper),
                ("init_lower", init_lower),
                ("upper", episode.upper_ids),
                ("lower", episode.lower_ids),
                ("logp", episode.log_probs),
                ("ref_logp", ref_logp),
                ("values", episode.state_values),
                ("score", score.to(device).float()),
            ):
                parts[name].append(value)
        joined = {k: None if v[0] is None else torch.cat(v) for k, v in parts.items()}
        components = {
            k.removeprefix("rewards/"): joined.pop(k)
            for k in list(joined)
            if k.startswith("rewards/")
        }
        return Episodes(**joined, components=components)

    # --- 6: the update -------------------------------------------------------------------------
    def update(
        self,
        episodes: Episodes,
        advantages: torch.Tensor,
        returns: torch.Tensor,
        generator: torch.Generator,
    ) -> dict[str, float]:
        args = self.args
        self.model.train()
        n = len(episodes.upper)
        micro = max(1, args.per_device_train_batch_size // args.gradient_accumulation_steps)
        stats = defaultdict(list)
        started = time.perf_counter()
        for _ in range(args.num_ppo_epochs):
            order = torch.randperm(n, generator=generator, device=args.device)
            for begin in range(0, n, args.per_device_train_batch_size):
                minibatch = order[begin : begin + args.per_device_train_batch_size]
                chunks = minibatch.split(micro)
                for i, index in enumerate(chunks):
                    sync = i + 1 == len(chunks)
                    with (
                        nullcontext() if sync else self.accelerator.no_sync(self.model),
                        self.accelerator.autocast(),
                    ):
                        loss, pg_loss, vf_loss, entropy, extra = minibatch_loss(
                            self.model, episodes, index, advantages, returns, args
                        )
                        self.accelerator.backward(loss * len(index) / len(minibatch))
                    for name, value in (
                        ("policy_loss", pg_loss), ("value_loss", vf_loss),
                        ("entropy", entropy.mean()), *extra.items(),
                    ):  # fmt: skip
                        stats[name].append(value.detach().float())  # stays on the device
                if args.max_grad_norm > 0:
                    grad_norm = self.accelerator.clip_grad_norm_(
                        self.model.parameters(), args.max_grad_norm
                    )
                    stats["grad_norm"].append(torch.as_tensor(grad_norm).detach().float())
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
        means = torch.stack([torch.stack(v).mean() for v in stats.values()])
        self._timings["update"] += time.perf_counter() - started
        return dict(zip(stats, means.tolist(), strict=True))  # the update's one host sync

    # --- one iteration ---------------------------------------------------------------------------
    def iteration(self, iteration: int) -> dict[str, float]:
        args = self.args
        self._timings.clear()
        segments = self.train_dataset.select(self._episode_indices(iteration))
        episodes = self.collect(segments, self._generator(iteration), self.reward_funcs)
        score = episodes.score
        self._guard_finite("reward", score)
        kl = kl_per_step(episodes.logp, episodes.ref_logp, args.kl_estimator)
        shaped_score = score - score.mean() if args.center_scores else score
        if args.whiten_rewards:
            shaped_score = whiten(shaped_score, shift_mean=False)
        rewards = shape_rewards(shaped_score, kl, args.kl_coef)
        critic = args.advantage_estimator not in GROUP_ESTIMATORS
        if critic:
            advantages, returns = advantages_and_returns(
                rewards, episodes.values.float(), args.gamma, args.lam, args.advantage_estimator
            )
        else:  # every step of an episode gets its group-relative advantage
            each = group_advantages(rewards.sum(-1), args.num_generations, args.advantage_estimator)
            advantages, returns = each[:, None].expand_as(rewards).contiguous(), None
        if args.whiten_advantages:
            advantages = whiten(advantages)
        update_stats = self.update(
            episodes, advantages, returns, self._generator(iteration, salt=1)
        )
        total_score = score.sum(-1) if score.ndim == 2 else score
        non_score_reward = (-args.kl_coef * kl).sum(-1)
        logs = {  # TRL's PPO names where the meaning is the same
            "objective/scores": total_score.mean(),
            "objective/kl": kl.sum(-1).mean(),
            "objective/non_score_reward": non_score_reward.mean(),
            "objective/rlhf_reward": (total_score + non_score_reward).mean(),
            "objective/entropy": -episodes.logp.sum(-1).mean(),
        }
        if critic:
            logs["val/explained_variance"] = torch.tensor(
                explained_variance(episodes.values.float(), returns)
            )
        for name, value in episodes.components.items():
            logs[f"rewards/{name}/mean"] = value.mean()
            logs[f"rewards/{name}/std"] = value.std() if len(value) > 1 else value.new_zeros(())
        logs = {
            k: float(self.accelerator.reduce(v.detach().float(), "mean")) for k, v in logs.items()
        }
        for name, value in update_stats.items():
            key = UPDATE_LOG_KEYS.get(name, f"policy/{name}")
            logs[key] = float(
                self.accelerator.reduce(torch.tensor(value, device=args.device), "mean")
            )
        logs.update({f"time/{k}_s": v for k, v in self._timings.items()})
        logs["lr"] = self.lr_scheduler.get_last_lr()[0]
        logs["episode"] = (iteration + 1) * len(episodes.upper) * self.accelerator.num_processes
        seconds = sum(self._timings.values())
        logs["eps"] = len(episodes.upper) * self.accelerator.num_processes / max(seconds, 1e-9)
        for name in ("objective/kl", "loss/policy_avg", *(("loss/value_avg",) if critic else ())):
            self._guard_finite(name, torch.tensor(logs[name]))
        if args.kl_stop is not None and logs["objective/kl"] > args.kl_stop:
            raise TrainingStopped(
                f"iteration {iteration + 1}: KL to pi_BC is {logs['objective/kl']:.3f} nats, above "
                f"kl_stop = {args.kl_stop} (reward hacking?); the last checkpoint in "
                f"{args.output_dir} is the last good policy"
            )
        return logs

    def _guard_finite(self, name: str, value: torch.Tensor) -> None:
        if not torch.isfinite(value).all():
            raise TrainingStopped(
                f"step {self.state.global_step + 1}: {name} is not finite; stopped before updating "
                f"further, the last checkpoint in {self.args.output_dir} is the last good policy"
            )

    # --- evaluation on held-out music -----------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, *args, reference: bool = False, **kwargs) -> dict[str, float]:
        """pi_RL's held-out metrics (the frozen pi_BC's with `reference`: its KL to itself is
        exactly 0), logged to the trackers."""
        policy = self.ref_policy if reference else self.accelerator.unwrap_model(self.model)
        metrics = self.held_out_metrics(policy, self.args.temperature)
        numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}  # not n/a
        self.log(numbers)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics=numbers
        )
        return metrics

    @torch.no_grad()
    def evaluate_reference(self, temperature: float) -> dict[str, float | None]:
        """pi_BC sampled at `temperature`, measured as `evaluate` measures pi_RL: what
        sharpening (or flattening) pi_BC alone does to the score, the KL and the dances."""
        return self.held_out_metrics(self.ref_policy, temperature)

    def _held_out_episodes(
        self, policy: DancePolicy, temperature: float, reward_funcs: dict[str, RewardFunction]
    ) -> Episodes:
        """The first `eval_episodes` held-out segments danced by `policy`, on one fixed random
        stream: every policy and temperature meets the same draws."""
        n = min(self.args.eval_episodes, len(self.eval_dataset))
        generator = torch.Generator(device=self.args.device).manual_seed(self.args.seed + 7)
        return self.collect(
            self.eval_dataset.select(range(n)), generator, reward_funcs, policy, temperature
        )

    def held_out_kl(self, policy: DancePolicy, temperature: float) -> tuple[float, float]:
        """(mean exact KL to pi_BC, mean negative log-likelihood under `policy`) of held-out
        episodes of `policy` at `temperature`: no reward, no dances."""
        episodes = self._held_out_episodes(policy, temperature, {})
        return float(self._exact_kl(policy, temperature, episodes).mean()), float(
            -episodes.logp.sum(-1).mean()
        )

    def _exact_kl(self, policy: DancePolicy, temperature: float, episodes: Episodes):
        with self.accelerator.autocast():
            return exact_kl(
                policy, temperature, self.ref_policy, self.args.temperature, episodes,
                self.args.rollout_batch_size,
            )  # fmt: skip

    @torch.no_grad()
    def matched_kl_temperature(
        self, target_kl: float, steps: int = MATCH_STEPS, widest: float = MATCH_WIDEST
    ) -> float | None:
        """The temperature at which pi_BC's held-out episodes are `target_kl` nats from pi_BC
        (at the config's temperature): the fairest baseline of a policy that far from it, since
        sharpening pi_BC alone also raises a likelihood-like score. Bisection on log T over
        `steps` evaluations, towards lower T when pi_RL is surer of its episodes than pi_BC
        (lower negative log-likelihood), else higher, at most `widest` times either way; None
        without held-out music or at KL <= 0."""
        if self.eval_dataset is None or not len(self.eval_dataset) or not target_kl > 0:
            return None
        base = self.args.temperature
        _, rl_nll = self.held_out_kl(self.accelerator.unwrap_model(self.model), base)
        _, bc_nll = self.held_out_kl(self.ref_policy, base)
        near, far = 0.0, math.log(1 / widest if rl_nll <= bc_nll else widest)
        if self.held_out_kl(self.ref_policy, base * math.exp(far))[0] <= target_kl:
            return base * math.exp(far)  # pi_BC cannot get that far: the widest is reported
        for _ in range(steps):
            middle = (near + far) / 2
            kl, _ = self.held_out_kl(self.ref_policy, base * math.exp(middle))
            near, far = (middle, far) if kl < target_kl else (near, middle)
        return base * math.exp((near + far) / 2)

    def held_out_metrics(self, policy: DancePolicy, temperature: float) -> dict:
        """Score, its standard error and KL to pi_BC of held-out episodes, and the dance table
        (an undefined metric is None, its reason under `eval_undefined`)."""
        metrics: dict[str, float | None] = {}
        if self.eval_dataset is not None and len(self.eval_dataset):
            episodes = self._held_out_episodes(policy, temperature, {"score": self.eval_reward_fn})
            score = episodes.score.sum(-1) if episodes.score.ndim == 2 else episodes.score
            kl = self._exact_kl(policy, temperature, episodes)
            sem = float(score.std() / len(score) ** 0.5) if len(score) > 1 else None
            metrics.update(
                {
                    "score": float(score.mean()),
                    "score_sem": sem,
                    "kl": float(kl.mean()),
                    "score_ref_logp_corr": correlation(score, episodes.ref_logp.sum(-1)),
                    "repeated_codes": float(
                        repeated_codes(episodes.upper.cpu(), episodes.lower.cpu()).mean()
                    ),
                }
            )
        if self.evaluate_fn is not None and self.is_world_process_zero():
            metrics.update(self.evaluate_fn(policy, temperature=temperature))
        return {EVAL_PREFIX + k: v for k, v in metrics.items()}

    # --- the loop ---------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs) -> TrainerState:
        args = self.args
        checkpoint = self.checkpoint_to_resume(resume_from_checkpoint)
        total = self.num_iterations
        updates_per_iteration = args.num_ppo_epochs * math.ceil(
            max(1, self.episodes_per_iteration // self.accelerator.num_processes)
            / args.per_device_train_batch_size
        )
        self.create_optimizer_and_scheduler(num_training_steps=total * updates_per_iteration)
        self.state = TrainerState(
            stateful_callbacks=[
                cb
                for cb in self.callback_handler.callbacks + [self.control]
                if isinstance(cb, ExportableState)
            ]
        )
        self.state.max_steps = total
        self.state.logging_steps = args.logging_steps
        self.state.save_steps = args.save_steps
        self.state.eval_steps = args.eval_steps or args.logging_steps
        self.state.is_local_process_zero = self.is_local_process_zero()
        self.state.is_world_process_zero = self.is_world_process_zero()
        if checkpoint is not None:
            load_model_from_checkpoint(self, checkpoint)
            self.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
        self.model_wrapped = self.model = self.accelerator.prepare(self.model)
        self.optimizer = self.accelerator.prepare(self.optimizer)
        if checkpoint is not None:
            load_optimizer_and_rng(self, checkpoint)
        self.current_flos = 0
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        start = self.state.global_step
        progress = tqdm(
            range(start, total), desc="PPO", initial=start, total=total,
            disable=args.disable_tqdm or not self.is_local_process_zero(),
        )  # fmt: skip
        for iteration in progress:
            self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
            logs = self.iteration(iteration)
            self.state.global_step = iteration + 1
            self.state.epoch = (iteration + 1) / total
            progress.set_postfix(
                score=f"{logs['objective/scores']:.3f}", kl=f"{logs['objective/kl']:.3f}"
            )
            # the callbacks decide (DefaultFlowCallback from the *_steps arguments, or the user's)
            self.control = self.callback_handler.on_step_end(args, self.state, self.control)
            last = iteration + 1 == total or self.control.should_training_stop
            if self.control.should_log or last:
                self.log(logs)
            if self.control.should_evaluate:
                self.evaluate()
            if args.save_strategy != "no" and (self.control.should_save or last):
                save_checkpoint(self)
                self.control = self.callback_handler.on_save(args, self.state, self.control)
            if self.control.should_training_stop:
                break
        progress.close()
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        return self.state

    # --- the final model ----------------------------------------------------------------------------
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """`output_dir` itself (and so `push_to_hub`) gets the plain policy with its VQ-VAE;
        checkpoints keep the value head, which resuming needs."""
        target = Path(output_dir or self.args.output_dir)
        if target.resolve() == Path(self.args.output_dir).resolve():
            self.save_policy(target)
        else:
            super().save_model(str(target), _internal_call)

    def create_model_card(self, *args, **kwargs) -> None:
        """The card is written by `save_policy`, from the plain policy."""

    def save_policy(self, output_dir: str | Path) -> DancePolicy:
        """Save pi_RL as a plain `DancePolicy` (value head dropped) with its card and, when the
        VQ-VAE is a local folder, a copy of it in `vqvae/` so the folder alone can dance."""
        policy = plain_policy(self.accelerator.unwrap_model(self.model))
        if self.is_world_process_zero():
            from ..cards import render_model_card

            if self.vqvae_name_or_path:
                policy.config.vqvae_name_or_path = bundle_vqvae(output_dir, self.vqvae_name_or_path)
            policy.save_pretrained(output_dir)

            card = render_model_card(
                self.card_template, policy, {"stage": "PPO against a reward", **self.card_data}
            )
            card.save(Path(output_dir) / "README.md")
            save_card_info(
                output_dir, self.card_template, {"stage": "PPO against a reward", **self.card_data}
            )
        self.accelerator.wait_for_everyone()
        return policy
