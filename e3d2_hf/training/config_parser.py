"""YAML config + command-line overrides for every stage (TRL's `TrlParser`)."""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path

from trl import TrlParser

from ..utils.arguments import FieldMetadata
from ..utils.ranges import RangeError
from ..utils.yaml_files import read_yaml


class StageParser(FieldMetadata, TrlParser):
    """TRL's parser (`--config` YAML, then flags) with the package's help and field metadata."""


def parse_stage_args(dataclass_types: tuple, argv: list[str] | None = None) -> tuple:
    """Parse `--config file.yaml` plus `--key value` overrides into the stage's dataclasses.

    Unknown keys in the file or on the command line are errors that name their source.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_file = _config_path(argv)
    if config_file is not None:
        content = _read_config(config_file, dataclass_types)
    parser = StageParser(dataclass_types)
    try:
        return tuple(parser.parse_args_and_config(args=argv))
    except RangeError as exc:
        from_file = config_file is not None and exc.key in content and f"--{exc.key}" not in argv
        raise exc.where(f"{config_file}: " if from_file else "--") from None
    except ValueError as exc:
        where = f"{config_file}: " if config_file is not None and "config file" in str(exc) else ""
        raise ValueError(f"{where}{exc}") from None


def stage_config(dataclass_types: tuple, config_file: str | Path, **overrides) -> tuple:
    """The stage's dataclasses from a YAML config and typed overrides: what `--config FILE
    --key value ...` parses to, built from values instead of strings (`e3d2 demo` runs the
    recipes so)."""
    config_file = Path(config_file)
    content = {**_read_config(config_file, dataclass_types), **overrides}
    fields = {cls: _init_fields(cls) for cls in dataclass_types}
    unknown = sorted(set(content) - {f.name for found in fields.values() for f in found})
    if unknown:
        raise ValueError(f"{config_file}: unknown options {', '.join(unknown)} (with overrides)")
    built = []
    for cls, found in fields.items():
        hints = typing.get_type_hints(cls)
        values = {
            f.name: _typed(hints[f.name], content[f.name]) for f in found if f.name in content
        }
        try:
            built.append(cls(**values))
        except RangeError as exc:
            raise exc.where("" if exc.key in overrides else f"{config_file}: ") from None
    return tuple(built)


def _init_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def _typed(hint, value):
    """A YAML string where the field wants a number or bool (YAML 1.1 reads `3e-4` as a
    string), converted as argparse converts a flag's text."""
    kinds = _scalar_kinds(hint)
    if not isinstance(value, str) or not kinds or str in typing.get_args(hint) or hint is str:
        return value
    if bool in kinds:
        return value.lower() == "true"
    return int(float(value)) if int in kinds and float not in kinds else float(value)


def _read_config(config_file: Path, dataclass_types: tuple) -> dict:
    """A stage's YAML config as a mapping, its values' types checked against the fields."""
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file}: config file not found")
    content = read_yaml(config_file)
    if not isinstance(content, dict):
        raise ValueError(f"{config_file}: expected a mapping of option: value at the top level")
    _check_types(content, dataclass_types, config_file)
    return content


def _check_types(content: dict, dataclass_types: tuple, config_file: Path) -> None:
    """A YAML value of the wrong type (`learning_rate: abc`) is an error naming the file and key;
    argparse would name only a flag the user never typed."""
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name not in content:
                continue
            if content[f.name] is None:
                if not _optional(hints.get(f.name)):
                    raise ValueError(
                        f"{config_file}: {f.name}: null is not a value here; give one, or "
                        "delete the line for the default"
                    )
                continue
            value, kinds = content[f.name], _scalar_kinds(hints.get(f.name))
            if not kinds or isinstance(value, (list, dict)):
                continue
            if bool in kinds:
                ok = isinstance(value, bool) or str(value).lower() in ("true", "false")
            else:
                ok = not isinstance(value, bool) and any(_converts(kind, value) for kind in kinds)
            if not ok:
                names = " or ".join(k.__name__ for k in kinds)
                raise ValueError(f"{config_file}: {f.name}: expected {names}, got {value!r}")


def _optional(hint) -> bool:
    return hint is None or (
        typing.get_origin(hint) in (typing.Union, types.UnionType)
        and type(None) in typing.get_args(hint)
    )


def _scalar_kinds(hint) -> tuple[type, ...]:
    options = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    return tuple(k for k in options if k in (int, float, bool))


def _converts(kind: type, value) -> bool:
    try:
        kind(value)
    except (TypeError, ValueError):
        return False
    return kind is float or float(value) == int(float(value))


def _config_path(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None
