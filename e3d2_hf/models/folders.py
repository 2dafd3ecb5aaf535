"""Finding and loading saved models: a local folder or a Hub repo, the VQ-VAE a policy
bundles in its `vqvae/` subfolder, and the model-family checks, for every command and stage."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..utils.outputs import DATA_ARGS
from .loading import saved_model_type
from .policy.configuration_policy import VQVAE_FILES, VQVAE_SUBFOLDER


def check_model_type(path: str | os.PathLike, expected: str) -> None:
    """Raise unless the checkpoint or model folder at `path` holds a `expected` model."""
    model_type = saved_model_type(path)
    if model_type != expected:
        raise ValueError(
            f"{path}: holds a {model_type!r} model, but this stage needs a {expected!r} one"
        )


def vqvae_reference(vqvae_name_or_path: str | os.PathLike | None) -> str | None:
    """What a policy's config names its VQ-VAE by: `VQVAE_SUBFOLDER` for a local folder (bundled
    by `bundle_vqvae`), the repo id for a Hub VQ-VAE. Never a working-directory path."""
    if not vqvae_name_or_path:
        return None
    return VQVAE_SUBFOLDER if Path(vqvae_name_or_path).is_dir() else str(vqvae_name_or_path)


def vqvae_files(folder: Path) -> list[Path]:
    """The files of a VQ-VAE folder that travel with a policy: weights, config and card."""
    check_model_type(folder, "e3d2_dance_vqvae")
    return [folder / name for name in VQVAE_FILES if (folder / name).is_file()]


def bundle_vqvae(output_dir: str | os.PathLike, vqvae_name_or_path: str | None) -> str | None:
    """Copy a local VQ-VAE into `output_dir/vqvae/`; return `vqvae_reference` of it, so a
    saved policy loads its VQ-VAE from any working directory and from the Hub."""
    if vqvae_name_or_path and Path(vqvae_name_or_path).is_dir():
        target = Path(output_dir) / VQVAE_SUBFOLDER
        if Path(vqvae_name_or_path).resolve() != target.resolve():
            target.mkdir(parents=True, exist_ok=True)
            for file in vqvae_files(Path(vqvae_name_or_path)):
                shutil.copy2(file, target / file.name)
    return vqvae_reference(vqvae_name_or_path)


def locate_vqvae(
    policy_name_or_path: str, vqvae_setting: str | None, override: str | None = None
) -> tuple[str, str] | None:
    """(name_or_path, subfolder) of the VQ-VAE that decodes a policy's codes, or None.

    In order: `override`; the policy folder's `vqvae/`; the policy repo's
    `vqvae/` on the Hub; the policy config's setting (a repo id, or a folder
    saved by an older version).
    """
    if override:
        return override, ""
    local = Path(policy_name_or_path)
    if (local / VQVAE_SUBFOLDER).is_dir():
        return str(local / VQVAE_SUBFOLDER), ""
    if not local.is_dir() and _hub_file_exists(
        policy_name_or_path, f"{VQVAE_SUBFOLDER}/config.json"
    ):
        return policy_name_or_path, VQVAE_SUBFOLDER
    if vqvae_setting and vqvae_setting != VQVAE_SUBFOLDER:
        return vqvae_setting, ""
    return None


def _hub_file_exists(repo_id: str, filename: str) -> bool:
    from huggingface_hub import file_exists

    try:
        return file_exists(repo_id, filename)
    except Exception:  # an unreachable Hub or a bad id: the caller tries its other candidates
        return False


def load_model(model_class, name_or_path: str | os.PathLike, **kwargs):
    """`model_class.from_pretrained`, strict (see `models.loading`): a checkpoint of another
    model family, a missing tensor or a path that exists nowhere is one clear error."""
    return model_class.from_pretrained(os.fspath(name_or_path), **kwargs)


def policy_clips(policy_name_or_path: str | os.PathLike, clips_dir: str | None = None):
    """The prepared clips a policy was trained on (its `data_args.json`), or `clips_dir`;
    None when neither is on disk (the dance table is then skipped)."""
    from ..data.schema import load_clip_dataset

    path = clips_dir
    info = Path(policy_name_or_path) / DATA_ARGS
    if path is None and info.is_file():
        data = json.loads(info.read_text())
        path = data.get("prepared_dir") or f"outputs/data/{data.get('dataset')}"
    return load_clip_dataset(path) if path is not None and Path(path).exists() else None
