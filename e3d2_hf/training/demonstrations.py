"""Automatically ranked demonstrations (docs/method.md §2, D-REX style).

pi_BC is rolled out epsilon-greedily at every noise level on every training
music segment; demonstrations with lower noise are assumed better. Pairs of
demonstrations with different noise levels (possibly on different music)
become a preference dataset in TRL's convention (`chosen_*` / `rejected_*`
token ids and a `margin`), with the music features kept once per segment in
a separate table joined by `segment_id`.

Collection runs in shards written atomically to `<output_dir>/shards/`, so a
killed collection resumes where it stopped, and each rank of a multi-process
run collects its own shards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np
import torch
from accelerate import PartialState
from datasets import (
    Dataset,
    DatasetDict,
    concatenate_datasets,
    load_from_disk,
)
from tqdm.auto import tqdm

from ..data.layout import WINDOW_TOKENS
from ..evaluation.diagnostics import repeated_codes
from ..models import DancePolicy
from ..preferences import (
    PAIR_KIND,
    demonstration_features,
    pair_features,
    save_preferences,
    segment_features,
)
from ..utils.outputs import atomic_output_dir, check_replaceable, claim_output_dir, remove_owned
from ..utils.ranges import check_ranges

logger = logging.getLogger(__name__)

PAPER_NOISE_LEVELS = (1.0, 0.75, 0.5, 0.25, 0.02)
CORRUPTIONS = ("frozen", "shuffled", "reversed", "off_beat", "other_music")
"""What `corrupt_episodes` can do to the data's own episode, each something a dancer would
call worse: hold one pose for 1-2 s, shuffle or reverse the codes in time, dance 0.27-0.53 s
off the music's beat, or dance to another song's music."""


@dataclass
class DemonstrationConfig:
    """How many demonstrations and pairs to make (docs/method.md §2; the paper: 30,000 pairs each)."""

    noise_levels: list[float] = field(default_factory=lambda: list(PAPER_NOISE_LEVELS))
    segment_stride: int = 1
    num_train_pairs: int = 30_000
    num_test_pairs: int = 30_000
    temperature: float = 1.0
    rollout_batch_size: int = 64
    shard_segments: int = 256
    seed: int = 0
    match_repeated_codes: float | None = field(
        default=None,
        metadata={
            "help": "not in the paper (which pairs at random): pair only demonstrations whose "
            "fractions of steps that keep a body half's code differ by at most this. Noise "
            "draws uniform codes, which almost never repeat while pi_BC keeps about half of "
            "its codes, so a reward model can rank by repetition alone and PPO then holds poses"
        },
    )
    ground_truth_demonstrations: bool = field(
        default=False,
        metadata={
            "help": "not in the paper (which ranks pi_BC's rollouts only): add the data's own "
            "codes on each segment as demonstrations at noise 0, ranked above every rollout, "
            "so the reward model learns what the data does. On a synthetic world whose dances "
            "barely traveled, the reward model without them scored the data's own moves lower "
            "the faster they crossed the floor, and PPO shortened root travel by 46%"
        },
    )

    corruptions: list[str] = field(
        default_factory=list,
        metadata={
            "help": "not in the paper: also rank the data's own episode above corrupted copies "
            f"of it, each kind in {CORRUPTIONS} (needs ground_truth_demonstrations), so that "
            "the reward model learns what makes a dance worse besides noise in pi_BC's sampler"
        },
    )
    corruption_pair_fraction: float = field(
        default=0.5,
        metadata={
            "help": "the share of each split's pairs that rank an episode over its corruption"
        },
    )

    def __post_init__(self) -> None:
        check_ranges(self)
        if unknown := [c for c in self.corruptions if c not in CORRUPTIONS]:
            raise ValueError(f"unknown corruptions {unknown}; known: {CORRUPTIONS}")
        if self.corruptions and not self.ground_truth_demonstrations:
            raise ValueError(
                "corruptions corrupt the data's own episodes: set ground_truth_demonstrations"
            )
        if self.corruptions and not 0 < self.corruption_pair_fraction < 1:
            raise ValueError(
                f"corruption_pair_fraction must lie in (0, 1), got {self.corruption_pair_fraction}"
            )
        if len(set(self.noise_levels)) < 2:
            raise ValueError(f"need at least two different noise levels, got {self.noise_levels}")
        if any(not 0.0 <= e <= 1.0 for e in self.noise_levels):
            raise ValueError(f"noise levels must lie in [0, 1], got {self.noise_levels}")
        if self.segment_stride < 1 or self.shard_segments < 1 or self.rollout_batch_size < 1:
            raise ValueError(
                "segment_stride, shard_segments and rollout_batch_size must be positive"
            )
        if self.ground_truth_demonstrations and min(self.noise_levels) <= 0.0:
            raise ValueError(
                "ground_truth_demonstrations ranks the data at noise 0, above every rollout: "
                f"the noise levels must all be above 0, got {self.noise_levels}"
            )
        if self.match_repeated_codes is not None and self.match_repeated_codes > 1:
            raise ValueError(
                f"match_repeated_codes is a difference of fractions, at most 1; got "
                f"{self.match_repeated_codes:g}"
            )


def music_segments(tokens, first_segment_id: int = 0, stride: int = 1) -> Dataset:
    """One row per 30-token window of each clip: p_init's codes and the 29 music rows the policy reads."""
    rows = []
    segment_id = first_segment_id
    for clip in tokens.with_format("numpy"):
        music = np.asarray(clip["music_tokens"], dtype=np.float32)
        n = min(len(music), len(clip["upper_ids"]))
        for start in range(0, n - WINDOW_TOKENS + 1, stride):
            rows.append(
                {
                    "segment_id": segment_id,
                    "music_id": str(clip["id"]),
                    "start": start,
                    "init_upper": int(clip["upper_ids"][start]),
                    "init_lower": int(clip["lower_ids"][start]),
                    "music_features": music[start + 1 : start + WINDOW_TOKENS],
                }
            )
            segment_id += 1
    if not rows:
        raise ValueError(f"no clip has {WINDOW_TOKENS} tokens: no music segment to roll out on")
    return Dataset.from_list(rows, features=segment_features())


