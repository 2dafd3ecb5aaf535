"""Model and dataset cards rendered from the templates in `e3d2_hf/model_cards/`: the one
place a card is made, for the trainers (at save) and for `e3d2 push` alike."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from .data.layout import MOTION_FPS, TOKEN_FPS
from .data.sources import SOURCE_DATASETS, source_data_section
from .models.loading import hub_repo_id
from .models.policy.configuration_policy import VQVAE_SUBFOLDER
from .utils.markdown import markdown_table
from .utils.outputs import DATA_ARGS, DEMONSTRATIONS_INFO, PREPARE_INFO
from .utils.resources import shipped_folder

logger = logging.getLogger(__name__)

TEMPLATES = shipped_folder("model_cards", "model_cards")

TAGS = ["e3d2", "dance-generation", "music-to-dance", "motion", "e3d2-hf"]


def _metrics_table(metrics: dict[str, float]) -> str:
    if not metrics:
        return "No evaluation was run."
    rows = [(k, f"{v:.4g}") for k, v in sorted(metrics.items())]
    return markdown_table(("metric", "value"), rows, align="lr")


CARD_INFO = "card_info.json"
"""Saved next to README.md: what the card was rendered from, so `e3d2 push` can re-render it."""

TASK = "music-to-dance"


def _eval_results(metrics: dict[str, float], dataset: str) -> list[EvalResult]:
    """The card's metrics as `model-index` entries; timings, counters, n/a and NaN are left out."""
    skip = ("runtime", "per_second", "epoch")
    return [
        EvalResult(
            task_type=TASK,
            dataset_type=dataset,
            dataset_name=dataset,
            metric_type=name,
            metric_value=float(f"{value:.6g}"),  # 6 significant digits, small values too
        )
        for name, value in sorted(metrics.items())
        if isinstance(value, (int, float)) and not any(s in name for s in skip) and value == value
    ]


def _vqvae_label(setting: str | None) -> str:
    if setting == VQVAE_SUBFOLDER:
        return f"in its `{VQVAE_SUBFOLDER}/` subfolder"
    return f"`{setting}`" if setting else "named by the user"


def source_dataset(reference: str | None) -> str | None:
    """The source dataset (synthetic, dance-with-melody, aistpp) behind a dataset name or folder.

    Follows a model folder's `data_args.json` and a preference dataset's
    `demonstrations.json` back to the data the chain started from.
    """
    for _ in range(4):
        if reference is None or reference in SOURCE_DATASETS:
            return reference
        reference = _upstream(Path(str(reference)))
    return None


SOURCE_LINKS = (
    (PREPARE_INFO, ("config", "source")),  # a prepared clip dataset
    (DATA_ARGS, ("dataset",)),  # a VQ-VAE or BC model folder
    (DEMONSTRATIONS_INFO, ("source_dataset",)),  # a preference dataset
)


def _upstream(folder: Path) -> str | None:
    """What the folder was made from, as its own record says; None when it has no record."""
    for name, keys in SOURCE_LINKS:
        if (folder / name).is_file():
            try:
                value = json.loads((folder / name).read_text())
                for key in keys:
                    value = value[key]
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                return None
            return value if isinstance(value, str) else None
    return None


def render_model_card(template: str, model, info: dict[str, Any]) -> ModelCard:
    """A card for `model` from `model_cards/<template>.md`; `info` holds dataset, metrics, repo id."""
    path = TEMPLATES / f"{template}.md"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model card template")
    config = model.config
    metrics = {k: float(v) for k, v in info.get("metrics", {}).items()}
    dataset = info.get("dataset", "unknown")
    source = info.get("source_dataset") or source_dataset(dataset)
    dataset = hub_repo_id(dataset) or source or "a local dataset"  # no machine paths in cards
    model_name = info.get("model_name", config.model_type)
    card_data = ModelCardData(
        library_name="e3d2-hf",
        license=info.get("license", "apache-2.0"),
        license_name=info.get("license_name"),
        license_link=info.get("license_link"),
        tags=TAGS + [template],
        datasets=[dataset] if hub_repo_id(dataset) else None,
        model_name=model_name,
        eval_results=_eval_results(metrics, str(dataset)) or None,
    )
    extra = {k: v for k, v in info.items() if isinstance(v, (str, int, float, list))}
    values = {
        **config.to_dict(),
        **extra,
        "fps": int(MOTION_FPS),
        "num_parameters": f"{sum(p.numel() for p in model.parameters()):,}",
        "dataset": dataset,
        "metrics_table": _metrics_table(metrics),
        "repo_id": info.get("repo_id", "path/to/model"),
        "model_name": info.get("model_name", config.model_type),
        "stage": info.get("stage", "behaviour cloning"),
        "vqvae": _vqvae_label(config.to_dict().get("vqvae_name_or_path")),
        "source_data": source_data_section(source),
    }
    if hasattr(config, "skeleton_def"):
        skeleton = config.skeleton_def
        values.update(
            num_joints=skeleton.num_joints,
            upper_channels=config.upper_channels,
            lower_channels=config.lower_channels,
            frames_per_token=config.frames_per_token,
        )
    return ModelCard.from_template(card_data, template_path=str(path), **values)


