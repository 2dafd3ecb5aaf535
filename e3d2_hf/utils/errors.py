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

    def __reduce__(self):  # rebuilt from its own arguments in the process that reports it
        return type(self), (self.path, self.problem)


class UnsafePickleError(DataFileError):
    """A pickle asked to load something other than numpy arrays and plain containers."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    E3D2Error,
    FileExistsError,
    FileNotFoundError,
    ValueError,
)
"""What a user's file or flag raises: one line on stderr and exit status 2, no traceback."""


OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""A full disk, a full quota, a file size limit."""
USER_OS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS}) | OUT_OF_SPACE_ERRNOS
"""OS errors caused by where the user pointed a command (read-only, full or forbidden places)."""
_OUT_OF_SPACE_WORDS = ("No space left on device", "File too large", "Disk quota exceeded",
                       "os error 28", "os error 27", "os error 122")  # fmt: skip
_ERRNO_LOST = ("iostream error", "System error", "unexpected pos")
"""What torch's and libsndfile's writers say when a write fails; the errno is lost on the way."""

WRITING_INTO: set[str] = set()
"""The output folders this process writes into (`utils.outputs` adds them): where to look for
a full disk when a writer lost the errno."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _fullest_folder() -> str:
    """The output folder of this process with the least free space, if that is nearly none."""
    import shutil

    free = {}
    for folder in WRITING_INTO:
        try:
            free[folder] = shutil.disk_usage(folder).free
        except OSError:
            continue
    fullest = min(free, key=free.get, default=None)
    return fullest if fullest is not None and free[fullest] < 16 * 2**20 else ""


def out_of_space(exc: BaseException) -> str | None:
    """Where the disk is full if `exc` (or what it was raised from) is a failed write on a full
    disk, quota or file size limit ("" when the place is unknown), else None."""
    import resource

    chain = _chain(exc)
    for e in chain:
        if isinstance(e, OSError) and e.errno in OUT_OF_SPACE_ERRNOS:
            return e.filename or _fullest_folder()
        if any(word in str(e) for word in _OUT_OF_SPACE_WORDS):
            return _fullest_folder()
    if not any(word in str(e) for e in chain for word in _ERRNO_LOST):
        return None
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return ""
    return _fullest_folder() or None


def is_user_error(exc: BaseException) -> bool:
    """A user's file or flag caused `exc`: report it in one line, exit status 2."""
    if isinstance(exc, USER_ERRORS):
        return True
    if isinstance(exc, OSError) and exc.errno in USER_OS_ERRNOS:
        return True
    return out_of_space(exc) is not None


def user_message(exc: BaseException) -> str:
    """The one line a user reads for a user error: its message, or where the space ran out."""
    message = " ".join(str(exc).split())
    where = out_of_space(exc)
    if where is None or isinstance(exc, USER_ERRORS):
        return message
    place = f" in {where}" if where else ""
    return (
        f"out of disk space{place} (or over a file size limit): {message}. Free some space and "
        "run again; complete checkpoints and earlier outputs are kept"
    )


class StageError(Exception):
    """An unexpected failure inside a named stage of a pipeline, raised `from` its cause."""

    def __init__(self, stage: str):
        self.stage = stage
        super().__init__(f"{stage} failed")

    def __reduce__(self):
        return type(self), (self.stage,)


def one_line(exc: BaseException) -> str:
    """`Type: message` on a single line, for the last line a user reads."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def close_progress_bars() -> None:
    """Close the progress bars a failure left open, so the error stays the last line."""
    from tqdm.std import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


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
            close_progress_bars()  # an open bar would redraw itself below the error at exit
            print(f"e3d2 {command}: error: {user_message(exc)}", file=sys.stderr)
            return 2
        where, cause = f"e3d2 {command}", exc
        if isinstance(exc, StageError) and exc.__cause__ is not None:
            where, cause = f"{where}: {exc.stage}", exc.__cause__
        sys.stdout.flush()
        traceback.print_exception(cause, file=sys.stderr)
        print(f"{where} failed: {one_line(cause)}", file=sys.stderr)
        return 1


CHATTY_LOGGERS = ("httpx", "httpx2", "httpcore")
"""Libraries that log every HTTP request at INFO: a push or download would print a line per file."""


def configure_logging(level: int = logging.INFO) -> None:
    """The command line's logging: `LEVEL name: message` lines, HTTP clients at WARNING."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def run_recipe(
    command: str, main: Callable[[list[str]], object], argv: list[str] | None = None
) -> int:
    """A training recipe as `e3d2 <command>` and `python recipes/<x>.py` run it: INFO logging,
    the recipe's `main(argv)`, and `exit_code`'s one-line errors."""
    configure_logging()
    argv = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        try:
            main(argv)  # returns the recipe's metrics, already logged and saved
        finally:
            _leave_process_group()
        return 0

    return exit_code(command, run)


def _leave_process_group() -> None:
    """Tear down this rank's process group before the interpreter does: left to exit, gloo's
    threads were destroyed while joinable now and then ("terminate called without an active
    exception", SIGABRT), and the other machine waited five minutes at the exit barrier."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
