"""Strict `from_pretrained` for the package's models.

transformers loads a checkpoint with a missing tensor (or one of another model
family) after a warning, initialising what it lacks at random. A dance from such
a model looks like a result, so every e3d2 model refuses instead: a foreign
`model_type`, missing, unexpected or mis-shaped tensors, and an unreadable weight
file are one `ModelFolderError` naming the folder and the keys.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from ..utils.errors import E3D2Error

LOCAL_PREFIXES = ("/", "./", "../", "~")


class ModelFolderError(E3D2Error, ValueError):
    """A model folder or repo does not hold a complete model of the expected family."""

    def __init__(self, where: str, problem: str):
        self.where = where
        super().__init__(f"{where}: {problem}")


def _where(name_or_path: str, subfolder: str) -> str:
    return f"{name_or_path}/{subfolder}" if subfolder else str(name_or_path)


def hub_repo_id(reference: object) -> str | None:
    """`reference` if it reads as a Hub repo id (owner/name) and is not a local path, else None:
    the one rule for "Hub id or local path?" of datasets, models and cards."""
    text = str(reference or "")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text) and not Path(text).exists():
        return text
    return None


def looks_local(name_or_path: str | os.PathLike) -> bool:
    """A path the user meant as a folder: the error for a missing one says so, where a name that
    `hub_repo_id` does not take (a bare name) is still tried on the Hub by transformers."""
    text = os.fspath(name_or_path)
    return Path(text).exists() or text.startswith(LOCAL_PREFIXES) or text.count("/") > 1


def saved_model_type(folder: str | os.PathLike) -> str | None:
    """The `model_type` in a saved model or checkpoint folder's config.json."""
    config_file = Path(folder) / "config.json"
    if not config_file.is_file():
        raise ModelFolderError(str(folder), "no config.json: not a saved model or checkpoint")
    try:
        return json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(str(config_file), f"not valid JSON ({exc})") from None


def _config_model_type(name_or_path: str, subfolder: str, kwargs: dict) -> str | None:
    where = _where(name_or_path, subfolder)
    local = Path(name_or_path) / subfolder
    if local.is_dir():
        return saved_model_type(local)
    if looks_local(name_or_path):
        raise FileNotFoundError(f"{where}: no such model folder")
    from transformers import PretrainedConfig

    hub = {
        k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs
    }
    try:
        config, _ = PretrainedConfig.get_config_dict(name_or_path, subfolder=subfolder, **hub)
    except (OSError, ValueError) as exc:  # HFValidationError, RepositoryNotFoundError, ...
        raise FileNotFoundError(
            f"{where}: no such local folder, and no model repo of that name on the Hub "
            f"({' '.join(str(exc).split())[:200]})"
        ) from None
    return config.get("model_type")


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """Why a .safetensors file is not whole (empty, short header, data cut off), or None."""
    import struct

    path = Path(path)
    size = path.stat().st_size
    if size < 8:
        return f"{size} bytes: empty or truncated"
    with open(path, "rb") as f:
        (header_size,) = struct.unpack("<Q", f.read(8))
        if 8 + header_size > size:
            return "truncated inside its header"
        try:
            header = json.loads(f.read(header_size))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "its header is not valid JSON (damaged)"
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    if 8 + header_size + max(ends, default=0) > size:
        return "truncated: its tensors end past the end of the file"
    return None


class StrictLoadingMixin:
    """`from_pretrained` that refuses what transformers would load with a warning.

    `allow_missing` names tensor prefixes that may start fresh (PPO's value head
    on pi_BC: the one documented exception).
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, allow_missing=(), **kwargs):
        name = os.fspath(pretrained_model_name_or_path)
        subfolder = kwargs.get("subfolder", "")
        where = _where(name, subfolder)
        expected = cls.config_class.model_type
        if not isinstance(kwargs.get("config"), cls.config_class):
            found = _config_model_type(name, subfolder, kwargs)
            if found != expected:
                raise ModelFolderError(
                    where, f"holds a {found!r} model, but {cls.__name__} needs a {expected!r} one"
                )
        weights = Path(name) / subfolder / "model.safetensors"
        if weights.is_file() and (problem := safetensors_problem(weights)):
            raise ModelFolderError(str(weights), problem)
        want_info = kwargs.pop("output_loading_info", False)
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # its load report: the problems are raised below instead
        try:
            kwargs.setdefault("ignore_mismatched_sizes", True)  # reported below, with the keys
            # transformers >= 5.25 "kernelizes" by default, which needs the `kernels` package and
            # may reach the Hub; these models have no Hub kernels, so loading never depends on it
            kwargs.setdefault("use_kernels", False)
            model, info = super().from_pretrained(name, *args, output_loading_info=True, **kwargs)
        except Exception as exc:
            if type(exc).__name__ == "SafetensorError" or isinstance(exc, EOFError):
                raise ModelFolderError(
                    where, f"model.safetensors is unreadable, truncated or empty ({exc})"
                ) from None
            raise
        finally:
            hf_logging.set_verbosity(verbosity)
        missing = sorted(k for k in info["missing_keys"] if not k.startswith(tuple(allow_missing)))
        problems = [
            f"{label}: {', '.join(map(str, keys))}"
            for label, keys in (
                ("missing tensors", missing),
                ("unexpected tensors", sorted(info["unexpected_keys"])),
                ("mis-shaped tensors", sorted(map(str, info.get("mismatched_keys", ())))),
                ("load errors", info.get("error_msgs", [])),
            )
            if keys
        ]
        if problems:
            raise ModelFolderError(where, f"not a complete {expected} model; {'; '.join(problems)}")
        if bad := non_finite_tensors(model):
            raise ModelFolderError(
                where,
                f"holds NaN or infinite weights ({bad}): a diverged training saved it; load an "
                "earlier checkpoint",
            )
        return (model, info) if want_info else model


def non_finite_tensors(model) -> str | None:
    """The floating-point tensors of a model that hold NaN or infinity, the first three by
    name ("a, b, c and 4 more"), or None when every one is finite."""
    bad = [
        name
        for name, t in model.state_dict().items()
        if t.is_floating_point() and not t.is_meta and not torch.isfinite(t).all()
    ]
    if not bad:
        return None
    return ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
