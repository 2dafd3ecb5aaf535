"""An unexpected exception ends with one line naming the command, the stage and the cause.

Each case runs `e3d2` in a fresh interpreter, as a user's shell would, with one
function replaced by one that raises what transformers 5.24 raised against the
old policy output (the failure that motivated this line).
"""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO, TINY, side_by_side

CAUSE = "DancePolicyOutput.__init__() got an unexpected keyword argument 'cache'"

SCRIPT = """
import importlib, sys

def boom(*args, **kwargs):
    raise TypeError({cause!r})

setattr(importlib.import_module({module!r}), {name!r}, boom)
from e3d2_hf.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _e3d2_with_failure(module: str, name: str, argv: list[str], cwd) -> subprocess.CompletedProcess:
    script = SCRIPT.format(cause=CAUSE, module=module, name=name)
    return subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_a_failed_demo_stage_names_the_stage_and_the_cause_last(tmp_path):
    result = _e3d2_with_failure(
        "e3d2_hf.demo",
        "prepare",
        ["demo", "--output-dir", str(tmp_path / "demo"), "--report-to", "none"],
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "[demo 1/9] data: failed;" in result.stdout
    assert "Traceback (most recent call last)" in result.stderr
    assert "StageError" not in result.stderr  # the cause's traceback, not the wrapper's
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"e3d2 demo: stage 1/9 (data) failed: TypeError: {CAUSE}"


def test_a_failed_training_command_names_the_cause_last(tmp_path):
    result = _e3d2_with_failure(
        "e3d2_hf.recipes.vqvae",
        "main",
        ["train-vqvae", "--config", str(TINY / "vqvae.yaml"), "--output_dir", str(tmp_path)],
        cwd=REPO,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"e3d2 train-vqvae failed: TypeError: {CAUSE}"


def test_a_user_error_inside_a_stage_stays_one_line_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "e3d2_hf.cli", "demo", "--data", "aistpp", "--report-to", "none"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "[demo 1/9] data: failed;" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "e3d2 demo: error: --data aistpp needs --data_path (the AIST++ root with motions/)"
    ]


def test_a_missing_model_or_tracker_is_one_line_naming_it(tiny_policy, tmp_path):
    """Path-or-repo-id arguments and trackers are checked where they enter."""
    missing = tmp_path / "no-such-vqvae"
    cases = [
        (["train-bc", "--config", str(TINY / "bc.yaml"), "--vqvae_name_or_path", str(missing),
          "--output_dir", str(tmp_path / "bc")],
         f"{missing}: no such model folder"),
        (["train-vqvae", "--config", str(TINY / "vqvae.yaml"), "--output_dir", str(tmp_path / "v"),
          "--report_to", "wandb"],
         "--report_to wandb: the wandb tracker's package is not installed"),
        (["ppo", "--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", str(tiny_policy),
          "--reward_model_name_or_path", str(missing), "--output_dir", str(tmp_path / "ppo")],
         f"{missing}: no such model folder"),
        (["ppo", "--config", str(TINY / "ppo.yaml"), "--policy_name_or_path", "nobody/no-policy",
          "--output_dir", str(tmp_path / "ppo2")],
         "nobody/no-policy: no such local folder, and no model repo of that name on the Hub"),
    ]  # fmt: skip

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "e3d2_hf.cli", *argv],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip

    results = side_by_side(run, [argv for argv, _ in cases])
    for (_, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, result.stderr[-2000:]
        lines = result.stderr.strip().splitlines()
        assert "Traceback" not in result.stderr and message in lines[-1], result.stderr[-1500:]
