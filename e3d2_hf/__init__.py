"""e3d2-hf: E3D2 music-to-dance generation with a learned reward and PPO, on the Hugging Face stack.

Importing the package registers its three models with the transformers Auto
classes (AutoConfig, AutoModel, and AutoModelForSequenceClassification for the
reward model), so `import e3d2_hf` then `AutoModel.from_pretrained(path_or_repo)`
works without `trust_remote_code`.
"""

__version__ = "0.1.0"

from . import models  # noqa: E402,F401  (registration happens on import)
