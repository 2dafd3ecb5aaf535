"""`e3d2 download`: public datasets into the e3d2 cache, resumable, checked, never half-written.

Dance with Melody lives in a GitHub repository, one folder per piece. The
download reads the repository's file tree at a pinned commit (GitHub's trees
API: path, size and git blob id of every file), fetches each file from the raw
host, follows Git LFS pointers to the media host, and checks every file: the
git blob id is SHA-1 over the content; an LFS object has the SHA-256 and size
of its pointer. A piece is assembled in `<dest>/.partial/<piece>/` and renamed
into place only when every file checks out, so a `DANCE_*` folder is always
complete; an interrupted file resumes with an HTTP Range request. Pieces that
the server cannot give whole (a file missing from the tree, an LFS object the
server does not have, content that never matches its checksum) are reported by
name and skipped.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..utils.errors import E3D2Error
from ..utils.outputs import file_sha256, owns_file, write_owned_files
from . import sources
from .paths import datasets_home
from .sources import SourceDataset

logger = logging.getLogger(__name__)

MANIFEST = ".e3d2-download.json"
STATUS_FILE = "download.json"
"""What the dataset folder holds (pieces, skipped ones, terms), rewritten after each run."""
"""Written last into every piece this module assembled: what it holds and where it came from."""
PARTIAL = ".partial"
CARD_MARK = "<!-- written by e3d2 download -->"
LFS_SPEC = b"version https://git-lfs.github.com/spec/v1"
CHUNK = 1 << 16


class DownloadError(E3D2Error):
    """The download could not start or gave nothing usable; the message says why."""


@dataclass(frozen=True)
class GitHubDataset:
    """A dataset kept as folders of files in a public GitHub repository."""

    name: str
    owner: str
    repo: str
    revision: str
    piece_pattern: str
    """Top-level folders that are pieces (one dance each)."""
    files: tuple[str, ...]
    """Files every piece must have."""
    source: SourceDataset

    @property
    def homepage(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"


DANCE_WITH_MELODY = GitHubDataset(
    name="dance-with-melody",
    owner="mhy12345",
    repo="Music-to-Dance-Motion-Synthesis",
    revision="82ae0149f6ce7b476989f3ad8350eec0a3c1521d",
    piece_pattern=r"DANCE_[A-Z]_\d+",
    files=("audio.mp3", "config.json", "skeletons.json"),
    source=sources.DANCE_WITH_MELODY,
)

DATASETS = {DANCE_WITH_MELODY.name: DANCE_WITH_MELODY}


def default_download_dir(name: str) -> Path:
    """`<E3D2_HOME>/datasets/<name>`: where `e3d2 download` puts a dataset and readers look first."""
    return datasets_home() / name


@dataclass(frozen=True)
class Endpoints:
    """GitHub's three hosts; `$E3D2_DOWNLOAD_ENDPOINT` points all three at one mirror."""

    api: str = "https://api.github.com"
    raw: str = "https://raw.githubusercontent.com"
    media: str = "https://media.githubusercontent.com/media"

    @classmethod
    def from_env(cls) -> Endpoints:
        mirror = os.environ.get("E3D2_DOWNLOAD_ENDPOINT", "").rstrip("/")
        if not mirror:
            return cls()
        return cls(api=f"{mirror}/api", raw=f"{mirror}/raw", media=f"{mirror}/media")


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    git_sha: str


@dataclass
class DownloadReport:
    """What one `download_dataset` call left in `root`."""

    dataset: str
    revision: str
    root: Path
    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> list[str]:
        return sorted(self.downloaded + self.present)

    def summary(self) -> str:
        lines = [
            f"{self.dataset}: {len(self.complete)} pieces in {self.root} "
            f"({len(self.downloaded)} downloaded, {len(self.present)} already there)"
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} pieces:")
            lines += [f"  {piece}: {why}" for piece, why in sorted(self.skipped.items())]
        return "\n".join(lines)


class PieceUnavailable(Exception):
    """This piece cannot be had whole from the server; the message says which file and why."""


# --- HTTP --------------------------------------------------------------------------------------


def _request(url: str, start: int = 0, api: bool = False) -> http.client.HTTPResponse:
    headers = {"User-Agent": "e3d2-hf"}
    if start:
        headers["Range"] = f"bytes={start}-"
    if api:
        headers["Accept"] = "application/vnd.github+json"
        if os.environ.get("GITHUB_TOKEN"):
            headers["Authorization"] = f"Bearer {os.environ['GITHUB_TOKEN']}"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)


TRANSIENT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