GROUND_TRUTH_NOISE = 0.0
"""The noise level of `ground_truth_demonstrations`: below every rollout's."""


def ground_truth_demonstrations(tokens, segments: Dataset) -> Dataset:
    """The data's own dance on each segment (cut by `music_segments` from `tokens`): the codes
    the ground truth danced after p_init, as demonstrations at noise `GROUND_TRUTH_NOISE`."""
    clips = {str(c["id"]): c for c in tokens.with_format("numpy")}
    rows = segments.select_columns(["segment_id", "music_id", "start"]).with_format("numpy")
    columns: dict[str, list] = {k: [] for k in ("segment_id", "noise", "upper_ids", "lower_ids")}
    for segment_id, music_id, start in zip(
        rows["segment_id"], rows["music_id"], rows["start"], strict=True
    ):
        clip = clips[str(music_id)]
        window = slice(int(start) + 1, int(start) + WINDOW_TOKENS)
        columns["segment_id"].append(int(segment_id))
        columns["noise"].append(GROUND_TRUTH_NOISE)
        columns["upper_ids"].append(np.asarray(clip["upper_ids"][window], dtype=np.int32))
        columns["lower_ids"].append(np.asarray(clip["lower_ids"][window], dtype=np.int32))
    return Dataset.from_dict(columns, features=demonstration_features())


