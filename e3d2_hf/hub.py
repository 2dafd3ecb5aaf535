"""Model and dataset cards rendered from the templates in `e3d2_hf/model_cards/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

from .data.layout import MOTION_FPS, TOKEN_FPS

TEMPLATES = Path(__file__).resolve().parent / "model_cards"

TAGS = ["e3d2", "dance-generation", "music-to-dance", "motion", "e3d2-hf"]


def _metrics_table(metrics: dict[str, float]) -> str:
    if not metrics:
        return "No evaluation was run."
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items()))
    return f"| metric | value |\n|---|---:|\n{rows}"


def render_model_card(template: str, model, info: dict[str, Any]) -> ModelCard:
    """A card for `model` from `model_cards/<template>.md`; `info` holds dataset, metrics, repo id."""
    path = TEMPLATES / f"{template}.md"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model card template")
    config = model.config
    metrics = {k: float(v) for k, v in info.get("metrics", {}).items()}
    dataset = info.get("dataset", "unknown")
    card_data = ModelCardData(
        library_name="e3d2-hf",
        license="apache-2.0",
        tags=TAGS + [template],
        datasets=[dataset] if dataset and "/" in str(dataset) else None,
        model_name=info.get("model_name", config.model_type),
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
        "vqvae": config.to_dict().get("vqvae_name_or_path") or "path/to/vqvae",
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
    card_data.license = getattr(card_data, "license", None) or "apache-2.0"
    tags = getattr(card_data, "tags", None) or []
    card_data.tags = sorted(set(tags) | set(TAGS) | {"preference", "reward-modeling"})
    card_data.pretty_name = (
        getattr(card_data, "pretty_name", None) or "E3D2 ranked dance demonstrations"
    )
    config = info.get("config", {})
    rows = "\n".join(f"| {name} | {len(split):,} |" for name, split in dataset.items())
    values = {
        "repo_id": repo_id or "path/to/preferences",
        "policy": info.get("policy", "unknown"),
        "codebook_size": info["codebook_size"],
        "skeleton": info["skeleton"],
        "noise_levels": ", ".join(f"{e:g}" for e in config.get("noise_levels", [])),
        "temperature": config.get("temperature", 1.0),
        "seed": config.get("seed", 0),
        "split_table": f"| split | rows |\n|---|---:|\n{rows}",
        "token_fps": f"{TOKEN_FPS:g}",
    }
    return DatasetCard.from_template(card_data, template_path=str(path), **values)
