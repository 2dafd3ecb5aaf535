"""Hub round trips through the real client code, against a loopback Hub server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import REPO, TINY
from .loopback_hub import LoopbackHub


@pytest.fixture(scope="module")
def hub_roundtrip(tiny_preferences, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("hub")
    with LoopbackHub() as hub:
        env = {
            **os.environ,
            "HF_ENDPOINT": hub.endpoint,
            "HF_TOKEN": "hf_loopback",
            "HF_HOME": str(work / "hf_home"),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        env.pop("HF_HUB_OFFLINE", None)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.hub_roundtrip",
                str(tiny_preferences),
                str(work),
                str(TINY / "reward.yaml"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-4000:] + "\n".join(hub.state.errors)
        assert not hub.state.errors, hub.state.errors
        found = json.loads((work / "found.json").read_text())
        found["requests"] = list(hub.state.requests)
    return found


def test_preference_dataset_round_trips_through_the_hub(hub_roundtrip):
    assert all(hub_roundtrip["splits_equal"].values()), hub_roundtrip["splits_equal"]
    assert all(hub_roundtrip["features_equal"].values()), hub_roundtrip["features_equal"]
    assert hub_roundtrip["info_equal"]
    card = hub_roundtrip["dataset_card"]
    assert "# E3D2 ranked dance demonstrations" in card
    assert (
        "config_name: pairs" in card and "config_name: segments" in card
    )  # push_to_hub metadata kept
    assert "1, 0.75, 0.5, 0.25, 0.02" in card


def test_reward_model_trains_from_the_hub_dataset_and_loads_by_repo_id(hub_roundtrip):
    card = hub_roundtrip["model_card"]
    assert "noise levels 1, 0.75, 0.5, 0.25, 0.02" in card
    assert "| test_accuracy |" in card and "| 0.02 |" in card
    assert "e3d2-tester/dance-reward" in card
    assert hub_roundtrip["score_hub"] == pytest.approx(hub_roundtrip["score_disk"], abs=1e-5)
    assert len(set(hub_roundtrip["score_hub"])) > 1
    assert any(r.startswith("PUT /lfs-upload/") for r in hub_roundtrip["requests"])


def test_score_cli_reads_a_reward_model_by_repo_id(hub_roundtrip):
    assert hub_roundtrip["cli_exit"] == 0
    [score] = hub_roundtrip["cli_scores"]
    assert score["num_windows"] == 1 and score["num_tokens"] == 29
    assert score["mean_u"] == pytest.approx(hub_roundtrip["score_hub"][0], abs=1e-4)
