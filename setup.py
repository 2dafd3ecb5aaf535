"""Build hook: the wheel carries the top-level folders the package reads at run time.

recipes/ (the training recipes, each the readable flow of one stage) is the
subpackage `e3d2_hf.recipes`: `python recipes/ppo.py`, `accelerate launch
recipes/ppo.py` and `e3d2 ppo` run the very same file, in a checkout, an
editable install and an installed wheel alike.

recipes/configs/**.yaml becomes e3d2_hf/recipe_configs (`e3d2 demo` runs the
stages with them) and model_cards/*.md becomes e3d2_hf/model_cards (every
trainer and `e3d2 push` render cards from them). In a checkout they are read
where they live, next to recipes/ and tests/ as the project's layout has it; an
installed wheel has no checkout, so the build copies them in. Everything else
about the package is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = (  # (folder in the checkout, files, folder inside the package)
    (ROOT / "recipes" / "configs", "*.yaml", "recipe_configs"),
    (ROOT / "model_cards", "*.md", "model_cards"),
)


class BuildPyWithDataFolders(build_py):
    def run(self) -> None:
        super().run()
        for source, pattern, name in SHIPPED:
            target = Path(self.build_lib) / "e3d2_hf" / name
            for file in sorted(source.rglob(pattern)):
                destination = target / file.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)


setup(
    # namespace packages too (models/policy has no __init__.py), as pyproject's find had it
    packages=[
        *find_namespace_packages(include=["e3d2_hf*"], exclude=["*__pycache__"]),
        "e3d2_hf.recipes",
    ],
    package_dir={"e3d2_hf.recipes": "recipes"},
    cmdclass={"build_py": BuildPyWithDataFolders},
)
