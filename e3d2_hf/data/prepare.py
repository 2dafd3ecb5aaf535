"""Build a clip Dataset from a source (synthetic, Dance with Melody, AIST++) and save it."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..utils.errors import DataFileError
from ..utils.outputs import PREPARE_INFO, atomic_output_dir
from ..utils.ranges import check_ranges
from .download import DANCE_WITH_MELODY, default_download_dir, find_downloaded
from .kinematics import smpl_joints
from .layout import MOTION_FPS, TOKEN_FPS
from .music import compile_feature_kernels, music_features
from .readers import aistpp, dance_with_melody, synthetic
from .readers.synthetic import AUDIO_SAMPLE_RATE
from .schema import build_dataset, make_clip
from .skeleton import DANCE_WITH_MELODY23, SMPL24, Skeleton

logger = logging.getLogger(__name__)

SOURCES = ("synthetic", "dance-with-melody", "aistpp")


@dataclass
class PrepareConfig:
    """What to read and where to write it (the options of `e3d2 prepare`)."""

    source: str = field(
        default="synthetic",
        metadata={"choices": SOURCES, "aliases": ["--data"], "help": "which reader"},
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "where to save (default: outputs/data/<source>)"}
    )
    path: str | None = field(
        default=None,
        metadata={
            "help": "source folder (dance-with-melody: the DANCE_* parent; aistpp: the root "
            "with motions/)"
        },
    )
    split: str = field(
        default="train", metadata={"choices": ("train", "test"), "help": "AIST++ split"}
    )
    music_dir: str | None = field(
        default=None, metadata={"help": "AIST++ music folder with mXXX.wav (default: <path>/wav)"}
    )
    smpl_model_path: str | None = field(
        default=None,
        metadata={"help": "folder with SMPL model files; default: built-in skeleton FK"},
    )
    floor: str = dance_with_melody.floor_option()
    num_sequences: int = field(default=32, metadata={"help": "synthetic: sequences"})
    duration: float = field(default=16.0, metadata={"help": "synthetic: seconds each"})
    seed: int = field(default=0, metadata={"help": "synthetic: seed"})
    num_workers: int = field(default=1, metadata={"help": "processes for feature extraction"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing output folder"})

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.output_dir is None:
            self.output_dir = f"outputs/data/{self.source}"


def _synthetic_row(
    seq: synthetic.SyntheticSequence, audio_dir: Path, final_audio_dir: Path
) -> dict[str, Any]:
    import soundfile

    wav = audio_dir / f"{seq.id}.wav"
    soundfile.write(str(wav), seq.audio, AUDIO_SAMPLE_RATE, subtype="PCM_16")
    joints = smpl_joints(seq.poses.reshape(len(seq.poses), -1), seq.translation)
    return make_clip(
        clip_id=seq.id,
        genre=seq.genre,
        skeleton=SMPL24,
        fps=MOTION_FPS,
        joints=joints,
        music=music_features(wav, MOTION_FPS, cache_dir=False),
        music_tokens=music_features(wav, TOKEN_FPS, cache_dir=False),
        music_path=str(final_audio_dir / wav.name),
        motion_path=f"synthetic:seed={seq.id}",
    )


def _run(
    jobs: list[Callable[[], dict[str, Any]]], num_workers: int, desc: str
) -> list[dict[str, Any]]:
    # the bar is closed before an error propagates, so the error stays the last line
    with tqdm(total=len(jobs), desc=desc, unit="clip") as bar:
        if num_workers <= 1:
            return [_advance(bar, job()) for job in jobs]
        # spawned, not forked: a fork of a process whose torch already ran threads can hang
        # (the synthetic generator runs forward kinematics before the pool starts)
        context = multiprocessing.get_context("spawn")
        compile_feature_kernels()
        with ProcessPoolExecutor(max_workers=num_workers, mp_context=context) as pool:
            return [_advance(bar, row) for row in pool.map(_call, jobs)]


def _advance(bar, row: dict[str, Any]) -> dict[str, Any]:
    bar.update()
    return row


def _call(job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return job()


def prepare(config: PrepareConfig) -> Path:
    """Read every sequence of `config.source`, write a clip Dataset to `config.output_dir`.

    The folder appears only when everything succeeded.
    """
    if config.source not in SOURCES:
        raise ValueError(f"unknown source {config.source!r}; choose one of {SOURCES}")
    if config.source == "dance-with-melody":  # recorded in prepare.json as found
        config = replace(config, path=dance_with_melody_path(config.path))
    output_dir = Path(config.output_dir).resolve()
    skeleton: Skeleton = SMPL24
    with atomic_output_dir(
        output_dir, overwrite=config.overwrite, instead="choose another --output_dir"
    ) as tmp:
        if config.source == "synthetic":
            audio_dir = tmp / "audio"
            audio_dir.mkdir()
            seqs = synthetic.generate_sequences(config.num_sequences, config.duration, config.seed)
            jobs = [partial(_synthetic_row, s, audio_dir, output_dir / "audio") for s in seqs]
        elif config.source == "dance-with-melody":
            skeleton = DANCE_WITH_MELODY23
            jobs = [
                partial(dance_with_melody.read_sequence, f, floor=config.floor)
                for f in dance_with_melody.list_sequences(config.path)
            ]
        else:
            if not config.path:
                raise ValueError(
                    "AIST++ needs its root folder (aist_plusplus_final/, with motions/ and splits/): "
                    "--path for e3d2 prepare, --data_path for e3d2 demo, --dataset_path for the "
                    "training recipes; README 'AIST++' says where each piece comes from"
                )
            root = Path(config.path)
            aistpp.check_layout(root, config.split, config.music_dir, config.smpl_model_path)
            names = aistpp.present_sequences(root, config.split)
            jobs = [
                partial(aistpp.read_sequence, root, n, config.music_dir, config.smpl_model_path)
                for n in names
            ]
        rows = _run(jobs, config.num_workers, desc=f"prepare {config.source}")
        dataset = build_dataset(rows, skeleton)
        dataset.save_to_disk(str(tmp))
        summary = {
            "config": asdict(config),
            "num_clips": len(rows),
            "skeleton": skeleton.name,
            "total_frames": int(sum(r["num_frames"] for r in rows)),
            "genres": sorted({r["genre"] for r in rows}),
            "mean_beats_per_clip": float(np.mean([len(r["beat_frames"]) for r in rows])),
        }
        (tmp / PREPARE_INFO).write_text(json.dumps(summary, indent=2))
    logger.info("wrote %d clips to %s", len(rows), output_dir)
    return output_dir


def dance_with_melody_path(path: str | os.PathLike | None) -> str:
    """`path`, else the folder `e3d2 download dance-with-melody` filled; else an error saying how."""
    if path is not None:
        return os.fspath(path)
    found = find_downloaded(DANCE_WITH_MELODY.name)
    if found is None:
        raise DataFileError(
            default_download_dir(DANCE_WITH_MELODY.name),
            "Dance with Melody is not downloaded: run `e3d2 download dance-with-melody` "
            "(or pass the folder that holds its DANCE_<genre>_<n>/ pieces)",
        )
    return os.fspath(found)
