"""The private transformers APIs the code relies on (e3d2_hf/training/private_api.py) still take what the
code passes them; a release that changes one fails here, naming it and the version."""

from __future__ import annotations

import re

import pytest
import transformers

from e3d2_hf.training.private_api import CHECKED_ON, PRIVATE_API, private_api_problem

from .conftest import REPO


@pytest.mark.parametrize("name", sorted(PRIVATE_API))
def test_each_private_api_has_the_parameters_the_code_passes(name):
    problem = private_api_problem(name)
    assert problem is None, problem


def test_a_changed_signature_is_named_with_both_versions(monkeypatch):
    monkeypatch.setattr(transformers.Trainer, "_load_rng_state", lambda self, folder, strict: None)
    problem = private_api_problem("transformers.Trainer._load_rng_state")
    assert problem is not None
    assert "transformers.Trainer._load_rng_state" in problem
    assert f"transformers {transformers.__version__}" in problem and CHECKED_ON in problem
    monkeypatch.delattr(transformers.Trainer, "_save_checkpoint")
    assert "gone in transformers" in private_api_problem("transformers.Trainer._save_checkpoint")


def test_private_transformers_apis_are_reached_only_through_the_adapter():
    """Every private name the package touches on a transformers object is listed."""
    listed = {name.rsplit(".", 1)[1] for name in PRIVATE_API}
    used = {}
    for path in (REPO / "e3d2_hf").rglob("*.py"):
        if path.name == "private_api.py":
            continue
        text = path.read_text()
        for name in re.findall(r"\b(?:self|super\(\)|trainer)\.(_[a-z][a-z_]+)\(", text):
            if hasattr(transformers.Trainer, name) or hasattr(transformers.HfArgumentParser, name):
                used.setdefault(name, []).append(path.name)
    assert not {k: v for k, v in used.items() if k not in listed}, used
    trainer_calls = {k: v for k, v in used.items() if hasattr(transformers.Trainer, k)}
    assert not trainer_calls, (
        f"Trainer's private methods called outside private_api: {trainer_calls}"
    )
