"""e3d2-hf: E3D2 music-to-dance generation with a learned reward and PPO, on the Hugging Face stack."""

__version__ = "0.1.0"
