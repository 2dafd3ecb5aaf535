"""Weights that go NaN stop every trainer with one line, and are never saved as good.

Each trainer runs as a user runs it, `e3d2 <command>` in a fresh interpreter, with its weights
poisoned (every parameter NaN) at one moment: before a training step (the loss guard stops it
before the optimizer step), just before a checkpoint is saved (the save guard leaves that
checkpoint unmarked, so a resume passes over it), or after the last step (the final evaluation
and the final save refuse it). Each time the run exits 2 with one line that names the step or the folder, no model
is saved as final, and the last complete checkpoint holds finite weights.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from e3d2_hf.training.checkpoints import is_complete_checkpoint

from .conftest import TINY

RUN = """
import math, os, sys

import torch
from transformers import TrainerCallback

from e3d2_hf.training.trainer import E3D2Trainer

when, step = os.environ["E3D2_TEST_NAN"].split(":")
step = int(step)


def poison(model):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan)


class Poison(TrainerCallback):
    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if when == "loss" and state.global_step == step:
            poison(model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if when == "save" and state.global_step == step:
            poison(model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if when == "final":
            poison(model)


init = E3D2Trainer.__init__


def init_with_poison(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self.add_callback(Poison())


E3D2Trainer.__init__ = init_with_poison
from e3d2_hf.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _argv(trainer: str, clips: Path, vqvae: Path, preferences: Path) -> list[str]:
    common = ["--save_steps", "10", "--save_total_limit", "5", "--report_to", "none"]
    return {
        "vqvae": ["train-vqvae", "--config", str(TINY / "vqvae.yaml"), "--dataset", str(clips)],
        "bc": ["train-bc", "--config", str(TINY / "bc.yaml"), "--dataset", str(clips),
               "--vqvae_name_or_path", str(vqvae)],
        "reward": ["train-reward", "--config", str(TINY / "reward.yaml"),
                   "--preferences_dir", str(preferences)],
    }[trainer] + common  # fmt: skip


@pytest.mark.parametrize(
    ("trainer", "when", "expected"),
    [
        # the VQ-VAE's own backward step and Trainer's, which BC and the reward model share
        ("vqvae", "loss:12", "step 13: the training loss is not finite"),
        ("reward", "loss:12", "step 13: the training loss is not finite"),
        ("bc", "save:20", "checkpoint-20 has non-finite weights"),
        # after the last step: the final evaluation finds it before the final save
        ("vqvae", "final:0", "step 30: eval_loss is nan"),
    ],
)
def test_a_nan_model_stops_training_in_one_line_and_is_never_saved_as_good(
    trainer, when, expected, tiny_clips, tiny_vqvae, tiny_preferences, tmp_path
):
    out = tmp_path / "run"
    argv = [*_argv(trainer, tiny_clips, tiny_vqvae, tiny_preferences), "--output_dir", str(out)]
    result = subprocess.run(
        [sys.executable, "-c", RUN, *argv],
        cwd=tmp_path,
        env={**os.environ, "E3D2_TEST_NAN": when},
        capture_output=True,
        text=True,
        timeout=600,
    )
    # the line, after whatever progress bar was being drawn on stderr when it came
    lines = [
        line[line.index("e3d2 t") :] for line in result.stderr.splitlines() if "e3d2 t" in line
    ]
    assert result.returncode == 2 and lines, result.stderr[-3000:]
    last = lines[-1]
    assert expected in last and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "nothing was saved as final" in last
    assert not (out / "model.safetensors").exists()
    complete = sorted(
        (c for c in out.glob("checkpoint-*") if is_complete_checkpoint(c)),
        key=lambda c: int(c.name.split("-")[1]),
    )
    assert complete and f"The last good model is {complete[-1]}" in last
    weights = load_file(complete[-1] / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_a_learning_rate_that_diverges_stops_the_vqvae_instead_of_saving_it(tiny_clips, tmp_path):
    """The user's path: `--learning_rate 1` once saved a VQ-VAE whose held-out loss was 3e28."""
    argv = [*_argv("vqvae", tiny_clips, tmp_path, tmp_path), "--learning_rate", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "e3d2_hf.cli", *argv, "--output_dir", str(tmp_path / "run")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "grad_norm is inf" in result.stderr and "nothing was saved as final" in result.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_weights_are_checked_before_a_final_save(tmp_path):
    from e3d2_hf.training.checkpoints import TrainingStopped, check_finite_weights

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    check_finite_weights(model, "the trained model", tmp_path)  # finite: nothing said
    with torch.no_grad():
        model[1].bias.fill_(float("inf"))
    with pytest.raises(TrainingStopped, match=r"non-finite weights \(1\.bias\)\. No checkpoint"):
        check_finite_weights(model, "the trained model", tmp_path)