@torch.no_grad()
def roll_out_segments(
    policy: DancePolicy, segments: Dataset, config: DemonstrationConfig, shard_index: int
) -> Dataset:
    """One epsilon-greedy episode of pi_BC per segment and noise level."""
    policy.eval()
    generator = torch.Generator(device=policy.device).manual_seed(
        config.seed * 1_000_003 + shard_index
    )
    data = segments.with_format("torch")
    rows = []
    for begin in range(0, len(segments), config.rollout_batch_size):
        batch = data[begin : begin + config.rollout_batch_size]
        music = batch["music_features"].to(policy.device)
        init_upper = batch["init_upper"].long().to(policy.device)
        init_lower = batch["init_lower"].long().to(policy.device)
        for noise in config.noise_levels:
            episode = policy.rollout(
                music,
                init_upper,
                init_lower,
                temperature=config.temperature,
                epsilon=float(noise),
                generator=generator,
            )
            for i, segment_id in enumerate(batch["segment_id"].tolist()):
                rows.append(
                    {
                        "segment_id": segment_id,
                        "noise": float(noise),
                        "upper_ids": episode.upper_ids[i].cpu().numpy().astype(np.int32),
                        "lower_ids": episode.lower_ids[i].cpu().numpy().astype(np.int32),
                    }
                )
    return Dataset.from_list(rows, features=demonstration_features())


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """No `datasets` progress bars inside (a shard save would break the collection's bar)."""
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def collect_demonstrations(
    policy: DancePolicy, segments: Dataset, shard_dir: Path, config: DemonstrationConfig, desc: str
) -> Dataset:
    """Roll out every segment at every noise level, shard by shard; finished shards are kept."""
    state = PartialState()
    shard_dir.mkdir(parents=True, exist_ok=True)
    num_shards = (len(segments) + config.shard_segments - 1) // config.shard_segments
    mine = [i for i in range(num_shards) if i % state.num_processes == state.process_index]
    todo = [i for i in mine if not (shard_dir / f"shard-{i:05d}" / "dataset_info.json").exists()]
    logger.info(
        "%s: process %d of %d collects shards %s",
        desc, state.process_index, state.num_processes, mine,
    )  # fmt: skip
    if len(todo) < len(mine):
        logger.info(
            "%s: %d of %d shards already collected, resuming",
            desc,
            len(mine) - len(todo),
            len(mine),
        )
    for i in tqdm(todo, desc=desc, disable=not state.is_local_main_process):
        part = segments.select(
            range(i * config.shard_segments, min((i + 1) * config.shard_segments, len(segments)))
        )
        demonstrations = roll_out_segments(policy, part, config, i)
        with atomic_output_dir(shard_dir / f"shard-{i:05d}") as tmp, quiet_datasets():
            demonstrations.save_to_disk(str(tmp))
    state.wait_for_everyone()
    return concatenate_datasets(
        [load_from_disk(str(shard_dir / f"shard-{i:05d}")) for i in range(num_shards)]
    )


MATCH_ROUNDS = 10_000
"""Redraws of a pair before `make_pairs` gives up on matching its repetition."""


