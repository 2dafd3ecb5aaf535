"""How much of a dance the VQ-VAE keeps: codes in use, movement and beats of held-out clips
beside their reconstructions, and pi_BC's held-out dances beside the ground truth's.

A codebook that collapsed to a few codes decodes every dance into a near-still figure; these
make it visible at the stage where it happens, before anything is trained on the codes.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.layout import FRAMES_PER_TOKEN, SEAM_TOKENS, WINDOW_TOKENS
from ..data.skeleton import get_skeleton
from ..models import DanceVQVAE
from .beat_align import beat_align_score
from .dance_table import DanceTable, piece_tokens_for
from .physical import CLEANED, MOVEMENT, diagnostic_flags, estimate_floor, set_diagnostics

logger = logging.getLogger(__name__)


RECONSTRUCTION_DIAGNOSTICS = MOVEMENT + (
    "freezing", "jitter", "foot_skating", "penetration", "floating", "max_step",
)  # fmt: skip
"""What the VQ-VAE stage reports of its reconstructions beside its inputs: a decoder that
drifts through the floor or trembles shows here, before a policy is trained on its codes."""


def reconstruction_diagnostics(vqvae: DanceVQVAE, clips, max_clips: int = 8) -> dict[str, float]:
    """Codes in use and the movement diagnostics of held-out clips and of their reconstructions.

    A codebook that collapsed to a few codes decodes every dance into a near-still figure;
    this makes it visible here, before any policy is trained on the codes.
    """
    vqvae = getattr(vqvae, "module", vqvae)
    skeleton = get_skeleton(vqvae.config.skeleton)
    original, decoded, upper, lower = [], [], set(), set()
    for row in clips.select(range(min(max_clips, len(clips)))).with_format("numpy"):
        joints = np.asarray(row["joints"], dtype=np.float32)
        joints = joints[: len(joints) // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN]
        with torch.no_grad():
            ids = vqvae.encode(torch.from_numpy(joints[None]).to(vqvae.device))
            recon = vqvae.decode(*ids, edge_tokens=SEAM_TOKENS)[0].float().cpu().numpy()
        upper.update(ids[0].flatten().tolist())
        lower.update(ids[1].flatten().tolist())
        original.append(joints.reshape(len(joints), -1, 3))
        # decoded roots start at the origin; start where the input does, over its floor
        start = vqvae.start_offset(original[-1][0, skeleton.root])
        decoded.append(recon.reshape(len(recon), -1, 3) + start)
    if not original:
        return {}
    floor = estimate_floor(original, skeleton)
    truth = set_diagnostics(original, skeleton, floor)
    recon = set_diagnostics(decoded, skeleton, floor)
    for flag in diagnostic_flags(recon, truth, "the input's"):
        logger.warning("held-out reconstructions leave the input's range: %s", flag)
    root = skeleton.root
    error = np.mean([
        np.linalg.norm((a - a[:, root : root + 1]) - (b - b[:, root : root + 1]), axis=-1).mean()
        for a, b in zip(original, decoded, strict=True)
    ])  # fmt: skip
    out = {
        "heldout_pose_mpjpe_mm": float(error * 1000),  # root-relative: no drift of the root
        "heldout_codes_used_upper": len(upper),
        "heldout_codes_used_lower": len(lower),
    }
    for key in RECONSTRUCTION_DIAGNOSTICS:
        out[f"heldout_{key}_original"] = truth[key]
        out[f"heldout_{key}_reconstructed"] = recon[key]
    return {k: v for k, v in out.items() if v is not None}


def beat_preservation(vqvae: DanceVQVAE, clips, max_clips: int = 8) -> dict[str, float]:
    """BAS of the original and of the encode -> decode dance against each clip's music beats."""
    original, decoded = [], []
    vqvae = getattr(vqvae, "module", vqvae)
    for row in clips.select(range(min(max_clips, len(clips)))).with_format("numpy"):
        joints = np.asarray(row["joints"], dtype=np.float32)
        joints = joints[: len(joints) // 8 * 8]
        beats = np.asarray(row["beat_frames"])
        ids = vqvae.encode(torch.from_numpy(joints[None]).to(vqvae.device))
        recon = vqvae.decode(*ids)[0].cpu().numpy()
        original.append(beat_align_score(beats, joints))
        decoded.append(beat_align_score(beats, recon))
    return {"bas_original": float(np.mean(original)), "bas_reconstructed": float(np.mean(decoded))}


def heldout_dance_diagnostics(policy, vqvae, heldout_tokens, clips) -> dict[str, float]:
    """pi_BC's dances on held-out music beside the ground truth's: how much each moves (and the
    95% interval of the ground truth's movement over its pieces, `_low` and `_high`)."""
    policy = getattr(policy, "module", policy)
    piece = piece_tokens_for(heldout_tokens, 150)
    if piece < WINDOW_TOKENS:
        logger.warning("held-out music is too short for pi_BC's dance diagnostics")
        return {}
    table = DanceTable(vqvae.to(policy.device), heldout_tokens, clips, piece)
    dances = table.diagnostics(policy.eval())
    truth = table.ground_truth_diagnostics
    for flag in diagnostic_flags(dances, truth, intervals=table.ground_truth_intervals):
        logger.warning("pi_BC's dances leave the ground truth's range: %s", flag)
    out = {}
    for key in MOVEMENT + ("freezing", "jitter", "foot_skating", "penetration", "floating"):
        out[f"heldout_dance_{key}"] = dances[key]
        out[f"heldout_cleaned_dance_{key}"] = dances[f"{CLEANED}{key}"]
        out[f"heldout_ground_truth_{key}"] = truth.get(key)
    for key, (low, high) in table.ground_truth_intervals.items():
        out[f"heldout_ground_truth_{key}_low"] = low
        out[f"heldout_ground_truth_{key}_high"] = high
    return {k: v for k, v in out.items() if v is not None}
