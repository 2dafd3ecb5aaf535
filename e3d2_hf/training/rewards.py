"""Rewards for PPO: learned reward models, Bailando's hand-designed reward, physical terms on
the decoded dance, or any callable; several at once, weighted, as TRL's GRPO takes them.

A reward function takes an episode batch and returns either one score per
episode, (batch,), which PPO gives at the last step (the paper's sparse
r_{T-1} = u), or per-step rewards, (batch, steps).

    reward(music_features, init_upper, init_lower, upper_ids, lower_ids) -> Tensor

One that also takes `joints` receives the episodes decoded by the run's VQ-VAE, (batch,
frames, joints, 3), decoded once per batch for every such reward (`physical_rewards`).
`reward_funcs` names them (`build_rewards`): a registered name (`REWARDS`), `module:function`
or `path/to/file.py:function` (a user's callable), or any other string: a reward model's
folder or Hub id.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.signal import argrelextrema

from ..data.layout import FRAMES_PER_TOKEN, MusicLayout
from ..evaluation.beat_align import SPEED_SMOOTHING_SIGMA
from ..models import DancePolicyConfig, DanceRewardModel, DanceVQVAE
from ..models.config_checks import check_same_interface
from .physical_rewards import (
    AntiFreezingReward,
    FootSkatingReward,
    GroundReward,
    JitterReward,
    PhysicalReference,
    PhysicalReward,
    decode_episodes,
)


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
    """What a reward may be built from: the run's models, its training codes and the recipe's
    reward options."""

    policy_config: DancePolicyConfig
    reward_model: DanceRewardModel | None = None
    vqvae: DanceVQVAE | None = None
    orientation_weight: float | None = None
    train_tokens: object = None
    """The training token dataset: the physical terms' data level (`PhysicalReference`)."""
    device: str | torch.device = "cpu"

    def need_vqvae(self, what: str) -> DanceVQVAE:
        if self.vqvae is None:
            raise ValueError(f"{what} decodes dances: pass --vqvae_name_or_path")
        return self.vqvae

    @cached_property
    def physical_reference(self) -> PhysicalReference:
        """The data's level of each physical term, measured once per run."""
        if self.train_tokens is None:
            raise ValueError("the physical rewards need the training tokens (the data's level)")
        return PhysicalReference.from_tokens(
            self.need_vqvae("a physical reward"), self.train_tokens
        )


@dataclass(frozen=True)
class RewardEntry:
    """A reward PPO can train against, under the name `reward_funcs` takes."""

    name: str
    label: str
    """How reports name it: rows `pi_RL (<label> reward)`."""
    help: str
    build: Callable[[RewardInputs], RewardFunction]
    demo_folder: str | None = None
    """The demo's PPO run with this reward (`outputs/demo/<folder>`); None: not in the demo."""
    measures: tuple[str, ...] = ()
    """The held-out metrics (`evaluation.metrics.METRICS`) this reward pays for directly: a gain
    there is the reward's own term, not evidence that the dance improved beyond it."""


REWARDS: dict[str, RewardEntry] = {}
"""Every reward by name, in the order the demo and its reports show them."""


def register_reward(
    name: str,
    label: str,
    help: str,
    demo_folder: str | None = None,
    measures: tuple[str, ...] = (),
):
    """Add the decorated `build(RewardInputs) -> RewardFunction` to `REWARDS` as `name`."""

    def add(build: Callable[[RewardInputs], RewardFunction]):
        if name in REWARDS:
            raise ValueError(f"a reward named {name!r} is registered already")
        REWARDS[name] = RewardEntry(name, label, help, build, demo_folder, measures)
        return build

    return add


@dataclass(frozen=True)
class DemoRun:
    """One of the demo's PPO runs: its folder (`outputs/demo/<folder>`), how reports name its
    policy (`pi_RL (<label> reward)`) and its `reward_funcs` / `reward_weights`."""

    folder: str
    label: str
    reward_funcs: tuple[str, ...]
    reward_weights: tuple[float, ...] | None = None


DEMO_COMBINATIONS: list[DemoRun] = []
"""The demo's runs against several rewards at once (`register_demo_run`)."""


