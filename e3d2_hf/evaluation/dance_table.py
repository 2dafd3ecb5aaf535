"""A policy's dances on held-out music, scored: the Bailando metrics and the physical diagnostics.

Used by behaviour cloning (pi_BC's report) and by PPO (before and after training): the same
20-second pieces of every held-out song, danced from the ground truth's first pose, decoded by
the VQ-VAE, and set beside the ground truth's dances to the same music.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.layout import FRAMES_PER_TOKEN, SEAM_TOKENS, WINDOW_TOKENS
from ..data.skeleton import get_skeleton
from ..export.cleanup import clean_dance, support_height
from ..models import DancePolicy, DanceVQVAE
from .physical import (
    CLEANED,
    dance_diagnostics,
    diagnostic_flags,
    estimate_floor,
    mean_diagnostics,
    movement_intervals,
    piece_intervals,
    set_diagnostics,
)
from .protocol import INTERVALS, UNDEFINED, Dance, evaluate_dances, ground_truth_features

logger = logging.getLogger(__name__)

BOOTSTRAP_RESAMPLES = 200
"""Resamples of the pieces behind each metric's 95% interval (`{metric}_low`, `{metric}_high`)."""

DIAGNOSTIC_SAMPLES = 8
"""Dances sampled per piece for the physical diagnostics. One sample is mostly noise: on the
synthetic demo's 8 held-out pieces (before its dances traveled), pi_BC's root travel ranged
from 46% below to 42% above the ground truth's over 8 sampling seeds (mean: 15% below). The
metrics keep Bailando's one dance per piece, the first of these."""


