"""PPO fine-tuning of pi_BC against a reward (stage 3, pi_RL).

python recipes/ppo.py --config recipes/configs/demo/ppo.yaml [--key value ...]
accelerate launch recipes/ppo.py --config recipes/configs/demo/ppo.yaml
ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 recipes/ppo.py --config ...
accelerate launch --config_file recipes/accelerate/multi_gpu.yaml recipes/ppo.py --config ...
"""

import sys

from e3d2_hf.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("ppo"))
