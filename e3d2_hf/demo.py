"""The main job: the whole E3D2 pipeline on one dataset, with a report.

prepare -> VQ-VAE -> BC -> ranked demonstrations -> reward model -> PPO (learned
reward) -> PPO (Bailando's hand-designed reward, the baseline) -> dances on a
held-out song -> report.md + report.html. Every stage is the same function its
own command runs, with the demo configs; a finished stage is reused unless
`force`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol

from .cards import CARD_INFO
from .data.prepare import SOURCES, PrepareConfig, prepare
from .data.readers.dance_with_melody import floor_option
from .reports.demo import FOLDERS, seed_folder, write_report
from .training.config_parser import stage_config
from .training.rewards import demo_runs
from .utils.errors import StageError, is_user_error
from .utils.outputs import (
    DANCES_INFO,
    DATA_ARGS,
    DEMONSTRATIONS_INFO,
    PPO_REPORT,
    PREPARE_INFO,
    claim_output_dir,
    is_owned,
    record_files,
    remove_owned,
    run_lock,
)
from .utils.resources import shipped_folder
from .utils.yaml_files import read_yaml

logger = logging.getLogger(__name__)


CONFIG_ROOT = shipped_folder("recipe_configs", "recipes/configs")

CONFIG_DIRS = {"synthetic": "demo", "dance-with-melody": "dwm", "aistpp": "dwm"}
"""Config folder per data source: the quick demo configs, or the ones sized for real mocap."""


@dataclass
class DemoOptions:
    """The options of `e3d2 demo`."""

    output_dir: Path = field(
        default=Path("outputs/demo"), metadata={"help": "where everything goes"}
    )
    data: str = field(
        default="synthetic",
        metadata={
            "choices": SOURCES,
            "help": "synthetic (embedded), dance-with-melody or aistpp",
        },
    )
    data_path: str | None = field(
        default=None,
        metadata={
            "help": "the real data's folder (dance-with-melody: default the folder `e3d2 "
            "download dance-with-melody` fills; aistpp: the root with motions/ and splits/)"
        },
    )
    music_dir: str | None = field(
        default=None, metadata={"help": "aistpp: the folder with the mXXX.wav songs"}
    )
    floor: str = floor_option()
    force: bool = field(default=False, metadata={"help": "redo finished stages"})
    config_dir: Path | None = field(
        default=None,
        metadata={"help": "the stages' YAML configs (default: the shipped ones for --data)"},
    )
    report_to: str = field(default="tensorboard", metadata={"help": "trackers for every stage"})
    seeds: int = field(
        default=1,
        metadata={
            "help": "seeds of the stages after pi_BC (demonstrations, reward model, both PPO "
            "runs): seed 0 in the main folders, seed k in seeds/seed-k/; the report gives each "
            "policy's mean and spread over them"
        },
    )

    def __post_init__(self) -> None:
        if self.data not in SOURCES:
            raise ValueError(f"--data must be one of {SOURCES}, got {self.data!r}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {self.seeds}")
        self.output_dir = Path(self.output_dir)
        if self.config_dir is None:
            self.config_dir = CONFIG_ROOT / CONFIG_DIRS[self.data]


@dataclass
class Stage:
    name: str
    output: Path
    marker: str
    """A file inside `output` that exists only once the stage finished."""
    run: Callable[[], object]

    @property
    def done(self) -> bool:
        return (self.output / self.marker).is_file()


class StageSettings(Protocol):
    """What a stage's run takes from the command that runs it (`e3d2 demo`, `e3d2 experiment`)."""

    config_dir: Path | None
    report_to: str


def stage_options(options: StageSettings, stage: str, **values) -> tuple:
    """The dataclasses `recipes/<stage>.py` runs with: the demo config `<stage>.yaml` and this
    run's `values` (folders, seed), plus `--report_to` for the stages that are Trainers."""
    config = options.config_dir / f"{stage}.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: demo config not found")
    arguments = recipe(stage).ARGUMENTS
    if any(f.name == "report_to" for cls in arguments for f in fields(cls)):
        values["report_to"] = options.report_to
    return stage_config(arguments, config, **values)


def recipe(stage: str):
    """The recipe module of a stage (`recipes/<stage>.py`, shipped as `e3d2_hf.recipes`)."""
    return importlib.import_module(f"e3d2_hf.recipes.{stage}")


