"""YAML config + command-line overrides for every stage (TRL's `TrlParser`)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def parse_stage_args(dataclass_types: tuple, argv: list[str] | None = None) -> tuple:
    """Parse `--config file.yaml` plus `--key value` overrides into the stage's dataclasses.

    Unknown keys in the file or on the command line are errors that name their source.
    """
    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    config_file = _config_path(argv)
    if config_file is not None:
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file}: config file not found")
        try:
            content = yaml.safe_load(config_file.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"{config_file}: not valid YAML ({exc})") from None
        if not isinstance(content, dict):
            raise ValueError(f"{config_file}: expected a mapping of option: value at the top level")
    parser = TrlParser(dataclass_types)
    try:
        return tuple(parser.parse_args_and_config(args=argv))
    except ValueError as exc:
        where = f"{config_file}: " if config_file is not None and "config file" in str(exc) else ""
        raise ValueError(f"{where}{exc}") from None


def _config_path(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None
