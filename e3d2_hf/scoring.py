"""Score whole dances with a reward model: u per 29-step window, as R_theta was trained.

A dance is either joints (encoded with the VQ-VAE) or its tokens; its music is
the 7.5-FPS feature rows. `e3d2 score` is the command-line front end.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data.arrays import load_arrays
from .data.layout import FRAMES_PER_TOKEN, TOKEN_FPS
from .models import DanceRewardModel, DanceVQVAE
from .models.config_checks import check_same_interface
from .models.tokens import encode_joints
from .utils.errors import DataFileError


@dataclass
class DanceScore:
    """Total reward u of each window of a dance, and their mean (the number to compare)."""

    name: str
    num_tokens: int
    window_u: list[float] = field(default_factory=list)

    @property
    def mean_u(self) -> float:
        return float(np.mean(self.window_u))

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "num_tokens": self.num_tokens,
            "num_windows": len(self.window_u),
            "mean_u": self.mean_u,
            "window_u": self.window_u,
        }


@dataclass
class TokenDance:
    name: str
    music_tokens: np.ndarray  # (N, music_dim) at TOKEN_FPS
    upper_ids: np.ndarray  # (N,)
    lower_ids: np.ndarray  # (N,)
    source: str = ""
    """The file or dataset it came from, named by errors."""


@torch.no_grad()
def score_windows(
    reward_model: DanceRewardModel,
    music_tokens: np.ndarray,
    upper_ids: np.ndarray,
    lower_ids: np.ndarray,
    stride: int | None = None,
    batch_size: int = 64,
) -> list[float]:
    """u of every `max_steps`-long window (stride defaults to the window: no overlap)."""
    window = reward_model.config.max_steps
    stride = stride or window
    n = min(len(music_tokens), len(upper_ids), len(lower_ids))
    if n < window:
        raise ValueError(
            f"the dance has {n} tokens ({n / TOKEN_FPS:.1f} s) but the reward model scores "
            f"{window}-token windows ({window / TOKEN_FPS:.1f} s)"
        )
    starts = list(range(0, n - window + 1, stride))
    device = reward_model.device
    music = torch.as_tensor(np.asarray(music_tokens[:n], dtype=np.float32), device=device)
    upper = torch.as_tensor(np.asarray(upper_ids[:n], dtype=np.int64), device=device)
    lower = torch.as_tensor(np.asarray(lower_ids[:n], dtype=np.int64), device=device)
    scores = []
    for begin in range(0, len(starts), batch_size):
        index = torch.tensor(starts[begin : begin + batch_size], device=device)[:, None]
        steps = index + torch.arange(window, device=device)
        scores.append(reward_model.score(music[steps], upper[steps], lower[steps]).cpu())
    return torch.cat(scores).tolist()


@torch.no_grad()
def tokenize_joints(
    vqvae: DanceVQVAE, joints: np.ndarray, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a (T, J, 3) or (T, 3J) joint array at 60 FPS."""
    joints = np.asarray(joints, dtype=np.float32)
    joints = joints.reshape(len(joints), -1)
    expected = vqvae.config.skeleton_def.num_joints * 3
    if joints.ndim != 2 or joints.shape[1] != expected:
        raise DataFileError(
            source, f"joints have {joints.shape[1:]} channels, the VQ-VAE expects {expected}"
        )
    if not np.isfinite(joints).all():
        raise DataFileError(source, "joints contain NaN or infinite values")
    if len(joints) < FRAMES_PER_TOKEN:
        raise DataFileError(source, f"fewer than {FRAMES_PER_TOKEN} frames")
    upper, lower = encode_joints(vqvae.eval(), joints)
    return upper[0].cpu().numpy(), lower[0].cpu().numpy()


def check_token_ids(
    source: str | os.PathLike, upper: np.ndarray, lower: np.ndarray, codebook_size: int | None
) -> None:
    """Two equally long 1-D integer code streams, within the codebook when its size is known."""
    for name, ids in (("upper_ids", upper), ("lower_ids", lower)):
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) == 0:
            raise DataFileError(
                source, f"{name} must be a non-empty 1-D integer array, got {ids.dtype} {ids.shape}"
            )
        if ids.min() < 0 or (codebook_size is not None and ids.max() >= codebook_size):
            raise DataFileError(
                source,
                f"{name} holds codes {ids.min()}..{ids.max()}, outside the reward model's "
                f"codebook 0..{codebook_size - 1 if codebook_size else '?'}",
            )
    if len(upper) != len(lower):
        raise DataFileError(source, f"upper_ids has {len(upper)} codes, lower_ids {len(lower)}")


