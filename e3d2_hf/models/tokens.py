"""Encode a clip dataset into dance tokens with a trained VQ-VAE."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from datasets import Array2D, Dataset, Features, Sequence, Value
from tqdm.auto import tqdm

from ..data.layout import FRAMES_PER_TOKEN, MusicLayout
from .vqvae.modeling_vqvae import DanceVQVAE

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
    # read, not `unique()`: on filtered clips that flattens the indices into a cache file
    # written into the user's dataset folder
    skeletons = set(clips.select_columns(["skeleton"]).to_dict()["skeleton"])
    if skeletons != {vqvae.config.skeleton}:
        raise ValueError(
            f"the clips use skeleton(s) {sorted(skeletons)} but the VQ-VAE was trained for "
            f"{vqvae.config.skeleton!r}"
        )
    vqvae.eval()
    rows = []
    columns = clips.select_columns(
        ["id", "genre", "skeleton", "joints", "music_tokens"]
    ).with_format("numpy")
    for clip in tqdm(columns, desc="tokenize", disable=not show_progress):
        joints = np.asarray(clip["joints"], dtype=np.float32)
        music = np.asarray(clip["music_tokens"], dtype=np.float32)
        if len(joints) < FRAMES_PER_TOKEN:
            continue
        upper, lower = encode_joints(vqvae, joints)
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


@torch.no_grad()
def encode_joints(vqvae: DanceVQVAE, joints: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, N) upper and lower codes of one (T, 3J) joint array, cut to whole 8-frame codes."""
    frames = len(joints) // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN
    clip = torch.from_numpy(np.asarray(joints[:frames], dtype=np.float32)[None])
    return vqvae.encode(clip.to(vqvae.device))


def validate_token_dataset(dataset, source: str = "dataset") -> None:
    from ..utils.errors import DataFileError

    missing = [c for c in TOKEN_COLUMNS if c not in dataset.column_names]
    if missing:
        raise DataFileError(source, f"not a token dataset: missing columns {missing}")


def load_token_splits(tokens_dir: str | os.PathLike):
    """The `train` and `heldout` token datasets that behaviour cloning writes under `tokens_dir`."""
    from datasets import load_from_disk

    from ..utils.errors import DataFileError

    splits = []
    for split in ("train", "heldout"):
        path = Path(tokens_dir) / split
        if not path.is_dir():
            raise DataFileError(path, "token dataset not found (train pi_BC first, it writes them)")
        dataset = load_from_disk(str(path))
        validate_token_dataset(dataset, str(path))
        splits.append(dataset)
    return tuple(splits)