def stage_run(options: StageSettings, stage: str, **values) -> Callable[[], object]:
    """The stage's run, with its folders given as the configs' strings."""
    values = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
    return lambda: recipe(stage).run(*stage_options(options, stage, **values))


def build_stages(options: DemoOptions) -> list[Stage]:
    out = options.output_dir
    paths = {"data": out / FOLDERS.data, "vqvae": out / FOLDERS.vqvae, "bc": out / FOLDERS.bc}
    data_args = {"dataset": options.data, "prepared_dir": paths["data"], "floor": options.floor}

    def run_prepare() -> object:
        if options.data == "aistpp" and options.data_path is None:
            raise ValueError("--data aistpp needs --data_path (the AIST++ root with motions/)")
        size = _synthetic_size(options)
        synthetic = options.data == "synthetic"
        return prepare(
            PrepareConfig(
                source=options.data,
                output_dir=str(paths["data"]),
                path=options.data_path,
                music_dir=options.music_dir,
                floor=options.floor,
                overwrite=True,
                **size,
                num_workers=data_workers(size["num_sequences"]) if synthetic else 1,
            )
        )

    return [
        Stage("data", paths["data"], PREPARE_INFO, run_prepare),
        Stage(
            "VQ-VAE", paths["vqvae"], DATA_ARGS,
            stage_run(options, "vqvae", output_dir=paths["vqvae"], **data_args),
        ),
        Stage(
            "behaviour cloning", paths["bc"], DATA_ARGS,
            stage_run(
                options, "bc", output_dir=paths["bc"], vqvae_name_or_path=paths["vqvae"],
                **data_args,
            ),
        ),
        *(
            stage
            for seed in range(options.seeds)
            for stage in _seeded_stages(options, seed_folder(out, seed), seed, paths["bc"])
        ),
        Stage("dances", out / FOLDERS.dances, DANCES_INFO, lambda: render_demo_dances(out)),
    ]  # fmt: skip


def _seeded_stages(options: DemoOptions, root: Path, seed: int, bc: Path) -> list[Stage]:
    """Demonstrations -> reward model -> PPO with each of the demo's rewards, all with `seed`."""
    paths = {"preferences": root / FOLDERS.preferences, "reward": root / FOLDERS.reward}
    tag = "" if seed == 0 else f" (seed {seed})"
    ppo_common = {"policy_name_or_path": bc, "reward_model_name_or_path": paths["reward"]}
    ppo_stages = [
        Stage(
            f"PPO ({run.label} reward){tag}", root / run.folder, PPO_REPORT,
            stage_run(
                options, "ppo", output_dir=root / run.folder, reward_funcs=list(run.reward_funcs),
                **({"reward_weights": list(run.reward_weights)} if run.reward_weights else {}),
                seed=seed, **ppo_common,
            ),
        )
        for run in demo_runs()
    ]  # fmt: skip
    return [
        Stage(
            f"ranked demonstrations{tag}", paths["preferences"], DEMONSTRATIONS_INFO,
            stage_run(
                options, "demonstrations", output_dir=paths["preferences"], policy_name_or_path=bc,
                seed=seed,
            ),
        ),
        Stage(
            f"reward model{tag}", paths["reward"], CARD_INFO,
            stage_run(
                options, "reward", output_dir=paths["reward"],
                preferences_dir=paths["preferences"], seed=seed, trunk_policy=bc,
            ),
        ),
        *ppo_stages,
    ]  # fmt: skip


CLIPS_PER_WORKER = 16
"""A spawned worker pays ~10 s of imports; 16 synthetic clips of 16 s take ~13 s to prepare."""