def load_dance_file(
    path: str | os.PathLike,
    music_tokens: np.ndarray | None,
    vqvae: DanceVQVAE | None,
    codebook_size: int | None = None,
) -> TokenDance:
    """A `.npz` (tokens `upper_ids`/`lower_ids` or `joints`, optional `music_tokens`) or `.npy` joints."""
    path = Path(path)
    arrays = load_arrays(path, "dance file")
    if "music_tokens" in arrays:
        music_tokens = arrays["music_tokens"]
    if music_tokens is None:
        raise DataFileError(
            path, "no music: the file has no 'music_tokens' and no --music was given"
        )
    if (
        not np.issubdtype(np.asarray(music_tokens).dtype, np.number)
        or not np.isfinite(music_tokens).all()
    ):
        raise DataFileError(path, "music_tokens hold NaN, infinite or non-numeric values")
    if "upper_ids" in arrays and "lower_ids" in arrays:
        upper, lower = arrays["upper_ids"], arrays["lower_ids"]
        check_token_ids(path, upper, lower, codebook_size)
    elif "joints" in arrays:
        if "fps" in arrays and float(arrays["fps"]) != TOKEN_FPS * FRAMES_PER_TOKEN:
            raise DataFileError(
                path,
                f"joints at {float(arrays['fps']):g} FPS; expected {TOKEN_FPS * FRAMES_PER_TOKEN:g}",
            )
        if vqvae is None:
            raise DataFileError(path, "the dance is joints: pass --vqvae to encode it into tokens")
        upper, lower = tokenize_joints(vqvae, arrays["joints"], str(path))
    else:
        raise DataFileError(
            path, f"expected 'upper_ids' + 'lower_ids' or 'joints', found {sorted(arrays)}"
        )
    return TokenDance(
        path.stem, np.asarray(music_tokens), np.asarray(upper), np.asarray(lower), str(path)
    )


def dances_from_clip_dataset(clips, vqvae: DanceVQVAE | None, source: str) -> list[TokenDance]:
    """Every clip of a prepared clip dataset (joints + music), encoded with `vqvae`."""
    if vqvae is None:
        raise DataFileError(source, "a clip dataset holds joints: pass --vqvae to encode them")
    dances = []
    for row in clips.select_columns(["id", "joints", "music_tokens"]).with_format("numpy"):
        upper, lower = tokenize_joints(vqvae, row["joints"], f"{source}:{row['id']}")
        dances.append(
            TokenDance(
                str(row["id"]), np.asarray(row["music_tokens"]), upper, lower,
                f"{source} (clip {row['id']})",
            )
        )  # fmt: skip
    return dances


def score_dances(
    reward_model: DanceRewardModel,
    dances: list[TokenDance],
    vqvae: DanceVQVAE | None = None,
    stride: int | None = None,
) -> list[DanceScore]:
    if vqvae is not None:
        check_same_interface(vqvae.config, reward_model.config, "reward model")
    out = []
    for dance in dances:
        if (
            dance.music_tokens.ndim != 2
            or dance.music_tokens.shape[1] != reward_model.config.music_dim
        ):
            raise DataFileError(
                dance.source or dance.name,
                f"music features are {dance.music_tokens.shape}, the reward model reads "
                f"(steps, {reward_model.config.music_dim})",
            )
        try:
            u = score_windows(
                reward_model, dance.music_tokens, dance.upper_ids, dance.lower_ids, stride
            )
        except ValueError as exc:  # too short for one window: say which dance
            raise DataFileError(dance.source or dance.name, str(exc)) from None
        out.append(
            DanceScore(dance.name, int(min(len(dance.upper_ids), len(dance.music_tokens))), u)
        )
    return out


SCORES_WRITTEN_BY = "e3d2-hf score"
"""`written_by` of the JSON that `e3d2 score --output` writes."""


def _rows_sha256(rows: list) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def scores_document(scores: list[DanceScore]) -> dict:
    """What `--output` holds: the scores, and the proof that `e3d2 score` wrote them unchanged
    (the hash of the rows), so a later run replaces only that file."""
    rows = [s.as_dict() for s in scores]
    return {"written_by": SCORES_WRITTEN_BY, "sha256": _rows_sha256(rows), "scores": rows}


def check_score_output(path: Path) -> None:
    """`--output` may replace only an earlier, unedited scores file of `e3d2 score`."""
    if not path.exists() and not path.is_symlink():
        return
    try:
        document = json.loads(path.read_text()) if not path.is_symlink() else None
        ours = (
            isinstance(document, dict)
            and document.get("written_by") == SCORES_WRITTEN_BY
            and isinstance(document.get("scores"), list)
            and document.get("sha256") == _rows_sha256(document["scores"])
        )
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError):
        ours = False
    if not ours:
        raise FileExistsError(
            f"{path}: exists and is not an unedited scores file of e3d2 score; nothing was "
            "written. Choose another --output"
        )
