"""dance to any song: video with the song, BVH and npz

Generate a dance for each audio file (wav, mp3, flac, ogg; any length: past the policy's 29-step
window the sampler slides, as Bailando's; several songs share one loading of the models), named
after the song (a Dance-with-Melody piece: after its folder), and write <name>.mp4 (the song as its audio track),
<name>.bvh (Blender and other DCC tools) and <name>.npz (joints, fps, tokens); with --formats
...,glb also <name>.glb, an animated glTF of the figure. The dance stands on the floor with its
planted feet held (--cleanup contact); --cleanup none writes the raw decode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..data.layout import SEAM_TOKENS
from ..export.cleanup import CLEANUPS
from ..utils.errors import DataFileError
from ..utils.ranges import RangeError, check_ranges


@dataclass
class Arguments:
    songs: list[str] = field(
        metadata={"positional": True, "nargs": "+", "metavar": "SONG", "help": "audio files"}
    )
    policy: str = field(metadata={"help": "policy folder or Hub repo id"})
    vqvae: str | None = field(
        default=None, metadata={"help": "VQ-VAE folder or repo id (default: the policy's own)"}
    )
    start: float = field(default=0.0, metadata={"help": "start of the song segment, seconds"})
    duration: float | None = field(
        default=None, metadata={"help": "segment length in seconds (default: to the end)"}
    )
    output_dir: str = field(default="outputs/dances", metadata={"help": "where the files go"})
    name: str | None = field(
        default=None,
        metadata={"help": "file stem, for one song (default: the song's, or its piece's folder)"},
    )
    formats: str = field(
        default="mp4,bvh,npz",
        metadata={
            "help": "comma-separated: mp4, gif, bvh, npz, glb (animated glTF: Blender, browsers)"
        },
    )
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    greedy: bool = field(default=False, metadata={"help": "argmax codes instead of sampling"})
    start_pose: str | None = field(
        default=None, metadata={"help": ".npy/.npz joints whose first 8 frames start the dance"}
    )
    edge_tokens: int = field(
        default=SEAM_TOKENS,
        metadata={
            "help": "code pairs repeated past each end before decoding, so the first and last "
            "frames do not jump; 0 decodes as Bailando does"
        },
    )
    cleanup: str = field(
        default="contact",
        metadata={
            "choices": CLEANUPS,
            "help": "contact: stand the dance on the floor (height 0), hold planted feet, smooth "
            "the tremor; none: the raw decode, its root starting at the origin",
        },
    )
    video_fps: float = field(default=30.0, metadata={"help": "frames per second of the video"})
    bvh_scale: float = field(default=1.0, metadata={"help": "BVH units per metre (100: cm)"})
    bvh_rotations_only: bool = field(
        default=False,
        metadata={
            "help": "no per-joint position channels: a rigid skeleton (the nearest to the dance)"
        },
    )

    def __post_init__(self) -> None:
        check_ranges(self)


def run(args: Arguments) -> int:
    from ..inference import check_dance_targets, dance_names, dance_to_song, load_dancer, save_dance

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if args.name and len(args.songs) > 1:
        raise RangeError("--name", f"names one dance; {len(args.songs)} songs are each named "
                         "after their song or piece")  # fmt: skip
    names = [args.name] if args.name else dance_names(args.songs)
    for song, name in zip(args.songs, names, strict=True):  # all checked before minutes of work
        if not Path(song).is_file():
            raise DataFileError(song, "audio file not found")
        check_dance_targets(Path(args.output_dir), name, formats)
    policy, vqvae = load_dancer(args.policy, args.vqvae)  # once, for every song
    for song, name in zip(args.songs, names, strict=True):
        start = time.perf_counter()
        dance = dance_to_song(
            policy, vqvae, song, offset=args.start, duration=args.duration, seed=args.seed,
            temperature=args.temperature, greedy=args.greedy, start_pose=args.start_pose,
            edge_tokens=args.edge_tokens, cleanup=args.cleanup,
        )  # fmt: skip
        written = save_dance(
            dance, args.output_dir, name, formats,
            video_fps=args.video_fps, bvh_scale=args.bvh_scale,
            joint_translations=not args.bvh_rotations_only,
        )  # fmt: skip
        print(
            f"{name}: {len(dance.upper_ids)} tokens, {dance.duration:.2f} s of "
            f"{dance.skeleton.name} dance in {time.perf_counter() - start:.1f} s"
        )
        for path in written.values():
            print(f"wrote {path}")
    return 0
