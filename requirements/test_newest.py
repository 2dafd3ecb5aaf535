"""`make test-newest`: the fast tests on the newest releases of the fast-moving libraries.

In a scratch venv (`build/newest-venv`, made and removed by this script): the pinned torch,
the project's direct dependencies at the lock, except the fast-moving libraries
(`[tool.e3d2_hf.dependencies] fast_moving` in pyproject.toml), which get their newest release
even beyond the project's upper bounds. Then `pip check` (e3d2-hf's own upper bounds aside:
going past them is the point), the fast subset of the suite, and a report: each fast-moving
library, locked -> newest, and, when tests fail, which library's release breaks which tests
(each library that moved is put back to its locked version in turn). So a release that breaks
the toolkit is known the day it is out, before a user meets it. Exit status 0 only when
`pip check` is clean and the subset passes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refresh_lock import LOCK, ROOT, canonical, remove_scratch  # noqa: E402

SCRATCH = ROOT / "build" / "newest-venv"
SCRATCH_MARK = ".made-by-test-newest"
EXTRAS = ("dev", "deepspeed")
FAST_TESTS = (
    "tests/test_models.py",
    "tests/test_private_api.py",
    "tests/test_training.py",
    "tests/test_reward.py",
    "tests/test_hub.py",
    "tests/test_mixed_precision.py",
    "tests/test_crash_and_seed.py",
    "tests/test_ppo.py",
)
"""The models, every trainer, the Hub round trips and the private-API checks: what a release of
transformers, trl, accelerate or huggingface_hub breaks first."""


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=check, text=True, capture_output=not check)


def requirement_name(text: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9_.-]+", text)[0])


def direct_dependencies(pyproject: dict) -> set[str]:
    project = pyproject["project"]
    texts = list(project["dependencies"])
    for extra in EXTRAS:
        texts += project["optional-dependencies"][extra]
    return {requirement_name(t) for t in texts} - {"torch"}


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[canonical(name)] = version
    return pins


def installed_versions(python: str) -> dict[str, str]:
    out = run(python, "-m", "pip", "freeze", "--exclude-editable", check=False).stdout
    return {canonical(n): v for n, _, v in (line.partition("==") for line in out.splitlines()) if v}


def pip_check_problems(report: str, fast: set[str]) -> tuple[list[str], list[str]]:
    """`pip check`'s lines: (problems, e3d2-hf's own upper bounds passed by a fast-moving
    library, which is what this script sets out to do)."""
    problems, beyond = [], []
    for line in report.splitlines():
        words = line.split()
        if not words or "No broken requirements" in line:
            continue
        own = words[0] == "e3d2-hf" and len(words) > 4 and words[2:4] == ["has", "requirement"]
        (beyond if own and requirement_name(words[4]) in fast else problems).append(line)
    return problems, beyond


def pytest(python: str, tests: list[str]) -> tuple[bool, list[str]]:
    """(passed, failing test ids) of `tests` in the scratch venv."""
    result = run(
        python, "-m", "pytest", "-q", "-n", "auto", "--maxprocesses", "4", "--dist", "loadscope",
        "-p", "no:cacheprovider", "-rf", *tests, check=False,
    )  # fmt: skip
    print(result.stdout[-6000:], result.stderr[-2000:], sep="\n", flush=True)
    failing = sorted(set(re.findall(r"^FAILED (\S+)", result.stdout, re.M)))
    return result.returncode == 0, failing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", default="torch==2.13.0", help="pip arguments for torch")
    parser.add_argument("--keep", action="store_true", help="keep the scratch venv afterwards")
    args = parser.parse_args()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    fast = {canonical(n) for n in pyproject["tool"]["e3d2_hf"]["dependencies"]["fast_moving"]}
    pins = locked()

    remove_scratch(SCRATCH, SCRATCH_MARK)
    venv.create(SCRATCH, with_pip=True)
    (SCRATCH / SCRATCH_MARK).touch()
    python = str(SCRATCH / "bin" / "python")
    constraints = SCRATCH / "constraints.txt"  # the lock's direct dependencies, fast ones aside
    constraints.write_text(
        "".join(f"{n}=={pins[n]}\n" for n in sorted(direct_dependencies(pyproject) - fast))
    )
    try:
        run(python, "-m", "pip", "install", "--quiet", "-c", str(LOCK), *args.torch.split())
        run(python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(ROOT))
        others = sorted(direct_dependencies(pyproject) - fast)
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "-c", str(constraints),
            *sorted(fast), *others)  # fmt: skip
        versions = installed_versions(python)
        moved = {n: (pins.get(n), versions.get(n)) for n in sorted(fast)}

        check = run(python, "-m", "pip", "check", check=False)
        problems, beyond = pip_check_problems(check.stdout, fast)
        passed, failing = pytest(python, list(FAST_TESTS))

        blame: dict[str, list[str]] = {}
        if failing:
            for name, (old, new) in moved.items():
                if old is None or old == new:
                    continue
                run(python, "-m", "pip", "install", "--quiet", "--no-deps", f"{name}=={old}")
                _, still = pytest(python, failing)
                blame[f"{name} {new}"] = sorted(set(failing) - set(still))
                run(python, "-m", "pip", "install", "--quiet", "--no-deps", f"{name}=={new}")
    finally:
        if not args.keep:
            remove_scratch(SCRATCH, SCRATCH_MARK)

    print("\n## Newest releases of the fast-moving libraries\n")
    print("| library | locked | newest | |")
    print("|---|---|---|---|")
    for name, (old, new) in moved.items():
        note = "same" if old == new else "newer than the lock"
        print(f"| {name} | {old} | {new} | {note} |")
    print(f"\npip check: {'clean' if not problems else 'PROBLEMS'}")
    for line in problems:
        print(f"  {line}")
    for line in beyond:
        print(f"  (expected, past e3d2-hf's upper bound) {line}")
    print(f"fast tests ({len(FAST_TESTS)} modules): {'passed' if passed else 'FAILED'}")
    for release, tests in blame.items():
        print(f"  {release} breaks: {', '.join(tests) if tests else 'none of them alone'}")
    unexplained = set(failing) - {t for tests in blame.values() for t in tests}
    if unexplained:
        print(f"  failing with no single release to blame: {', '.join(sorted(unexplained))}")
    return 0 if passed and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
