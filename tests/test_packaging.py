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
    for card in sorted((REPO / "model_cards").glob("*.md")):
        assert f"e3d2_hf/model_cards/{card.name}" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import e3d2_hf, e3d2_hf.demo as demo, e3d2_hf.hub as hub; "
        "print(e3d2_hf.__file__); print(demo.DemoOptions().config_dir / 'ppo.yaml'); "
        "print(hub.TEMPLATES / 'policy.md')"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=elsewhere, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, ppo, card = result.stdout.split()
    assert module.startswith(str(site)) and card.startswith(str(site))
    assert Path(card).read_text() == (REPO / "model_cards" / "policy.md").read_text()
    assert Path(ppo).read_text() == (REPO / "recipes" / "configs" / "demo" / "ppo.yaml").read_text()