def generate_dances(
    policy: DancePolicy,
    music: torch.Tensor,
    init_upper: torch.Tensor,
    init_lower: torch.Tensor,
    generator: torch.Generator,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dances longer than the block: consecutive 29-step episodes, each starting from the
    previous episode's last pose (the episode shape PPO trains). music: (B, L, D)."""
    window = WINDOW_TOKENS - 1
    uppers, lowers = [], []
    for begin in range(0, music.shape[1], window):
        episode = policy.rollout(
            music[:, begin : begin + window], init_upper, init_lower,
            temperature=temperature, generator=generator,
        )  # fmt: skip
        uppers.append(episode.upper_ids)
        lowers.append(episode.lower_ids)
        init_upper, init_lower = episode.upper_ids[:, -1], episode.lower_ids[:, -1]
    return torch.cat(uppers, 1), torch.cat(lowers, 1)


def piece_tokens_for(heldout_tokens, wanted: int) -> int:
    """The longest piece (at most `wanted` tokens) that gives two pieces of held-out music."""
    lengths = sorted((int(n) - 1 for n in heldout_tokens["num_tokens"]), reverse=True)
    if len(lengths) >= 2:
        best = min(wanted, lengths[1])
    else:
        best = min(wanted, lengths[0] // 2) if lengths else 0
    return max(best, 0)


class DanceTable:
    """The dance table of a policy on held-out music: pieces of every held-out clip.

    Calling it with a policy returns the five metrics (None where undefined, the reasons under
    `undefined`; the dances decoded as Bailando decodes them) and the diagnostics of
    `evaluation.physical` (of the same codes decoded without seams, as `e3d2 dance` gives them,
    averaged over `diagnostic_samples` dances per piece); `ground_truth_diagnostics` holds the
    ground truth's on the same pieces of music, `ground_truth_intervals` the 95% bootstrap
    intervals of its movement figures over those pieces.
    """

    def __init__(
        self,
        vqvae: DanceVQVAE,
        heldout_tokens,
        clips,
        piece_tokens: int,
        seed: int = 0,
        diagnostic_samples: int = DIAGNOSTIC_SAMPLES,
    ):
        if diagnostic_samples < 1:
            raise ValueError(f"diagnostic_samples must be at least 1, got {diagnostic_samples}")
        self.vqvae = vqvae.eval()
        self.seed = seed
        self.diagnostic_samples = diagnostic_samples
        self.reported: set[str] = set()
        self.skeleton = get_skeleton(str(clips[0]["skeleton"]))
        rows = {str(r["id"]): r for r in clips.with_format("numpy")}
        self.ground_truth = ground_truth_features(
            [np.asarray(r["joints"], dtype=np.float32) for r in rows.values()]
        )
        frames = piece_tokens * FRAMES_PER_TOKEN
        music, init_upper, init_lower, self.beats, truth = [], [], [], [], []
        self.start_roots: list[np.ndarray] = []  # where the ground truth's piece starts
        for clip in heldout_tokens.with_format("numpy"):
            n = int(clip["num_tokens"])
            row = rows.get(str(clip["id"]))
            for start in range(0, n - piece_tokens - 1 + 1, piece_tokens):
                music.append(np.asarray(clip["music_tokens"][start + 1 : start + 1 + piece_tokens]))
                init_upper.append(int(clip["upper_ids"][start]))
                init_lower.append(int(clip["lower_ids"][start]))
                offset = (start + 1) * FRAMES_PER_TOKEN
                beats = np.zeros(0, dtype=int) if row is None else np.asarray(row["beat_frames"])
                beats = beats - offset
                self.beats.append(beats[(beats >= 0) & (beats < frames)])
                joints = np.zeros((0, self.skeleton.num_joints, 3))
                if row is not None:
                    joints = np.asarray(row["joints"], dtype=np.float64)[offset : offset + frames]
                    joints = joints.reshape(len(joints), -1, 3)
                    if len(joints) >= 4:
                        truth.append(joints)
                root = joints[0, self.skeleton.root] if len(joints) else np.zeros(3)
                self.start_roots.append(root)
        if len(music) < 2:
            raise ValueError(
                f"held-out music gives {len(music)} piece(s) of {piece_tokens} tokens; the dance "
                "table needs two (lower --eval_dance_tokens or hold out more clips)"
            )
        self.music = torch.from_numpy(np.stack(music).astype(np.float32))
        self.init_upper = torch.tensor(init_upper)
        self.init_lower = torch.tensor(init_lower)
        self.floor = estimate_floor(truth, self.skeleton) if truth else 0.0
        # where the cleaned dances stand: as high over the floor as the data's supporting feet
        self.stand = self.floor + (support_height(truth, self.skeleton, self.floor) if truth else 0)
        per_dance = [dance_diagnostics(j, self.skeleton, self.floor) for j in truth]
        self.ground_truth_diagnostics = mean_diagnostics(per_dance) if truth else {}
        self.ground_truth_intervals = movement_intervals(per_dance, BOOTSTRAP_RESAMPLES, seed)

    @torch.no_grad()
    def tokens(
        self, policy: DancePolicy, temperature: float = 1.0, repeats: int = 1, stream: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy's (upper, lower) codes for every piece, sampled at `temperature` from
        random stream `stream` of the table's seed; `repeats` dances per piece, the pieces in
        turn (batch row `k * pieces + i` is piece i)."""
        device = policy.device
        generator = torch.Generator(device=device).manual_seed(self.seed + 11 + stream)
        return generate_dances(
            policy,
            self.music.repeat(repeats, 1, 1).to(device),
            self.init_upper.repeat(repeats).to(device),
            self.init_lower.repeat(repeats).to(device),
            generator,
            temperature,
        )

    def dances(self, policy: DancePolicy, edge_tokens: int = 0, codes=None) -> list[Dance]:
        """The pieces danced by `policy`, decoded as Bailando does (`edge_tokens=0`, what the
        metrics score) or without the decoder's boundary jumps (what `e3d2 dance` gives)."""
        upper, lower = self.tokens(policy) if codes is None else codes
        device = self.vqvae.device
        joints = self.vqvae.decode(upper.to(device), lower.to(device), edge_tokens)
        joints = joints.float().cpu().numpy()
        repeats = len(joints) // len(self.beats)  # `tokens(repeats=...)`: the pieces in turn
        # the decoder integrates the root from the origin; the diagnostics need the floor, so
        # each dance starts where the ground truth's piece does (the metrics re-origin anyway)
        return [
            Dance(
                j.reshape(len(j), -1, 3) + self.vqvae.start_offset(root),
                beats,
                f"piece{i % len(self.beats)}",
            )
            for i, (j, beats, root) in enumerate(
                zip(joints, self.beats * repeats, self.start_roots * repeats, strict=True)
            )
        ]

    def diagnostics(
        self, policy: DancePolicy, temperature: float = 1.0, codes=None
    ) -> dict[str, float | None]:
        """The physical diagnostics of the policy's dances decoded without seams, averaged over
        `diagnostic_samples` dances per piece; `codes`: the first sample's, if already drawn.
        Each key again as `cleaned_<key>`: the same dances after the contact clean-up that
        `e3d2 dance` applies, standing where the ground truth's supporting feet stand. The raw
        defects (`DEFECTS`) carry 95% bootstrap intervals over the pieces (`<key>_low`,
        `<key>_high`), so that reports may claim a cleaner policy where they part."""
        codes = self.tokens(policy, temperature) if codes is None else codes
        seamless = self.dances(policy, SEAM_TOKENS, codes)
        if self.diagnostic_samples > 1:
            more = self.tokens(policy, temperature, self.diagnostic_samples - 1, stream=1)
            seamless += self.dances(policy, SEAM_TOKENS, more)
        raw = [d.joints for d in seamless]
        cleaned = [clean_dance(j, self.skeleton, self.stand) for j in raw]
        per_dance = [dance_diagnostics(j, self.skeleton, self.floor) for j in raw]
        out = mean_diagnostics(per_dance)
        pieces = [i % len(self.beats) for i in range(len(raw))]
        for key, (low, high) in piece_intervals(
            per_dance, pieces, resamples=BOOTSTRAP_RESAMPLES, seed=self.seed
        ).items():
            out[f"{key}_low"], out[f"{key}_high"] = low, high
        for key, value in set_diagnostics(cleaned, self.skeleton, self.floor).items():
            out[f"{CLEANED}{key}"] = value
        return out

    def __call__(self, policy: DancePolicy, temperature: float = 1.0) -> dict[str, float | None]:
        codes = self.tokens(policy, temperature)
        metrics = evaluate_dances(
            self.dances(policy, codes=codes), self.ground_truth, bootstrap=BOOTSTRAP_RESAMPLES
        )
        for metric, (low, high) in metrics.pop(INTERVALS, {}).items():
            metrics[f"{metric}_low"], metrics[f"{metric}_high"] = low, high
        for metric, reason in metrics.get(UNDEFINED, {}).items():
            if metric not in self.reported:
                self.reported.add(metric)
                logger.warning("%s is n/a on this held-out music: %s", metric, reason)
        diagnostics = self.diagnostics(policy, temperature, codes)
        truth, intervals = self.ground_truth_diagnostics, self.ground_truth_intervals
        for flag in diagnostic_flags(diagnostics, truth, intervals=intervals):
            logger.warning("the policy's dances leave the ground truth's range: %s", flag)
        return {**metrics, **diagnostics}
