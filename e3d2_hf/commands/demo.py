"""the whole E3D2 pipeline with the demo configs, and a report

prepare -> VQ-VAE -> BC -> ranked demonstrations -> reward model -> PPO (learned reward) ->
PPO (Bailando reward, the baseline) -> dances on a held-out song -> report.md/report.html.
Finished stages are reused unless --force.
"""

from __future__ import annotations

from ..demo import DemoOptions as Arguments
from ..demo import run_demo


def run(args: Arguments) -> int:
    run_demo(args)
    return 0