def render_dataset_card(
    template: str,
    dataset,
    info: dict[str, Any],
    card_data: DatasetCardData | None = None,
    repo_id: str | None = None,
) -> DatasetCard:
    """A card for a `DatasetDict` from `model_cards/<template>.md`; `info` is its collection info.

    `card_data` keeps metadata that `push_to_hub` already wrote (configs, features, sizes).
    """
    path = TEMPLATES / f"{template}.md"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such card template")
    card_data = card_data or DatasetCardData()
    source = info.get("source_dataset")
    card_data.license = (
        SOURCE_DATASETS[source].hub_license if source in SOURCE_DATASETS else "other"
    )
    tags = getattr(card_data, "tags", None) or []
    card_data.tags = sorted(set(tags) | set(TAGS) | {"preference", "reward-modeling"})
    card_data.pretty_name = (
        getattr(card_data, "pretty_name", None) or "E3D2 ranked dance demonstrations"
    )
    config = info.get("config", {})
    rows = [(name, f"{len(split):,}") for name, split in dataset.items()]
    values = {
        "repo_id": repo_id or "path/to/preferences",
        "policy": info.get("policy", "unknown"),
        "codebook_size": info["codebook_size"],
        "skeleton": info["skeleton"],
        "noise_levels": ", ".join(f"{e:g}" for e in config.get("noise_levels", [])),
        "temperature": config.get("temperature", 1.0),
        "seed": config.get("seed", 0),
        "split_table": markdown_table(("split", "rows"), rows, align="lr"),
        "token_fps": f"{TOKEN_FPS:g}",
        "source_data": source_data_section(source),
        "pairing": _pairing_sentence(config),
    }
    return DatasetCard.from_template(card_data, template_path=str(path), **values)


def _pairing_sentence(config: dict[str, Any]) -> str:
    """What the collection did beyond the paper's random pairs of rollouts, as card sentences."""
    sentences = []
    if config.get("ground_truth_demonstrations"):
        sentences.append(
            "The data's own codes on every segment were added as demonstrations at noise 0, "
            "ranked above every rollout (`ground_truth_demonstrations`, not in the paper)."
        )
    if corruptions := config.get("corruptions"):
        sentences.append(
            f"{config.get('corruption_pair_fraction', 0.5):.0%} of the pairs rank the data's own "
            f"episode above a corrupted copy of it ({', '.join(corruptions)}; column `kind`; "
            "`corruptions`, not in the paper)."
        )
    if (tolerance := config.get("match_repeated_codes")) is not None:
        sentences.append(
            "Only demonstrations whose fractions of steps that keep a body half's code differ by "
            f"at most {tolerance:g} were paired (`match_repeated_codes`, not in the paper)."
        )
    return " ".join(sentences)


def save_card_info(output_dir: str | os.PathLike, template: str, info: dict[str, Any]) -> None:
    """What a card was rendered from (JSON values only), for `e3d2 push` to re-render it."""
    plain = {
        k: v
        for k, v in info.items()
        if isinstance(v, (str, int, float, bool, list)) or (isinstance(v, dict) and k == "metrics")
    }
    Path(output_dir, CARD_INFO).write_text(json.dumps({"template": template, **plain}, indent=2))
