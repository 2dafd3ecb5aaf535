"""Checkpoints a resume can trust: a marker written last into each `checkpoint-N/`, the newest
complete one found, every file it reads checked whole before anything is loaded."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from accelerate import PartialState
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..models.loading import non_finite_tensors, safetensors_problem
from ..utils.errors import E3D2Error
from ..utils.outputs import check_replaceable, is_owned, record_files

logger = logging.getLogger(__name__)


def is_finished_run(output_dir: Path) -> bool:
    return (output_dir / "config.json").is_file() and (output_dir / "model.safetensors").is_file()


CHECKPOINT_COMPLETE = "checkpoint_complete.json"
"""Written into `checkpoint-N/` after everything else: its absence marks a torn save."""


def mark_checkpoint_complete(folder: str | os.PathLike, step: int) -> None:
    tmp = Path(folder) / f".{CHECKPOINT_COMPLETE}.tmp"
    tmp.write_text(json.dumps({"global_step": step}))
    os.replace(tmp, Path(folder) / CHECKPOINT_COMPLETE)


def is_complete_checkpoint(folder: str | os.PathLike) -> bool:
    return (Path(folder) / CHECKPOINT_COMPLETE).is_file()


def last_complete_checkpoint(output_dir: Path, report: bool = True) -> Path | None:
    """The newest `checkpoint-N/` whose save finished; with `report`, each newer, torn one is
    reported in a line."""
    steps = {}
    for child in output_dir.iterdir() if output_dir.is_dir() else ():
        name, _, step = child.name.partition("-")
        if name == "checkpoint" and step.isdigit() and child.is_dir():
            steps[int(step)] = child
    for step in sorted(steps, reverse=True):
        if is_complete_checkpoint(steps[step]):
            return steps[step]
        if report:
            logger.warning(
                "%s: skipped, its save was interrupted (no %s)", steps[step], CHECKPOINT_COMPLETE
            )
    return None


def discard_checkpoints(output_dir: Path) -> list[Path]:
    """Remove the `checkpoint-N/` folders of an earlier run from a run folder the toolkit owns
    (a folder it does not own is left alone); a checkpoint holding files the toolkit did not
    write, or changed since, is refused before anything is removed."""
    if not is_owned(output_dir):
        return []
    old = [
        child
        for child in output_dir.iterdir()
        if child.is_dir() and not child.is_symlink()
        and child.name.partition("-")[0] == "checkpoint" and child.name.partition("-")[2].isdigit()
    ]  # fmt: skip
    for child in old:  # every one checked before any is removed
        check_replaceable(child, "choose another --output_dir")
    for child in old:
        shutil.rmtree(child)
    if old:
        logger.info("%s: removed the earlier run's %s", output_dir, ", ".join(c.name for c in old))
    return old


def resolve_checkpoint(output_dir: Path, resume: str | bool, report: bool = True) -> Path:
    """The checkpoint `resume` names (`true`: the newest complete one), checked whole; with
    `report`, the torn ones passed over are reported."""
    if resume is True or resume == "true":
        last = last_complete_checkpoint(output_dir, report)
        if last is None:
            raise FileNotFoundError(f"{output_dir}: no complete checkpoint-* folder to resume from")
        check_checkpoint_files(last)
        return last
    path = Path(resume)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: checkpoint folder not found")
    if not is_complete_checkpoint(path):
        raise ValueError(
            f"{path}: an interrupted save (no {CHECKPOINT_COMPLETE}); resume from an earlier "
            "checkpoint, or pass --resume_from_checkpoint true for the newest complete one"
        )
    check_checkpoint_files(path)
    return path


def check_checkpoint_files(folder: Path) -> None:
    """Every file a resume reads is whole: torch archives (optimizer, scheduler, RNG), safetensors
    and the trainer state; a damaged one is named before anything is loaded."""
    import zipfile

    for file in sorted(folder.iterdir()):
        problem = None
        if file.suffix in (".pt", ".pth") and not zipfile.is_zipfile(file):
            problem = "not a complete torch archive (truncated or damaged)"
        elif file.suffix == ".safetensors":
            problem = safetensors_problem(file)
        elif file.name == "trainer_state.json":
            try:
                json.loads(file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                problem = "not valid JSON (truncated or damaged)"
        if problem:
            raise ValueError(
                f"{file}: {problem}; resume from another checkpoint (the newest complete one: "
                "--resume_from_checkpoint true after moving this one away)"
            )


class TrainingStopped(E3D2Error):
    """A guard rail stopped training: a non-finite loss or weight (PPO: also KL to pi_BC above
    its bound)."""


def last_good_model(output_dir: str | os.PathLike) -> str:
    """Where the last good weights are, for the line that stops a run."""
    last = last_complete_checkpoint(Path(output_dir), report=False)
    if last is None:
        return f"No checkpoint was saved in {output_dir} yet; nothing was saved as final."
    return f"The last good model is {last}; nothing was saved as final."


def check_finite_weights(model, what: str, output_dir: str | os.PathLike) -> None:
    """Refuse to save weights that are NaN or infinite, naming the first tensors found."""
    if bad := non_finite_tensors(model):
        raise TrainingStopped(
            f"{what} has non-finite weights ({bad}). " + last_good_model(output_dir)
        )


class CheckpointCompleteCallback(TrainerCallback):
    """Marks each `checkpoint-N/` complete once every rank has written its part (the marker is
    written last, so a save cut short by a crash is never taken for a checkpoint)."""

    def on_save(self, args, state, control, **kwargs):
        PartialState().wait_for_everyone()  # every rank's RNG state is on disk
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if args.should_save and folder.is_dir():
            # a NaN save is left unmarked, so a resume passes over it to the last good one
            check_finite_weights(kwargs["model"], f"{folder}", args.output_dir)
            mark_checkpoint_complete(folder, state.global_step)
            record_files(folder)  # its own manifest: what --overwrite_output_dir may remove
            record_files(args.output_dir)
