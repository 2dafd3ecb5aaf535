"""Stage 1a: the VQ-VAE ("choreographic memory") trainer, docs/bailando.md §3."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from accelerate.utils import send_to_device
from transformers import EvalPrediction

from ..data.layout import WINDOW_FRAMES
from .trainer import E3D2Trainer, E3D2TrainingArguments

logger = logging.getLogger(__name__)


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
    parallel_body_halves: bool = field(
        default=False,
        metadata={
            "help": "train the upper and the lower body's VQ-VAE in two threads of one intra-op "
            "thread each (the same gradients; about 1.3x faster on a 2-core CPU, where a second "
            "intra-op thread speeds these small convolutions up only 1.14x). One CPU process "
            "in fp32 only: elsewhere it is ignored, with a warning"
        },
    )


class VQVAETrainer(E3D2Trainer):
    """Trains `DanceVQVAE` on joint windows; logs pose, root and commitment losses and code usage,
    and evaluates the mean per-joint position error (MPJPE, mm) of the reconstruction."""

    model_family = "e3d2_dance_vqvae"
    card_template = "vqvae"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("compute_metrics", reconstruction_metrics)
        super().__init__(*args, **kwargs)
        self._halves_pool: ThreadPoolExecutor | None = None

    def _can_run_halves_apart(self) -> bool:
        args = self.args
        if args.device.type == "cpu" and args.world_size == 1 and not (args.fp16 or args.bf16):
            return True
        logger.warning(
            "parallel_body_halves is for one CPU process in fp32 (here: %s, %d processes%s); "
            "the halves train together",
            args.device, args.world_size, ", mixed precision" if args.fp16 or args.bf16 else "",
        )  # fmt: skip
        return False

    def train(self, *args, **kwargs):
        if not (self.args.parallel_body_halves and self._can_run_halves_apart()):
            return super().train(*args, **kwargs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the pool's threads start after this and keep one thread each
        try:
            with ThreadPoolExecutor(2, thread_name_prefix="vqvae-half") as pool:
                self._halves_pool = pool
                return super().train(*args, **kwargs)
        finally:
            self._halves_pool = None
            torch.set_num_threads(threads)

    def backward_step(self, model, inputs, num_items_in_batch=None):
        if self._halves_pool is None:
            return super().backward_step(model, inputs, num_items_in_batch)
        model.train()
        inputs = send_to_device(inputs, self.args.device)
        scale = 1.0 / self.current_gradient_accumulation_steps  # as Trainer scales the loss
        outputs = model.forward_backward(inputs["joints"], self._halves_pool.map, scale)
        self._record(outputs)
        return outputs.loss * scale

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(joints=inputs["joints"])
        self._record(outputs)
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def _record(self, outputs) -> None:
        self.record(
            pose_loss=outputs.pose_loss,
            root_loss=outputs.root_loss,
            commitment_loss=outputs.commitment_loss,
            upper_codes_used=outputs.upper_ids.unique().numel(),
            lower_codes_used=outputs.lower_ids.unique().numel(),
        )

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
