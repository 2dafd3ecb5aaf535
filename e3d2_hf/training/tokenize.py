"""Encode a clip dataset into dance tokens with a trained VQ-VAE."""

from __future__ import annotations

import numpy as np
import torch
from datasets import Array2D, Dataset, Features, Sequence, Value
from tqdm.auto import tqdm

from ..data.layout import FRAMES_PER_TOKEN, MusicLayout
from ..models import DanceVQVAE

TOKEN_COLUMNS = ("id", "genre", "skeleton", "num_tokens", "upper_ids", "lower_ids", "music_tokens")


def token_features() -> Features:
    return Features(
        {
            "id": Value("string"),
            "genre": Value("string"),
            "skeleton": Value("string"),
            "num_tokens": Value("int32"),
            "upper_ids": Sequence(Value("int32")),
            "lower_ids": Sequence(Value("int32")),
            "music_tokens": Array2D(shape=(None, MusicLayout.DIM), dtype="float32"),
        }
    )


@torch.no_grad()
def tokenize_clips(clips, vqvae: DanceVQVAE, show_progress: bool = True) -> Dataset:
    """One row per clip: its upper/lower codes and the 7.5-FPS music rows, cut to equal length.

    The whole clip is encoded at once (the encoder is convolutional), so a
    window's codes do not depend on where a window starts; Bailando encodes
    each window alone, which differs only within the receptive field of a
    window edge.
    """
    skeletons = set(clips.unique("skeleton"))
    if skeletons != {vqvae.config.skeleton}:
        raise ValueError(
            f"the clips use skeleton(s) {sorted(skeletons)} but the VQ-VAE was trained for "
            f"{vqvae.config.skeleton!r}"
        )
    vqvae.eval()
    device = vqvae.device
    rows = []
    columns = clips.select_columns(
        ["id", "genre", "skeleton", "joints", "music_tokens"]
    ).with_format("numpy")
    for clip in tqdm(columns, desc="tokenize", disable=not show_progress):
        joints = np.asarray(clip["joints"], dtype=np.float32)
        music = np.asarray(clip["music_tokens"], dtype=np.float32)
        frames = len(joints) // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN
        if frames == 0:
            continue
        upper, lower = vqvae.encode(torch.from_numpy(joints[None, :frames]).to(device))
        n = min(upper.shape[1], len(music))
        rows.append(
            {
                "id": str(clip["id"]),
                "genre": str(clip["genre"]),
                "skeleton": str(clip["skeleton"]),
                "num_tokens": n,
                "upper_ids": upper[0, :n].cpu().numpy().astype(np.int32),
                "lower_ids": lower[0, :n].cpu().numpy().astype(np.int32),
                "music_tokens": music[:n],
            }
        )
    if not rows:
        raise ValueError("no clip is long enough to give a single token")
    return Dataset.from_list(rows, features=token_features())


def validate_token_dataset(dataset, source: str = "dataset") -> None:
    from ..errors import DataFileError

    missing = [c for c in TOKEN_COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataFileError(source, f"not a token dataset: missing columns {missing}")
