"""Train the dance VQ-VAE (stage 1a).

python recipes/vqvae.py --config recipes/configs/demo/vqvae.yaml [--key value ...]
accelerate launch recipes/vqvae.py --config recipes/configs/demo/vqvae.yaml
"""

from e3d2_hf.training.stage1 import main_vqvae

if __name__ == "__main__":
    main_vqvae()
