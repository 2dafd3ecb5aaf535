"""Automatically ranked demonstrations: epsilon-greedy rollouts of pi_BC -> preference dataset.

python recipes/demos.py --config recipes/configs/demo/demos.yaml
accelerate launch recipes/demos.py --config recipes/configs/demo/demos.yaml   # each rank collects its shards
"""

from e3d2_hf.training.stage2 import main_demos

if __name__ == "__main__":
    main_demos()
