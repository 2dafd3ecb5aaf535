"""Stage 1a: the VQ-VAE ("choreographic memory") trainer, bailando-facts §3."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import EvalPrediction

from ..data.layout import WINDOW_FRAMES
from .common import E3D2Trainer, E3D2TrainingArguments


@dataclass
class VQVAEConfig(E3D2TrainingArguments):
    """Bailando step 1 defaults: Adam lr 3e-5, betas (0.5, 0.999), batch 32, 500 epochs,
    lr x0.1 at epochs 100 and 200, 240-frame windows with stride 40."""

    learning_rate: float = field(default=3e-5, metadata={"help": "Adam learning rate"})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "windows per device"})
    num_train_epochs: float = field(default=500.0, metadata={"help": "epochs"})
    lr_milestones: list[int] = field(
        default_factory=lambda: [100, 200], metadata={"help": "epochs at which lr *= lr_gamma"}
    )
    window_frames: int = field(
        default=WINDOW_FRAMES, metadata={"help": "frames per training window"}
    )
    window_stride: int = field(default=40, metadata={"help": "frames between window starts"})


class VQVAETrainer(E3D2Trainer):
    """Trains `DanceVQVAE` on joint windows; logs pose, root and commitment losses and code usage,
    and evaluates the mean per-joint position error (MPJPE, mm) of the reconstruction."""

    model_family = "e3d2_dance_vqvae"
    card_template = "vqvae"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("compute_metrics", reconstruction_metrics)
        super().__init__(*args, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(joints=inputs["joints"])
        self.record(
            pose_loss=outputs.pose_loss,
            root_loss=outputs.root_loss,
            commitment_loss=outputs.commitment_loss,
            upper_codes_used=outputs.upper_ids.unique().numel(),
            lower_codes_used=outputs.lower_ids.unique().numel(),
        )
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def evaluation_batch(self, model, inputs):
        joints = inputs["joints"]
        outputs = model(joints=joints)
        errors = position_errors(outputs.reconstruction, joints, model)
        return outputs.loss, errors, errors


def position_errors(reconstruction: torch.Tensor, joints: torch.Tensor, model) -> torch.Tensor:
    """Per-window (pose error, trajectory error) in mm, (batch, 2).

    The pose error compares root-relative joints; the trajectory error compares
    absolute joints after moving the target's first root position to the origin
    (decoded dances start there).
    """
    unwrapped = getattr(model, "module", model)
    root = unwrapped.config.skeleton_def.root
    batch, frames, _ = joints.shape
    predicted = reconstruction.view(batch, frames, -1, 3)
    target = joints.view(batch, frames, -1, 3).to(predicted.dtype)
    pose = (predicted - predicted[:, :, root : root + 1]) - (target - target[:, :, root : root + 1])
    target_from_origin = target - target[:, :1, root : root + 1]
    absolute = predicted - target_from_origin
    return 1000.0 * torch.stack(
        [pose.norm(dim=-1).mean(dim=(1, 2)), absolute.norm(dim=-1).mean(dim=(1, 2))], dim=-1
    )


def reconstruction_metrics(prediction: EvalPrediction) -> dict[str, float]:
    errors = np.asarray(prediction.predictions).reshape(-1, 2)
    return {
        "mpjpe_mm": float(errors[:, 0].mean()),
        "trajectory_mpjpe_mm": float(errors[:, 1].mean()),
    }
