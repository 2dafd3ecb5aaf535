"""Stage 1 end to end: data -> VQ-VAE -> tokens -> behaviour cloning.

`recipes/vqvae.py`, `recipes/bc.py` and `e3d2 train-vqvae` / `e3d2 train-bc`
all call `run_vqvae` / `run_bc` through `main_vqvae` / `main_bc`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from transformers import set_seed

from ..data.layout import FRAMES_PER_TOKEN, SEAM_TOKENS, WINDOW_TOKENS
from ..data.prepare import SOURCES, PrepareConfig, prepare
from ..data.schema import load_clip_dataset
from ..data.skeleton import get_skeleton
from ..evaluation.beat_align import beat_align_score
from ..evaluation.dance_table import DanceTable, piece_tokens_for
from ..evaluation.physical import MOVEMENT, diagnostic_flags, estimate_floor, set_diagnostics
from ..models import DancePolicy, DanceVQVAE, preset_config
from ..outputs import check_replaceable, claim_output_dir
from ..ranges import check_ranges
from .bc_trainer import BCConfig, BCTrainer
from .common import bundle_vqvae, load_model, vqvae_reference
from .config_parser import parse_stage_args
from .tokenize import tokenize_clips
from .vqvae_trainer import VQVAEConfig, VQVAETrainer
from .windows import MotionWindows, TokenWindows

logger = logging.getLogger(__name__)


@dataclass
class DataArguments:
    """Which dances to train on and which clips to hold out as unseen music."""

    dataset: str = field(
        default="synthetic",
        metadata={
            "help": "synthetic | dance-with-melody | aistpp | path to a prepared clip dataset"
        },
    )
    dataset_path: str | None = field(
        default=None,
        metadata={
            "help": "raw data folder (dance-with-melody: default the `e3d2 download` folder)"
        },
    )
    prepared_dir: str | None = field(
        default=None,
        metadata={"help": "where prepared clips are kept (default outputs/data/<dataset>)"},
    )
    num_synthetic_clips: int = field(default=16, metadata={"help": "synthetic clips to generate"})
    synthetic_duration: float = field(default=16.0, metadata={"help": "seconds per synthetic clip"})
    num_holdout_clips: int = field(default=2, metadata={"help": "clips held out as unseen music"})
    holdout_ids: list[str] | None = field(
        default=None, metadata={"help": "explicit held-out clip ids"}
    )
    prepare_workers: int = field(default=2, metadata={"help": "processes for data preparation"})

    def __post_init__(self) -> None:
        check_ranges(self)


@dataclass
class ModelArguments:
    model_preset: str = field(default="demo", metadata={"help": "tiny | demo | paper"})
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "start from this checkpoint instead of a fresh preset model"},
    )
    vqvae_name_or_path: str | None = field(
        default=None, metadata={"help": "BC: the trained VQ-VAE that tokenizes the dances"}
    )


# --- data ------------------------------------------------------------------------------------


def load_clips(data: DataArguments):
    """The clip dataset named by `data`, prepared once (on the main process) and then reused."""
    if data.dataset not in SOURCES:
        return load_clip_dataset(data.dataset)
    out = Path(data.prepared_dir or f"outputs/data/{data.dataset}")
    path = data.dataset_path
    with PartialState().main_process_first():
        if not (out / "prepare.json").is_file():
            check_replaceable(out, "choose another --prepared_dir")
            prepare(
                PrepareConfig(
                    source=data.dataset,
                    output_dir=os.fspath(out),
                    path=path,
                    num_sequences=data.num_synthetic_clips,
                    duration=data.synthetic_duration,
                    num_workers=data.prepare_workers,
                    overwrite=out.exists(),
                )
            )
    return load_clip_dataset(out)


def split_holdout(clips, data: DataArguments):
    """(train, held-out) clips; held-out ids are explicit or drawn with a fixed seed."""
    ids = list(clips["id"])
    if data.holdout_ids:
        unknown = sorted(set(data.holdout_ids) - set(ids))
        if unknown:
            raise ValueError(f"holdout_ids {unknown} are not clips of the dataset")
        held = set(data.holdout_ids)
    else:
        if data.num_holdout_clips >= len(ids):
            raise ValueError(
                f"cannot hold out {data.num_holdout_clips} of {len(ids)} clips and still train"
            )
        order = np.random.default_rng(0).permutation(len(ids))
        held = {ids[i] for i in order[: data.num_holdout_clips]}
    # in memory: a cache file would be written into the user's dataset folder
    train = clips.filter(lambda row: row["id"] not in held, keep_in_memory=True)
    heldout = clips.filter(lambda row: row["id"] in held, keep_in_memory=True)
    return train, heldout


# --- VQ-VAE ----------------------------------------------------------------------------------


def run_vqvae(data: DataArguments, model_args: ModelArguments, config: VQVAEConfig) -> dict:
    """Train the VQ-VAE, save it to `config.output_dir` and return its evaluation metrics."""
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed
    clips = load_clips(data)
    train_clips, heldout = split_holdout(clips, data)
    skeleton = clips[0]["skeleton"]
    if model_args.model_name_or_path:
        model = load_model(DanceVQVAE, model_args.model_name_or_path)
    else:
        model = DanceVQVAE(preset_config("vqvae", model_args.model_preset, skeleton=skeleton))
    train_set = MotionWindows(train_clips, config.window_frames, config.window_stride)
    eval_set = MotionWindows(heldout, config.window_frames, config.window_frames)
    trainer = VQVAETrainer(model=model, args=config, train_dataset=train_set, eval_dataset=eval_set)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    metrics = trainer.evaluate()
    metrics.update(beat_preservation(trainer.model, train_clips))
    metrics.update(reconstruction_diagnostics(trainer.model, heldout))
    return _finish(trainer, metrics, data, {"model_name": "dance-vqvae"})


def reconstruction_diagnostics(vqvae: DanceVQVAE, clips, max_clips: int = 8) -> dict[str, float]:
    """Codes in use and the movement diagnostics of held-out clips and of their reconstructions.

    A codebook that collapsed to a few codes decodes every dance into a near-still figure;
    this makes it visible here, before any policy is trained on the codes.
    """
    vqvae = getattr(vqvae, "module", vqvae)
    skeleton = get_skeleton(vqvae.config.skeleton)
    original, decoded, upper, lower = [], [], set(), set()
    for row in clips.select(range(min(max_clips, len(clips)))).with_format("numpy"):
        joints = np.asarray(row["joints"], dtype=np.float32)
        joints = joints[: len(joints) // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN]
        with torch.no_grad():
            ids = vqvae.encode(torch.from_numpy(joints[None]).to(vqvae.device))
            recon = vqvae.decode(*ids, edge_tokens=SEAM_TOKENS)[0].float().cpu().numpy()
        upper.update(ids[0].flatten().tolist())
        lower.update(ids[1].flatten().tolist())
        original.append(joints.reshape(len(joints), -1, 3))
        # decoded roots start at the origin; start where the input does, over its floor
        decoded.append(recon.reshape(len(recon), -1, 3) + original[-1][:1, skeleton.root])
    if not original:
        return {}
    floor = estimate_floor(original, skeleton)
    truth = set_diagnostics(original, skeleton, floor)
    recon = set_diagnostics(decoded, skeleton, floor)
    for flag in diagnostic_flags(recon, truth, "the input's"):
        logger.warning("held-out reconstructions leave the input's range: %s", flag)
    root = skeleton.root
    error = np.mean([
        np.linalg.norm((a - a[:, root : root + 1]) - (b - b[:, root : root + 1]), axis=-1).mean()
        for a, b in zip(original, decoded, strict=True)
    ])  # fmt: skip
    out = {
        "heldout_pose_mpjpe_mm": float(error * 1000),  # root-relative: no drift of the root
        "heldout_codes_used_upper": len(upper),
        "heldout_codes_used_lower": len(lower),
    }
    for key in MOVEMENT + ("freezing", "jitter"):
        out[f"heldout_{key}_original"] = truth[key]
        out[f"heldout_{key}_reconstructed"] = recon[key]
    return out


def beat_preservation(vqvae: DanceVQVAE, clips, max_clips: int = 8) -> dict[str, float]:
    """BAS of the original and of the encode -> decode dance against each clip's music beats."""
    original, decoded = [], []
    vqvae = getattr(vqvae, "module", vqvae)
    for row in clips.select(range(min(max_clips, len(clips)))).with_format("numpy"):
        joints = np.asarray(row["joints"], dtype=np.float32)
        joints = joints[: len(joints) // 8 * 8]
        beats = np.asarray(row["beat_frames"])
        ids = vqvae.encode(torch.from_numpy(joints[None]).to(vqvae.device))
        recon = vqvae.decode(*ids)[0].cpu().numpy()
        original.append(beat_align_score(beats, joints))
        decoded.append(beat_align_score(beats, recon))
    return {"bas_original": float(np.mean(original)), "bas_reconstructed": float(np.mean(decoded))}


# --- behaviour cloning -----------------------------------------------------------------------


def run_bc(data: DataArguments, model_args: ModelArguments, config: BCConfig) -> dict:
    """Tokenize the clips with the VQ-VAE, train pi_BC, save it and return seen/unseen metrics."""
    set_seed(config.seed)  # before the model is built: its initial weights come from the seed
    if not model_args.vqvae_name_or_path:
        raise ValueError("behaviour cloning needs --vqvae_name_or_path (a trained VQ-VAE)")
    vqvae = load_model(DanceVQVAE, model_args.vqvae_name_or_path)
    clips = load_clips(data)
    train_clips, heldout = split_holdout(clips, data)
    train_tokens = tokenize_clips(train_clips, vqvae)
    heldout_tokens = tokenize_clips(heldout, vqvae)
    if PartialState().is_main_process:
        claim_output_dir(config.output_dir)
        train_tokens.save_to_disk(os.path.join(config.output_dir, "tokens", "train"))
        heldout_tokens.save_to_disk(os.path.join(config.output_dir, "tokens", "heldout"))

    if model_args.model_name_or_path:
        model = load_model(DancePolicy, model_args.model_name_or_path)
    else:
        model = DancePolicy(
            preset_config(
                "policy",
                model_args.model_preset,
                codebook_size=vqvae.config.codebook_size,
                skeleton=vqvae.config.skeleton,
                vqvae_name_or_path=vqvae_reference(model_args.vqvae_name_or_path),
            )
        )
    if model.config.codebook_size != vqvae.config.codebook_size:
        raise ValueError(
            f"the policy has {model.config.codebook_size} codes but the VQ-VAE has "
            f"{vqvae.config.codebook_size}"
        )
    train_set = TokenWindows(train_tokens, config.window_tokens, config.window_stride)
    eval_sets = {
        "seen": TokenWindows(train_tokens, config.window_tokens, config.eval_window_stride),
        "unseen": TokenWindows(heldout_tokens, config.window_tokens, config.eval_window_stride),
    }
    trainer = BCTrainer(model=model, args=config, train_dataset=train_set, eval_dataset=eval_sets)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    metrics = {}
    for name, dataset in eval_sets.items():
        metrics.update(trainer.evaluate(dataset, metric_key_prefix=f"eval_{name}"))
    metrics.update(heldout_dance_diagnostics(trainer.model, vqvae, heldout_tokens, clips))
    info = {"model_name": "dance-policy-bc"}
    return _finish(trainer, metrics, data, info, vqvae=model_args.vqvae_name_or_path)


def heldout_dance_diagnostics(policy, vqvae, heldout_tokens, clips) -> dict[str, float]:
    """pi_BC's dances on held-out music beside the ground truth's: how much each moves."""
    policy = getattr(policy, "module", policy)
    piece = piece_tokens_for(heldout_tokens, 150)
    if piece < WINDOW_TOKENS:
        logger.warning("held-out music is too short for pi_BC's dance diagnostics")
        return {}
    table = DanceTable(vqvae.to(policy.device), heldout_tokens, clips, piece)
    seamless = table.dances(policy.eval(), SEAM_TOKENS)
    dances = set_diagnostics([d.joints for d in seamless], table.skeleton, table.floor)
    for flag in diagnostic_flags(dances, table.ground_truth_diagnostics):
        logger.warning("pi_BC's dances leave the ground truth's range: %s", flag)
    out = {}
    for key in MOVEMENT + ("freezing", "jitter", "foot_skating"):
        out[f"heldout_dance_{key}"] = dances[key]
        out[f"heldout_ground_truth_{key}"] = table.ground_truth_diagnostics.get(key)
    return {k: v for k, v in out.items() if v is not None}


def _finish(
    trainer, metrics: dict, data: DataArguments, info: dict, vqvae: str | None = None
) -> dict:
    """Save the model, its metrics and card; a policy also gets its VQ-VAE in `vqvae/`."""
    trainer.card_data = {**info, "metrics": metrics, "dataset": data.dataset}
    trainer.save_model(trainer.args.output_dir)
    trainer.log_metrics("final", metrics)
    trainer.save_metrics("final", metrics)
    if trainer.is_world_process_zero():
        bundle_vqvae(trainer.args.output_dir, vqvae)
        trainer.create_model_card()
        (Path(trainer.args.output_dir) / "data_args.json").write_text(
            json.dumps(asdict(data), indent=2)
        )
    if trainer.args.push_to_hub:
        trainer.push_to_hub()
    return metrics


# --- entry points ----------------------------------------------------------------------------


def main_vqvae(argv: list[str] | None = None) -> dict:
    data, model_args, config = parse_stage_args((DataArguments, ModelArguments, VQVAEConfig), argv)
    return run_vqvae(data, model_args, config)


def main_bc(argv: list[str] | None = None) -> dict:
    data, model_args, config = parse_stage_args((DataArguments, ModelArguments, BCConfig), argv)
    return run_bc(data, model_args, config)
