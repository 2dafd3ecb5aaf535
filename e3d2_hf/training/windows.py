"""Training windows cut from clip and token datasets (docs/bailando.md §2 and §4).

Both are map-style torch datasets over an index of (row, start) pairs, so
Accelerate can shard and shuffle them like any other dataset.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from ..data.layout import WINDOW_FRAMES, WINDOW_TOKENS
from ..data.motion import window_starts


class MotionWindows(TorchDataset):
    """240-frame windows of absolute joints from a clip dataset, for the VQ-VAE.

    Bailando's step 1 uses a stride of 40 frames; windows shorter than the
    window length are dropped.
    """

    def __init__(self, clips, window_frames: int = WINDOW_FRAMES, stride: int = 40):
        self.window_frames = window_frames
        columns = clips.select_columns(["joints"]).with_format("numpy")
        self.joints = [np.asarray(row["joints"], dtype=np.float32) for row in columns]
        self.index = [
            (row, start)
            for row, joints in enumerate(self.joints)
            for start in window_starts(len(joints), window_frames, stride)
        ]
        if not self.index:
            raise ValueError(
                f"no clip is at least {window_frames} frames long: nothing to train the VQ-VAE on"
            )

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row, start = self.index[i]
        return {
            "joints": torch.from_numpy(self.joints[row][start : start + self.window_frames]),
            "window_index": torch.tensor(i),
        }


class TokenWindows(TorchDataset):
    """30-token windows of a token dataset, laid out for the policy's teacher-forced forward.

    Inputs are codes 0..28 with music rows 1..29 (the offset of docs/bailando.md
    §4: the code at step i is paired with the music of step i + 1), labels
    are codes 1..29.
    """

    def __init__(self, tokens, window_tokens: int = WINDOW_TOKENS, stride: int = 1):
        self.window_tokens = window_tokens
        rows = tokens.select_columns(["music_tokens", "upper_ids", "lower_ids"]).with_format(
            "numpy"
        )
        self.music = [np.asarray(r["music_tokens"], dtype=np.float32) for r in rows]
        self.upper = [np.asarray(r["upper_ids"], dtype=np.int64) for r in rows]
        self.lower = [np.asarray(r["lower_ids"], dtype=np.int64) for r in rows]
        self.index = [
            (row, start)
            for row in range(len(self.upper))
            for start in window_starts(
                min(len(self.upper[row]), len(self.music[row])), window_tokens, stride
            )
        ]
        if not self.index:
            raise ValueError(f"no clip has {window_tokens} tokens: nothing to train the policy on")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row, start = self.index[i]
        end = start + self.window_tokens
        upper, lower = self.upper[row][start:end], self.lower[row][start:end]
        return {
            "music_features": torch.from_numpy(self.music[row][start + 1 : end]),
            "upper_ids": torch.from_numpy(upper[:-1]),
            "lower_ids": torch.from_numpy(lower[:-1]),
            "upper_labels": torch.from_numpy(upper[1:]),
            "lower_labels": torch.from_numpy(lower[1:]),
            "window_index": torch.tensor(i),
        }
