"""Errors that name the offending file and the problem."""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
from collections.abc import Callable


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


def exit_code(command: str, run: Callable[[], int]) -> int:
    """Run a command; a user error is one line on stderr and exit status 2.

    Anything else is a bug or a broken environment: its traceback, then one
    last line naming the command (and the stage) and the exception, status 1.
    """
    try:
        return run()
    except KeyboardInterrupt:
        print(f"\ne3d2 {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if is_user_error(exc):
            print(f"e3d2 {command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        where, cause = f"e3d2 {command}", exc
        if isinstance(exc, StageError) and exc.__cause__ is not None:
            where, cause = f"{where}: {exc.stage}", exc.__cause__
        sys.stdout.flush()
        traceback.print_exception(cause, file=sys.stderr)
        print(f"{where} failed: {one_line(cause)}", file=sys.stderr)
        return 1


def run_recipe(
    command: str, main: Callable[[list[str]], object], argv: list[str] | None = None
) -> int:
    """A training recipe as `e3d2 <command>` and `python recipes/<x>.py` run it: INFO logging,
    the recipe's `main(argv)`, and `exit_code`'s one-line errors."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        main(argv)  # returns the recipe's metrics, already logged and saved
        return 0

    return exit_code(command, run)
