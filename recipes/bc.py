"""Behaviour cloning of the policy GPT on VQ-VAE tokens (stage 1b, pi_BC).

python recipes/bc.py --config recipes/configs/demo/bc.yaml [--key value ...]
accelerate launch recipes/bc.py --config recipes/configs/demo/bc.yaml
"""

from e3d2_hf.training.stage1 import main_bc

if __name__ == "__main__":
    main_bc()
