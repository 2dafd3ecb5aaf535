"""Allowed ranges of numeric options, checked where an option enters (parse time).

`OPTION_RANGES` holds the range of every numeric config field by name (a field's
metadata cannot: `HfArgumentParser` passes it all to argparse); `check_ranges(instance)`
enforces it in a config's `__post_init__`. Command-line flags use `at_least` /
`above` as their argparse `type`. The error names the option, so the
config parser can add the file it came from.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from .errors import E3D2Error


class RangeError(E3D2Error, ValueError):
    """An option's value is outside its allowed range."""

    def __init__(self, key: str, problem: str):
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")

    def __reduce__(self):  # rebuilt from its own arguments in the process that reports it
        return type(self), (self.key, self.problem)

    def where(self, source: str) -> RangeError:
        """The same error with its option prefixed by where it came from: a file, or `--`."""
        return RangeError(f"{source}{self.key}", self.problem)


def check_value(
    key: str,
    value: Any,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
):
    """Raise `RangeError` unless `value` is a finite number within the bounds."""
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RangeError(key, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RangeError(key, f"must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise RangeError(key, f"must be at least {_number(minimum)}, got {_number(value)}")
    if above is not None and value <= above:
        raise RangeError(key, f"must be greater than {_number(above)}, got {_number(value)}")
    if maximum is not None and value > maximum:
        raise RangeError(key, f"must be at most {_number(maximum)}, got {_number(value)}")
    return value


def _number(value: float) -> str:
    """An integer bound as written (4294967295, not 4.29497e+09); anything else as %g."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{value:g}"


OPTION_RANGES: dict[str, dict[str, float]] = {
    # transformers' own arguments
    "per_device_train_batch_size": {"min": 1},
    "per_device_eval_batch_size": {"min": 1},
    "gradient_accumulation_steps": {"min": 1},
    "learning_rate": {"min": 0},
    "weight_decay": {"min": 0},
    "num_train_epochs": {"above": 0},
    "logging_steps": {"above": 0},
    "save_steps": {"above": 0},
    "eval_steps": {"above": 0},
    "save_total_limit": {"min": 1},
    "dataloader_num_workers": {"min": 0},
    "seed": {"min": 0, "max": 2**32 - 1},  # numpy and torch seeds are 32-bit
    "max_grad_norm": {"min": 0},
    "warmup_steps": {"min": 0},
    # e3d2's trainers
    "lr_gamma": {"above": 0},
    "lr_milestones": {"min": 0},
    "window_frames": {"min": 8},
    "window_stride": {"min": 1},
    "window_tokens": {"min": 2},
    "eval_window_stride": {"min": 1},
    "num_ppo_epochs": {"min": 1},
    "kl_coef": {"min": 0},
    "cliprange": {"above": 0},
    "cliprange_value": {"min": 0},
    "vf_coef": {"min": 0},
    "ent_coef": {"min": 0},
    "temperature": {"above": 0},
    "total_episodes": {"min": 1},
    "episodes_per_iteration": {"min": 1},
    "rollout_batch_size": {"min": 1},
    "kl_stop": {"above": 0},
    "eval_episodes": {"min": 1},
    # data, demonstrations and PPO set-up
    "num_synthetic_clips": {"min": 2},
    "synthetic_duration": {"min": 2.0},
    "num_holdout_clips": {"min": 1},
    "prepare_workers": {"min": 1},
    "num_sequences": {"min": 1},
    "duration": {"above": 0},
    "num_workers": {"min": 1},
    "segment_stride": {"min": 1},
    "num_train_pairs": {"min": 1},
    "num_test_pairs": {"min": 1},
    "shard_segments": {"min": 1},
    "match_repeated_codes": {"above": 0},
    "orientation_weight": {"min": 0},
    "eval_dance_tokens": {"min": 0},
    "output_smoothing": {"min": 0},
    "root_path_weight": {"min": 0},
    # the other commands
    "retries": {"min": 0},
    "stride": {"min": 1},
    "start": {"min": 0},
    "edge_tokens": {"min": 0, "max": 64},  # 64 codes: 8.5 s past each end
    "video_fps": {"above": 0, "max": 240},  # beyond what a screen shows; 1e5 rendered for hours
    "bvh_scale": {"above": 0},
}
"""Allowed ranges of every numeric option of the configs, by field name (one name, one meaning)."""


FOLDER_OPTIONS = ("output_dir", "prepared_dir", "preferences_dir", "config_dir")
"""Options naming a folder: an empty one would mean the working directory, never intended."""


def check_ranges(instance: Any) -> None:
    """Check each field of `instance` that `OPTION_RANGES` names (lists item by item), and that
    no folder option is empty."""
    for name in FOLDER_OPTIONS:
        value = getattr(instance, name, None)
        if value is not None and not str(value).strip():
            raise RangeError(name, "must name a folder, got an empty string")
    for name, limits in OPTION_RANGES.items():
        if not hasattr(instance, name):
            continue
        value = getattr(instance, name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            check_value(name, item, limits.get("min"), limits.get("above"), limits.get("max"))


def _flag_type(cast, minimum: float | None, above: float | None):
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if cast is int else 'a number'}, got {text!r}"
            ) from None
        try:
            return check_value("value", value, minimum, above)
        except RangeError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value: ")) from None

    parse.__name__ = cast.__name__  # argparse names the type in its messages
    return parse


def at_least(minimum: float, cast=float):
    """argparse `type`: a number >= `minimum`."""
    return _flag_type(cast, minimum, None)


def above(bound: float, cast=float):
    """argparse `type`: a number > `bound`."""
    return _flag_type(cast, None, bound)
