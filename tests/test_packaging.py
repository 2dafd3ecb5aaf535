"""The built wheel is a working install: `e3d2 demo` finds its configs without a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """The wheel built from the checkout, unpacked: (its file names, the folder)."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(work / "dist")],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("e3d2_hf-*.whl")
    site = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site)
    return names, site


def test_the_wheel_carries_the_recipe_configs_and_the_demo_reads_them(wheel_site, tmp_path):
    names, site = wheel_site
    configs = sorted((REPO / "recipes" / "configs").rglob("*.yaml"))
    for config in configs:
        packaged = f"e3d2_hf/recipe_configs/{config.relative_to(REPO / 'recipes' / 'configs')}"
        assert packaged in names
    for card in sorted((REPO / "model_cards").glob("*.md")):
        assert f"e3d2_hf/model_cards/{card.name}" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # the web page's 3D view is served from the package: no CDN, no npm on the user's machine
    assert {"e3d2_hf/viewer/e3d2-viewer.js", "e3d2_hf/viewer/THREE-LICENSE"} <= names
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the recipes are the subpackage e3d2_hf.recipes: `e3d2 ppo` runs recipes/ppo.py itself
    for recipe in sorted((REPO / "recipes").glob("*.py")):
        assert f"e3d2_hf/recipes/{recipe.name}" in names
    probe = (
        "import e3d2_hf, e3d2_hf.demo as demo, e3d2_hf.cards as cards, e3d2_hf.recipes.ppo as r; "
        "print(e3d2_hf.__file__); print(demo.DemoOptions().config_dir / 'ppo.yaml'); "
        "print(cards.TEMPLATES / 'policy.md'); print(r.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=elsewhere, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, ppo, card, recipe = result.stdout.split()
    assert module.startswith(str(site)) and card.startswith(str(site))
    assert Path(recipe).read_text() == (REPO / "recipes" / "ppo.py").read_text()
    assert recipe.startswith(str(site))
    assert Path(card).read_text() == (REPO / "model_cards" / "policy.md").read_text()
    assert Path(ppo).read_text() == (REPO / "recipes" / "configs" / "demo" / "ppo.yaml").read_text()


def test_the_installed_wheel_runs_the_demo_and_dances_from_an_empty_directory(wheel_site, tmp_path):
    """The demo pipeline (tiny configs, as shipped in the wheel) and `e3d2 dance`, with the
    package imported from the wheel and the working directory empty."""
    _, site = wheel_site
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    cwd, out = tmp_path / "cwd", tmp_path / "demo"
    cwd.mkdir()
    demo = (
        "import sys, e3d2_hf; from e3d2_hf.demo import CONFIG_ROOT, DemoOptions, run_demo; "
        f"assert e3d2_hf.__file__.startswith({str(site)!r}), e3d2_hf.__file__; "
        "run_demo(DemoOptions(output_dir=sys.argv[1], config_dir=CONFIG_ROOT / 'tiny', "
        "report_to='none'))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", demo, str(out)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (out / "report.md").is_file() and list(cwd.iterdir()) == []
    song = next((out / "data" / "audio").glob("*.wav"))
    dance = subprocess.run(
        [sys.executable, "-m", "e3d2_hf.cli", "dance", str(song), "--policy", str(out / "ppo"),
         "--duration", "3", "--formats", "npz,bvh", "--output_dir", str(tmp_path / "dances")],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert dance.returncode == 0, dance.stderr[-3000:]
    assert sorted(p.suffix for p in (tmp_path / "dances").iterdir()) == [".bvh", ".json", ".npz"]
    assert list(cwd.iterdir()) == []


def test_e3d2_ppo_runs_the_recipe_file_itself():
    """One flow, not a copy: the CLI's `ppo` is the module that `python recipes/ppo.py` runs."""
    import importlib

    from e3d2_hf.cli import STAGES

    module, _ = STAGES["ppo"]
    loaded = importlib.import_module(module)
    assert Path(loaded.__file__).resolve() == (REPO / "recipes" / "ppo.py").resolve()
    assert callable(loaded.main) and callable(loaded.run)
