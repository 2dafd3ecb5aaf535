"""Errors that name the offending file and the problem."""

from __future__ import annotations

import errno
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


USER_ERRORS: tuple[type[BaseException], ...] = (
    E3D2Error,
    FileExistsError,
    FileNotFoundError,
    ValueError,
)
"""What a user's file or flag raises: one line on stderr and exit status 2, no traceback."""


USER_OS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})
"""OS errors caused by where the user pointed a command (read-only, full or forbidden places)."""


def is_user_error(exc: BaseException) -> bool:
    """A user's file or flag caused `exc`: report it in one line, exit status 2."""
    if isinstance(exc, USER_ERRORS):
        return True
    return isinstance(exc, OSError) and exc.errno in USER_OS_ERRNOS


class StageError(Exception):
    """An unexpected failure inside a named stage of a pipeline, raised `from` its cause."""

    def __init__(self, stage: str):
        self.stage = stage
        super().__init__(f"{stage} failed")


def one_line(exc: BaseException) -> str:
    """`Type: message` on a single line, for the last line a user reads."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