def data_workers(num_clips: int) -> int:
    """Processes for the synthetic data stage: one per 16 clips, at most one per usable CPU.

    The music features are single-threaded and take most of the stage. Each clip is computed
    alone, so the clips come out the same with any number of workers.
    """
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    cpus = len(usable) if usable else os.cpu_count() or 1
    return max(1, min(cpus, num_clips // CLIPS_PER_WORKER))


def _synthetic_size(options: DemoOptions) -> dict:
    """The synthetic set's size as the demo VQ-VAE config names it."""
    config = read_yaml(options.config_dir / "vqvae.yaml")
    return {
        "num_sequences": int(config.get("num_synthetic_clips", 16)),
        "duration": float(config.get("synthetic_duration", 16.0)),
    }


POLICIES = (
    ("pi_BC", FOLDERS.bc),
    *((f"pi_RL ({run.label} reward)", run.folder) for run in demo_runs()),
)


def render_demo_dances(out: Path, seconds: float = 8.0) -> dict:
    """Each policy dances the first held-out song from its real first pose: mp4 + BVH + npz."""
    import numpy as np
    from datasets import load_from_disk

    from .data.schema import load_clip_dataset
    from .inference import dance_to_song, load_dancer, save_dance

    heldout = load_from_disk(str(out / FOLDERS.bc / "tokens" / "heldout"))
    clips = load_clip_dataset(out / FOLDERS.data)
    clip_id = str(heldout[0]["id"])
    clip = clips.filter(
        lambda other: str(other) == clip_id, input_columns="id", keep_in_memory=True
    )[0]
    dances_dir = out / FOLDERS.dances
    start_pose = dances_dir / "start_pose.npy"
    claim_output_dir(dances_dir)
    np.save(start_pose, np.asarray(clip["joints"], dtype=np.float32)[:8])
    record_files(dances_dir, [start_pose])
    duration = min(seconds, clip["num_frames"] / clip["fps"])
    summary = {"song": clip["music_path"], "clip": clip_id, "duration": duration, "dances": {}}
    for title, folder in POLICIES:
        policy, vqvae = load_dancer(str(out / folder), str(out / FOLDERS.vqvae))
        dance = dance_to_song(
            policy, vqvae, clip["music_path"], duration=duration, seed=0, start_pose=start_pose
        )
        files = save_dance(dance, dances_dir, folder, ("mp4", "bvh", "npz", "glb"), video_fps=24.0)
        summary["dances"][title] = {k: str(v.relative_to(out)) for k, v in files.items()}
    (dances_dir / DANCES_INFO).write_text(json.dumps(summary, indent=2))
    return summary


def run_demo(options: DemoOptions) -> Path:
    """Run every unfinished stage, then write the report; returns the report's path."""
    for config in sorted(Path(options.config_dir).glob("*.yaml")):
        read_yaml(config)  # a broken config is refused before anything is written
    stages = build_stages(options)
    claim_output_dir(options.output_dir, "choose another --output_dir")
    with run_lock(options.output_dir):  # one demo per folder
        report = _run_stages(options, stages)
    print(f"[demo] report: {report} and {report.with_suffix('.html')}", flush=True)
    return report


def _run_stages(options: DemoOptions, stages: list[Stage]) -> Path:
    timings = run_stages(options.output_dir, stages, options.force, "demo")
    report = write_report(options.output_dir, timings)
    record_files(options.output_dir)
    return report


def run_stages(output_dir: Path, stages: list[Stage], force: bool, name: str) -> dict[str, float]:
    """Run every unfinished stage in order (each finished one is reused unless `force`); returns
    the seconds of every stage run so far, kept in `output_dir/timings.json`."""
    timings: dict[str, float] = {}
    timings_file = output_dir / "timings.json"
    if timings_file.is_file() and not force:
        timings = json.loads(timings_file.read_text())
    for number, stage in enumerate(stages, 1):
        prefix = f"[{name} {number}/{len(stages)}] {stage.name}"
        if stage.done and not force:
            print(f"{prefix}: reusing {stage.output} (--force to redo)", flush=True)
            continue
        # a half-finished or forced stage starts clean, if the folder is the toolkit's
        remove_owned(stage.output, "choose another --output_dir")
        print(f"{prefix}: running -> {stage.output}", flush=True)
        start = time.perf_counter()
        try:
            stage.run()
        except BaseException as exc:
            if is_owned(stage.output):  # what this stage wrote, so a re-run may redo it
                record_files(stage.output)
            print(
                f"{prefix}: failed; {stage.output} is left incomplete and is redone next time",
                flush=True,
            )
            if isinstance(exc, Exception) and not is_user_error(exc):
                raise StageError(f"stage {number}/{len(stages)} ({stage.name})") from exc
            raise
        timings[stage.name] = time.perf_counter() - start
        if is_owned(stage.output):
            record_files(stage.output)
        timings_file.write_text(json.dumps(timings, indent=2))
        print(f"{prefix}: done in {timings[stage.name]:.0f} s", flush=True)
    return timings
