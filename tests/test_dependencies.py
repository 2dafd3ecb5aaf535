"""The lock, the ranges in pyproject.toml and the Makefile's torch pin agree.

The lock (requirements/lock.txt) holds the versions the suite passed on; the
ranges are what `pip install e3d2-hf` accepts. A lower bound is a tested
version, and every library whose private or fast-moving APIs the code uses is
bounded below its next minor release.
"""

from __future__ import annotations

import re
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from .conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCK_FILE = REPO / "requirements" / "lock.txt"


def _lock() -> dict[str, Version]:
    pins = {}
    for number, line in enumerate(LOCK_FILE.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{LOCK_FILE}:{number}: not a name==version pin: {line!r}"
        pins[canonicalize_name(name)] = Version(version)
    return pins


LOCK = _lock()
REQUIREMENTS = [
    Requirement(text)
    for text in PYPROJECT["project"]["dependencies"]
    + [r for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra]
]
FAST_MOVING = {
    canonicalize_name(n) for n in PYPROJECT["tool"]["e3d2_hf"]["dependencies"]["fast_moving"]
}


def _bounds(spec: SpecifierSet) -> tuple[Version, Version]:
    ops = {s.operator: Version(s.version) for s in spec}
    assert set(ops) == {">=", "<"}, f"want exactly '>=low,<high', got {spec}"
    return ops[">="], ops["<"]


def _torch_pin() -> Version:
    match = re.search(r"^TORCH \?= torch==([\w.]+)$", (REPO / "Makefile").read_text(), re.M)
    assert match, "Makefile: no `TORCH ?= torch==VERSION` line"
    return Version(match[1])


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_each_range_starts_at_the_tested_version_and_has_an_upper_bound(requirement):
    name = canonicalize_name(requirement.name)
    low, high = _bounds(requirement.specifier)
    tested = _torch_pin() if name == "torch" else LOCK.get(name)
    assert tested is not None, f"{name} is a dependency but not in {LOCK_FILE.name}"
    assert low == tested, f"{name}: lower bound {low} is not the tested {tested}"
    assert tested in requirement.specifier
    if name in FAST_MOVING or tested.major == 0:
        next_minor = Version(f"{tested.major}.{tested.minor + 1}")
        assert high == next_minor, f"{name}: upper bound {high}, want <{next_minor}"


def test_the_lock_leaves_torch_and_cuda_to_the_user():
    assert "torch" not in LOCK and "e3d2-hf" not in LOCK
    assert not [name for name in LOCK if name.startswith("nvidia-")]


def test_the_extras_agree_with_each_other():
    """gradio appears in `app` and `dev`: one range for both."""
    ranges: dict[str, set[str]] = {}
    for requirement in REQUIREMENTS:
        ranges.setdefault(canonicalize_name(requirement.name), set()).add(
            str(requirement.specifier)
        )
    assert {n: r for n, r in ranges.items() if len(r) > 1} == {}


def test_the_fast_moving_list_names_real_dependencies():
    names = {canonicalize_name(r.name) for r in REQUIREMENTS}
    assert names >= FAST_MOVING


def test_make_test_newest_tells_a_passed_upper_bound_from_a_broken_requirement():
    sys.path.insert(0, str(REPO / "requirements"))
    from test_newest import pip_check_problems

    report = (
        "e3d2-hf 0.1.0 has requirement transformers<5.26,>=5.25.0, but you have transformers 5.26.0.\n"
        "e3d2-hf 0.1.0 has requirement numpy<3,>=2.4.6, but you have numpy 3.0.0.\n"
        "trl 1.17.0 has requirement accelerate>=1.17, but you have accelerate 1.16.0.\n"
    )
    problems, beyond = pip_check_problems(report, {"transformers", "trl", "accelerate"})
    assert beyond == [report.splitlines()[0]]
    assert problems == report.splitlines()[1:]
    assert pip_check_problems("No broken requirements found.\n", {"trl"}) == ([], [])
