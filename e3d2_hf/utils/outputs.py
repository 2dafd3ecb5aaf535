"""Folders the toolkit writes, and the proof that it wrote them.

The toolkit deletes or replaces a folder only when the folder is empty or holds
`OWNER_MARKER`, which is written into every output folder the toolkit creates.
Anything else belongs to the user: it is refused with one line naming the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

OWNER_MARKER = ".e3d2-hf-output"
"""An empty file saying "e3d2-hf created this folder and may replace it"."""

# The files by which a later stage, a report or `e3d2 push` knows what a folder holds: each
# written in one place, read wherever it is needed.
PREPARE_INFO = "prepare.json"
"""A prepared clip dataset's summary: its source, skeleton, clips and frames."""
DATA_ARGS = "data_args.json"
"""A VQ-VAE or BC folder: the data arguments it trained with, where later stages find clips."""
DEMONSTRATIONS_INFO = "demonstrations.json"
"""A preference dataset's summary: its policy, codebook, skeleton and collection config."""
REWARD_REPORT = "reward_report.json"
"""A reward-model folder's report (`reward_report.md` beside it)."""
PPO_REPORT = "ppo_report.json"
"""A PPO run's report (`ppo_report.md` beside it)."""
DANCES_INFO = "dances.json"
"""What `e3d2 dance` or the demo rendered into a dances folder, and how."""


class ForeignFolderError(FileExistsError):
    """An output folder holds files the toolkit did not write."""


def is_owned(folder: str | os.PathLike) -> bool:
    """`folder` was created by the toolkit (it holds `OWNER_MARKER`)."""
    return (Path(folder) / OWNER_MARKER).is_file()


def check_replaceable(folder: str | os.PathLike, instead: str) -> None:
    """Raise unless the toolkit may delete `folder`: absent, empty, or its own.

    `instead` tells the user what to do, e.g. "choose another --output_dir".
    """
    folder = Path(folder)
    if not folder.exists() or is_owned(folder):
        return
    if not folder.is_dir():
        raise ForeignFolderError(f"{folder}: is a file, not an output folder; {instead}")
    names = sorted(p.name for p in folder.iterdir())
    if names:
        raise ForeignFolderError(
            f"{folder}: holds files e3d2-hf did not write ({', '.join(names[:3])}"
            f"{', ...' if len(names) > 3 else ''}); nothing was changed. "
            f"Empty it yourself or {instead}"
        )


def claim_output_dir(
    folder: str | os.PathLike, instead: str = "choose another --output_dir"
) -> Path:
    """Create `folder` (or adopt it when empty) and mark it as the toolkit's; a foreign
    non-empty folder is refused, so nothing of the user's is overwritten."""
    folder = Path(folder)
    if not is_owned(folder):
        check_replaceable(folder, instead)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OWNER_MARKER).touch()
    return folder


def remove_owned(folder: str | os.PathLike, instead: str = "choose another folder") -> None:
    """Delete `folder` if it is the toolkit's (or empty); refuse otherwise."""
    folder = Path(folder)
    if folder.exists():
        check_replaceable(folder, instead)
        shutil.rmtree(folder)


@contextlib.contextmanager
def atomic_output_dir(
    output_dir: str | os.PathLike, overwrite: bool = False, instead: str = "choose another folder"
) -> Iterator[Path]:
    """Yield a temporary sibling folder that becomes `output_dir` only if the block succeeds.

    A failed or interrupted build leaves nothing that looks complete. With
    `overwrite`, an existing `output_dir` is replaced only if it is the toolkit's.
    """
    output_dir = Path(output_dir)
    if output_dir.exists():
        if not overwrite:
            raise FileExistsError(f"{output_dir}: already exists (pass --overwrite to replace it)")
        check_replaceable(output_dir, instead)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".partial", dir=output_dir.parent)
    )
    try:
        (tmp / OWNER_MARKER).touch()
        yield tmp
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