def make_pairs(
    demonstrations: Dataset,
    segments: Dataset,
    num_pairs: int,
    seed: int,
    match_repeated_codes: float | None = None,
) -> Dataset:
    """Random pairs of demonstrations with different noise levels; the lower noise is `chosen`.

    With `match_repeated_codes`, only pairs whose `repeated_codes` differ by at most that are
    kept (DemonstrationConfig says why); without it the draws are the paper's random pairs.
    """
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be positive, got {num_pairs}")
    noise = np.asarray(demonstrations["noise"], dtype=np.float32)
    if len(np.unique(noise)) < 2:
        raise ValueError("all demonstrations have the same noise level: no pair can be ranked")
    rows = demonstrations.with_format("numpy")
    kept = None
    if match_repeated_codes is not None:
        kept = repeated_codes(np.stack(rows["upper_ids"]), np.stack(rows["lower_ids"]))
    music_of = dict(zip(segments["segment_id"], segments["music_id"], strict=True))
    rng = np.random.default_rng(seed)
    first = rng.integers(len(demonstrations), size=num_pairs)
    second = rng.integers(len(demonstrations), size=num_pairs)

    def unpairable(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        bad = noise[a] == noise[b]
        return bad if kept is None else bad | (np.abs(kept[a] - kept[b]) > match_repeated_codes)

    bad = unpairable(first, second)
    rounds = 0
    while bad.any():
        rounds += 1
        if kept is not None and rounds > MATCH_ROUNDS:
            raise ValueError(
                f"match_repeated_codes {match_repeated_codes:g}: {int(bad.sum())} of {num_pairs} "
                f"pairs found no partner in {MATCH_ROUNDS} draws; allow a larger difference"
            )
        second[bad] = rng.integers(len(demonstrations), size=int(bad.sum()))
        if kept is not None and rounds % 50 == 0:  # a demonstration may have no partner at all
            first[bad] = rng.integers(len(demonstrations), size=int(bad.sum()))
        bad = unpairable(first, second)
    chosen = np.where(noise[first] < noise[second], first, second)
    rejected = np.where(noise[first] < noise[second], second, first)
    columns: dict[str, list] = {name: [] for name in pair_features()}
    for c, r in zip(chosen.tolist(), rejected.tolist(), strict=True):
        for who, index in (("chosen", c), ("rejected", r)):
            demo = rows[index]
            columns[f"{who}_segment_id"].append(int(demo["segment_id"]))
            columns[f"{who}_music_id"].append(music_of[int(demo["segment_id"])])
            columns[f"{who}_noise"].append(float(demo["noise"]))
            columns[f"{who}_upper_ids"].append(demo["upper_ids"])
            columns[f"{who}_lower_ids"].append(demo["lower_ids"])
        columns["margin"].append(float(noise[r] - noise[c]))
    return Dataset.from_dict(columns, features=pair_features())


OFF_BEAT_SHIFTS = (2, 3, 4)
"""Tokens (at 7.5 per second) by which `off_beat` moves the dance against its music."""
FROZEN_STEPS = (8, 16)
"""The shortest and longest pose `frozen` holds, in steps (about 1 to 2 s)."""


def corrupt_episodes(
    tokens, segments: Dataset, kinds: list[str], num_pairs: int, seed: int
) -> Dataset:
    """`num_pairs` pairs, the kinds in turn: the data's own episode on a random segment
    (`ground_truth_demonstrations`) chosen over a corrupted copy of it (`CORRUPTIONS`), both
    at noise `GROUND_TRUTH_NOISE`, margin 0, `kind` naming the corruption. Music of one song
    leaves `other_music` out, with a warning."""
    clips = {str(c["id"]): c for c in tokens.with_format("numpy")}
    rows = segments.select_columns(["segment_id", "music_id", "start"]).with_format("numpy")
    segment_ids = np.asarray(rows["segment_id"])
    music_ids = np.asarray(rows["music_id"]).astype(str)
    starts = np.asarray(rows["start"])
    if "other_music" in kinds and len(set(music_ids)) < 2:
        logger.warning("other_music left out: these segments are all of one song")
        kinds = [k for k in kinds if k != "other_music"]
        if not kinds:
            raise ValueError("the other_music corruption needs segments of two songs or more")
    rng = np.random.default_rng([seed, 7])
    window = WINDOW_TOKENS - 1

    def codes(music_id: str, first: int) -> tuple[np.ndarray, np.ndarray] | None:
        clip = clips[music_id]
        n = min(len(clip["upper_ids"]), len(clip["music_tokens"]))
        if first < 1 or first + window > n:
            return None
        cut = slice(first, first + window)
        return (np.asarray(clip["upper_ids"][cut], np.int32),
                np.asarray(clip["lower_ids"][cut], np.int32))  # fmt: skip

    columns: dict[str, list] = {name: [] for name in pair_features(kind=True)}
    for k in range(num_pairs):
        kind = kinds[k % len(kinds)]
        while True:
            i = int(rng.integers(len(segment_ids)))
            source = codes(music_ids[i], int(starts[i]) + 1)
            upper, lower = source[0].copy(), source[1].copy()
            rejected_segment = i
            if kind == "frozen":
                length = int(rng.integers(FROZEN_STEPS[0], FROZEN_STEPS[1] + 1))
                begin = int(rng.integers(0, window - length + 1))
                upper[begin : begin + length] = upper[begin]
                lower[begin : begin + length] = lower[begin]
            elif kind == "shuffled":
                order = rng.permutation(window)
                upper, lower = upper[order], lower[order]
            elif kind == "reversed":
                upper, lower = upper[::-1].copy(), lower[::-1].copy()
            elif kind == "off_beat":
                shift = int(rng.choice(OFF_BEAT_SHIFTS)) * int(rng.choice((-1, 1)))
                moved = codes(music_ids[i], int(starts[i]) + 1 + shift)
                if moved is None:
                    continue  # the clip ends there: draw another segment
                upper, lower = moved
            else:  # other_music: the same dance, another song's segment
                others = np.flatnonzero(music_ids != music_ids[i])
                rejected_segment = int(rng.choice(others))
            break
        for who, at, (up, low) in (
            ("chosen", i, source),
            ("rejected", rejected_segment, (upper, lower)),
        ):
            columns[f"{who}_segment_id"].append(int(segment_ids[at]))
            columns[f"{who}_music_id"].append(str(music_ids[at]))
            columns[f"{who}_noise"].append(GROUND_TRUTH_NOISE)
            columns[f"{who}_upper_ids"].append(up)
            columns[f"{who}_lower_ids"].append(low)
        columns["margin"].append(0.0)
        columns[PAIR_KIND].append(kind)
    return Dataset.from_dict(columns, features=pair_features(kind=True))


def _with_corruptions(
    noise_pairs: Dataset,
    tokens,
    segments: Dataset,
    config: DemonstrationConfig,
    num_pairs: int,
    seed: int,
) -> Dataset:
    """The noise pairs, marked "noise", then `corrupt_episodes` pairs up to `num_pairs`."""
    marked = noise_pairs.add_column(PAIR_KIND, ["noise"] * len(noise_pairs))
    marked = marked.cast(pair_features(kind=True))
    count = max(num_pairs - len(noise_pairs), 1)
    corrupted = corrupt_episodes(tokens, segments, config.corruptions, count, seed)
    return concatenate_datasets([marked, corrupted])


def build_preference_dataset(
    policy: DancePolicy,
    train_tokens,
    test_tokens,
    output_dir: str | os.PathLike,
    config: DemonstrationConfig,
) -> DatasetDict:
    """Collect (resumably) and save the ranked-demonstration dataset to `output_dir`.

    Saved as a `DatasetDict` with `train` / `test` pairs, `train_segments` /
    `test_segments` (music per segment) and `train_demonstrations` /
    `test_demonstrations` (every rollout, for the per-noise reports).
    """
    output_dir = Path(output_dir)
    state = PartialState()
    train_segments = music_segments(train_tokens, 0, config.segment_stride)
    test_segments = music_segments(test_tokens, len(train_segments), config.segment_stride)
    work = output_dir.with_name(output_dir.name + ".shards")
    check_replaceable(output_dir, "choose another --output_dir")
    if state.is_main_process:
        claim_output_dir(work, f"move it away or choose another --output_dir than {output_dir}")
    state.wait_for_everyone()
    train_demonstrations = collect_demonstrations(
        policy, train_segments, work / "train", config, "demonstrations (train music)"
    )
    test_demonstrations = collect_demonstrations(
        policy, test_segments, work / "test", config, "demonstrations (held-out music)"
    )
    if config.ground_truth_demonstrations:
        train_demonstrations = concatenate_datasets(
            [train_demonstrations, ground_truth_demonstrations(train_tokens, train_segments)]
        )
        test_demonstrations = concatenate_datasets(
            [test_demonstrations, ground_truth_demonstrations(test_tokens, test_segments)]
        )
    match = config.match_repeated_codes
    share = 1 - config.corruption_pair_fraction if config.corruptions else 1.0
    pairs = {
        "train": make_pairs(
            train_demonstrations, train_segments, max(round(config.num_train_pairs * share), 1),
            config.seed, match,
        ),
        "test": make_pairs(
            test_demonstrations, test_segments, max(round(config.num_test_pairs * share), 1),
            config.seed + 1, match,
        ),
    }  # fmt: skip
    if config.corruptions:
        pairs = {
            "train": _with_corruptions(
                pairs["train"],
                train_tokens,
                train_segments,
                config,
                config.num_train_pairs,
                config.seed,
            ),
            "test": _with_corruptions(
                pairs["test"],
                test_tokens,
                test_segments,
                config,
                config.num_test_pairs,
                config.seed + 1,
            ),
        }
    dataset = DatasetDict(
        {
            **pairs,
            "train_segments": train_segments,
            "test_segments": test_segments,
            "train_demonstrations": train_demonstrations,
            "test_demonstrations": test_demonstrations,
        }
    )
    if state.is_main_process:
        from ..cards import source_dataset

        info = {
            "config": asdict(config),
            "policy": policy.config.name_or_path,
            "source_dataset": source_dataset(policy.config.name_or_path),
            "codebook_size": policy.config.codebook_size,
            "skeleton": policy.config.skeleton,
        }
        with atomic_output_dir(output_dir, overwrite=True) as tmp:
            save_preferences(dataset, info, tmp)
    state.wait_for_everyone()
    dataset = DatasetDict.load_from_disk(str(output_dir))
    if state.is_main_process:
        remove_owned(work)  # every shard is in the saved dataset now
    return dataset