def register_demo_run(run: DemoRun) -> DemoRun:
    """Add a run against several rewards to the demo and its report."""
    if any(r.folder == run.folder for r in demo_runs()):
        raise ValueError(f"a demo run in {run.folder!r} is registered already")
    DEMO_COMBINATIONS.append(run)
    return run


def demo_runs() -> list[DemoRun]:
    """The demo's PPO runs, each in its own folder: one per registered reward that names a
    `demo_folder`, in registration order, then the combinations."""
    single = [
        DemoRun(entry.demo_folder, entry.label, (entry.name,))
        for entry in REWARDS.values()
        if entry.demo_folder
    ]
    return single + DEMO_COMBINATIONS


@register_reward("learned", "learned", "R_theta's sparse score u", demo_folder="ppo")
def _learned(inputs: RewardInputs) -> RewardFunction:
    if inputs.reward_model is None:
        raise ValueError("reward_funcs learned needs --reward_model_name_or_path")
    return LearnedReward(inputs.reward_model, inputs.policy_config)


def _bailando(form: Literal["paper", "released"]) -> Callable[[RewardInputs], RewardFunction]:
    def build(inputs: RewardInputs) -> RewardFunction:
        vqvae = inputs.need_vqvae("the hand-designed reward")
        return BailandoReward(vqvae, form, inputs.orientation_weight)

    return build


register_reward(
    "bailando",
    "Bailando",
    "Bailando's beat reward, released form",
    demo_folder="ppo-bailando",
    measures=("BAS",),
)(_bailando("released"))
register_reward(
    "bailando-paper",
    "Bailando (paper form)",
    "Bailando's beat reward, paper form",
    measures=("BAS",),
)(_bailando("paper"))


def _physical(term: type[PhysicalReward]) -> Callable[[RewardInputs], RewardFunction]:
    def build(inputs: RewardInputs) -> RewardFunction:
        return term(inputs.need_vqvae("a physical reward"), inputs.physical_reference)

    return build


for _name, _label, _help, _term, _measures in (
    ("foot_skating", "foot skating", "feet sliding on the ground beyond the data's",
     FootSkatingReward, ("foot_skating",)),
    ("ground", "ground contact", "a body below the floor, or above it beyond the data's",
     GroundReward, ("penetration", "floating")),
    ("jitter", "jitter", "jerk beyond the data's", JitterReward, ("jitter",)),
    ("anti_freezing", "anti-freezing", "moving less than the data", AntiFreezingReward,
     ("joint_speed",)),
):  # fmt: skip
    register_reward(_name, _label, _help, measures=_measures)(_physical(_term))


# --- reward_funcs: names, callables, reward models; their weighted sum ------------------------


class JointsReward:
    """A user's callable that takes `joints`: the episodes decoded by `vqvae`, shared."""

    def __init__(self, function: Callable, vqvae: DanceVQVAE):
        self.function, self.vqvae = function, vqvae

    def __call__(self, music_features, init_upper, init_lower, upper_ids, lower_ids, joints=None):
        if joints is None:
            joints = decode_episodes(self.vqvae, upper_ids, lower_ids)
        return self.function(
            music_features, init_upper, init_lower, upper_ids, lower_ids, joints=joints
        )


