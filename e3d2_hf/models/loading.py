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
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # rebuilt from its own arguments in the process that reports it
        return type(self), (self.where, self.problem)


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
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(str(config_file), f"not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFolderError(str(config_file), "not a model config: expected a JSON object")
    return config.get("model_type")


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
        if weights.parent.is_dir() and not weights.is_file():
            raise ModelFolderError(
                where,
                "no model.safetensors (weights are read from safetensors only; a pickled "
                "pytorch_model.bin is never loaded)",
            )
        config = kwargs.get("config")
        if not isinstance(config, cls.config_class):
            config = _load_config(cls.config_class, name, subfolder, where, kwargs)
        check_fits_in_memory(cls, config, where)
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


def _load_config(config_class, name: str, subfolder: str, where: str, kwargs: dict):
    """The model's config, its sizes checked: a negative or zero size names config.json."""
    hub = {
        k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs
    }
    try:
        return config_class.from_pretrained(name, subfolder=subfolder, **hub)
    except Exception as exc:
        if "ValidationError" in type(exc).__name__ or isinstance(exc, (TypeError, ValueError)):
            raise ModelFolderError(
                f"{where}/config.json", f"not a valid config ({' '.join(str(exc).split())})"
            ) from None
        raise


def available_memory() -> int:
    """Bytes this machine can still give (MemAvailable), or 0 where that cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def parameter_size(model_class, config) -> tuple[int, int]:
    """(parameters, bytes) of the model `config` describes, counted on the meta device, where
    nothing is allocated."""
    with torch.device("meta"):
        model = model_class(config)
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)


def check_fits_in_memory(cls, config, where: str) -> None:
    """Refuse a config whose model would not fit in memory (counted on the meta device, where
    nothing is allocated), instead of an allocation error deep in torch or the OOM killer."""
    free = available_memory()
    if not free:
        return
    try:
        count, needed = parameter_size(cls, config)
    except Exception as exc:  # a config the model cannot be built from
        raise ModelFolderError(
            f"{where}/config.json", f"no model can be built from it ({' '.join(str(exc).split())})"
        ) from None
    if needed > free:
        raise ModelFolderError(
            f"{where}/config.json",
            f"its sizes make a model of {count:,} parameters ({needed / 2**30:.1f} GiB), more "
            f"than the {free / 2**30:.1f} GiB of memory available",
        )


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
