"""Train the dance VQ-VAE: Bailando's upper/lower codebooks and root-velocity decoder.

    python recipes/vqvae.py --config recipes/configs/demo/vqvae.yaml [--key value ...]
    accelerate launch recipes/vqvae.py --config recipes/configs/demo/vqvae.yaml
    e3d2 train-vqvae --config ...              (this very module, as e3d2_hf.recipes.vqvae)

The data: the clips of a source (prepared once into `outputs/data/<source>`, or a prepared
folder), some held out as unseen music. The report: the VQ-VAE's reconstruction error, the
codes in use and the movement of held-out reconstructions beside their inputs'.
"""

from __future__ import annotations

import sys

from transformers import set_seed

from e3d2_hf.data.training_clips import DataArguments, load_clips, split_holdout
from e3d2_hf.evaluation.reconstruction import beat_preservation, reconstruction_diagnostics
from e3d2_hf.models import DanceVQVAE, preset_config
from e3d2_hf.models.folders import load_model
from e3d2_hf.models.presets import ModelArguments
from e3d2_hf.training.config_parser import parse_stage_args
from e3d2_hf.training.trainer import finish_run
from e3d2_hf.training.vqvae_trainer import VQVAEConfig, VQVAETrainer
from e3d2_hf.training.windows import MotionWindows
from e3d2_hf.utils.errors import run_recipe

ARGUMENTS = (DataArguments, ModelArguments, VQVAEConfig)
"""The options: `--config` YAML keys and `--key value` flags, one dataclass each."""


def main(argv: list[str] | None = None) -> dict:
    """As `python recipes/vqvae.py` and `e3d2` run it: parse ARGUMENTS, then `run`."""
    return run(*parse_stage_args(ARGUMENTS, argv))


def run(data: DataArguments, model_args: ModelArguments, config: VQVAEConfig) -> dict:
    # 1. the options: which clips, which model size, VQVAETrainer's settings
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed

    # 2. data: the clips, the held-out ones apart, cut into 240-frame windows
    clips = load_clips(data)
    train_clips, heldout = split_holdout(clips, data)
    train_set = MotionWindows(train_clips, config.window_frames, config.window_stride)
    eval_set = MotionWindows(heldout, config.window_frames, config.window_frames)

    # 3. the model: a fresh preset for the clips' skeleton, or a checkpoint to go on from
    if model_args.model_name_or_path:
        model = load_model(DanceVQVAE, model_args.model_name_or_path)
    else:
        skeleton = clips[0]["skeleton"]
        model = DanceVQVAE(
            preset_config(
                "vqvae", model_args.model_preset, skeleton=skeleton, **model_args.vqvae_decoder()
            )
        )

    # 4. train (training/vqvae_trainer.py: pose loss, then the root decoder's)
    trainer = VQVAETrainer(model=model, args=config, train_dataset=train_set, eval_dataset=eval_set)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)

    # 5. evaluate: reconstruction error, beats kept, codes in use, held-out movement
    metrics = trainer.evaluate()
    metrics.update(beat_preservation(trainer.model, train_clips))
    metrics.update(reconstruction_diagnostics(trainer.model, heldout))

    # 6. save with its card and data_args.json (where BC finds the clips), push
    return finish_run(trainer, metrics, data, {"model_name": "dance-vqvae"})


if __name__ == "__main__":
    sys.exit(run_recipe("train-vqvae", main))