def _fetch(url: str, part: Path, size: int, retries: int, bar: tqdm) -> None:
    """Bring `url` into `part` until it holds `size` bytes, resuming with Range after a drop."""
    part.touch()
    counted = 0  # bytes of `part` the progress bar already shows
    for attempt in range(retries + 1):
        start = part.stat().st_size
        if start > size:  # not what the server has now: start over
            part.write_bytes(b"")
            start = 0
        bar.update(start - counted)
        counted = start
        if start == size:
            return
        try:
            with _request(url, start) as response:
                if start and response.status != 206:  # no Range support: the whole file again
                    bar.update(-start)
                    counted = 0
                    part.write_bytes(b"")
                with part.open("ab") as out:
                    # never more than the listed size (+1 byte to notice): a bad mirror that
                    # streams forever must not fill the disk
                    while chunk := response.read(min(CHUNK, size - counted + 1)):
                        if counted + len(chunk) > size:
                            out.truncate(0)
                            raise PieceUnavailable(
                                f"{url}: the server sends more than the listed {size} bytes"
                            )
                        out.write(chunk)
                        bar.update(len(chunk))
                        counted += len(chunk)
        except urllib.error.HTTPError as exc:
            if exc.code in (403, 404, 410, 451):
                raise PieceUnavailable(f"{url} answers HTTP {exc.code} ({exc.reason})") from None
            if exc.code == 416:  # our partial file is not a prefix of theirs
                part.write_bytes(b"")
            reason = f"HTTP {exc.code}"
        except TRANSIENT as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if part.stat().st_size == size:
                return
            reason = f"connection closed at {part.stat().st_size} of {size} bytes"
        if attempt < retries:
            logger.info(
                "%s: %s; resuming (attempt %d of %d)", url, reason, attempt + 2, retries + 1
            )
            time.sleep(min(2.0**attempt, 30.0) * _BACKOFF_SCALE)
    raise PieceUnavailable(f"{url}: {reason} after {retries + 1} attempts")


_BACKOFF_SCALE = float(os.environ.get("E3D2_DOWNLOAD_BACKOFF", "1"))


MAX_TREE_BYTES = 64 << 20
"""A repository's file list is a few MiB at most: more is a bad mirror."""


def fetch_tree(dataset: GitHubDataset, revision: str, endpoints: Endpoints) -> list[RemoteFile]:
    """Every file of the repository at `revision`, from GitHub's git trees API."""
    url = f"{endpoints.api}/repos/{dataset.owner}/{dataset.repo}/git/trees/{revision}?recursive=1"
    try:
        with _request(url, api=True) as response:
            listing = response.read(MAX_TREE_BYTES + 1)
        if len(listing) > MAX_TREE_BYTES:
            raise DownloadError(f"{url}: the file list is over {MAX_TREE_BYTES >> 20} MiB")
        tree = json.loads(listing)
    except urllib.error.HTTPError as exc:
        hint = " (rate limit? set GITHUB_TOKEN)" if exc.code in (403, 429) else ""
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}{hint}") from None
    except (*TRANSIENT, json.JSONDecodeError) as exc:
        raise DownloadError(f"{url}: could not read the file list ({exc})") from None
    if tree.get("truncated"):
        raise DownloadError(f"{url}: the server truncated the file list")
    return [
        RemoteFile(entry["path"], int(entry["size"]), entry["sha"])
        for entry in tree.get("tree", [])
        if entry.get("type") == "blob"
    ]


# --- checks ------------------------------------------------------------------------------------


