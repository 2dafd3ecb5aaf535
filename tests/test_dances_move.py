"""The demo's policies dance as much as the synthetic music they learned from: pi_BC trained by
the demo's own VQ-VAE and behaviour-cloning configs, then the demonstrations, the reward model
and both PPO runs, as `e3d2 demo` runs them; each policy measured on held-out music against the
ground truth's movement.

It trains for about 10 minutes alone on 2 cores (longer inside `make test`, whose workers get a
thread each), so it runs only when asked: `E3D2_SLOW_TESTS=1 make test` (or
`pytest tests/test_dances_move.py` with that variable set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from e3d2_hf.evaluation.physical import FLAG_RULES, MOVEMENT

from .conftest import REPO

DEMO = REPO / "recipes" / "configs" / "demo"

pytestmark = pytest.mark.skipif(
    os.environ.get("E3D2_SLOW_TESTS") != "1",
    reason="trains the demo's models and runs PPO (10 min): set E3D2_SLOW_TESTS=1",
)


def _stage(command: str, config: str, *flags: str, cwd) -> None:
    argv = [sys.executable, "-m", "e3d2_hf.cli", command, "--config", str(DEMO / f"{config}.yaml")]
    trackers = (
        [] if command == "collect-demonstrations" else ["--report_to", "none"]
    )  # trainers only
    result = subprocess.run([*argv, *flags, *trackers], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def _moves_like_the_ground_truth(name: str, dance: dict, truth: dict) -> None:
    """Each movement figure (joint speed, root-relative speed, pose range, root travel) within
    ±30% of the held-out ground truth's."""
    for key in MOVEMENT:
        margin = FLAG_RULES[key][1]
        value, target = dance[key], truth[key]
        assert abs(value - target) <= margin * target, (name, key, value, target)


def test_the_demo_policies_move_like_the_held_out_ground_truth(tmp_path):
    data = ["--prepared_dir", str(tmp_path / "data")]
    _stage("train-vqvae", "vqvae", "--output_dir", str(tmp_path / "vqvae"), *data, cwd=tmp_path)
    bc = tmp_path / "bc"
    _stage(
        "train-bc", "bc", "--vqvae_name_or_path", str(tmp_path / "vqvae"), "--output_dir",
        str(bc), *data, cwd=tmp_path,
    )  # fmt: skip
    results = json.loads((bc / "final_results.json").read_text())
    _moves_like_the_ground_truth(
        "pi_BC",
        {k: results[f"heldout_dance_{k}"] for k in MOVEMENT},
        {k: results[f"heldout_ground_truth_{k}"] for k in MOVEMENT},
    )

    prefs, reward = tmp_path / "preferences", tmp_path / "reward"
    _stage(
        "collect-demonstrations", "demonstrations", "--policy_name_or_path", str(bc), "--output_dir", str(prefs),
        cwd=tmp_path,
    )  # fmt: skip
    _stage(
        "train-reward", "reward", "--preferences_dir", str(prefs), "--output_dir", str(reward),
        "--trunk_policy", str(bc), cwd=tmp_path,
    )  # fmt: skip
    for kind in ("learned", "bailando"):
        out = tmp_path / f"ppo-{kind}"
        _stage(
            "ppo", "ppo", "--policy_name_or_path", str(bc), "--reward_model_name_or_path",
            str(reward), "--reward_funcs", kind, "--output_dir", str(out), cwd=tmp_path,
        )  # fmt: skip
        report = json.loads((out / "ppo_report.json").read_text())
        (name,) = [n for n in report["rows"] if n.startswith("pi_RL")]
        _moves_like_the_ground_truth(
            name,
            {k: report["rows"][name][f"eval_{k}"] for k in MOVEMENT},
            {k: report["ground_truth"][f"eval_{k}"] for k in MOVEMENT},
        )
