"""Rewards for PPO: the learned reward model, Bailando's hand-designed reward, or any callable.

A reward function takes an episode batch and returns either one score per
episode, (batch,), which PPO gives at the last step (the paper's sparse
r_{T-1} = u), or per-step rewards, (batch, steps).

    reward(music_features, init_upper, init_lower, upper_ids, lower_ids) -> Tensor
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from ..data.layout import FRAMES_PER_TOKEN, MusicLayout
from ..evaluation.beat_align import SPEED_SMOOTHING_SIGMA
from ..models import DancePolicyConfig, DanceRewardModel, DanceVQVAE
from ..models.config_checks import check_same_interface


class RewardFunction(Protocol):
    def __call__(
        self,
        music_features: torch.Tensor,
        init_upper: torch.Tensor,
        init_lower: torch.Tensor,
        upper_ids: torch.Tensor,
        lower_ids: torch.Tensor,
    ) -> torch.Tensor: ...


class LearnedReward:
    """u = sum_t r_t of the reward model R_theta: one score per episode (docs/method.md §4)."""

    def __init__(self, model: DanceRewardModel, policy_config: DancePolicyConfig | None = None):
        if policy_config is not None:
            check_same_interface(policy_config, model.config, "reward model")
        self.model = model.eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(
        self, music_features, init_upper, init_lower, upper_ids, lower_ids
    ) -> torch.Tensor:
        device = self.model.device
        return self.model.score(
            music_features.to(device), upper_ids.to(device), lower_ids.to(device)
        ).float()


def dance_beats_per_code(joints: np.ndarray) -> np.ndarray:
    """(B, 8N, 3J) joints -> (B, N) 0/1: a kinematic beat (speed minimum) inside each code's 8 frames.

    As `ba_reward` (docs/bailando.md §5): Gaussian-smoothed (sigma 5) mean joint
    speed, strict local minima, max-pooled over 8 frames.
    """
    batch, frames = joints.shape[:2]
    p = joints.reshape(batch, frames, -1, 3)
    speed = np.sqrt(((p[:, 1:] - p[:, :-1]) ** 2).sum(-1)).mean(-1)
    speed = np.concatenate([speed[:, :1], speed], axis=1)  # one speed per frame
    smoothed = gaussian_filter1d(speed, SPEED_SMOOTHING_SIGMA, axis=1)
    beats = np.zeros((batch, frames), dtype=bool)
    for b in range(batch):
        beats[b, argrelextrema(smoothed[b], np.less)[0]] = True
    return beats.reshape(batch, frames // FRAMES_PER_TOKEN, FRAMES_PER_TOKEN).any(-1)


def facing_agreement(joints: np.ndarray, skeleton) -> np.ndarray:
    """(B, 8N, 3J) -> (B, N): cosine of the upper-body (shoulders) and lower-body (hips) facing, y-up.

    Bailando's orientation term compares the horizontal normals of the collar
    line and the knee line; shoulders and hips exist on every skeleton here.
    """
    batch, frames = joints.shape[:2]
    p = joints.reshape(batch, frames, -1, 3)

    def facing(left: str, right: str) -> np.ndarray:
        across = p[:, :, skeleton.index(left)] - p[:, :, skeleton.index(right)]
        normal = np.stack([-across[..., 2], np.zeros_like(across[..., 0]), across[..., 0]], -1)
        return normal / (np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-8)

    cosine = (facing("left_shoulder", "right_shoulder") * facing("left_hip", "right_hip")).sum(-1)
    return cosine.reshape(batch, frames // FRAMES_PER_TOKEN, FRAMES_PER_TOKEN).mean(-1)


class BailandoReward:
    """Bailando's hand-designed reward: beat alignment + `orientation_weight` x orientation agreement.

    `form="released"` is the released code: +5 per code when both a music beat and a
    dance beat fall in it, else -5, and the orientation term multiplied by 0.
    `form="paper"`: -5 only where a music-beat code has no dance beat, +5
    elsewhere, plus the orientation term at `orientation_weight`.
    Music beats are the beat column of the 7.5-FPS music rows (one per code).
    Returns per-step rewards (batch, steps).
    """

    def __init__(
        self,
        vqvae: DanceVQVAE,
        form: Literal["paper", "released"] = "released",
        orientation_weight: float | None = None,
    ):
        if form not in ("paper", "released"):
            raise ValueError(f"form must be 'paper' or 'released', got {form!r}")
        self.vqvae = vqvae.eval().requires_grad_(False)
        self.form = form
        self.orientation_weight = (
            (0.0 if form == "released" else 1.0)
            if orientation_weight is None
            else orientation_weight
        )

    @torch.no_grad()
    def __call__(
        self, music_features, init_upper, init_lower, upper_ids, lower_ids
    ) -> torch.Tensor:
        device = self.vqvae.device
        joints = self.vqvae.decode(upper_ids.to(device), lower_ids.to(device)).float().cpu().numpy()
        dance = dance_beats_per_code(joints)
        music = music_features[..., MusicLayout.BEAT].float().cpu().numpy() > 0.5
        if self.form == "released":
            beat = 10.0 * ((music & dance).astype(np.float32) - 0.5)
        else:
            beat = np.where(music & ~dance, -5.0, 5.0).astype(np.float32)
        reward = beat
        if self.orientation_weight:
            skeleton = self.vqvae.config.skeleton_def
            reward = reward + self.orientation_weight * facing_agreement(joints, skeleton)
        return torch.from_numpy(reward.astype(np.float32)).to(music_features.device)


@dataclass(frozen=True)
class RewardInputs:
    """What a reward may be built from: the run's models and the recipe's reward options."""

    policy_config: DancePolicyConfig
    reward_model: DanceRewardModel | None = None
    vqvae: DanceVQVAE | None = None
    orientation_weight: float | None = None


@dataclass(frozen=True)
class RewardEntry:
    """A reward PPO can train against, under the name `--reward` takes."""

    name: str
    label: str
    """How reports name it: rows `pi_RL (<label> reward)`."""
    help: str
    build: Callable[[RewardInputs], RewardFunction]
    demo_folder: str | None = None
    """The demo's PPO run with this reward (`outputs/demo/<folder>`); None: not in the demo."""


