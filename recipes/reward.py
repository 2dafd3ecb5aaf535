"""Train the reward model R_theta on ranked demonstration pairs (Bradley-Terry).

python recipes/reward.py --config recipes/configs/demo/reward.yaml
accelerate launch recipes/reward.py --config recipes/configs/demo/reward.yaml
"""

from e3d2_hf.training.stage2 import main_reward

if __name__ == "__main__":
    main_reward()
