"""The reward model trainer: Bradley-Terry on ranked demonstration pairs (docs/method.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset as TorchDataset
from transformers import EvalPrediction
from trl.trainer.utils import disable_dropout_in_model

from ..preferences import PAIR_KIND
from .trainer import E3D2Trainer, E3D2TrainingArguments


@dataclass
class RewardConfig(E3D2TrainingArguments):
    """The paper's defaults: Adam (L2 weight decay 2.5e-3), lr 5e-4, 10 epochs, batch 32,
    gradient-norm clip 0.25, seed 0, evaluation every epoch."""

    learning_rate: float = field(default=5e-4, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=2.5e-3, metadata={"help": "Adam L2 weight decay"})
    adam_beta1: float = field(default=0.9, metadata={"help": "Adam beta1"})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "pairs per device"})
    per_device_eval_batch_size: int = field(default=128, metadata={"help": "pairs per device"})
    num_train_epochs: float = field(default=10.0, metadata={"help": "epochs"})
    max_grad_norm: float = field(default=0.25, metadata={"help": "gradient-norm clip"})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "learning-rate schedule"})
    eval_strategy: str = field(default="epoch", metadata={"help": "evaluate every epoch"})
    use_margin: bool = field(
        default=True,
        metadata={
            "help": "subtract the pair's margin in the loss when the data has a margin column, as "
            "TRL does (the paper's loss has none: its configs set false)"
        },
    )
    disable_dropout: bool = field(
        default=True,
        metadata={
            "help": "train with the model's dropout off, as TRL's RewardTrainer does (the paper "
            "keeps its 0.1 dropouts: its configs set false)"
        },
    )
    center_rewards_coefficient: float | None = field(
        default=None,
        metadata={"help": "weight of mean((u_chosen + u_rejected)^2), TRL's reward centring"},
    )
    adam_l2: bool = field(
        default=True, metadata={"help": "torch Adam with L2 decay (paper) instead of AdamW"}
    )


class PreferencePairs(TorchDataset):
    """Pairs joined with their segments' music: the tensors `RewardTrainer` reads."""

    def __init__(self, pairs, segments):
        music = segments.with_format("numpy")
        self.music = {
            int(s): np.asarray(m, dtype=np.float32)
            for s, m in zip(music["segment_id"], music["music_features"], strict=True)
        }
        self.pairs = pairs.with_format("numpy")
        missing = {
            int(s) for who in ("chosen", "rejected") for s in self.pairs[f"{who}_segment_id"]
        } - self.music.keys()
        if missing:
            raise ValueError(
                f"{len(missing)} pairs refer to segments missing from the segment table"
            )
        equal = np.asarray(self.pairs["chosen_noise"]) == np.asarray(self.pairs["rejected_noise"])
        if PAIR_KIND in pairs.column_names:  # a corruption ranks by its kind, not by noise
            equal &= np.asarray(self.pairs[PAIR_KIND]) == "noise"
        if equal.any():
            raise ValueError(
                f"{int(equal.sum())} pairs have equal noise levels and cannot be ranked"
            )
        if len(pairs) == 0:
            raise ValueError("the preference dataset has no pairs")

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        row = self.pairs[i]
        item = {"margin": torch.tensor(float(row["margin"]))} if "margin" in row else {}
        for who in ("chosen", "rejected"):
            item[f"{who}_music_features"] = torch.from_numpy(
                self.music[int(row[f"{who}_segment_id"])]
            )
            item[f"{who}_upper_ids"] = torch.from_numpy(row[f"{who}_upper_ids"].astype(np.int64))
            item[f"{who}_lower_ids"] = torch.from_numpy(row[f"{who}_lower_ids"].astype(np.int64))
            item[f"{who}_noise"] = torch.tensor(float(row[f"{who}_noise"]))
        return item


class RewardTrainer(E3D2Trainer):
    """-log sigmoid(u_chosen - u_rejected), with TRL's metric names."""

    model_family = "e3d2_dance_reward"
    card_template = "reward"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("compute_metrics", preference_metrics)
        super().__init__(*args, **kwargs)
        if self.args.disable_dropout:
            disable_dropout_in_model(self.model)

    def create_optimizer(self, model=None):
        if self.optimizer is None and self.args.adam_l2:
            params = [p for p in (model or self.model).parameters() if p.requires_grad]
            self.optimizer = torch.optim.Adam(
                params,
                lr=self.args.learning_rate,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon,
                weight_decay=self.args.weight_decay,
            )
            return self.optimizer
        return super().create_optimizer(model)

    def _scores(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        both = {
            key: torch.cat([inputs[f"chosen_{key}"], inputs[f"rejected_{key}"]])
            for key in ("music_features", "upper_ids", "lower_ids")
        }
        scores = model(**both).logits.squeeze(-1)
        return scores.chunk(2)

    def _loss(
        self, chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None
    ) -> torch.Tensor:
        """TRL's reward loss: -log sigmoid(u_c - u_r [- margin]) [+ c * mean((u_c + u_r)^2)]."""
        difference = chosen - rejected
        if self.args.use_margin and margin is not None:
            difference = difference - margin
        loss = -F.logsigmoid(difference).mean()
        if self.args.center_rewards_coefficient:
            loss = loss + self.args.center_rewards_coefficient * ((chosen + rejected) ** 2).mean()
        return loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen, rejected = self._scores(model, inputs)
        loss = self._loss(chosen, rejected, inputs.get("margin"))
        self.record(
            accuracy=(chosen > rejected).float().mean(),
            margin=(chosen - rejected).mean(),
            mean_reward=torch.cat([chosen, rejected]).mean(),
        )
        return (loss, {"chosen": chosen, "rejected": rejected}) if return_outputs else loss

    def evaluation_batch(self, model, inputs):
        chosen, rejected = self._scores(model, inputs)
        loss = self._loss(chosen, rejected, inputs.get("margin"))
        scores = torch.stack([chosen, rejected], -1)
        noise = torch.stack([inputs["chosen_noise"], inputs["rejected_noise"]], -1)
        return loss, scores, noise


def preference_metrics(prediction: EvalPrediction) -> dict[str, float]:
    scores = np.asarray(prediction.predictions).reshape(-1, 2)
    chosen, rejected = scores[:, 0], scores[:, 1]
    return {
        "accuracy": float(np.mean(chosen > rejected)),
        "margin": float(np.mean(chosen - rejected)),
        "mean_reward": float(scores.mean()),
        "min_reward": float(scores.min()),
        "max_reward": float(scores.max()),
    }


def accuracy_by_noise_pair(
    scores: np.ndarray, noise: np.ndarray, levels: list[float]
) -> np.ndarray:
    """levels x levels table: accuracy on pairs whose chosen/rejected noise is (row, column); NaN if none."""
    table = np.full((len(levels), len(levels)), np.nan)
    correct = scores[:, 0] > scores[:, 1]
    for i, a in enumerate(levels):
        for j, b in enumerate(levels):
            mask = np.isclose(noise[:, 0], a) & np.isclose(noise[:, 1], b)
            if mask.any():
                table[i, j] = correct[mask].mean()
    return table
