"""What every e3d2 trainer shares: its arguments' defaults and checks, milestone LR schedules,
per-sample evaluation metrics, the resume/overwrite guard, model cards and the finished run."""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import send_to_device
from torch.optim.lr_scheduler import LambdaLR
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.integrations import TensorBoardCallback
from transformers.integrations.integration_utils import default_logdir

from ..models.folders import bundle_vqvae, check_model_type
from ..utils.outputs import (
    DATA_ARGS,
    check_writable,
    claim_output_dir,
    record_files,
    run_lock,
)
from ..utils.ranges import RangeError, check_ranges
from .checkpoints import (
    CheckpointCompleteCallback,
    TrainingStopped,
    check_finite_weights,
    discard_checkpoints,
    is_finished_run,
    last_good_model,
    resolve_checkpoint,
)
from .launch import check_sharding_engine, check_trackers, has_accelerator


@dataclass
class E3D2TrainingArguments(TrainingArguments):
    """`TrainingArguments` with the defaults this project wants on any machine.

    `lr_milestones` are epochs at which the learning rate is multiplied by
    `lr_gamma` (Bailando's MultiStepLR); when set they replace
    `lr_scheduler_type`.
    """

    lr_milestones: list[int] = field(
        default_factory=list, metadata={"help": "epochs at which lr *= lr_gamma"}
    )
    lr_gamma: float = field(default=0.1, metadata={"help": "factor applied at each milestone"})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "train again into an output dir that holds a finished run"}
    )
    report_to: None | str | list[str] = field(
        default_factory=lambda: ["tensorboard"], metadata={"help": "trackers to log to"}
    )
    logging_steps: float = field(default=10, metadata={"help": "log every N steps"})
    save_steps: float = field(default=200, metadata={"help": "checkpoint every N steps"})
    save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept"})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "keep all dataset columns"}
    )
    max_grad_norm: float = field(
        default=0.0, metadata={"help": "gradient clipping (0: off, as Bailando)"}
    )
    adam_beta1: float = field(default=0.5, metadata={"help": "Adam beta1 (Bailando: 0.5)"})
    seed: int = field(default=0, metadata={"help": "random seed"})
    dataloader_pin_memory: bool = field(
        default_factory=torch.cuda.is_available,
        metadata={"help": "pin memory (on by default on GPUs)"},
    )
    use_cpu: bool = field(
        default=False,
        metadata={
            "help": "train on the CPU (always on machines without a GPU: ranks started by "
            "`accelerate launch --config_file` then form one gloo world, and bf16 uses CPU autocast)"
        },
    )

    project: str = field(
        default="e3d2-hf", metadata={"help": "project name for trackio (one run per job)"}
    )

    def __post_init__(self):
        check_ranges(self)
        if self.output_dir:  # a foreign folder is refused before any work is done
            check_writable(self.output_dir, "choose another --output_dir")
        if self.output_dir and str(self.resume_from_checkpoint or "false").lower() != "false":
            # a checkpoint that is not there, torn or damaged is refused before any write (train()
            # resolves it again and reports the torn ones it passes over)
            resolve_checkpoint(Path(self.output_dir), self.resume_from_checkpoint, report=False)
        if self.max_steps == 0 or self.max_steps < -1:
            raise RangeError(
                "max_steps", f"must be positive (or -1: use epochs), got {self.max_steps}"
            )
        check_sharding_engine(self)
        if not self.use_cpu and not has_accelerator():
            # accelerate's config files cannot pass their use_cpu on to the ranks they start
            self.use_cpu = True
        if self.run_name is None:  # one name per job, so a tracker resumes one run after train()
            self.run_name = f"{Path(self.output_dir).name}-{time.strftime('%Y%m%d-%H%M%S')}"
        super().__post_init__()
        check_trackers(self.report_to)


