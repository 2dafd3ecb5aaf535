"""Train the dance VQ-VAE (stage 1a).

python recipes/vqvae.py --config recipes/configs/demo/vqvae.yaml [--key value ...]
accelerate launch recipes/vqvae.py --config recipes/configs/demo/vqvae.yaml
"""

import sys

from e3d2_hf.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("train-vqvae"))
