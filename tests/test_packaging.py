"""The built wheel is a working install: `e3d2 demo` finds its configs without a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import REPO


def test_the_wheel_carries_the_recipe_configs_and_the_demo_reads_them(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(tmp_path / "dist")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("e3d2_hf-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    configs = sorted((REPO / "recipes" / "configs").rglob("*.yaml"))
    for config in configs:
        packaged = f"e3d2_hf/recipe_configs/{config.relative_to(REPO / 'recipes' / 'configs')}"
        assert packaged in names
    assert "e3d2_hf/model_cards/policy.md" in names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import e3d2_hf, e3d2_hf.demo as demo; "
        "print(e3d2_hf.__file__); print(demo.DemoOptions().config_dir / 'ppo.yaml')"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=elsewhere, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, ppo = result.stdout.split()
    assert module.startswith(str(site))
    assert Path(ppo).read_text() == (REPO / "recipes" / "configs" / "demo" / "ppo.yaml").read_text()
