"""Trainers and the functions that run each stage of the pipeline."""

from ..models.folders import load_model
from ..models.tokens import tokenize_clips
from .bc_trainer import BCConfig, BCTrainer
from .trainer import E3D2Trainer, E3D2TrainingArguments
from .vqvae_trainer import VQVAEConfig, VQVAETrainer
from .windows import MotionWindows, TokenWindows

__all__ = [
    "BCConfig",
    "BCTrainer",
    "E3D2Trainer",
    "E3D2TrainingArguments",
    "MotionWindows",
    "TokenWindows",
    "VQVAEConfig",
    "VQVAETrainer",
    "load_model",
    "tokenize_clips",
]