class E3D2Trainer(Trainer):
    """A `transformers.Trainer` with the pieces every stage of the pipeline needs.

    Subclasses set `model_family` (the `model_type` a checkpoint must have) and
    `card_template`, and implement `evaluation_batch(model, inputs)` returning
    (loss, per-sample predictions, per-sample targets) for `compute_metrics`.
    """

    model_family: str = ""
    card_template: str = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._aux_logs: dict[str, list[float]] = defaultdict(list)
        self.card_data: dict[str, Any] = {}
        if self.args.should_save:
            claim_output_dir(self.args.output_dir)
        self.add_callback(CheckpointCompleteCallback())
        self.add_callback(NonFiniteLogCallback())
        if self.pop_callback(PrinterCallback) is not None:  # --disable_tqdm: printed logs
            self.add_callback(MainProcessPrinterCallback())
        self._log_under_output_dir()

    def _log_under_output_dir(self) -> None:
        """TensorBoard logs go to `output_dir/runs/<run>` even when `evaluate()` comes first.

        transformers picks that folder in `on_train_begin`; a log line before it
        (our pre-training evaluation) opens a writer on `./runs` in the working
        directory instead.
        """
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
                callback.logging_dir = os.path.join(self.args.output_dir, default_logdir())

    # --- learning-rate schedule ------------------------------------------------------------
    def create_scheduler(self, num_training_steps: int, optimizer=None):
        milestones = self.args.lr_milestones
        if not milestones:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            steps_per_epoch = max(
                1,
                math.ceil(len(self.get_train_dataloader()) / self.args.gradient_accumulation_steps),
            )
            boundaries = [m * steps_per_epoch for m in milestones]
            gamma = self.args.lr_gamma

            def factor(step: int) -> float:
                return gamma ** sum(step >= b for b in boundaries)

            self.lr_scheduler = LambdaLR(optimizer or self.optimizer, factor)
        return self.lr_scheduler

    # --- auxiliary training metrics ----------------------------------------------------------
    def record(self, **values: torch.Tensor | float) -> None:
        """Keep a training-step metric; averaged into the next training log line."""
        if self.model.training:
            for name, value in values.items():
                self._aux_logs[name].append(
                    float(value.detach() if torch.is_tensor(value) else value)
                )

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs and self._aux_logs:
            logs.update({k: sum(v) / len(v) for k, v in self._aux_logs.items()})
            self._aux_logs.clear()
        super().log(logs, *args, **kwargs)

    # --- the non-finite guard -----------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        """`backward_step`, then a stop before the optimizer step if the loss is not finite."""
        loss = self.backward_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            raise TrainingStopped(
                f"step {self.state.global_step + 1}: the training loss is not finite; stopped "
                f"before the optimizer step. {last_good_model(self.args.output_dir)}"
            )
        return loss

    def backward_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        """Forward and backward of one batch: `Trainer.training_step`."""
        return super().training_step(model, inputs, num_items_in_batch)

    # --- evaluation: per-sample predictions, reduced by compute_metrics -----------------------
    def evaluation_batch(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = send_to_device(inputs, self.args.device)
        with torch.no_grad():
            loss, predictions, targets = self.evaluation_batch(model, inputs)
        if prediction_loss_only:
            return loss.detach(), None, None
        return loss.detach(), predictions, targets

    # --- checks --------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        # one run per folder: a second one would interleave its checkpoints with this one's
        with run_lock(self.args.output_dir) if self.args.should_save else nullcontext():
            return self._train(resume_from_checkpoint, **kwargs)

    def _train(self, resume_from_checkpoint: str | bool | None, **kwargs):
        checkpoint = self.checkpoint_to_resume(resume_from_checkpoint)
        try:
            return super().train(
                resume_from_checkpoint=checkpoint and os.fspath(checkpoint), **kwargs
            )
        except pickle.UnpicklingError as exc:  # torch.load(weights_only=True) refused a file
            if checkpoint is None:
                raise
            raise ValueError(
                f"{checkpoint}: holds a file with pickled objects other than tensors; refused, "
                f"nothing in it was run ({' '.join(str(exc).split())[:160]}). Resume from "
                "another checkpoint"
            ) from None

    def checkpoint_to_resume(
        self, resume_from_checkpoint: str | bool | None, report: bool = True
    ) -> Path | None:
        """The checkpoint `train()` resumes from (complete, whole, of this model family), or None
        for a fresh run; a finished run in `output_dir` is refused unless overwriting is asked."""
        output_dir = Path(self.args.output_dir)
        if resume_from_checkpoint:
            checkpoint = resolve_checkpoint(output_dir, resume_from_checkpoint, report)
            check_model_type(checkpoint, self.model_family)
            return checkpoint
        if is_finished_run(output_dir) and not self.args.overwrite_output_dir:
            raise FileExistsError(
                f"{output_dir}: holds a finished run (config.json + model.safetensors). Pass "
                "--overwrite_output_dir true to train again, or --resume_from_checkpoint to continue."
            )
        if self.args.overwrite_output_dir and self.args.should_save:
            # afresh for real: a later `--resume_from_checkpoint true` must not find the old run
            discard_checkpoints(output_dir)
        return None

    # --- model card --------------------------------------------------------------------------
    def create_model_card(self, *args, **kwargs) -> None:
        if not self.is_world_process_zero():
            return
        from ..cards import render_model_card, save_card_info

        card = render_model_card(self.card_template, self.model, self.card_data)
        card.save(os.path.join(self.args.output_dir, "README.md"))
        save_card_info(self.args.output_dir, self.card_template, self.card_data)


def _finite(value) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


NON_FINITE_KEYS = ("loss", "grad_norm", "eval_loss")
"""Logged values that stop a run when they are not finite."""


class NonFiniteLogCallback(TrainerCallback):
    """Stops a run whose logged gradient norm or loss is not finite: the clipped update of an
    infinite gradient moves nothing, so the run would go on learning nothing."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        # fp16's loss scaler skips the steps whose gradients overflow, by design
        keys = [k for k in NON_FINITE_KEYS if not (args.fp16 and k == "grad_norm")]
        bad = {k: v for k, v in (logs or {}).items() if k in keys and not _finite(v)}
        if bad:
            raise TrainingStopped(
                f"step {state.global_step}: {', '.join(f'{k} is {v}' for k, v in bad.items())}. "
                + last_good_model(args.output_dir)
            )


class MainProcessPrinterCallback(PrinterCallback):
    """transformers' `PrinterCallback` (the logs without a progress bar) on the first process of
    the world only: its own prints on every machine's first process, one log stream per node."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            super().on_log(args, state, control, logs=logs, **kwargs)


def finish_run(trainer, metrics: dict, data, info: dict, vqvae: str | None = None) -> dict:
    """Save the model, its metrics, its card and the data arguments (`data_args.json`, where
    later stages find the clips); a policy also gets its VQ-VAE in `vqvae/`. Then push."""
    with run_lock(trainer.args.output_dir) if trainer.is_world_process_zero() else nullcontext():
        return _finish_run(trainer, metrics, data, info, vqvae)


def _finish_run(trainer, metrics: dict, data, info: dict, vqvae: str | None) -> dict:
    check_finite_weights(trainer.model, "the trained model", trainer.args.output_dir)
    if overflow := {k: v for k, v in metrics.items() if k.endswith("loss") and not _finite(v)}:
        raise TrainingStopped(
            f"the trained model's {', '.join(f'{k} is {v}' for k, v in overflow.items())}: its "
            "outputs overflow (a learning rate too high?). "
            + last_good_model(trainer.args.output_dir)
        )
    trainer.card_data = {**info, "metrics": metrics, "dataset": data.dataset}
    trainer.save_model(trainer.args.output_dir)
    trainer.log_metrics("final", metrics)
    trainer.save_metrics("final", metrics)
    if trainer.is_world_process_zero():
        bundle_vqvae(trainer.args.output_dir, vqvae)
        trainer.create_model_card()
        (Path(trainer.args.output_dir) / DATA_ARGS).write_text(json.dumps(asdict(data), indent=2))
        record_files(trainer.args.output_dir)
    if trainer.args.push_to_hub:
        trainer.push_to_hub()
    return metrics
