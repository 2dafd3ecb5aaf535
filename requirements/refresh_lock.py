"""Refresh `requirements/lock.txt` and the tested lower bounds in `pyproject.toml`.

`make lock` runs this, then the test suite on the new set. It installs the
newest versions that `pyproject.toml`'s ranges allow into a scratch venv (the
pinned torch first), freezes that venv into the lock (torch and its CUDA
packages left out, so GPU users keep their own torch), and raises every
direct dependency's lower bound to the version now locked: a lower bound is
always a version the suite ran on. Upper bounds are left as they are: raising
one is a deliberate decision (see `[tool.e3d2_hf.dependencies]`).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
PYPROJECT = ROOT / "pyproject.toml"
SCRATCH = ROOT / "build" / "lock-venv"
SCRATCH_MARK = ".made-by-refresh-lock"
EXTRAS = "dev,deepspeed"
NOT_LOCKED = ("torch", "e3d2-hf")
"""Left to the user's environment: torch (CPU or CUDA build) and the project itself."""

REQUIREMENT = re.compile(
    r'"(?P<name>[A-Za-z0-9_.-]+)(?P<extras>\[[^\]]*\])?>=(?P<low>[^,"]+)(?P<rest>[^"]*)"'
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run(*command: str) -> str:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE).stdout


def freeze_newest(torch: list[str]) -> dict[str, str]:
    """Install the project's newest allowed set into a scratch venv; name -> version."""
    remove_scratch()
    venv.create(SCRATCH, with_pip=True)
    (SCRATCH / SCRATCH_MARK).touch()
    python = str(SCRATCH / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", *torch)
    run(python, "-m", "pip", "install", "--quiet", f"{ROOT}[{EXTRAS}]")
    frozen = {}
    for line in run(python, "-m", "pip", "freeze", "--exclude-editable").splitlines():
        name, _, version = line.partition("==")
        if (
            version
            and canonical(name) not in NOT_LOCKED
            and not canonical(name).startswith("nvidia-")
        ):
            frozen[canonical(name)] = version
    remove_scratch()
    return frozen


def remove_scratch(scratch: Path = SCRATCH, mark: str = SCRATCH_MARK) -> None:
    """Delete a scratch venv, only if it carries the mark its script left in it."""
    if not scratch.exists():
        return
    if not (scratch / mark).is_file():
        sys.exit(f"{scratch}: exists and was not made by this script; move it away and rerun")
    shutil.rmtree(scratch)


def write_lock(frozen: dict[str, str], torch: list[str]) -> None:
    header = [
        f"# Every dependency of e3d2-hf[{EXTRAS}] except torch, at the versions the test suite passed on.",
        "# Used as a constraints file: pip install -c requirements/lock.txt -e '.[dev]'",
        "# Refreshed by `make lock` (requirements/refresh_lock.py), which then runs the tests.",
        f"# Resolved on {datetime.date.today()} with CPython {platform.python_version()} "
        f"on {platform.system()} {platform.machine()}, beside {' '.join(torch)}.",
    ]
    LOCK.write_text("\n".join(header + [f"{n}=={v}" for n, v in sorted(frozen.items())]) + "\n")


def raise_lower_bounds(frozen: dict[str, str], torch_version: str) -> None:
    def bump(match: re.Match) -> str:
        name = canonical(match["name"])
        low = torch_version if name == "torch" else frozen.get(name, match["low"])
        return f'"{match["name"]}{match["extras"] or ""}>={low}{match["rest"]}"'

    PYPROJECT.write_text(REQUIREMENT.sub(bump, PYPROJECT.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", default="torch==2.13.0", help="pip arguments for torch")
    args = parser.parse_args()
    torch = args.torch.split()
    pin = re.fullmatch(r"torch==([\w.+]+)", torch[0])
    if pin is None:
        parser.error(f"--torch must start with torch==VERSION, got {args.torch!r}")
    frozen = freeze_newest(torch)
    write_lock(frozen, torch)
    raise_lower_bounds(frozen, pin[1].split("+")[0])
    print(
        f"wrote {LOCK.relative_to(ROOT)} ({len(frozen)} packages); lower bounds in pyproject.toml"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