def git_blob_sha1(path: Path) -> str:
    """Git's object id of a file's content: SHA-1 over `blob <size>\\0<content>`."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def lfs_pointer(path: Path) -> tuple[str, int] | None:
    """(sha256, size) if the file is a Git LFS pointer, else None."""
    if path.stat().st_size > 1024:
        return None
    text = path.read_bytes()
    if not text.startswith(LFS_SPEC):
        return None
    oid = re.search(rb"^oid sha256:([0-9a-f]{64})$", text, re.M)
    size = re.search(rb"^size (\d+)$", text, re.M)
    if not (oid and size):
        return None
    return oid[1].decode(), int(size[1])


# --- one piece ---------------------------------------------------------------------------------


def _fetch_file(
    dataset: GitHubDataset,
    revision: str,
    remote: RemoteFile,
    work: Path,
    endpoints: Endpoints,
    retries: int,
    bar: tqdm,
) -> dict:
    """One checked file in `work`; returns its manifest entry."""
    name = Path(remote.path).name
    final = work / name
    part = work / f"{name}.part"
    where = f"{dataset.owner}/{dataset.repo}/{revision}/{remote.path}"
    _fetch_checked(
        f"{endpoints.raw}/{where}", part, remote.size, retries, bar,
        matches=lambda p: git_blob_sha1(p) == remote.git_sha,
        mismatch=f"{name} does not match the repository's checksum",
    )  # fmt: skip
    pointer = lfs_pointer(part)
    if pointer is None:
        os.replace(part, final)
        return {"size": remote.size, "git_sha": remote.git_sha, "sha256": file_sha256(final)}
    oid, size = pointer
    bar.total += size
    bar.refresh()
    lfs_part = work / f"{name}.lfs.part"
    lacks = f"{name} is a Git LFS pointer whose object the server lacks"

    def is_the_object(path: Path) -> bool:
        if lfs_pointer(path) is not None:  # the media host answered with the pointer again
            path.unlink()
            raise PieceUnavailable(lacks)
        return file_sha256(path) == oid

    _fetch_checked(
        f"{endpoints.media}/{where}", lfs_part, size, retries, bar,
        matches=is_the_object,
        mismatch=f"{name} (Git LFS) does not match its pointer's SHA-256",
        unavailable=lacks,
    )  # fmt: skip
    os.replace(lfs_part, final)
    part.unlink()
    return {"size": size, "git_sha": remote.git_sha, "sha256": oid, "lfs": True}


def _fetch_checked(
    url: str,
    part: Path,
    size: int,
    retries: int,
    bar: tqdm,
    *,
    matches: Callable[[Path], bool],
    mismatch: str,
    unavailable: str | None = None,
) -> None:
    """`_fetch`, then the content check; a mismatch is fetched once more from scratch.

    `unavailable` prefixes the reason when the server cannot give the file at all.
    """
    for fresh_try in (False, True):
        try:
            _fetch(url, part, size, retries, bar)
        except PieceUnavailable as exc:
            if unavailable is None:
                raise
            raise PieceUnavailable(f"{unavailable} ({exc})") from None
        if matches(part):
            return
        bar.update(-size)
        part.unlink()  # ours: fetched just now, and wrong
        if fresh_try:
            raise PieceUnavailable(mismatch)


def _manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _is_ours_unchanged(folder: Path) -> bool:
    """Every file in `folder` is one its manifest lists, with the recorded sha256: a piece the
    downloader may replace (a planted or edited manifest proves nothing)."""
    manifest = _manifest(folder)
    recorded = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(recorded, dict) or folder.is_symlink():
        return False
    for path in folder.rglob("*"):
        if path.name == MANIFEST and path.parent == folder:
            continue
        entry = recorded.get(path.name) if path.parent == folder else None
        if (
            path.is_symlink()
            or not path.is_file()
            or not isinstance(entry, dict)
            or entry.get("sha256") != file_sha256(path)
        ):
            return False
    return True


def _is_current(folder: Path, dataset: GitHubDataset, files: list[RemoteFile]) -> bool:
    manifest = _manifest(folder)
    if manifest is None or manifest.get("dataset") != dataset.name:
        return False
    recorded = manifest.get("files", {})
    for remote in files:
        name = Path(remote.path).name
        entry, local = recorded.get(name, {}), folder / name
        if entry.get("git_sha") != remote.git_sha or not local.is_file():
            return False
        if local.stat().st_size != entry.get("size"):
            return False
    return True


# --- the whole dataset -------------------------------------------------------------------------


def download_dataset(
    name: str = DANCE_WITH_MELODY.name,
    dest: str | os.PathLike | None = None,
    *,
    revision: str | None = None,
    pieces: list[str] | None = None,
    endpoints: Endpoints | None = None,
    retries: int = 4,
    progress: bool = True,
) -> DownloadReport:
    """Download every complete piece of `name` into `dest` (default `<E3D2_HOME>/datasets/<name>`)."""
    if name not in DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    if retries < 0:
        raise ValueError(f"--retries must be >= 0, got {retries}")
    dataset = DATASETS[name]
    revision = revision or dataset.revision
    endpoints = endpoints or Endpoints.from_env()
    root = Path(dest) if dest is not None else default_download_dir(name)
    if root.exists() and not root.is_dir():
        raise DownloadError(f"{root}: exists and is not a folder")
    if not owns_file(root / STATUS_FILE):
        raise DownloadError(
            f"{root / STATUS_FILE}: not written by e3d2 download, or changed since; nothing was "
            "downloaded. Move it away or choose another --output_dir"
        )

    by_piece: dict[str, list[RemoteFile]] = {}
    pattern = re.compile(dataset.piece_pattern)
    for remote in fetch_tree(dataset, revision, endpoints):
        folder, _, rest = remote.path.partition("/")
        if pattern.fullmatch(folder) and rest in dataset.files:
            by_piece.setdefault(folder, []).append(remote)
    if not by_piece:
        raise DownloadError(f"{dataset.homepage}@{revision}: no {dataset.piece_pattern} folders")
    if pieces:
        unknown = sorted(set(pieces) - set(by_piece))
        if unknown:
            raise DownloadError(
                f"--pieces: {', '.join(unknown)} not in {dataset.name} at {revision[:7]} "
                f"(it has {', '.join(_natural(by_piece))})"
            )
        by_piece = {p: by_piece[p] for p in pieces}

    report = DownloadReport(dataset.name, revision, root)
    todo: dict[str, list[RemoteFile]] = {}
    for piece, files in by_piece.items():
        missing = sorted(set(dataset.files) - {Path(f.path).name for f in files})
        target = root / piece
        if missing:
            report.skipped[piece] = f"the repository has no {', '.join(missing)}"
        elif _is_current(target, dataset, files):
            report.present.append(piece)
        elif (target.exists() or target.is_symlink()) and not _is_ours_unchanged(target):
            report.skipped[piece] = (
                f"{target} exists and was not written by e3d2 download, or changed since; "
                "left as is"
            )
        else:
            todo[piece] = files

    root.mkdir(parents=True, exist_ok=True)
    total = sum(f.size for files in todo.values() for f in files)
    with tqdm(
        total=total, unit="B", unit_scale=True, desc=f"download {name}", disable=not progress
    ) as bar:
        for piece in _natural(todo):
            work = root / PARTIAL / piece
            work.mkdir(parents=True, exist_ok=True)
            try:
                entries = {
                    Path(f.path).name: _fetch_file(
                        dataset, revision, f, work, endpoints, retries, bar
                    )
                    for f in todo[piece]
                }
            except PieceUnavailable as exc:
                report.skipped[piece] = str(exc)
                continue
            manifest = {
                "dataset": dataset.name,
                "source": dataset.homepage,
                "revision": revision,
                "files": entries,
            }
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
            target = root / piece
            if target.exists():  # an older download of ours, unchanged: replace it
                if not _is_ours_unchanged(target):
                    report.skipped[piece] = f"{target} changed during the download; left as is"
                    continue
                shutil.rmtree(target)
            os.replace(work, target)
            report.downloaded.append(piece)
    _tidy_partial(root)
    _write_card(root, dataset, report)
    if not report.complete:
        raise DownloadError(f"no piece of {name} could be downloaded\n{report.summary()}")
    return report


def _natural(names) -> list[str]:
    return sorted(
        names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)]
    )


def _tidy_partial(root: Path) -> None:
    """Remove `.partial/` once nothing is left in it (files of skipped pieces stay to resume)."""
    partial = root / PARTIAL
    for folder in list(partial.glob("*")) if partial.is_dir() else []:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if partial.is_dir() and not any(partial.iterdir()):
        partial.rmdir()


def _write_card(root: Path, dataset: GitHubDataset, report: DownloadReport) -> None:
    """`download.json` (what is here) and a README with the source, its terms and citation."""
    status = {
        "dataset": dataset.name,
        "source": dataset.homepage,
        "revision": report.revision,
        "pieces": report.complete,
        "skipped": report.skipped,
        "terms": dataset.source.terms,
        "citation": dataset.source.citation,
    }
    write_owned_files(root, {STATUS_FILE: json.dumps(status, indent=2)})
    readme = root / "README.md"
    if readme.exists() and not readme.read_text(errors="replace").startswith(CARD_MARK):
        return  # the user's own file
    readme.write_text(
        f"{CARD_MARK}\n# {dataset.name}\n\n"
        f"Downloaded by `e3d2 download {dataset.name}` from {dataset.homepage} "
        f"at commit {report.revision}: {len(report.complete)} pieces.\n\n"
        f"## Terms\n\n{dataset.source.terms}\n\n"
        f"## Citation\n\n```bibtex\n{dataset.source.citation}\n```\n"
    )


def find_downloaded(name: str) -> Path | None:
    """The default download folder of `name` if it holds at least one complete piece."""
    root = default_download_dir(name)
    if not root.is_dir():
        return None
    return root if any((p / MANIFEST).is_file() for p in root.iterdir() if p.is_dir()) else None
