"""Behaviour cloning of the policy GPT on VQ-VAE tokens: pi_BC (docs/method.md §1).

    python recipes/bc.py --config recipes/configs/demo/bc.yaml [--key value ...]
    accelerate launch recipes/bc.py --config recipes/configs/demo/bc.yaml
    e3d2 train-bc --config ...                 (this very module, as e3d2_hf.recipes.bc)

The VQ-VAE tokenizes the clips (the same held-out split as its own training); the tokens are
saved in `<output_dir>/tokens`, where the demonstrations and PPO find them. The report:
next-token accuracy on seen and unseen music, and pi_BC's held-out dances beside the
ground truth's.
"""

from __future__ import annotations

import os
import sys

from accelerate import PartialState
from transformers import set_seed

from e3d2_hf.data.training_clips import DataArguments, load_clips, split_holdout
from e3d2_hf.evaluation.reconstruction import heldout_dance_diagnostics
from e3d2_hf.models import DancePolicy, DanceVQVAE, preset_config
from e3d2_hf.models.folders import load_model, vqvae_reference
from e3d2_hf.models.presets import ModelArguments
from e3d2_hf.models.tokens import tokenize_clips
from e3d2_hf.training.bc_trainer import BCConfig, BCTrainer
from e3d2_hf.training.config_parser import parse_stage_args
from e3d2_hf.training.trainer import finish_run
from e3d2_hf.training.windows import TokenWindows
from e3d2_hf.utils.errors import run_recipe

ARGUMENTS = (DataArguments, ModelArguments, BCConfig)
"""The options: `--config` YAML keys and `--key value` flags, one dataclass each."""


def main(argv: list[str] | None = None) -> dict:
    """As `python recipes/bc.py` and `e3d2` run it: parse ARGUMENTS, then `run`."""
    return run(*parse_stage_args(ARGUMENTS, argv))


def run(data: DataArguments, model_args: ModelArguments, config: BCConfig) -> dict:
    # 1. the options: which clips, which VQ-VAE and policy size, BCTrainer's settings
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed
    if not model_args.vqvae_name_or_path:
        raise ValueError("behaviour cloning needs --vqvae_name_or_path (a trained VQ-VAE)")

    # 2. data: the clips, tokenized by the VQ-VAE and kept for the later stages
    vqvae = load_model(DanceVQVAE, model_args.vqvae_name_or_path)
    clips = load_clips(data)
    train_clips, heldout = split_holdout(clips, data)
    train_tokens = tokenize_clips(train_clips, vqvae)
    heldout_tokens = tokenize_clips(heldout, vqvae)
    train_set = TokenWindows(train_tokens, config.window_tokens, config.window_stride)
    eval_sets = {
        "seen": TokenWindows(train_tokens, config.window_tokens, config.eval_window_stride),
        "unseen": TokenWindows(heldout_tokens, config.window_tokens, config.eval_window_stride),
    }

    # 3. the model: Bailando's cross-conditional GPT over the VQ-VAE's codes
    if model_args.model_name_or_path:
        model = load_model(DancePolicy, model_args.model_name_or_path)
    else:
        model = DancePolicy(
            preset_config(
                "policy", model_args.model_preset,
                codebook_size=vqvae.config.codebook_size, skeleton=vqvae.config.skeleton,
                vqvae_name_or_path=vqvae_reference(model_args.vqvae_name_or_path),
            )
        )  # fmt: skip
    if model.config.codebook_size != vqvae.config.codebook_size:
        raise ValueError(
            f"the policy has {model.config.codebook_size} codes but the VQ-VAE has "
            f"{vqvae.config.codebook_size}"
        )

    # 4. train (training/bc_trainer.py: cross-entropy on the next upper and lower code)
    trainer = BCTrainer(model=model, args=config, train_dataset=train_set, eval_dataset=eval_sets)
    # a refused run writes nothing (train() resolves the checkpoint again and reports it)
    trainer.checkpoint_to_resume(config.resume_from_checkpoint, report=False)
    if PartialState().is_main_process:
        train_tokens.save_to_disk(os.path.join(config.output_dir, "tokens", "train"))
        heldout_tokens.save_to_disk(os.path.join(config.output_dir, "tokens", "heldout"))
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)

    # 5. evaluate: seen vs unseen music, and pi_BC's dances on the held-out songs
    metrics = {}
    for name, dataset in eval_sets.items():
        metrics.update(trainer.evaluate(dataset, metric_key_prefix=f"eval_{name}"))
    metrics.update(heldout_dance_diagnostics(trainer.model, vqvae, heldout_tokens, clips))

    # 6. save with its card, its VQ-VAE (vqvae/) and data_args.json, push
    info = {"model_name": "dance-policy-bc"}
    return finish_run(trainer, metrics, data, info, vqvae=model_args.vqvae_name_or_path)


if __name__ == "__main__":
    sys.exit(run_recipe("train-bc", main))
