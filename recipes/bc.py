"""Behaviour cloning of the policy GPT on VQ-VAE tokens (stage 1b, pi_BC).

python recipes/bc.py --config recipes/configs/demo/bc.yaml [--key value ...]
accelerate launch recipes/bc.py --config recipes/configs/demo/bc.yaml
"""

import sys

from e3d2_hf.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("train-bc"))
