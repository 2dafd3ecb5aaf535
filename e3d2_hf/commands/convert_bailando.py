"""convert Bailando's released checkpoints (VQ-VAE + GPT .pt) to e3d2-hf models

Read Bailando's checkpoints tensor-only (torch.load weights_only=True; a file that would run
code is refused), map every key to DanceVQVAE and DancePolicy, and write OUTPUT_DIR/vqvae and
OUTPUT_DIR/policy (which carries its VQ-VAE), ready for from_pretrained and `e3d2 dance
song.mp3 --policy OUTPUT_DIR/policy`. A key left over or a weight not filled is an error listing
them. Bailando's weights are under the NTU S-Lab License 1.0 (non-commercial); the model cards
say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..convert_bailando import convert_bailando
from ..utils.ranges import check_ranges


@dataclass
class Arguments:
    vqvae: str = field(
        metadata={
            "help": "Bailando's VQ-VAE: step 2 (experiments/sep_vqvae_root/ckpt/epoch_500.pt, "
            "with the root decoder), or step 1 (sep_vqvae) together with --vqvae_root"
        }
    )
    gpt: str = field(
        metadata={
            "help": "Bailando's GPT (experiments/cc_motion_gpt/ckpt/epoch_400.pt), or an "
            "actor-critic checkpoint with --ignore_critic"
        }
    )
    output_dir: str = field(metadata={"help": "where vqvae/ and policy/ go"})
    vqvae_root: str | None = field(
        default=None,
        metadata={
            "help": "Bailando's step-2 checkpoint, for its root-velocity decoder when --vqvae "
            "is step 1"
        },
    )
    config: str | None = field(
        default=None,
        metadata={
            "help": "Bailando's YAML (configs/cc_motion_gpt.yaml); default: the config saved "
            "in the checkpoints"
        },
    )
    overwrite: bool = field(default=False, metadata={"help": "replace an earlier conversion"})
    ignore_critic: bool = field(
        default=False,
        metadata={"help": "convert the actor of an actor-critic checkpoint, leave its critic out"},
    )
    train_clips: str | None = field(
        default=None,
        metadata={
            "help": "a clip dataset (e3d2 prepare) to encode into policy/tokens/train, with "
            "--heldout_clips: collect-demonstrations and ppo then run from the converted policy"
        },
    )
    heldout_clips: str | None = field(
        default=None,
        metadata={"help": "the held-out clip dataset, encoded into policy/tokens/heldout"},
    )

    def __post_init__(self) -> None:
        check_ranges(self)


def run(args: Arguments) -> int:
    out = convert_bailando(
        args.vqvae, args.gpt, args.output_dir, vqvae_root=args.vqvae_root, config=args.config,
        overwrite=args.overwrite, ignore_critic=args.ignore_critic,
        train_clips=args.train_clips, heldout_clips=args.heldout_clips,
    )  # fmt: skip
    print(f"wrote {out.vqvae_dir} and {out.policy_dir}")
    print(f"next: e3d2 dance song.mp3 --policy {out.policy_dir}")
    return 0
