"""Named model sizes: `tiny` (tests), `demo` (minutes on 2 CPU cores) and `paper` (the paper's).

A preset fixes all three families together, so the policy's and the reward
model's codebook always matches the VQ-VAE's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import PreTrainedConfig, PreTrainedModel

from .loading import parameter_size
from .policy.configuration_policy import DancePolicyConfig
from .policy.modeling_policy import DancePolicy
from .reward.configuration_reward import DanceRewardConfig
from .reward.modeling_reward import DanceRewardModel
from .vqvae.configuration_vqvae import ROOT_HEIGHTS, DanceVQVAEConfig
from .vqvae.modeling_vqvae import DanceVQVAE

FAMILIES: dict[str, tuple[type[PreTrainedConfig], type[PreTrainedModel]]] = {
    "vqvae": (DanceVQVAEConfig, DanceVQVAE),
    "policy": (DancePolicyConfig, DancePolicy),
    "reward": (DanceRewardConfig, DanceRewardModel),
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "vqvae": {"codebook_size": 32, "code_dim": 16, "width": 16, "depth": 1},
        "policy": {
            "codebook_size": 32,
            "hidden_size": 32,
            "num_attention_heads": 2,
            "num_hidden_layers": 2,
            "value_shared_layers": 1,
            "value_num_layers": 1,
        },
        "reward": {"codebook_size": 32, "hidden_size": 32, "num_attention_heads": 2},
    },
    "demo": {
        "vqvae": {"codebook_size": 128, "code_dim": 64, "width": 64, "depth": 2},
        "policy": {
            "codebook_size": 128,
            "hidden_size": 128,
            "num_attention_heads": 4,
            "num_hidden_layers": 4,
            "value_shared_layers": 2,
            "value_num_layers": 1,
        },
        "reward": {"codebook_size": 128, "hidden_size": 128, "num_attention_heads": 4},
    },
    "paper": {"vqvae": {}, "policy": {}, "reward": {}},
}


def preset_config(family: str, preset: str, **overrides: Any) -> PreTrainedConfig:
    """The config of `family` ("vqvae", "policy", "reward") at size `preset`, with overrides."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    config_class, _ = FAMILIES[family]
    return config_class(**{**PRESETS[preset][family], **overrides})


def count_parameters(config: PreTrainedConfig) -> int:
    """Parameters of the model a config describes, counted without allocating them."""
    model_class = next(m for c, m in FAMILIES.values() if isinstance(config, c))
    return parameter_size(model_class, config)[0]


def parameter_table(skeleton: str = "smpl24") -> list[tuple[str, str, int]]:
    """(preset, family, parameters) for every preset, policies with their value head."""
    rows = []
    for preset in PRESETS:
        for family in FAMILIES:
            overrides: dict[str, Any] = {"skeleton": skeleton}
            rows.append(
                (preset, family, count_parameters(preset_config(family, preset, **overrides)))
            )
            if family == "policy":
                config = preset_config(family, preset, value_head=True, **overrides)
                rows.append((preset, "policy+value", count_parameters(config)))
    return rows


@dataclass
class ModelArguments:
    model_preset: str = field(default="demo", metadata={"help": "tiny | demo | paper"})
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "start from this checkpoint instead of a fresh preset model"},
    )
    vqvae_name_or_path: str | None = field(
        default=None, metadata={"help": "BC: the trained VQ-VAE that tokenizes the dances"}
    )
    root_height: str = field(
        default="velocity",
        metadata={
            "choices": ROOT_HEIGHTS,
            "help": "VQ-VAE: velocity integrates the root's height as Bailando does (it drifts); "
            "absolute decodes the height itself",
        },
    )
    root_path_weight: float = field(
        default=0.0,
        metadata={
            "help": "VQ-VAE: weight of an L1 loss on the root's path over a window (the decoded "
            "velocities summed), which keeps the root from drifting; 0 as Bailando"
        },
    )
    output_smoothing: float = field(
        default=0.0,
        metadata={
            "help": "VQ-VAE: sigma in frames of the fixed Gaussian on the decoders' outputs, "
            "trained through (smooth across code boundaries); 0 as Bailando"
        },
    )

    def vqvae_decoder(self) -> dict[str, Any]:
        """The decoder options of a fresh VQ-VAE (`DanceVQVAEConfig` fields)."""
        return {
            "root_height": self.root_height,
            "root_path_weight": self.root_path_weight,
            "output_smoothing": self.output_smoothing,
        }
