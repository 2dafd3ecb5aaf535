"""Music feature throughput: seconds of audio processed per second, cold vs cached.

    python benchmarks/music_features.py [--seconds 60] [--fps 60]

Cold = decode + resample + the full librosa pipeline; cached = the content-hash
lookup of the second call. Prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from e3d2_hf.data.music import music_features
from e3d2_hf.data.readers.synthetic import GENRES, synthesize_music


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the test song")
    parser.add_argument("--fps", type=float, default=60.0, help="feature frame rate")
    parser.add_argument("--audio", type=Path, help="use this file instead of a synthetic song")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.audio is None:
            path = Path(tmp) / "song.wav"
            audio = synthesize_music(
                GENRES["step"], 120.0, 0.3, args.seconds, np.random.default_rng(0)
            )
            sf.write(path, audio, 22050)
        else:
            path = args.audio
        duration = sf.info(str(path)).duration
        music_features(path, args.fps, duration=1.0, cache_dir=False)  # warm up numba
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        music_features(path, args.fps, cache_dir=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        repeats = 20
        for _ in range(repeats):
            music_features(path, args.fps, cache_dir=cache)
        cached = (time.perf_counter() - t0) / repeats
    print(f"audio: {duration:.1f} s at {args.fps:g} FPS features")
    print(f"cold:   {duration / cold:10.1f} s of audio per second ({cold:.2f} s)")
    print(f"cached: {duration / cached:10.1f} s of audio per second ({cached * 1000:.1f} ms)")
    print(f"ratio cached/cold: {cold / cached:.0f}x")


if __name__ == "__main__":
    main()
