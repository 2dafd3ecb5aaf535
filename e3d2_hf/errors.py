"""Errors that name the offending file and the problem."""

from __future__ import annotations

import os


class E3D2Error(Exception):
    """Base class of the package's user-facing errors."""


class DataFileError(E3D2Error, ValueError):
    """A data file (audio, motion, split list, dataset) is missing or malformed."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class UnsafePickleError(DataFileError):
    """A pickle asked to load something other than numpy arrays and plain containers."""
