"""Physical rewards: foot skating, ground contact, jitter and anti-freezing, on the decoded dance.

Each term is 0 where an episode is as clean as the data (or moves as much) and falls linearly
with the excess, in units of the data's own level, so that weights of about 1 are comparable.
The data's level is measured on the policy's training codes decoded by the same VQ-VAE
(`PhysicalReference.from_tokens`): what the decoder makes of the data, its smoothing and its
markers included, is what a policy can reach. The measures are `evaluation.physical`'s
(`physical_terms`), batched on the VQ-VAE's device.

The floor: a VQ-VAE that decodes the root's height (`root_height: absolute`) stands the dance
on the data's floor (`estimate_floor` of the decoded data); one that integrates the height from
0 knows no floor, so each episode's floor is its first frame's lowest foot joint (an episode
starts standing, as the data's do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.layout import MOTION_FPS, SEAM_TOKENS, WINDOW_TOKENS
from ..evaluation.physical import (
    CONTACT_HEIGHT,
    estimate_floor,
    first_frame_floor,
    physical_terms,
)
from ..models import DanceVQVAE

EPISODE_TOKENS = WINDOW_TOKENS - 1
"""Tokens per PPO episode: the reference is measured on pieces of the same length."""
REFERENCE_PIECES = 256
"""Pieces of training codes decoded to measure the data's level (fewer when the data has fewer)."""
MINIMUM_LEVEL = {"foot_skating": 0.05, "jitter": 1.0, "root_relative_speed": 0.1}
"""The smallest data level a ratio divides by (m/s, m/s³, m/s): data whose feet never slide
would otherwise make any slide infinitely bad."""


def decode_episodes(vqvae: DanceVQVAE, upper_ids: torch.Tensor, lower_ids: torch.Tensor):
    """(B, N) codes -> (B, 8N, J, 3) joints, decoded without the decoder's boundary jumps, as
    `e3d2 dance` gives them; the root starts at the origin (its height: see the module).
    Always in the VQ-VAE's own precision, even under bf16 autocast: jerk is a third
    difference of positions, which bf16's 3 significant digits would turn into noise."""
    device = vqvae.device
    with torch.autocast(device.type, enabled=False):
        joints = vqvae.decode(upper_ids.to(device), lower_ids.to(device), SEAM_TOKENS).float()
    return joints.view(*joints.shape[:2], -1, 3)


def episode_floor(joints: torch.Tensor, vqvae: DanceVQVAE, floor: float | None):
    """The floor of each episode: `floor` (a VQ-VAE that decodes the height), or the first
    frame's lowest foot joint (one that integrates it from 0)."""
    if vqvae.config.root_height == "absolute" and floor is not None:
        return floor
    return first_frame_floor(joints, vqvae.config.skeleton_def)


@dataclass(frozen=True)
class PhysicalReference:
    """The data's level of each term, and the floor of a VQ-VAE that decodes the height."""

    floor: float | None
    foot_skating: float
    floating: float
    jitter: float
    root_relative_speed: float

    @classmethod
    @torch.no_grad()
    def from_tokens(
        cls, vqvae: DanceVQVAE, tokens, pieces: int = REFERENCE_PIECES, seed: int = 0
    ) -> PhysicalReference:
        """Measured on up to `pieces` episode-long pieces of `tokens` (a token dataset:
        `upper_ids`, `lower_ids` per clip), drawn evenly from every clip, decoded by `vqvae`."""
        starts = []
        rows = list(tokens.with_format("numpy"))
        for index, row in enumerate(rows):
            n = len(row["upper_ids"])
            starts += [(index, s) for s in range(0, n - EPISODE_TOKENS + 1, EPISODE_TOKENS)]
        if not starts:
            raise ValueError(
                f"the physical rewards need the data's level: no training clip holds an episode "
                f"({EPISODE_TOKENS} tokens)"
            )
        rng = np.random.default_rng(seed)
        chosen = [starts[i] for i in sorted(rng.permutation(len(starts))[:pieces])]

        def stack(key: str) -> torch.Tensor:
            return torch.from_numpy(
                np.stack([rows[i][key][s : s + EPISODE_TOKENS] for i, s in chosen]).astype(np.int64)
            )

        joints = decode_episodes(vqvae, stack("upper_ids"), stack("lower_ids"))
        skeleton = vqvae.config.skeleton_def
        floor = None
        if vqvae.config.root_height == "absolute":
            floor = estimate_floor(list(joints.double().cpu().numpy()), skeleton)
        terms = physical_terms(joints.double(), skeleton, episode_floor(joints, vqvae, floor))
        skating = terms["foot_skating"]
        return cls(
            floor=floor,
            foot_skating=float(skating.nan_to_num(0.0).mean()) if len(skating) else 0.0,
            floating=float(terms["floating"].mean()),
            jitter=float(terms["jitter"].mean()),
            root_relative_speed=float(terms["root_relative_speed"].mean()),
        )

    def level(self, key: str) -> float:
        """The data's level of `key`, no lower than its `MINIMUM_LEVEL`."""
        return max(getattr(self, key), MINIMUM_LEVEL[key])


class PhysicalReward:
    """A penalty on the decoded episodes (one score per episode, <= 0); subclasses say which.

    Called with `joints=` (decoded by `decode_episodes`), it reuses them: PPO decodes each
    batch once for every physical term.
    """

    def __init__(self, vqvae: DanceVQVAE, reference: PhysicalReference):
        self.vqvae = vqvae.eval().requires_grad_(False)
        self.reference = reference

    def penalty(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(
        self, music_features, init_upper, init_lower, upper_ids, lower_ids, joints=None
    ) -> torch.Tensor:
        if joints is None:
            joints = decode_episodes(self.vqvae, upper_ids, lower_ids)
        floor = episode_floor(joints, self.vqvae, self.reference.floor)
        terms = physical_terms(joints, self.vqvae.config.skeleton_def, floor, MOTION_FPS)
        return -self.penalty(terms).float().to(music_features.device)


class FootSkatingReward(PhysicalReward):
    """-(foot skating / the data's - 1)+: feet that slide while touching the ground (0 where
    no foot touches it: the ground term sees a figure that never does)."""

    def penalty(self, terms):
        ratio = terms["foot_skating"].nan_to_num(0.0) / self.reference.level("foot_skating")
        return (ratio - 1).clamp(min=0)


class GroundReward(PhysicalReward):
    """-(penetration + (floating - the data's)+) / CONTACT_HEIGHT: a body below the floor, or
    further above it than the data floats, in units of the contact height (5 cm)."""

    def penalty(self, terms):
        above = (terms["floating"] - self.reference.floating).clamp(min=0)
        return (terms["penetration"] + above) / CONTACT_HEIGHT


class JitterReward(PhysicalReward):
    """-(jitter / the data's - 1)+: jerk beyond the data's."""

    def penalty(self, terms):
        return (terms["jitter"] / self.reference.level("jitter") - 1).clamp(min=0)


class AntiFreezingReward(PhysicalReward):
    """-(1 - root-relative speed / the data's)+: a body that moves less than the data does.
    RL fine-tuning against a reward that likes still poses freezes without it."""

    def penalty(self, terms):
        ratio = terms["root_relative_speed"] / self.reference.level("root_relative_speed")
        return (1 - ratio).clamp(min=0)
