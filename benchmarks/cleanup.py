"""What the contact clean-up adds to `e3d2 dance`: a 20-s dance generated with and without it.

    python benchmarks/cleanup.py [--policy outputs/demo/bc] [--seconds 20] [--repeats 3]

Times `dance_to_song` (music features, sampling, decoding) on a synthetic song with
`cleanup="none"` and `cleanup="contact"`, best of `--repeats`, times `clean_dance` alone on the
raw decode, and prints its share of the dance's time without it (target: at most 5%). Without `--policy` it builds a demo-size policy and
VQ-VAE with random weights (the clean-up's cost does not depend on the weights).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e3d2_hf.data.readers.synthetic import AUDIO_SAMPLE_RATE  # noqa: E402
from e3d2_hf.export.cleanup import clean_dance  # noqa: E402
from e3d2_hf.inference import dance_to_song, load_dancer  # noqa: E402
from e3d2_hf.models import DancePolicy, DanceVQVAE  # noqa: E402
from e3d2_hf.models.presets import preset_config  # noqa: E402


def song(path: Path, seconds: float) -> Path:
    """A click track at 120 BPM over a chord: enough for the music features."""
    t = np.arange(int(seconds * AUDIO_SAMPLE_RATE)) / AUDIO_SAMPLE_RATE
    audio = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 277 * t)
    audio += (np.mod(t, 0.5) < 0.02) * 0.6
    soundfile.write(path, audio.astype(np.float32), AUDIO_SAMPLE_RATE)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--policy", default=None, help="a trained policy folder (with its VQ-VAE)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.policy:
        policy, vqvae = load_dancer(args.policy)
    else:
        policy = DancePolicy(preset_config("policy", "demo")).eval()
        vqvae = DanceVQVAE(preset_config("vqvae", "demo")).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = song(Path(folder) / "song.wav", args.seconds)
        best = {}
        for cleanup in ("none", "contact") * args.repeats:
            start = time.perf_counter()
            dance = dance_to_song(policy, vqvae, path, seed=0, cleanup=cleanup)
            best[cleanup] = min(best.get(cleanup, np.inf), time.perf_counter() - start)
        raw = dance_to_song(policy, vqvae, path, seed=0, cleanup="none").joints
    alone = np.inf
    for _ in range(max(args.repeats, 5)):
        start = time.perf_counter()
        clean_dance(raw, vqvae.config.skeleton_def)
        alone = min(alone, time.perf_counter() - start)
    print(f"{dance.duration:.1f} s dance of {len(dance.joints)} frames, best of {args.repeats}")
    print(f"e3d2 dance without clean-up: {best['none']:.3f} s")
    print(f"e3d2 dance with clean-up:    {best['contact']:.3f} s")
    print(f"the clean-up alone:          {alone:.4f} s")
    print(
        f"clean-up share: {100 * alone / best['none']:.2f}% of the dance's time "
        "(target: at most 5%)"
    )


if __name__ == "__main__":
    main()
