"""Build hook: the wheel carries recipes/configs/**.yaml as e3d2_hf/recipe_configs.

`e3d2 demo` runs the stages with those YAML files. In a checkout they are read
where they live (recipes/configs, next to the scripts `accelerate launch`
takes); an installed wheel has no checkout, so the build copies them in.
Everything else about the package is declared in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONFIGS = Path(__file__).resolve().parent / "recipes" / "configs"


class BuildPyWithRecipeConfigs(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "e3d2_hf" / "recipe_configs"
        for config in sorted(CONFIGS.rglob("*.yaml")):
            destination = target / config.relative_to(CONFIGS)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(config, destination)


setup(cmdclass={"build_py": BuildPyWithRecipeConfigs})
