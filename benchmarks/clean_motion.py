"""How clean a trained pi_BC's dances are on held-out music: raw decode, cleaned, ground truth.

    python benchmarks/clean_motion.py --run outputs/demo [--data outputs/demo/data]
        [--samples 4] [--figure cleanup.png]

Reads `<run>/vqvae` and `<run>/bc` (and its held-out tokens), dances every held-out piece
`--samples` times as the PPO report does (decoded without seams), and prints the physical
diagnostics of the raw decode, of the same dances after `export.cleanup.clean_dance` and of the
ground truth, BAS of raw and cleaned with 95% bootstrap intervals over the dances, the
VQ-VAE's held-out reconstruction diagnostics and the clean-up's time per dance. `--figure`
draws one piece before and after: side views at four moments and the lowest joint's height.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e3d2_hf.data.layout import MOTION_FPS, SEAM_TOKENS  # noqa: E402
from e3d2_hf.data.schema import load_clip_dataset  # noqa: E402
from e3d2_hf.evaluation.beat_align import beat_align_score  # noqa: E402
from e3d2_hf.evaluation.dance_table import DanceTable, piece_tokens_for  # noqa: E402
from e3d2_hf.evaluation.physical import set_diagnostics  # noqa: E402
from e3d2_hf.evaluation.reconstruction import reconstruction_diagnostics  # noqa: E402
from e3d2_hf.export.cleanup import CleanupConfig, clean_dance  # noqa: E402
from e3d2_hf.models import DancePolicy, DanceVQVAE  # noqa: E402

KEYS = ("joint_speed", "pose_range", "root_travel", "jitter", "foot_skating", "penetration",
        "floating", "max_step")  # fmt: skip


def interval(values: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def side_view(ax, joints: np.ndarray, skeleton, floor: float, colour: str, label: str) -> None:
    up = skeleton.up_index
    across = 0 if up != 0 else 2
    for j, p in skeleton.bones:
        ax.plot(joints[[j, p], across], joints[[j, p], up], color=colour, lw=1.5)
    ax.plot([], [], color=colour, label=label)
    ax.axhline(floor, color="0.5", lw=0.8)


def figure(path: Path, raw, cleaned, skeleton, floor, stand) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    up = skeleton.up_index
    frames = np.linspace(0, len(raw) - 1, 6).astype(int)[1:-1]
    fig = plt.figure(figsize=(12, 6.5))
    for i, f in enumerate(frames):
        ax = fig.add_subplot(2, len(frames), i + 1)
        side_view(ax, raw[f], skeleton, floor, "tab:red", "raw decode")
        side_view(ax, cleaned[f], skeleton, floor, "tab:blue", "cleaned")
        ax.set_title(f"{f / MOTION_FPS:.1f} s", fontsize=9)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, loc="upper left")
    ax = fig.add_subplot(2, 1, 2)
    t = np.arange(len(raw)) / MOTION_FPS
    ax.plot(t, raw[..., up].min(1) - floor, color="tab:red", lw=1, label="raw decode")
    ax.plot(t, cleaned[..., up].min(1) - floor, color="tab:blue", lw=1, label="cleaned")
    ax.axhline(0, color="0.5", lw=0.8, label="the ground truth's floor")
    ax.axhline(stand - floor, color="0.5", lw=0.8, ls="--", label="where its feet stand")
    ax.set_xlabel("seconds")
    ax.set_ylabel("lowest joint above the floor (m)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a demo output folder with vqvae/ and bc/")
    parser.add_argument("--data", default=None, help="its prepared clips (default: <run>/data)")
    parser.add_argument("--samples", type=int, default=4, help="dances per held-out piece")
    parser.add_argument("--figure", default=None, help="PNG of one piece before and after")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument(
        "--cleanup", nargs="*", default=[], metavar="KEY=VALUE",
        help="CleanupConfig fields to change, e.g. lock_speed=0.6",
    )  # fmt: skip
    args = parser.parse_args()
    run = Path(args.run)
    from datasets import load_from_disk

    vqvae = DanceVQVAE.from_pretrained(run / "vqvae").eval()
    policy = DancePolicy.from_pretrained(run / "bc").eval()
    heldout = load_from_disk(str(run / "bc" / "tokens" / "heldout"))
    ids = {str(i) for i in heldout["id"]}
    clips = load_clip_dataset(Path(args.data) if args.data else run / "data")
    clips = clips.filter(lambda i: str(i) in ids, input_columns="id", keep_in_memory=True)
    table = DanceTable(vqvae, heldout, clips, piece_tokens_for(heldout, 150))
    table.diagnostic_samples = args.samples
    skeleton, floor = table.skeleton, table.floor
    dances = table.dances(policy, SEAM_TOKENS, table.tokens(policy))
    if args.samples > 1:
        more = table.tokens(policy, 1.0, args.samples - 1, stream=1)
        dances += table.dances(policy, SEAM_TOKENS, more)
    raw = [d.joints for d in dances]
    start = time.perf_counter()
    config = CleanupConfig(**{k: float(v) for k, v in (a.split("=") for a in args.cleanup)})
    cleaned = [clean_dance(j, skeleton, table.stand, config=config) for j in raw]
    seconds = (time.perf_counter() - start) / len(raw)

    def bas(joints: list[np.ndarray]) -> np.ndarray:
        return np.array([
            beat_align_score(d.music_beats, j.reshape(len(j), -1))
            for d, j in zip(dances, joints, strict=True)
        ])  # fmt: skip

    rows = {
        "ground truth": table.ground_truth_diagnostics,
        "pi_BC raw": set_diagnostics(raw, skeleton, floor),
        "pi_BC cleaned": set_diagnostics(cleaned, skeleton, floor),
    }
    bas_raw, bas_clean = bas(raw), bas(cleaned)
    result = {
        "run": str(run),
        "pieces": len(table.beats),
        "dances": len(raw),
        "frames": len(raw[0]),
        "floor": floor,
        "stand": table.stand,
        "diagnostics": rows,
        "bas": {
            "raw": [float(bas_raw.mean()), *interval(bas_raw)],
            "cleaned": [float(bas_clean.mean()), *interval(bas_clean)],
            "cleaned - raw": [float((bas_clean - bas_raw).mean()), *interval(bas_clean - bas_raw)],
        },
        "reconstruction": reconstruction_diagnostics(vqvae, clips),
        "cleanup_seconds_per_dance": seconds,
        "cleanup": config.as_dict(),
    }
    print(f"{run}: {len(raw)} dances of {len(raw[0])} frames on {len(table.beats)} pieces")
    print("| set | " + " | ".join(KEYS) + " |")
    for name, row in rows.items():
        cells = [f"{row[k]:.4g}" if row.get(k) is not None else "n/a" for k in KEYS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, (mean, low, high) in result["bas"].items():
        print(f"BAS {name}: {mean:.4f} [{low:.4f}, {high:.4f}]")
    recon = result["reconstruction"]
    print(
        "reconstruction: MPJPE {:.1f} mm; jitter {:.4g} (input {:.4g}); penetration {:.4g}, "
        "floating {:.4g} (input {:.4g}, {:.4g})".format(
            recon["heldout_pose_mpjpe_mm"], recon["heldout_jitter_reconstructed"],
            recon["heldout_jitter_original"], recon["heldout_penetration_reconstructed"],
            recon["heldout_floating_reconstructed"], recon["heldout_penetration_original"],
            recon["heldout_floating_original"],
        )
    )  # fmt: skip
    print(f"clean-up: {1000 * seconds:.1f} ms per dance")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.figure:
        figure(Path(args.figure), raw[0], cleaned[0], skeleton, floor, table.stand)


if __name__ == "__main__":
    main()
