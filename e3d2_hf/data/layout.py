"""Frame rates, window sizes and the 438-d music feature layout.

Every other module imports these numbers; none repeats them.
"""

from __future__ import annotations

MOTION_FPS: float = 60.0
"""AIST++ motion rate; all motion is resampled to it."""

FRAMES_PER_TOKEN: int = 8
"""Temporal downsampling of the VQ-VAE: one code per 8 motion frames."""

TOKEN_FPS: float = MOTION_FPS / FRAMES_PER_TOKEN
"""7.5 codes per second; the GPT reads one music row per code."""

WINDOW_TOKENS: int = 30
"""Tokens in one training window (the initial token + 29 policy steps)."""

WINDOW_FRAMES: int = WINDOW_TOKENS * FRAMES_PER_TOKEN
"""240 frames = 4 s at 60 FPS."""

HOP_LENGTH: int = 512
"""librosa hop length; features at `fps` are extracted at `fps * HOP_LENGTH` Hz."""

EVAL_FRAMES: int = 1200
"""The Bailando protocol crops generated dances to 20 s at 60 FPS."""


def sample_rate_for_fps(fps: float) -> float:
    """Audio sample rate at which one hop of 512 samples is one frame at `fps`."""
    return float(fps) * HOP_LENGTH


class MusicLayout:
    """Columns of the Bailando 438-d music feature (docs/bailando.md §1)."""

    MFCC = slice(0, 20)
    MFCC_DELTA = slice(20, 40)
    CHROMA = slice(40, 52)
    ONSET_ENVELOPE = 52
    BEAT = 53
    TEMPOGRAM = slice(54, 438)
    DIM = 438

    N_MFCC = 20
    N_CHROMA = 12
    TEMPOGRAM_WIN = 384


SEAM_TOKENS: int = 1
"""Code pairs repeated past each end of a generated dance before it is decoded, so that the
decoder's boundary frames (which jump) are cropped off (`DanceVQVAE.decode(edge_tokens=)`)."""
