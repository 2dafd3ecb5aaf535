"""A warm interpreter that forks a fresh process per command: `e3d2 ...`, `python recipes/x.py`
or a snippet of the Python API, each as a user would run it, without paying torch's and
transformers' imports (about 5 s of CPU) once per command.

Run as `python -m tests.zygote WORKERS`; it reads one JSON list of requests on stdin and
writes one JSON object {id: exit status} on stdout when every child has ended. A request:
`{"id", "cwd", "stdout", "stderr", "timeout", "argv"}` plus `"recipe": path` (run as
`__main__`) or `"code": str` (the API snippet) instead of `e3d2`'s own `main`.

The parent imports and does nothing else, so a fork copies no running thread, lock or
open tracker: what a child does is what a fresh interpreter would do from that point.
Settings read at import time (HF_HUB_OFFLINE, ...) are the parent's: a case that changes
one runs in a real fresh interpreter instead.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import time
import traceback

import e3d2_hf.recipes.vqvae  # noqa: F401
import torch  # noqa: F401 - imported once, for every child
import transformers  # noqa: F401
from datasets import load_from_disk  # noqa: F401

import e3d2_hf.cli
import e3d2_hf.commands.dance  # noqa: F401
from e3d2_hf.utils.errors import is_user_error


def _child(request: dict) -> int:
    os.chdir(request["cwd"])
    for stream, name in ((1, "stdout"), (2, "stderr")):
        fd = os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, stream)
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if "code" in request:
            sys.argv = ["-c", request["code"]]
            try:
                exec(request["code"], {"__name__": "__main__"})
            except Exception as exc:
                if not is_user_error(exc):
                    raise
                print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
                return 2
            return 0
        if "recipe" in request:
            sys.argv = [request["recipe"], *request["argv"]]
            sys.path[0] = os.path.dirname(request["recipe"])
            runpy.run_path(request["recipe"], run_name="__main__")
            return 0
        sys.argv = ["-c", *request["argv"]]
        return e3d2_hf.cli.main(request["argv"])
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1


def _fork(request: dict) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(request)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 1)
    return pid


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    requests = json.load(sys.stdin)
    waiting, running, results = list(requests), {}, {}
    while waiting or running:
        while waiting and len(running) < workers:
            request = waiting.pop(0)
            running[_fork(request)] = (request, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for other, (request, started) in running.items():
                if time.monotonic() - started > request.get("timeout", 300):
                    os.kill(other, signal.SIGKILL)
            time.sleep(0.02)
            continue
        request, _ = running.pop(pid)
        results[request["id"]] = os.waitstatus_to_exitcode(status)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
