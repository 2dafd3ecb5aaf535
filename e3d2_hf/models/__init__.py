"""The three models, registered with the transformers Auto classes on import.

`AutoModel.from_pretrained(path)` then works without `trust_remote_code`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .policy.configuration_policy import DancePolicyConfig
from .policy.modeling_policy import DancePolicy, DancePolicyOutput, DanceRollout
from .presets import FAMILIES, PRESETS, count_parameters, parameter_table, preset_config
from .reward.configuration_reward import DanceRewardConfig
from .reward.modeling_reward import DanceRewardModel, DanceRewardOutput
from .vqvae.configuration_vqvae import DanceVQVAEConfig
from .vqvae.modeling_vqvae import DanceVQVAE, DanceVQVAEOutput

for _config, _model in FAMILIES.values():
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
AutoModelForSequenceClassification.register(DanceRewardConfig, DanceRewardModel, exist_ok=True)

__all__ = [
    "FAMILIES",
    "PRESETS",
    "DancePolicy",
    "DancePolicyConfig",
    "DancePolicyOutput",
    "DanceRewardConfig",
    "DanceRewardModel",
    "DanceRewardOutput",
    "DanceRollout",
    "DanceVQVAE",
    "DanceVQVAEConfig",
    "DanceVQVAEOutput",
    "count_parameters",
    "parameter_table",
    "preset_config",
]
