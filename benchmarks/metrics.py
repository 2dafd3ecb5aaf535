"""Motion features for 40 dances of 1200 frames: the vectorised code vs the slow reference-loop oracle.

    python benchmarks/metrics.py [--dances 40] [--frames 1200] [--oracle-dances 40]

Prints both times and the speed-up ratio (target: at least 100x). The oracle
is the loop-by-loop transcription in tests/oracle.py; `--oracle-dances` can
time it on fewer dances and scale (it takes about 2 s per dance).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e3d2_hf.data.kinematics import forward_kinematics  # noqa: E402
from e3d2_hf.data.readers.synthetic import GENRES, synthesize_dance  # noqa: E402
from e3d2_hf.evaluation.geometric import geometric_features  # noqa: E402
from e3d2_hf.evaluation.kinetic import kinetic_features  # noqa: E402
from e3d2_hf.evaluation.protocol import reorigin  # noqa: E402
from tests.oracle import kinetic_oracle, manual_oracle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dances", type=int, default=40)
    parser.add_argument("--frames", type=int, default=1200)
    parser.add_argument(
        "--oracle-dances",
        type=int,
        default=None,
        help="time the oracle on this many (default: all)",
    )
    args = parser.parse_args()
    dances = []
    for i in range(args.dances):
        rng = np.random.default_rng([7, i])
        genre = GENRES[sorted(GENRES)[i % len(GENRES)]]
        poses, trans = synthesize_dance(
            genre, float(rng.uniform(*genre.bpm)), 0.3, args.frames, rng
        )
        dances.append(
            reorigin(forward_kinematics(torch.as_tensor(poses), torch.as_tensor(trans)).numpy())
        )

    t0 = time.perf_counter()
    fast = [(kinetic_features(d), geometric_features(d)) for d in dances]
    fast_s = time.perf_counter() - t0

    n_oracle = args.oracle_dances or args.dances
    t0 = time.perf_counter()
    slow = [(kinetic_oracle(d), manual_oracle(d)) for d in dances[:n_oracle]]
    slow_s = (time.perf_counter() - t0) * args.dances / n_oracle

    worst = max(
        max(
            np.max(np.abs(f[0] - s[0]) / np.maximum(np.abs(s[0]), 1e-12)),
            np.max(np.abs(f[1] - s[1])),
        )
        for f, s in zip(fast, slow, strict=False)
    )
    print(f"{args.dances} dances x {args.frames} frames (kinetic 72 + geometric 32 features)")
    print(f"vectorised: {fast_s:8.2f} s")
    print(
        f"oracle:     {slow_s:8.2f} s"
        + ("" if n_oracle == args.dances else f" (scaled from {n_oracle})")
    )
    print(f"max relative difference: {worst:.2e}")
    print(f"speed-up: {slow_s / fast_s:.0f}x")


if __name__ == "__main__":
    main()
