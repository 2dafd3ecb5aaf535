"""Folders the toolkit writes, and the proof that it wrote them.

Every output folder the toolkit creates holds `OWNER_MARKER`, a manifest of the files it
wrote there with their sha256. The toolkit deletes or replaces a file only when a manifest
lists it and its content is unchanged since, and a folder only when every file in it is such
a file (a subfolder with its own manifest answers for itself). Anything else belongs to the
user: it is refused with one line naming the folder and the files, and nothing is changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import WRITING_INTO

OWNER_MARKER = ".e3d2-hf-output"
"""The manifest saying "e3d2-hf wrote these files here": `{"written_by", "files": {path: sha256}}`."""
WRITTEN_BY = "e3d2-hf"
GROWING = "*"
"""The hash recorded for a file the toolkit keeps appending to (a tracker's event log)."""
LOG_FOLDERS = ("runs",)
"""Top-level folders of a run whose files grow after they are recorded (TensorBoard)."""

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


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_marker(folder: Path) -> dict | None:
    """The toolkit's manifest in `folder` as written, or None (none, planted, or damaged)."""
    marker = folder / OWNER_MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        manifest = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("written_by") != WRITTEN_BY:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return None
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, str] | None:
    """The files the toolkit recorded in `folder` ({relative path: sha256}), or None when the
    folder holds no manifest of the toolkit (an empty or planted marker proves nothing)."""
    manifest = _read_marker(Path(folder))
    return None if manifest is None else manifest["files"]


def is_owned(folder: str | os.PathLike) -> bool:
    """`folder` was created by the toolkit (it holds the toolkit's manifest) and is no symlink."""
    return not Path(folder).is_symlink() and read_manifest(folder) is not None


def _write_manifest(folder: Path, files: dict[str, str], scratch: bool = False) -> None:
    manifest = {"written_by": WRITTEN_BY, "files": dict(sorted(files.items()))}
    if scratch:
        manifest["scratch"] = True
    tmp = folder / f"{OWNER_MARKER}.tmp"
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, folder / OWNER_MARKER)


def is_scratch(folder: Path) -> bool:
    """`folder` is a `.<name>.partial` folder that `atomic_output_dir` was filling when its run
    was killed: all of it the toolkit's, none of it complete."""
    manifest = _read_marker(folder)
    return (
        folder.name.startswith(".")
        and folder.name.endswith(".partial")
        and manifest is not None
        and manifest.get("scratch") is True
    )


def _scan(folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """In one walk: every file or symlink under `folder` ({relative path: path}, minus the
    toolkit's own bookkeeping), and the subfolders that hold a manifest of their own (not
    entered: they answer for themselves)."""
    files, nested = {}, []
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        for name in list(dirs):
            if (base / name).is_symlink():
                names.append(name)  # a link is a file here: never followed
                dirs.remove(name)
            elif read_manifest(base / name) is not None:
                nested.append(base / name)
                dirs.remove(name)
        for name in names:
            if base == folder and name in (OWNER_MARKER, f"{OWNER_MARKER}.tmp"):
                continue
            files[(base / name).relative_to(folder).as_posix()] = base / name
    return files, nested


def record_files(
    folder: str | os.PathLike,
    paths: Iterable[str | os.PathLike] | None = None,
    nested: bool = False,
) -> None:
    """Add files the toolkit just wrote into `folder` to its manifest, with their hashes;
    without `paths`, every file in the folder (those of a run the toolkit is writing), and
    with `nested` those of the subfolders with manifests of their own too."""
    folder = Path(folder)
    found, subfolders = _scan(folder) if paths is None or nested else ({}, [])
    for subfolder in subfolders if nested else ():
        record_files(subfolder, nested=True)
    if paths is not None:
        found = {Path(p).resolve().relative_to(folder.resolve()).as_posix(): Path(p) for p in paths}
    files = read_manifest(folder) or {}
    for relative, path in found.items():
        if path.is_symlink() or not path.is_file():
            continue
        growing = relative.split("/", 1)[0] in LOG_FOLDERS and "/" in relative
        files[relative] = GROWING if growing else file_sha256(path)
    _write_manifest(folder, files)


def foreign_files(folder: str | os.PathLike) -> list[str]:
    """Files under `folder` that its manifests do not list, or list with another content."""
    folder = Path(folder)
    files = read_manifest(folder)
    if files is None:
        return sorted(os.listdir(folder))
    found, subfolders = _scan(folder)
    foreign = [
        relative
        for relative, path in found.items()
        if path.is_symlink()
        or relative not in files
        or (files[relative] != GROWING and file_sha256(path) != files[relative])
    ]
    for subfolder in subfolders:
        if not is_scratch(subfolder):
            where = subfolder.relative_to(folder).as_posix()
            foreign += [f"{where}/{name}" for name in foreign_files(subfolder)]
    return sorted(foreign)


def owns_file(path: str | os.PathLike) -> bool:
    """`path` is absent, or listed unchanged in its folder's manifest: the toolkit may replace it."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return True
    files = read_manifest(path.parent)
    return (
        files is not None
        and not path.is_symlink()
        and path.is_file()
        and files.get(path.name) == file_sha256(path)
    )


def write_owned_files(folder: str | os.PathLike, contents: dict[str, str | bytes]) -> None:
    """Write `contents` ({file name: text or bytes}) into `folder`, each beside and renamed into
    place, and record them in its manifest. Nothing is written unless every one of them is
    absent or the toolkit's own, unchanged."""
    folder = Path(folder)
    for name in contents:
        if not owns_file(folder / name):
            raise ForeignFolderError(
                f"{folder / name}: not written by e3d2-hf, or changed since; nothing was "
                "written. Move it away or choose another folder"
            )
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        staged = folder / f".{name}.partial"
        staged.write_bytes(content.encode() if isinstance(content, str) else content)
        os.replace(staged, folder / name)
    record_files(folder, [folder / name for name in contents])


def check_replaceable(folder: str | os.PathLike, instead: str) -> None:
    """Raise unless the toolkit may delete `folder`: absent, empty, or holding only files its
    manifests list unchanged. `instead` tells the user what to do, e.g. "choose another
    --output_dir"."""
    _refuse_foreign(Path(folder), instead, foreign_files)


def check_writable(folder: str | os.PathLike, instead: str) -> None:
    """Raise unless the toolkit may write into `folder`: absent, empty, or its own."""
    _refuse_foreign(Path(folder), instead, lambda f: [] if is_owned(f) else sorted(os.listdir(f)))


def _refuse_foreign(folder: Path, instead: str, foreign: Callable[[Path], list[str]]) -> None:
    """The one refusal of an output folder: a link, a file, or a folder holding `foreign`'s
    files, each named in one line before anything is changed."""
    if folder.is_symlink():
        raise ForeignFolderError(f"{folder}: is a symbolic link; nothing was changed. {instead}")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ForeignFolderError(f"{folder}: is a file, not an output folder; {instead}")
    if names := foreign(folder):
        raise ForeignFolderError(
            f"{folder}: holds files e3d2-hf did not write or that changed since "
            f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}); nothing was changed. "
            f"Move them away yourself or {instead}"
        )