def load_callable(spec: str) -> Callable:
    """`module:function` (importable) or `path/to/file.py:function` (a user's file) -> the
    function; an error names what is missing."""
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise ValueError(f"a reward callable is module:function or file.py:function, got {spec!r}")
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{spec}: no such file {path}")
        module_name = f"e3d2_user_reward_{abs(hash(str(path)))}"
        module = sys.modules.get(module_name)
        if module is None:
            found = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(found)
            sys.modules[module_name] = module
            found.loader.exec_module(module)
    else:
        if str(Path.cwd()) not in sys.path and "" not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # as `python -m` would: the user's own modules
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as error:
            raise ValueError(f"{spec}: cannot import {where!r} ({error})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"{spec}: {where} has no function {name!r}")
    return function


def _takes_joints(function: Callable) -> bool:
    try:
        return "joints" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def reward_name(spec: str) -> str:
    """How logs and reports name a `reward_funcs` entry: the registered name, the callable's
    function name, or a reward model folder's (or repo's) last part."""
    if spec in REWARDS:
        return spec
    if ":" in spec:
        return spec.rpartition(":")[2]
    return Path(spec.rstrip("/")).name or spec


def unique_name(base: str, taken) -> str:
    """`base`, or `base_2`, `base_3`, ... : the first not in `taken`."""
    name, suffix = base, 2
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    return name


def reward_label(specs: list[str], weights: list[float] | None = None) -> str:
    """How a run's rewards read in its report rows: `learned`, `learned + 0.5 jitter`."""
    weights = [1.0] * len(specs) if weights is None else weights
    return " + ".join(
        reward_name(spec) if weight == 1 else f"{weight:g} {reward_name(spec)}"
        for spec, weight in zip(specs, weights, strict=False)
    )


def build_rewards(specs: list[str], inputs: RewardInputs) -> dict[str, RewardFunction]:
    """The rewards `specs` name (see the module), by `reward_name` (made unique)."""
    from ..models.folders import load_model

    if not specs:
        raise ValueError("reward_funcs is empty: name at least one reward")
    built: dict[str, RewardFunction] = {}
    for spec in specs:
        if spec in REWARDS:
            function = REWARDS[spec].build(inputs)
        elif ":" in spec:
            function = load_callable(spec)
            if _takes_joints(function):
                function = JointsReward(function, inputs.need_vqvae(f"reward {spec}"))
        elif "/" not in spec and not Path(spec).exists():
            raise ValueError(
                f"unknown reward {spec!r}: the registered ones are {tuple(REWARDS)}; a callable "
                "is module:function or file.py:function; a reward model is a folder or a Hub id"
            )
        else:
            model = load_model(DanceRewardModel, spec).to(inputs.device)
            function = LearnedReward(model, inputs.policy_config)
        built[unique_name(reward_name(spec), built)] = function
    return built


def _joints_vqvae(function: RewardFunction) -> DanceVQVAE | None:
    """The VQ-VAE whose decoded episodes `function` takes as `joints`, if it takes them."""
    if isinstance(function, PhysicalReward | JointsReward):
        return function.vqvae
    return None


def score_episodes(
    rewards: dict[str, RewardFunction],
    weights: list[float] | None,
    music_features: torch.Tensor,
    init_upper: torch.Tensor,
    init_lower: torch.Tensor,
    upper_ids: torch.Tensor,
    lower_ids: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted sum of `rewards` on an episode batch, and each reward's own per-episode
    total (unweighted, (batch,)). The sum is (batch,) when every reward is; otherwise
    (batch, steps), a per-episode score entering at the last step. Episodes are decoded once
    per VQ-VAE for every reward that takes `joints`."""
    weights = [1.0] * len(rewards) if weights is None else list(weights)
    if len(weights) != len(rewards):
        raise ValueError(f"{len(weights)} reward_weights for {len(rewards)} reward_funcs")
    steps = upper_ids.shape[1]
    decoded: dict[int, torch.Tensor] = {}
    scores, components = [], {}
    for (name, function), weight in zip(rewards.items(), weights, strict=True):
        args = (music_features, init_upper, init_lower, upper_ids, lower_ids)
        vqvae = _joints_vqvae(function)
        if vqvae is not None:
            if id(vqvae) not in decoded:
                decoded[id(vqvae)] = decode_episodes(vqvae, upper_ids, lower_ids)
            score = function(*args, joints=decoded[id(vqvae)])
        else:
            score = function(*args)
        score = torch.as_tensor(score).to(music_features.device).float()
        if score.shape not in ((len(upper_ids),), (len(upper_ids), steps)):
            raise ValueError(
                f"reward {name!r} must return (batch,) or (batch, steps) = "
                f"{(len(upper_ids), steps)}, got {tuple(score.shape)}"
            )
        components[name] = score.sum(-1) if score.ndim == 2 else score
        scores.append(weight * score)
    if all(s.ndim == 1 for s in scores):
        return torch.stack(scores).sum(0), components
    total = torch.zeros(len(upper_ids), steps, device=music_features.device)
    for score in scores:
        if score.ndim == 1:
            total[:, -1] += score
        else:
            total += score
    return total, components


register_demo_run(
    DemoRun("ppo-physical", "learned + physical", ("learned", "foot_skating", "jitter"))
)
