"""The private transformers APIs e3d2-hf still relies on, in one place.

transformers changes its private methods without notice. Each one the code needs is listed in
`PRIVATE_API` with the parameters it was written against; the trainers reach the `Trainer` ones
only through the functions below, and the parsers override the two `HfArgumentParser` hooks
named here. `tests/test_private_api.py` checks every entry against the installed transformers,
so a release that changes one fails there, naming the API and both versions, not deep in a run.
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

CHECKED_ON = "5.25.0"
"""The newest transformers release every signature below was checked against."""

PRIVATE_API: dict[str, tuple[str, ...]] = {
    # PPOTrainer runs its own loop (rollouts, not batches) and resumes and saves as Trainer does
    "transformers.Trainer._load_from_checkpoint": ("self", "resume_from_checkpoint", "model"),
    "transformers.Trainer._load_optimizer_and_scheduler": ("self", "checkpoint"),
    "transformers.Trainer._load_rng_state": ("self", "checkpoint"),
    "transformers.Trainer._save_checkpoint": ("self", "model", "trial"),
    # `--help` groups per class and positional/repeated flags (arguments.FieldMetadata)
    "transformers.HfArgumentParser._add_dataclass_arguments": ("self", "dtype"),
    "transformers.HfArgumentParser._parse_dataclass_field": ("parser", "field"),
    # the policy's key/value cache grows one layer per transformer block it meets
    "transformers.cache_utils.DynamicLayer.update": ("self", "key_states", "value_states"),
}


def resolve(name: str) -> Any:
    """The object a dotted `PRIVATE_API` name points at."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(name)


def private_api_problem(name: str) -> str | None:
    """Why `name` no longer has the parameters this code calls it with; None when it does."""
    import transformers

    where = f"transformers {transformers.__version__} (checked on {CHECKED_ON})"
    try:
        function = resolve(name)
    except (ImportError, AttributeError):
        return f"{name}: gone in {where}"
    parameters = tuple(inspect.signature(function).parameters)
    expected = PRIVATE_API[name]
    if parameters[: len(expected)] != expected:
        return f"{name}: takes {parameters} in {where}, e3d2-hf calls it with {expected}"
    return None


def load_model_from_checkpoint(trainer, checkpoint: str | os.PathLike) -> None:
    """The model weights of `checkpoint-N/` into `trainer.model` (before `accelerator.prepare`)."""
    trainer._load_from_checkpoint(os.fspath(checkpoint))


def load_optimizer_and_rng(trainer, checkpoint: str | os.PathLike) -> None:
    """The optimizer, scheduler and every rank's RNG state of `checkpoint-N/`."""
    trainer._load_optimizer_and_scheduler(os.fspath(checkpoint))
    trainer._load_rng_state(os.fspath(checkpoint))


def save_checkpoint(trainer) -> None:
    """`checkpoint-{global_step}/` as `Trainer` writes it (weights, optimizer, RNG, state)."""
    trainer._save_checkpoint(trainer.model, trial=None)
