"""The client side of the `e3d2 push` test, run in fresh interpreters against a LoopbackHub.

`push` uploads with the CLI; `load` (a second, fresh process with an empty Hub
cache) reads everything back by repo id. Findings go to a JSON file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

POLICY_REPO = "e3d2-tester/dance-policy"
VQVAE_REPO = "e3d2-tester/dance-vqvae"
DATASET_REPO = "e3d2-tester/ranked-demonstrations"


def push(policy: str, vqvae: str, preferences: str, work: str) -> None:
    from e3d2_hf.cli import main as cli

    codes = [
        cli(["push", policy, POLICY_REPO]),
        cli(["push", vqvae, VQVAE_REPO]),
        cli(["push", preferences, DATASET_REPO]),
        cli(["push", str(Path(work) / "missing"), "e3d2-tester/nothing"]),
    ]
    Path(work, "push.json").write_text(json.dumps({"exit_codes": codes}))


def load(song: str, work: str) -> None:
    from huggingface_hub import DatasetCard, ModelCard, list_repo_files
    from transformers import AutoModel

    import e3d2_hf  # noqa: F401  (registers the Auto classes)
    from e3d2_hf.inference import dance_to_song, load_dancer
    from e3d2_hf.preferences import load_preferences

    found: dict = {}
    for repo in (POLICY_REPO, VQVAE_REPO):
        card = ModelCard.load(repo)
        found[repo] = {
            "library_name": card.data.library_name,
            "tags": card.data.tags,
            "metrics": {r.metric_type: r.metric_value for r in card.data.eval_results or []},
            "text": card.text,
            "files": sorted(list_repo_files(repo)),
        }
    found["vqvae_type"] = AutoModel.from_pretrained(VQVAE_REPO).config.model_type
    policy, vqvae = load_dancer(POLICY_REPO)  # the VQ-VAE comes from the repo's vqvae/ folder
    dance = dance_to_song(policy, vqvae, song, duration=2.0, seed=0)
    found["dance_shape"] = list(dance.joints.shape)
    found["dance_codes"] = dance.upper_ids.tolist()
    dataset, info = load_preferences(DATASET_REPO)
    found["dataset_rows"] = {k: len(v) for k, v in dataset.items()}
    found["dataset_tags"] = DatasetCard.load(DATASET_REPO, repo_type="dataset").data.tags
    Path(work, "load.json").write_text(json.dumps(found))


if __name__ == "__main__":
    {"push": push, "load": load}[sys.argv[1]](*sys.argv[2:])
