"""Model and dataset cards rendered from the templates in `e3d2_hf/model_cards/`."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from .data.layout import MOTION_FPS, TOKEN_FPS
from .data.sources import SOURCE_DATASETS, source_data_section
from .models.policy.configuration_policy import VQVAE_SUBFOLDER
from .resources import shipped_folder

logger = logging.getLogger(__name__)

TEMPLATES = shipped_folder("model_cards", "model_cards")

TAGS = ["e3d2", "dance-generation", "music-to-dance", "motion", "e3d2-hf"]


def _metrics_table(metrics: dict[str, float]) -> str:
    if not metrics:
        return "No evaluation was run."
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items()))
    return f"| metric | value |\n|---|---:|\n{rows}"


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


def hub_dataset_id(reference: Any) -> str | None:
    """`reference` if it reads as a Hub repo id (owner/name) and is not a local path."""
    text = str(reference or "")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text) and not Path(text).exists():
        return text
    return None


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
    ("prepare.json", ("config", "source")),  # a prepared clip dataset
    ("data_args.json", ("dataset",)),  # a VQ-VAE or BC model folder
    ("demonstrations.json", ("source_dataset",)),  # a preference dataset
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
    dataset = hub_dataset_id(dataset) or source or "a local dataset"  # no machine paths in cards
    model_name = info.get("model_name", config.model_type)
    card_data = ModelCardData(
        library_name="e3d2-hf",
        license=info.get("license", "apache-2.0"),
        license_name=info.get("license_name"),
        license_link=info.get("license_link"),
        tags=TAGS + [template],
        datasets=[dataset] if hub_dataset_id(dataset) else None,
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
        "source_data": source_data_section(source),
    }
    return DatasetCard.from_template(card_data, template_path=str(path), **values)


MODEL_TEMPLATES = {
    "e3d2_dance_vqvae": "vqvae",
    "e3d2_dance_policy": "policy",
    "e3d2_dance_reward": "reward",
}
MODEL_FILES = ("config.json", "model.safetensors", "generation_config.json")
REPORT_PATTERNS = ("*_report.json", "*_report.md", "*.png", "final_results.json")


def output_kind(path: str | Path) -> str:
    """What an output folder holds: a model type, `preferences`, or `clips` (a prepared dataset)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such output folder")
    if (path / "config.json").is_file():
        model_type = json.loads((path / "config.json").read_text()).get("model_type")
        if model_type in MODEL_TEMPLATES:
            return model_type
        raise ValueError(f"{path}: holds a {model_type!r} model, not one of e3d2's")
    if (path / "demonstrations.json").is_file():
        return "preferences"
    if (path / "prepare.json").is_file():
        return "clips"
    raise ValueError(
        f"{path}: not an e3d2 output (no config.json, demonstrations.json or prepare.json)"
    )


def _model_card(path: Path, model_type: str, repo_id: str) -> ModelCard:
    """The folder's card re-rendered for `repo_id` from its card_info.json, else its README."""
    from transformers import AutoModel

    from . import models  # noqa: F401  (registers the model types with AutoModel)

    info_file = path / CARD_INFO
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        template = info.pop("template", MODEL_TEMPLATES[model_type])
        model = AutoModel.from_pretrained(str(path))
        return render_model_card(template, model, {**info, "repo_id": repo_id})
    if (path / "README.md").is_file():
        return ModelCard.load(path / "README.md")
    model = AutoModel.from_pretrained(str(path))
    return render_model_card(MODEL_TEMPLATES[model_type], model, {"repo_id": repo_id})


def push_output(
    path: str | Path,
    repo_id: str,
    private: bool | None = None,
    vqvae: str | Path | None = None,
    token: str | None = None,
) -> str:
    """Upload an e3d2 output folder to the Hub with its card; returns the repo URL.

    Models go up in one commit with their card and reports (no checkpoints,
    logs or token caches); a policy takes its VQ-VAE along in `vqvae/`, so the
    repo alone can dance. A preference dataset goes up as its three configs; a
    prepared clip dataset with `push_to_hub`.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    path = Path(path)
    kind = output_kind(path)
    if kind == "preferences":
        from .training.preferences import push_preferences_to_hub

        return push_preferences_to_hub(path, repo_id, private, token)
    if kind == "clips":
        from .data.schema import load_clip_dataset

        load_clip_dataset(path).push_to_hub(repo_id, private=private, token=token)
        return f"datasets/{repo_id}"
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    operations = [
        CommitOperationAdd(
            path_in_repo="README.md", path_or_fileobj=str(_model_card(path, kind, repo_id)).encode()
        )
    ]
    files = [path / f for f in MODEL_FILES if (path / f).is_file()]
    files += sorted({f for pattern in REPORT_PATTERNS for f in path.glob(pattern)})
    operations += [CommitOperationAdd(path_in_repo=f.name, path_or_fileobj=str(f)) for f in files]
    if kind == "e3d2_dance_policy":
        if vqvae is None and (path / VQVAE_SUBFOLDER).is_dir():
            vqvae = path / VQVAE_SUBFOLDER  # the VQ-VAE the policy folder already carries
        vqvae = vqvae or json.loads((path / "config.json").read_text()).get("vqvae_name_or_path")
        if vqvae and Path(vqvae).is_dir():
            from .training.common import vqvae_files

            operations += [
                CommitOperationAdd(
                    path_in_repo=f"{VQVAE_SUBFOLDER}/{f.name}", path_or_fileobj=str(f)
                )
                for f in vqvae_files(Path(vqvae))
            ]
        else:
            logger.warning(
                "%s: its VQ-VAE (%s) is not a local folder, the repo will not carry one",
                path,
                vqvae,
            )
    api.create_commit(repo_id, operations=operations, commit_message=f"Upload {kind} from e3d2-hf")
    return str(url)
