"""Train the reward model R_theta on ranked demonstration pairs (Bradley-Terry).

python recipes/reward.py --config recipes/configs/demo/reward.yaml
accelerate launch recipes/reward.py --config recipes/configs/demo/reward.yaml
"""

import sys

from e3d2_hf.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("train-reward"))
