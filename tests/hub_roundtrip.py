"""The client side of `test_hub.py`, run in a subprocess whose HF_ENDPOINT is a LoopbackHub.

`huggingface_hub` reads the endpoint when it is imported, so the pushes and loads
run in a fresh interpreter; the findings go to a JSON file the test asserts on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

DATASET_REPO = "e3d2-tester/dance-preferences"
REWARD_REPO = "e3d2-tester/dance-reward"


def main(preferences_dir: str, work_dir: str, reward_config: str) -> None:
    from e3d2_hf.recipes.reward import main as main_reward
    from huggingface_hub import DatasetCard, ModelCard

    from e3d2_hf.cli import main as cli
    from e3d2_hf.models import DanceRewardModel
    from e3d2_hf.preferences import load_preferences, push_preferences_to_hub

    work = Path(work_dir)
    found: dict = {}
    push_preferences_to_hub(preferences_dir, DATASET_REPO)
    local, local_info = load_preferences(preferences_dir)
    hub, hub_info = load_preferences(DATASET_REPO)
    found["splits_equal"] = {s: local[s].to_dict() == hub[s].to_dict() for s in local}
    found["features_equal"] = {s: local[s].features == hub[s].features for s in local}
    found["info_equal"] = local_info == hub_info
    found["dataset_card"] = DatasetCard.load(DATASET_REPO, repo_type="dataset").content

    # train the reward model on the pairs as loaded from the Hub, and push it with its card
    main_reward(
        [
            "--config", reward_config,
            "--preferences_dir", DATASET_REPO,
            "--output_dir", str(work / "reward"),
            "--push_to_hub", "true",
            "--hub_model_id", REWARD_REPO,
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    found["model_card"] = ModelCard.load(REWARD_REPO).content
    from_hub = DanceRewardModel.from_pretrained(REWARD_REPO)
    from_disk = DanceRewardModel.from_pretrained(work / "reward")
    segment = hub["test_segments"].with_format("torch")[:4]
    demonstrations = hub["test_demonstrations"].with_format("torch")[:4]
    music, upper, lower = (
        segment["music_features"],
        demonstrations["upper_ids"],
        demonstrations["lower_ids"],
    )
    pair_ids = upper.long() * from_hub.config.codebook_size + lower.long()
    found["score_hub"] = from_hub.score(music, pair_ids).tolist()
    found["score_disk"] = from_disk.score(music, upper.long(), lower.long()).tolist()

    dance = work / "dance.npz"
    np.savez(
        dance, upper_ids=upper[0].numpy(), lower_ids=lower[0].numpy(), music_tokens=music[0].numpy()
    )
    found["cli_exit"] = cli(
        ["score", str(dance), "--reward-model", REWARD_REPO, "--output", str(work / "score.json")]
    )
    found["cli_scores"] = json.loads((work / "score.json").read_text())
    (work / "found.json").write_text(json.dumps(found))


if __name__ == "__main__":
    torch.manual_seed(0)
    main(*sys.argv[1:])
