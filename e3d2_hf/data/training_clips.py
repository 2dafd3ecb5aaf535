"""Which clips a stage trains on: a source prepared once (or a prepared folder), and the
clips held out as unseen music, the same split for the VQ-VAE and for behaviour cloning."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from accelerate import PartialState

from ..utils.errors import DataFileError
from ..utils.outputs import PREPARE_INFO, check_replaceable
from ..utils.ranges import check_ranges
from .prepare import SOURCES, PrepareConfig, prepare
from .readers.dance_with_melody import floor_option
from .schema import load_clip_dataset


@dataclass
class DataArguments:
    """Which dances to train on and which clips to hold out as unseen music."""

    dataset: str = field(
        default="synthetic",
        metadata={
            "help": "synthetic | dance-with-melody | aistpp | path to a prepared clip dataset"
        },
    )
    dataset_path: str | None = field(
        default=None,
        metadata={
            "help": "raw data folder (dance-with-melody: default the `e3d2 download` folder)"
        },
    )
    prepared_dir: str | None = field(
        default=None,
        metadata={"help": "where prepared clips are kept (default outputs/data/<dataset>)"},
    )
    floor: str = floor_option()
    num_synthetic_clips: int = field(default=16, metadata={"help": "synthetic clips to generate"})
    synthetic_duration: float = field(default=16.0, metadata={"help": "seconds per synthetic clip"})
    num_holdout_clips: int = field(default=2, metadata={"help": "clips held out as unseen music"})
    holdout_ids: list[str] | None = field(
        default=None, metadata={"help": "explicit held-out clip ids"}
    )
    prepare_workers: int = field(default=2, metadata={"help": "processes for data preparation"})

    def __post_init__(self) -> None:
        check_ranges(self)


def load_clips(data: DataArguments):
    """The clip dataset named by `data`, prepared once (on the main process) and then reused."""
    if data.dataset not in SOURCES:
        return load_clip_dataset(data.dataset)
    out = Path(data.prepared_dir or f"outputs/data/{data.dataset}")
    path = data.dataset_path
    with PartialState().main_process_first():
        if not (out / PREPARE_INFO).is_file():
            check_replaceable(out, "choose another --prepared_dir")
            prepare(
                PrepareConfig(
                    source=data.dataset,
                    output_dir=os.fspath(out),
                    path=path,
                    floor=data.floor,
                    num_sequences=data.num_synthetic_clips,
                    duration=data.synthetic_duration,
                    num_workers=data.prepare_workers,
                    overwrite=out.exists(),
                )
            )
    if data.dataset == "dance-with-melody":
        _check_floor(out / PREPARE_INFO, data.floor)
    return load_clip_dataset(out)


def _check_floor(info: Path, floor: str) -> None:
    """A Dance-with-Melody folder prepared earlier holds the floor it was prepared with (one
    from before the option, the recorded heights); training on another would be silent."""
    prepared = json.loads(info.read_text()).get("config", {}).get("floor", "recorded")
    if prepared != floor:
        raise DataFileError(
            info,
            f"prepared with --floor {prepared}, but this run asks for --floor {floor}: pass "
            f"--floor {prepared}, or prepare the pieces again in another folder",
        )


def split_holdout(clips, data: DataArguments):
    """(train, held-out) clips; held-out ids are explicit or drawn with a fixed seed."""
    ids = list(clips["id"])
    if data.holdout_ids:
        unknown = sorted(set(data.holdout_ids) - set(ids))
        if unknown:
            raise ValueError(f"holdout_ids {unknown} are not clips of the dataset")
        held = set(data.holdout_ids)
    else:
        if data.num_holdout_clips >= len(ids):
            raise ValueError(
                f"cannot hold out {data.num_holdout_clips} of {len(ids)} clips and still train"
            )
        order = np.random.default_rng(0).permutation(len(ids))
        held = {ids[i] for i in order[: data.num_holdout_clips]}
    # in memory: a cache file would be written into the user's dataset folder; the ids alone
    # are read (input_columns), so no clip's joints or music are decoded
    keep = {"input_columns": "id", "keep_in_memory": True}
    train = clips.filter(lambda clip_id: clip_id not in held, **keep)
    heldout = clips.filter(lambda clip_id: clip_id in held, **keep)
    return train, heldout
