"""The training recipes, one flow per file: parse, models, data, trainer, train, save, report.

In a checkout this folder runs as scripts (`python recipes/ppo.py`, `accelerate launch
recipes/ppo.py`); the wheel ships it as `e3d2_hf.recipes` (setup.py maps the folder), so
`e3d2 ppo` imports the very same module.
"""
