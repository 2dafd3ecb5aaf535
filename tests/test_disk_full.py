"""A full disk is a user's situation, not a bug: one line saying so, exit status 2, and nothing
that looks complete. Each command writes onto a real full file system (a small tmpfs, where
this machine lets the tests mount one) in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from e3d2_hf.training.checkpoints import check_checkpoint_files, last_complete_checkpoint

from .conftest import TINY


@pytest.fixture
def small_disk(tmp_path):
    """A 640 KiB tmpfs: the tiny VQ-VAE's second checkpoint, or two prepared clips, overflow it."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"this machine does not let the tests mount a tmpfs: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def e3d2(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from e3d2_hf.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def assert_one_line_out_of_space(run: subprocess.CompletedProcess, command: str) -> None:
    assert run.returncode == 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"e3d2 {command}: error: ") and "space" in last, last


def test_training_on_a_full_disk_stops_in_one_line_and_keeps_the_last_complete_checkpoint(
    small_disk, tiny_clips, tmp_path
):
    run = e3d2(
        "train-vqvae", "--config", str(TINY / "vqvae.yaml"), "--dataset", str(tiny_clips),
        "--output_dir", str(small_disk / "run"), "--save_steps", "5", cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_out_of_space(run, "train-vqvae")
    assert not (small_disk / "run" / "model.safetensors").exists()  # no final model
    last = last_complete_checkpoint(small_disk / "run")
    if last is not None:  # what a resume would read is whole
        check_checkpoint_files(last)


def test_prepare_on_a_full_disk_stops_in_one_line_and_leaves_no_dataset(small_disk, tmp_path):
    run = e3d2(
        "prepare", "--num-sequences", "3", "--duration", "4",
        "--output_dir", str(small_disk / "data"), cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_out_of_space(run, "prepare")
    assert sorted(p.name for p in small_disk.iterdir()) == []  # nor a partial one
