"""Automatically ranked demonstrations: epsilon-greedy rollouts of pi_BC -> preference dataset.

python recipes/demos.py --config recipes/configs/demo/demos.yaml
accelerate launch recipes/demos.py --config recipes/configs/demo/demos.yaml   # each rank collects its shards
"""

import sys

from e3d2_hf.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("collect-demos"))
