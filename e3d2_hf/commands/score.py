"""the learned reward of dance files (mean u per 29-step window)

Score dances with a reward model R_theta: the total reward u of every 29-token window (3.9 s,
the length R_theta was trained on) and their mean. A DANCE is a .npz with tokens (upper_ids,
lower_ids) or joints, optionally with music_tokens; a .npy joint array (T, 24, 3) at 60 FPS; or
a clip dataset folder from `e3d2 prepare` (every clip is scored).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..utils.markdown import markdown_table
from ..utils.ranges import check_ranges


@dataclass
class Arguments:
    dances: list[str] = field(
        metadata={
            "positional": True,
            "nargs": "+",
            "metavar": "DANCE",
            "help": "dance files or a clip dataset folder",
        }
    )
    reward_model: str = field(
        metadata={"help": "reward model folder or Hub repo id (namespace/name)"}
    )
    vqvae: str | None = field(
        default=None, metadata={"help": "VQ-VAE folder or repo id; needed to encode joints"}
    )
    music: str | None = field(
        default=None,
        metadata={"help": "audio file the dances were danced to (if a file has no music_tokens)"},
    )
    stride: int | None = field(
        default=None, metadata={"help": "window stride in tokens (default: the window, no overlap)"}
    )
    output: str | None = field(
        default=None, metadata={"help": "also write the scores to this JSON file"}
    )

    def __post_init__(self) -> None:
        check_ranges(self)


def run(args: Arguments) -> int:
    from ..data.layout import TOKEN_FPS
    from ..data.music import music_features
    from ..data.schema import load_clip_dataset
    from ..models import DanceRewardModel, DanceVQVAE
    from ..models.folders import load_model
    from ..scoring import (
        check_score_output,
        dances_from_clip_dataset,
        load_dance_file,
        score_dances,
        scores_document,
    )

    if args.output:
        check_score_output(Path(args.output))
    reward_model = load_model(DanceRewardModel, args.reward_model)
    vqvae = load_model(DanceVQVAE, args.vqvae) if args.vqvae else None
    music = music_features(args.music, TOKEN_FPS) if args.music else None
    dances = []
    for path in args.dances:
        if Path(path).is_dir():
            dances += dances_from_clip_dataset(load_clip_dataset(path), vqvae, path)
        else:
            dances.append(load_dance_file(path, music, vqvae, reward_model.config.codebook_size))
    scores = score_dances(reward_model, dances, vqvae, args.stride)
    rows = [(s.name, s.num_tokens, len(s.window_u), f"{s.mean_u:.3f}") for s in scores]
    print(markdown_table(("dance", "tokens", "windows", "mean u"), rows, align="lrrr"))
    if args.output:
        output = Path(args.output)
        check_score_output(output)  # again: the minutes of scoring may have changed it
        output.parent.mkdir(parents=True, exist_ok=True)
        staged = output.with_name(f".{output.name}.partial")
        # strict JSON: a NaN score would be a bare `NaN` no JSON reader accepts
        staged.write_text(json.dumps(scores_document(scores), indent=2, allow_nan=False))
        os.replace(staged, output)
        print(f"\nwrote {args.output}")
    return 0
