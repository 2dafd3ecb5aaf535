"""upload an output (policy, VQ-VAE, reward model, preference or clip dataset) to the Hub

Push an output folder with its card. A policy takes its VQ-VAE along (in vqvae/), so `e3d2
dance --policy namespace/name` works from the repo alone. Uses the usual Hub settings
(HF_TOKEN, HF_ENDPOINT).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hub import push_output


@dataclass
class Arguments:
    path: str = field(metadata={"positional": True, "help": "output folder"})
    repo_id: str = field(metadata={"positional": True, "help": "namespace/name"})
    private: bool = field(default=False, metadata={"help": "create the repo as private"})
    vqvae: str | None = field(
        default=None, metadata={"help": "for a policy: the VQ-VAE to include (default: its own)"}
    )


def run(args: Arguments) -> int:
    url = push_output(args.path, args.repo_id, private=args.private or None, vqvae=args.vqvae)
    print(f"pushed {args.path} to {url}")
    return 0
