"""Automatically ranked demonstrations: epsilon-greedy rollouts of pi_BC -> a preference dataset.

    python recipes/demonstrations.py --config recipes/configs/demo/demonstrations.yaml [--key value ...]
    accelerate launch recipes/demonstrations.py --config recipes/configs/demo/demonstrations.yaml
    e3d2 collect-demonstrations --config ...            (this very module, as e3d2_hf.recipes.demonstrations)

Each rank collects its own shards of the music segments; the dataset (pairs of the same
music at two noise levels, the less noisy one preferred) appears only once it is whole.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from e3d2_hf.models import DancePolicy
from e3d2_hf.models.folders import load_model
from e3d2_hf.models.tokens import load_token_splits
from e3d2_hf.preferences import push_preferences_to_hub
from e3d2_hf.training.config_parser import parse_stage_args
from e3d2_hf.training.demonstrations import DemonstrationConfig, build_preference_dataset
from e3d2_hf.training.launch import distributed_state
from e3d2_hf.utils.errors import run_recipe


@dataclass
class DemosArguments:
    policy_name_or_path: str = field(
        default="outputs/demo/bc", metadata={"help": "pi_BC to roll out"}
    )
    tokens_dir: str | None = field(
        default=None,
        metadata={"help": "token datasets with train/ and heldout/ (default <policy>/tokens)"},
    )
    output_dir: str = field(
        default="outputs/demo/preferences", metadata={"help": "where the dataset goes"}
    )
    push_to_hub: bool = field(
        default=False, metadata={"help": "upload the dataset and its card to the Hub"}
    )
    hub_dataset_id: str | None = field(
        default=None, metadata={"help": "Hub dataset repo (namespace/name) for --push_to_hub"}
    )
    hub_private_repo: bool | None = field(
        default=None, metadata={"help": "create the Hub repo as private"}
    )

    def __post_init__(self) -> None:
        if self.push_to_hub and not self.hub_dataset_id:
            raise ValueError("--push_to_hub needs --hub_dataset_id namespace/name")


ARGUMENTS = (DemosArguments, DemonstrationConfig)
"""The options: `--config` YAML keys and `--key value` flags, one dataclass each."""


def main(argv: list[str] | None = None):
    """As `python recipes/demonstrations.py` and `e3d2` run it: parse ARGUMENTS, then `run`."""
    return run(*parse_stage_args(ARGUMENTS, argv))


def run(args: DemosArguments, config: DemonstrationConfig):
    # 1. the options: where pi_BC is, and the sampler's noise levels, pairs and segment stride

    # 2. the model: pi_BC, on this rank's device
    state = distributed_state()
    policy = load_model(DancePolicy, args.policy_name_or_path)
    if state.device.type != "cpu":
        policy.to(state.device)

    # 3. data: pi_BC's tokenized training and held-out songs (their music segments)
    train_tokens, heldout_tokens = load_token_splits(
        args.tokens_dir or Path(args.policy_name_or_path) / "tokens"
    )

    # 4. roll out at every noise level, rank, pair, save (training/demonstrations.py)
    dataset = build_preference_dataset(
        policy, train_tokens, heldout_tokens, args.output_dir, config
    )

    # 5. push the dataset with its card
    if args.push_to_hub and state.is_main_process:
        push_preferences_to_hub(args.output_dir, args.hub_dataset_id, args.hub_private_repo)
    return dataset


if __name__ == "__main__":
    sys.exit(run_recipe("collect-demonstrations", main))