REWARDS: dict[str, RewardEntry] = {}
"""Every reward by name, in the order the demo and its reports show them."""


def register_reward(name: str, label: str, help: str, demo_folder: str | None = None):
    """Add the decorated `build(RewardInputs) -> RewardFunction` to `REWARDS` as `name`."""

    def add(build: Callable[[RewardInputs], RewardFunction]):
        if name in REWARDS:
            raise ValueError(f"a reward named {name!r} is registered already")
        REWARDS[name] = RewardEntry(name, label, help, build, demo_folder)
        return build

    return add


def build_reward(name: str, inputs: RewardInputs) -> RewardFunction:
    """The reward registered as `name`, built from `inputs`; an unknown name lists the known."""
    if name not in REWARDS:
        raise ValueError(f"--reward must be one of {tuple(REWARDS)}, got {name!r}")
    return REWARDS[name].build(inputs)


def demo_rewards() -> list[RewardEntry]:
    """The rewards the demo trains a policy against, each in its own folder."""
    return [entry for entry in REWARDS.values() if entry.demo_folder]


@register_reward("learned", "learned", "R_theta's sparse score u", demo_folder="ppo")
def _learned(inputs: RewardInputs) -> RewardFunction:
    if inputs.reward_model is None:
        raise ValueError("--reward learned needs --reward_model_name_or_path")
    return LearnedReward(inputs.reward_model, inputs.policy_config)


def _bailando(form: Literal["paper", "released"]) -> Callable[[RewardInputs], RewardFunction]:
    def build(inputs: RewardInputs) -> RewardFunction:
        if inputs.vqvae is None:
            raise ValueError("the hand-designed reward decodes dances: pass --vqvae_name_or_path")
        return BailandoReward(inputs.vqvae, form, inputs.orientation_weight)

    return build


register_reward(
    "bailando", "Bailando", "Bailando's beat reward, released form", demo_folder="ppo-bailando"
)(_bailando("released"))
register_reward("bailando-paper", "Bailando (paper form)", "Bailando's beat reward, paper form")(
    _bailando("paper")
)
