"""a matrix of PPO runs from one pi_BC (reward models x rewards x estimators x seeds), with a report

Each configuration is measured on held-out music against pi_BC and the KL-matched pi_BC, paired
by seed. The plan is a YAML file (recipes/configs/dwm/experiment.yaml); the stage configs beside
it give every other option. Finished stages are reused unless --force.
"""

from __future__ import annotations

from ..experiment import ExperimentOptions as Arguments
from ..experiment import run_experiment


def run(args: Arguments) -> int:
    run_experiment(args)
    return 0