def claim_output_dir(
    folder: str | os.PathLike, instead: str = "choose another --output_dir"
) -> Path:
    """Create `folder` (or adopt it when empty) and mark it as the toolkit's; a foreign
    non-empty folder is refused, so nothing of the user's is overwritten."""
    folder = Path(folder)
    WRITING_INTO.add(os.path.abspath(folder.parent))
    if not is_owned(folder):
        check_writable(folder, instead)
        folder.mkdir(parents=True, exist_ok=True)
        _write_manifest(folder, {})
    return folder


def remove_owned(folder: str | os.PathLike, instead: str = "choose another folder") -> None:
    """Delete `folder` if every file in it is the toolkit's, unchanged (or it is empty)."""
    folder = Path(folder)
    if folder.exists():
        check_replaceable(folder, instead)
        shutil.rmtree(folder)


@contextlib.contextmanager
def atomic_output_dir(
    output_dir: str | os.PathLike, overwrite: bool = False, instead: str = "choose another folder"
) -> Iterator[Path]:
    """Yield a temporary sibling folder that becomes `output_dir` only if the block succeeds.

    A failed or interrupted build leaves nothing that looks complete; the finished folder's
    manifest lists every file in it. With `overwrite`, an existing `output_dir` is replaced
    only if it holds nothing but the toolkit's unchanged files (checked before and after).
    """
    output_dir = Path(output_dir)
    if output_dir.exists() or output_dir.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{output_dir}: already exists (pass --overwrite to replace it)")
        check_replaceable(output_dir, instead)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    WRITING_INTO.add(os.path.abspath(output_dir.parent))
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".partial", dir=output_dir.parent)
    )
    try:
        _write_manifest(tmp, {}, scratch=True)
        yield tmp
        record_files(tmp, nested=True)
        if output_dir.exists() or output_dir.is_symlink():
            check_replaceable(output_dir, instead)  # the user may have added files meanwhile
            shutil.rmtree(output_dir)
        os.replace(tmp, output_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_HELD_LOCKS: dict[str, list[int]] = {}
"""Folder -> [directory fd, depth] of the locks this process holds: a run inside a run of the
same process (the demo's stages, a notebook's second trainer) is the same run."""


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold `folder`'s lock for the block (released when it ends, or with the process however
    it ends); raise if another process holds it. The lock is on the folder itself: a refused
    run leaves no file behind."""
    import fcntl

    key = os.path.realpath(folder)
    if key in _HELD_LOCKS:
        _HELD_LOCKS[key][1] += 1
    else:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileExistsError(
                f"{folder}: another run is writing into it; wait for it to end or choose "
                "another --output_dir"
            ) from None
        _HELD_LOCKS[key] = [fd, 1]
    try:
        yield
    finally:
        _HELD_LOCKS[key][1] -= 1
        if not _HELD_LOCKS[key][1]:
            os.close(_HELD_LOCKS.pop(key)[0])  # closing the descriptor releases the lock
