"""Where the data comes from: licence and citation in the cards, no workspace paths in the product."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from e3d2_hf.cards import render_dataset_card, source_dataset

from .conftest import REPO, side_by_side

WORKSPACE = "../shared"


def test_a_preference_card_carries_the_source_datasets_terms_and_citation():
    from datasets import Dataset, DatasetDict

    dataset = DatasetDict({"train": Dataset.from_dict({"x": [1, 2]})})
    info = {
        "codebook_size": 8,
        "skeleton": "dance_with_melody23",
        "source_dataset": "dance-with-melody",
    }
    card = render_dataset_card("preferences", dataset, info)
    assert card.data.license == "other"
    assert "## Source data" in card.text and "tang2018dance" in card.text
    synthetic = render_dataset_card("preferences", dataset, {**info, "source_dataset": "synthetic"})
    assert synthetic.data.license == "apache-2.0" and "Apache-2.0" in synthetic.text


def test_the_source_is_followed_through_the_pipelines_folders(tmp_path):
    bc, prefs, reward = tmp_path / "bc", tmp_path / "prefs", tmp_path / "reward"
    for folder in (bc, prefs, reward):
        folder.mkdir()
    (bc / "data_args.json").write_text(json.dumps({"dataset": "aistpp"}))
    (prefs / "demonstrations.json").write_text(json.dumps({"source_dataset": "aistpp"}))
    (reward / "data_args.json").write_text(json.dumps({"dataset": str(prefs)}))
    assert source_dataset(str(bc)) == "aistpp"
    assert source_dataset(str(reward)) == "aistpp"
    assert source_dataset(str(tmp_path / "nowhere")) is None
    assert source_dataset("synthetic") == "synthetic"


def _product_files():
    yield REPO / "README.md"
    for pattern in ("e3d2_hf/**/*.py", "model_cards/*.md", "recipes/**/*.py", "recipes/**/*.yaml"):
        yield from REPO.glob(pattern)
    yield REPO / "app.py"


def test_no_workspace_path_in_the_package_readme_cards_or_configs():
    hits = [str(p.relative_to(REPO)) for p in _product_files() if WORKSPACE in p.read_text()]
    assert hits == []


HELP_COMMANDS = [
    "",
    "download",
    "prepare",
    "demo",
    "dance",
    "evaluate",
    "train-vqvae",
    "train-bc",
    "ppo",
]


@pytest.fixture(scope="module")
def helps(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """`e3d2 <command> --help` of each command, each in a fresh interpreter, two at a time."""
    cwd = tmp_path_factory.mktemp("help")

    def run(command: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "e3d2_hf.cli", *command.split(), "--help"]
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)

    return dict(zip(HELP_COMMANDS, side_by_side(run, HELP_COMMANDS), strict=True))


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_no_workspace_path_in_the_cli_help(command, helps):
    result = helps[command]
    assert result.returncode == 0, result.stderr
    assert WORKSPACE not in result.stdout and "shared/data" not in result.stdout
