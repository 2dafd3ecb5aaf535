"""`e3d2 download dance-with-melody` against a loopback GitHub: complete, resumed, corrupt, missing.

Each download runs the CLI in a fresh interpreter, as a user's shell would,
with `E3D2_DOWNLOAD_ENDPOINT` pointing at the loopback server.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e3d2_hf.data.download import DANCE_WITH_MELODY, MANIFEST
from e3d2_hf.utils.outputs import OWNER_MARKER, owns_file

from .conftest import shared_data
from .loopback_github import FakeRepo, LoopbackGitHub

FILES = DANCE_WITH_MELODY.files


def _piece(seed: int, size: int = 50_000) -> dict[str, bytes]:
    rng = hashlib.sha256(str(seed).encode()).digest()
    return {
        "audio.mp3": (rng * (size // len(rng) + 1))[:size],
        "config.json": json.dumps({"start_position": seed, "end_position": seed + 100}).encode(),
        "skeletons.json": json.dumps({"length": seed, "center": [[0, 0, 0]] * 3}).encode() * 40,
    }


def _repo(*pieces: str, extra: dict[str, bytes] | None = None) -> FakeRepo:
    files = {f"{p}/{name}": body for i, p in enumerate(pieces) for name, body in _piece(i).items()}
    files.update(extra or {})
    return FakeRepo(
        owner=DANCE_WITH_MELODY.owner,
        repo=DANCE_WITH_MELODY.repo,
        revision=DANCE_WITH_MELODY.revision,
        files=files,
    )


def _download(url: str, *args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "E3D2_DOWNLOAD_ENDPOINT": url,
        "E3D2_HOME": str(home),
        "E3D2_DOWNLOAD_BACKOFF": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "e3d2_hf.cli", "download", "dance-with-melody", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def test_a_complete_download_into_the_cache_then_a_rerun_fetches_nothing(tmp_path, home):
    repo = _repo(
        "DANCE_C_1", "DANCE_W_2", "DANCE_R_10",
        extra={".DS_Store": b"junk", "utils/draw.py": b"print()", "Readme.md": b"# data"},
    )  # fmt: skip
    repo.lfs = {"DANCE_W_2/audio.mp3"}  # a Git LFS file: the raw host gives its pointer
    with LoopbackGitHub(repo) as url:
        first = _download(url, home=home, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        root = home / "datasets" / "dance-with-melody"
        assert sorted(p.name for p in root.iterdir()) == [
            OWNER_MARKER, "DANCE_C_1", "DANCE_R_10", "DANCE_W_2", "README.md", "download.json",
        ]  # fmt: skip
        assert owns_file(root / "download.json")  # listed with its hash: a re-run may rewrite it
        for path, body in repo.files.items():
            if path.startswith("DANCE_"):
                assert (root / path).read_bytes() == body, path
        manifest = json.loads((root / "DANCE_W_2" / MANIFEST).read_text())
        assert manifest["revision"] == DANCE_WITH_MELODY.revision
        assert manifest["files"]["audio.mp3"]["lfs"] is True
        status = json.loads((root / "download.json").read_text())
        assert (
            status["pieces"] == ["DANCE_C_1", "DANCE_R_10", "DANCE_W_2"] and not status["skipped"]
        )
        readme = (root / "README.md").read_text()
        assert "tang2018dance" in readme and "## Terms" in readme and "research" in readme
        assert "3 pieces" in first.stdout and "3 downloaded" in first.stdout

        before = len(repo.requests)
        again = _download(url, home=home, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "0 downloaded, 3 already there" in again.stdout
        assert [path for path, _ in repo.requests[before:]] == [
            f"/api/repos/{repo.owner}/{repo.repo}/git/trees/{repo.revision}?recursive=1"
        ]
    assert list(tmp_path.iterdir()) == [home]  # nothing in the working directory


def test_pieces_the_server_cannot_give_whole_are_named_and_skipped(tmp_path, home):
    repo = _repo("DANCE_C_1", "DANCE_C_2", "DANCE_C_3", "DANCE_C_4", "DANCE_C_5")
    repo.omit = {"DANCE_C_2/audio.mp3"}
    repo.lfs_missing = {"DANCE_C_3/audio.mp3"}
    repo.corrupt = {"DANCE_C_4/skeletons.json"}
    repo.drop = {"DANCE_C_5/audio.mp3": 2}  # two dropped connections, then whole
    dest = tmp_path / "dwm"
    with LoopbackGitHub(repo) as url:
        result = _download(url, "--to", str(dest), home=home, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in dest.glob("DANCE_*")) == ["DANCE_C_1", "DANCE_C_5"]
    out = result.stdout
    assert "skipped 3 pieces" in out
    assert "DANCE_C_2: the repository has no audio.mp3" in out
    assert "DANCE_C_3: audio.mp3 is a Git LFS pointer whose object the server lacks" in out
    assert "DANCE_C_4: skeletons.json does not match the repository's checksum" in out
    assert (dest / "DANCE_C_5" / "audio.mp3").read_bytes() == repo.files["DANCE_C_5/audio.mp3"]
    ranges = [r for path, r in repo.requests if path.endswith("DANCE_C_5/audio.mp3")]
    assert ranges[0] is None and ranges[1] == "bytes=25000-" and len(ranges) == 3
    status = json.loads((dest / "download.json").read_text())
    assert set(status["skipped"]) == {"DANCE_C_2", "DANCE_C_3", "DANCE_C_4"}


def test_an_interrupted_file_resumes_where_it_stopped(tmp_path, home):
    repo = _repo("DANCE_T_1")
    repo.drop = {"DANCE_T_1/audio.mp3": 1}
    dest = tmp_path / "dwm"
    with LoopbackGitHub(repo) as url:
        cut = _download(url, "--to", str(dest), "--retries", "0", home=home, cwd=tmp_path)
        assert cut.returncode == 2 and "no piece of dance-with-melody" in cut.stderr
        assert not (dest / "DANCE_T_1").exists()  # nothing half-written looks complete
        part = dest / ".partial" / "DANCE_T_1" / "audio.mp3.part"
        assert part.stat().st_size == 25_000
        resumed = _download(url, "--to", str(dest), home=home, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (dest / "DANCE_T_1" / "audio.mp3").read_bytes() == repo.files["DANCE_T_1/audio.mp3"]
    assert repo.requests[-3:][0] == (
        f"/raw/{repo.owner}/{repo.repo}/{repo.revision}/DANCE_T_1/audio.mp3",
        "bytes=25000-",
    )
    assert not (dest / ".partial").exists()


def test_a_server_that_sends_more_than_the_listed_size_is_cut_off_at_that_size(tmp_path, home):
    """A broken mirror streamed 655 MB for a 32 KB file; now nothing past the listed size is
    written, and the piece is named and skipped."""
    repo = _repo("DANCE_C_1", "DANCE_C_2")
    repo.endless = {"DANCE_C_1/config.json"}
    dest = tmp_path / "dwm"
    with LoopbackGitHub(repo) as url:
        result = _download(url, "--to", str(dest), "--retries", "0", home=home, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "DANCE_C_1: " in result.stdout and "more than the listed" in result.stdout
    assert not (dest / "DANCE_C_1").exists() and (dest / "DANCE_C_2" / MANIFEST).is_file()
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert written < 1_000_000, written


def test_a_folder_the_user_made_is_left_as_it_is(tmp_path, home):
    repo = _repo("DANCE_C_1", "DANCE_C_2", "DANCE_C_3")
    dest = tmp_path / "dwm"
    mine = dest / "DANCE_C_1"
    mine.mkdir(parents=True)
    (mine / "audio.mp3").write_bytes(b"my own recording")
    (dest / "README.md").write_text("my notes\n")
    # a planted manifest proves nothing: its hash is not the file's
    forged = dest / "DANCE_C_3"
    forged.mkdir()
    (forged / "audio.mp3").write_bytes(b"my other recording")
    (forged / MANIFEST).write_text(json.dumps({"dataset": "dance-with-melody", "files": {
        "audio.mp3": {"size": 18, "git_sha": "0" * 40, "sha256": "0" * 64}}}))  # fmt: skip
    kept = {**_tree_hash(mine), **{f"3/{k}": v for k, v in _tree_hash(forged).items()}}
    with LoopbackGitHub(repo) as url:
        result = _download(url, "--to", str(dest), home=home, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = {**_tree_hash(mine), **{f"3/{k}": v for k, v in _tree_hash(forged).items()}}
    assert after == kept and (dest / "README.md").read_text() == "my notes\n"
    for piece in ("DANCE_C_1", "DANCE_C_3"):
        assert f"{piece}: " in result.stdout and "not written by e3d2 download" in result.stdout
    assert (dest / "DANCE_C_2" / MANIFEST).is_file()


def test_bad_requests_are_one_line_with_exit_status_2(tmp_path, home):
    repo = _repo("DANCE_C_1")
    with LoopbackGitHub(repo) as url:
        unknown = _download(url, "--pieces", "DANCE_X_9", home=home, cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        f"e3d2 download: error: --pieces: DANCE_X_9 not in dance-with-melody at "
        f"{DANCE_WITH_MELODY.revision[:7]} (it has DANCE_C_1)"
    ]
    closed = _download("http://127.0.0.1:9", home=home, cwd=tmp_path)  # nothing listens there
    assert closed.returncode == 2 and "Traceback" not in closed.stderr
    assert "could not read the file list" in closed.stderr
    assert not home.exists()


def test_dance_with_melody_is_found_in_the_cache_by_default(tmp_path, home):
    """A real piece goes through the loopback server, then `e3d2 prepare` finds it unasked."""
    piece = shared_data("dance-with-melody", "DANCE_C_6")
    repo = FakeRepo(
        DANCE_WITH_MELODY.owner, DANCE_WITH_MELODY.repo, DANCE_WITH_MELODY.revision,
        files={f"DANCE_C_6/{name}": (piece / name).read_bytes() for name in FILES},
    )  # fmt: skip
    repo.lfs = {"DANCE_C_6/audio.mp3"}
    with LoopbackGitHub(repo) as url:
        assert _download(url, home=home, cwd=tmp_path).returncode == 0
    env = {**os.environ, "E3D2_HOME": str(home)}
    prepared = tmp_path / "clips"
    result = subprocess.run(
        [sys.executable, "-m", "e3d2_hf.cli", "prepare", "--source", "dance-with-melody",
         "--output-dir", str(prepared)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((prepared / "prepare.json").read_text())
    assert summary["num_clips"] == 1 and summary["genres"] == ["cha-cha"]
    downloaded = home / "datasets" / "dance-with-melody" / "DANCE_C_6"
    assert summary["config"]["path"] == str(downloaded.parent)

    demo_data_stage = (
        "import sys; from e3d2_hf.demo import DemoOptions, build_stages; "
        "stage = build_stages(DemoOptions(output_dir=sys.argv[1], data='dance-with-melody'))[0]; "
        "print(stage.run())"
    )
    result = subprocess.run(
        [sys.executable, "-c", demo_data_stage, str(tmp_path / "demo")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    clips = json.loads((tmp_path / "demo" / "data" / "prepare.json").read_text())
    assert clips["config"]["path"] == str(downloaded.parent) and clips["num_clips"] == 1


def test_without_a_download_the_error_says_how_to_get_the_data(tmp_path, home):
    env = {**os.environ, "E3D2_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "e3d2_hf.cli", "prepare", "--source", "dance-with-melody",
         "--output-dir", str(tmp_path / "clips")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"e3d2 prepare: error: {home / 'datasets' / 'dance-with-melody'}: Dance with Melody is "
        "not downloaded: run `e3d2 download dance-with-melody` (or pass the folder that holds "
        "its DANCE_<genre>_<n>/ pieces)"
    ]
    assert not (tmp_path / "clips").exists()
