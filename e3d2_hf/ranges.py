"""Allowed ranges of numeric options, checked where an option enters (parse time).

A dataclass field declares its range in its metadata (`metadata={"min": 1}` or
`{"above": 0}`); `check_ranges(instance)` enforces them. Command-line flags use
`at_least` / `above` as their argparse `type`. The error names the option, so the
config parser can add the file it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from .errors import E3D2Error


class RangeError(E3D2Error, ValueError):
    """An option's value is outside its allowed range."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"{key}: {problem}")


def check_value(key: str, value: Any, minimum: float | None = None, above: float | None = None):
    """Raise `RangeError` unless `value` is a finite number within the bounds."""
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RangeError(key, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RangeError(key, f"must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise RangeError(key, f"must be at least {minimum:g}, got {value:g}")
    if above is not None and value <= above:
        raise RangeError(key, f"must be greater than {above:g}, got {value:g}")
    return value


def check_ranges(instance: Any, extra: dict[str, dict[str, float]] | None = None) -> None:
    """Check every field with a "min"/"above" in its metadata, and `extra` {name: bounds}."""
    bounds = {
        f.name: {k: f.metadata[k] for k in ("min", "above") if k in f.metadata}
        for f in dataclasses.fields(instance)
        if "min" in f.metadata or "above" in f.metadata
    }
    bounds.update(extra or {})
    for name, limits in bounds.items():
        value = getattr(instance, name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            check_value(name, item, limits.get("min"), limits.get("above"))


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
