"""Reading a YAML file a user wrote: plain data only, one value per key, a bounded size."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .errors import DataFileError

MAX_YAML_BYTES = 1 << 20
"""A config is a page of options: a larger file is a mistake, and PyYAML reads it slowly."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice (PyYAML keeps the last without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | os.PathLike) -> Any:
    """The YAML document of `path`; an oversized, non-UTF-8 or invalid file (Python tags and
    repeated keys included) is a `DataFileError` naming it, a missing one `FileNotFoundError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise DataFileError(
            path,
            f"{size / 2**20:.1f} MiB is too large for a config (at most {MAX_YAML_BYTES >> 20} MiB)",
        )
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError:
        raise DataFileError(path, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise DataFileError(path, f"not valid YAML ({' '.join(str(exc).split())[:200]})") from None
