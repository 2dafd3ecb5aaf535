"""Shared fixtures: the real data next to the checkout, and an isolated feature cache."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
os.environ.setdefault("E3D2_CACHE", str(REPO / ".cache" / "e3d2"))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped, with the reason, if it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not available: {path} is missing (it lives in ../shared/data next to the checkout)"
        )
    return path


TINY = REPO / "recipes" / "configs" / "tiny"
T = TypeVar("T")
R = TypeVar("R")


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory) -> Path:
    """Four 8-second synthetic clips, prepared once per test session."""
    from e3d2_hf.data.prepare import PrepareConfig, prepare

    out = tmp_path_factory.mktemp("data") / "synthetic-tiny"
    prepare(PrepareConfig(source="synthetic", output_dir=str(out), num_sequences=4, duration=8.0))
    return out


@pytest.fixture(scope="session")
def tiny_vqvae(tiny_clips, tmp_path_factory) -> Path:
    """The tiny VQ-VAE trained by the tiny recipe config (30 steps)."""
    from e3d2_hf.recipes.vqvae import main as main_vqvae

    out = tmp_path_factory.mktemp("runs") / "vqvae"
    main_vqvae(
        [
            "--config",
            str(TINY / "vqvae.yaml"),
            "--dataset",
            str(tiny_clips),
            "--output_dir",
            str(out),
        ]
    )
    return out


@pytest.fixture(scope="session")
def tiny_tokens(tiny_clips, tiny_vqvae):
    from e3d2_hf.data.schema import load_clip_dataset
    from e3d2_hf.models import DanceVQVAE
    from e3d2_hf.training import tokenize_clips

    return tokenize_clips(load_clip_dataset(tiny_clips), DanceVQVAE.from_pretrained(tiny_vqvae))


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory, tiny_tokens) -> Path:
    """A tiny policy (untrained: the reward must tell its noise levels apart anyway) with its tokens."""
    import torch

    from e3d2_hf.models import DancePolicy, preset_config

    root = tmp_path_factory.mktemp("policy")
    torch.manual_seed(0)
    DancePolicy(preset_config("policy", "tiny")).save_pretrained(root)
    tiny_tokens.save_to_disk(str(root / "tokens" / "train"))
    tiny_tokens.select([0]).save_to_disk(str(root / "tokens" / "heldout"))
    return root


@pytest.fixture(scope="session")
def tiny_reward(tmp_path_factory) -> Path:
    """An untrained tiny reward model (seeded)."""
    import torch

    from e3d2_hf.models import DanceRewardModel, preset_config

    out = tmp_path_factory.mktemp("reward")
    torch.manual_seed(0)
    DanceRewardModel(preset_config("reward", "tiny")).save_pretrained(out)
    return out


def demonstrations_argv(policy: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--config",
        str(TINY / "demonstrations.yaml"),
        "--policy_name_or_path",
        str(policy),
        "--output_dir",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="session")
def tiny_preferences(tiny_policy, tmp_path_factory) -> Path:
    from e3d2_hf.recipes.demonstrations import main as main_demonstrations

    out = tmp_path_factory.mktemp("prefs") / "preferences"
    main_demonstrations(demonstrations_argv(tiny_policy, out))
    return out


def launch_two_ranks(module: str, function: str, *args: str) -> None:
    """Run `module.function(*args)` on two gloo ranks (`accelerate.debug_launcher`) in a fresh
    interpreter: ranks forked from this pytest process would inherit its single-process
    accelerate state and run alone."""
    import subprocess
    import sys

    code = (
        "import sys; from accelerate import debug_launcher; import importlib; "
        f"fn = getattr(importlib.import_module({module!r}), {function!r}); "
        "debug_launcher(fn, args=tuple(sys.argv[1:]), num_processes=2)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-4000:]


def side_by_side(function: Callable[[T], R], items: Iterable[T], workers: int = 2) -> list[R]:
    """`list(map(function, items))`, `workers` at a time, for independent runs in fresh
    interpreters: each is one thread (OMP_NUM_THREADS=1), so two of them fill both cores."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, compile librosa's numba kernels once, in the controller, before the
    workers start: workers that compile them at the same time corrupt numba's on-disk cache and
    segfault (`e3d2_hf.data.music.compile_feature_kernels`)."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        from e3d2_hf.data.music import compile_feature_kernels

        compile_feature_kernels()
