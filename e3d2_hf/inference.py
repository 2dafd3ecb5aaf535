"""Dance from any song: audio -> 7.5-FPS music features -> policy codes -> VQ-VAE joints -> files.

`e3d2 dance`, the web app and the demo's rendered dances all go through here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data.arrays import load_arrays
from .data.layout import FRAMES_PER_TOKEN, MOTION_FPS, SEAM_TOKENS, TOKEN_FPS, sample_rate_for_fps
from .data.music import load_audio, music_features
from .data.skeleton import Skeleton
from .export.cleanup import CLEANUPS, clean_dance
from .models import DancePolicy, DanceVQVAE
from .models.config_checks import check_same_interface
from .models.folders import load_model, locate_vqvae
from .models.policy.configuration_policy import VQVAE_SUBFOLDER
from .models.tokens import encode_joints
from .utils.errors import DataFileError
from .utils.outputs import file_sha256, is_owned, record_files
from .utils.ranges import RangeError

logger = logging.getLogger(__name__)

FORMATS = ("mp4", "gif", "bvh", "npz", "glb")


@dataclass
class Dance:
    """A generated dance and the song segment it was danced to."""

    joints: np.ndarray  # (T, J, 3) metres, 60 FPS
    upper_ids: np.ndarray  # (N,)
    lower_ids: np.ndarray  # (N,)
    skeleton: Skeleton
    song: str
    offset: float
    duration: float
    audio: np.ndarray = field(repr=False)
    audio_rate: int = 0
    fps: float = MOTION_FPS
    cleanup: str = "none"  # what `clean_dance` did to the decode: "contact" or "none"


def load_dancer(
    policy_name_or_path: str, vqvae_name_or_path: str | None = None
) -> tuple[DancePolicy, DanceVQVAE]:
    """The policy (folder or Hub repo id) and the VQ-VAE that decodes its codes.

    The VQ-VAE is `vqvae_name_or_path`, else the policy's `vqvae/` subfolder
    (what `e3d2 push` uploads), else the VQ-VAE the policy was trained with.
    """
    policy = load_model(DancePolicy, policy_name_or_path).eval()
    found = locate_vqvae(policy_name_or_path, policy.config.vqvae_name_or_path, vqvae_name_or_path)
    if found is None:
        raise FileNotFoundError(
            f"no VQ-VAE for policy {policy_name_or_path}: it has no {VQVAE_SUBFOLDER}/ folder and "
            f"its config names none; pass --vqvae PATH_OR_REPO"
        )
    vqvae = load_model(DanceVQVAE, found[0], subfolder=found[1])
    check_same_interface(policy.config, vqvae.config, "VQ-VAE")
    return policy, vqvae.eval()


def start_codes(vqvae: DanceVQVAE, start_pose: str | os.PathLike | None = None) -> tuple[int, int]:
    """The (upper, lower) code pair the dance starts from.

    Bailando starts from the ground-truth dance's first code; a new song has
    none, so the default is the skeleton's rest pose held for one code, and
    `start_pose` (a .npy/.npz joint array) picks the first 8 frames of a dance.
    """
    skeleton = vqvae.config.skeleton_def
    if start_pose is None:
        joints = np.repeat(skeleton.rest_positions().reshape(1, -1), FRAMES_PER_TOKEN, axis=0)
    else:
        path = Path(start_pose)
        arrays = load_arrays(path, "start pose")
        if "joints" not in arrays:
            raise DataFileError(path, "the .npz has no 'joints' array")
        data = arrays["joints"]
        joints = np.asarray(data, dtype=np.float32)
        joints = joints.reshape(len(joints), -1) if joints.ndim else joints.reshape(0, 0)
        if joints.shape[1] != 3 * skeleton.num_joints or len(joints) < FRAMES_PER_TOKEN:
            raise DataFileError(
                path,
                f"start pose must hold at least {FRAMES_PER_TOKEN} frames of {skeleton.num_joints} "
                f"joints ({skeleton.name}), got {joints.shape}",
            )
        if not np.isfinite(joints[:FRAMES_PER_TOKEN]).all():
            raise DataFileError(path, "the start pose's first frames hold NaN or infinite values")
    upper, lower = encode_joints(vqvae, joints[:FRAMES_PER_TOKEN])
    return int(upper[0, 0]), int(lower[0, 0])


def dance_to_song(
    policy: DancePolicy,
    vqvae: DanceVQVAE,
    song: str | os.PathLike,
    offset: float = 0.0,
    duration: float | None = None,
    seed: int = 0,
    temperature: float = 1.0,
    greedy: bool = False,
    start_pose: str | os.PathLike | None = None,
    edge_tokens: int = SEAM_TOKENS,
    cleanup: str = "contact",
) -> Dance:
    """Generate a dance for the song segment [offset, offset + duration) (default: to the end).

    `edge_tokens` (see `DanceVQVAE.decode`) keeps the decoder's boundary jumps out of the
    dance; 0 decodes as Bailando does, first and last frames jumping. `cleanup="contact"`
    (`export.cleanup.clean_dance`) stands the dance on the floor at height 0 with its planted
    feet held and its tremor smoothed; `"none"` gives the raw decode, its root starting at the
    origin.
    """
    if cleanup not in CLEANUPS:
        raise ValueError(f"cleanup must be one of {CLEANUPS}, got {cleanup!r}")
    features = music_features(song, TOKEN_FPS, offset=offset, duration=duration)
    audio_rate = int(sample_rate_for_fps(MOTION_FPS))
    audio = load_audio(song, audio_rate, offset=offset, duration=duration)
    seconds = len(audio) / audio_rate
    num_tokens = int(np.ceil(seconds * TOKEN_FPS - 1e-9))
    if num_tokens < 2:
        raise DataFileError(
            song,
            f"the song segment is {seconds:.2f} s; a dance needs at least {2 / TOKEN_FPS:.2f} s",
        )
    features = features[:num_tokens]
    if len(features) < num_tokens:
        features = np.concatenate(
            [features, np.repeat(features[-1:], num_tokens - len(features), 0)]
        )
    init_upper, init_lower = start_codes(vqvae, start_pose)
    device = policy.device
    generator = torch.Generator(device=device).manual_seed(seed)
    upper, lower = policy.sample_dance(
        torch.from_numpy(features)[None].to(device, policy.dtype),
        torch.tensor([init_upper], device=device),
        torch.tensor([init_lower], device=device),
        greedy=greedy,
        temperature=temperature,
        generator=generator,
    )
    joints = vqvae.decode(upper.to(vqvae.device), lower.to(vqvae.device), edge_tokens)
    joints = joints[0].float().cpu().numpy()
    skeleton = vqvae.config.skeleton_def
    frames = min(len(joints), int(round(seconds * MOTION_FPS)))
    joints = joints[:frames].reshape(frames, skeleton.num_joints, 3)
    if cleanup == "contact":
        joints = clean_dance(joints, skeleton, floor=0.0, fps=MOTION_FPS)
    return Dance(
        joints=joints,
        upper_ids=upper[0].cpu().numpy(),
        lower_ids=lower[0].cpu().numpy(),
        skeleton=skeleton,
        song=str(song),
        offset=offset,
        duration=frames / MOTION_FPS,
        audio=audio,
        audio_rate=audio_rate,
        cleanup=cleanup,
    )


def save_dance(
    dance: Dance,
    output_dir: str | os.PathLike,
    name: str,
    formats: tuple[str, ...] = ("mp4", "bvh", "npz"),
    video_fps: float = 30.0,
    bvh_scale: float = 1.0,
    joint_translations: bool = True,
) -> dict[str, Path]:
    """Write the dance as `<name>.<format>` for every format; returns the written paths.

    An mp4 without ffmpeg falls back to a GIF, with a warning.
    """

    output_dir = Path(output_dir)
    manifest = output_dir / f"{name}.json"
    check_dance_targets(output_dir, name, formats)
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    # every file is written beside, then renamed into place: a run that fails leaves the
    # previous run's dance (and its manifest) as they were
    staging = Path(tempfile.mkdtemp(prefix=f".{name[:40]}.", suffix=".partial", dir=output_dir))
    staged: dict[str, Path] = {}
    try:
        _write_formats(
            dance, staging, name, formats, video_fps, bvh_scale, joint_translations, staged
        )
        record = {
            "written_by": DANCE_MANIFEST,
            "song": dance.song, "offset": dance.offset, "duration": dance.duration,
            "skeleton": dance.skeleton.name, "num_tokens": len(dance.upper_ids),
            "cleanup": dance.cleanup,
            "files": {k: str(output_dir / v.name) for k, v in staged.items()},
            "sha256": {v.name: file_sha256(v) for v in staged.values()},
        }  # fmt: skip
        (staging / manifest.name).write_text(json.dumps(record, indent=2))
        for path in staged.values():
            os.replace(path, output_dir / path.name)
        os.replace(staging / manifest.name, manifest)
        if is_owned(output_dir):  # a folder of the toolkit's (the demo's): its manifest too
            record_files(output_dir, [output_dir / p.name for p in staged.values()] + [manifest])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(output_dir.iterdir()):
            output_dir.rmdir()
    return {k: output_dir / v.name for k, v in staged.items()}


def _write_formats(
    dance: Dance, output_dir: Path, name: str, formats: tuple[str, ...], video_fps: float,
    bvh_scale: float, joint_translations: bool, written: dict[str, Path],
) -> None:  # fmt: skip
    """Write each format into `written` as it is done (so a failure can remove them)."""
    from .export import video
    from .export.bvh import write_bvh
    from .export.gltf import write_glb

    title = song_title(dance.song)
    for fmt in formats:
        path = output_dir / f"{name}.{fmt}"
        if fmt == "npz":
            tmp = path.with_name(f".{path.name}.tmp.npz")
            np.savez_compressed(
                tmp, joints=dance.joints.astype(np.float32), fps=dance.fps,
                upper_ids=dance.upper_ids, lower_ids=dance.lower_ids,
                skeleton=dance.skeleton.name, song=dance.song, offset=dance.offset,
                cleanup=dance.cleanup,
            )  # fmt: skip
            os.replace(tmp, path)
        elif fmt == "glb":
            write_glb(path, dance.joints, dance.skeleton, dance.fps)
        elif fmt == "bvh":
            export = write_bvh(
                path, dance.joints, dance.skeleton, dance.fps, scale=bvh_scale,
                joint_translations=joint_translations,
            )  # fmt: skip
            logger.info(
                "%s: rotations alone (a rigid skeleton) come within %.1f mm of the dance",
                path,
                1000 * export.max_deviation,
            )
        else:
            if fmt == "mp4" and video.find_ffmpeg() is None:
                logger.warning("no ffmpeg: writing %s as a GIF without sound", path.name)
                path, fmt = path.with_suffix(".gif"), "gif"
            video.write_video(
                path, dance.joints, dance.skeleton,
                audio=(dance.audio, dance.audio_rate) if fmt == "mp4" else None,
                fps=video_fps, source_fps=dance.fps, title=title,
            )  # fmt: skip
        written[fmt] = path


DANCE_MANIFEST = "e3d2-hf dance"
"""`written_by` of the `<name>.json` that `save_dance` writes beside a dance."""


def song_title(song: str | os.PathLike) -> str:
    """A song's file stem as text: bytes of a name that is not UTF-8 replaced (a title, a
    default dance name)."""
    return os.fsencode(Path(song).stem).decode(errors="replace")


def dance_names(songs: list[str]) -> list[str]:
    """The file stem of each song's dance: the song's own; a Dance-with-Melody piece's folder
    name (every piece's song is `audio.mp3`); and `<folder>_<stem>` where two songs of one call
    would share a stem. Raises if two would still share a name."""
    from .data.readers.dance_with_melody import is_piece_folder

    paths = [Path(song) for song in songs]
    names = [
        song_title(path.parent) if is_piece_folder(path.parent) else song_title(path)
        for path in paths
    ]
    names = [
        f"{song_title(path.parent)}_{name}" if names.count(name) > 1 else name
        for path, name in zip(paths, names, strict=True)
    ]
    if len(set(names)) < len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise RangeError("songs", f"two songs would both make {twice[0]!r}; dance them in "
                         "separate calls with --name")  # fmt: skip
    return names


NAME_BYTES = 200
"""The longest `--name`: with its longest suffix it stays under the usual 255-byte limit."""


def check_dance_name(name: str) -> None:
    """A dance's name is a plain file stem: no folder, no `..`, not hidden, not too long."""
    if (
        not name
        or name.startswith(".")
        or any(sep in name for sep in ("/", "\\", "\0"))
        or len(name.encode(errors="surrogateescape")) > NAME_BYTES
        or name != name.encode(errors="surrogateescape").decode(errors="replace")
    ):
        raise RangeError(
            "--name",
            f"{name[:60]!r} is not a file stem inside --output_dir (UTF-8, no '/', no leading "
            f"'.', at most {NAME_BYTES} bytes)",
        )


def check_dance_targets(output_dir: Path, name: str, formats: tuple[str, ...]) -> None:
    """Refuse to overwrite a file of that name unless an earlier `save_dance` wrote it and it is
    unchanged since (its `<name>.json` holds the file's sha256): the user's own files, and a
    JSON of theirs that happens to bear the name, are never replaced."""
    check_dance_name(name)
    if not formats or (unknown := sorted(set(formats) - set(FORMATS))):
        what = f"unknown formats {unknown}" if formats else "no format named"
        raise RangeError("--formats", f"{what}; choose from {', '.join(FORMATS)}")
    manifest = output_dir / f"{name}.json"
    ours: dict[str, str] = {}
    if manifest.exists() or manifest.is_symlink():
        try:
            data = json.loads(manifest.read_text()) if manifest.is_file() else None
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            data = None
        if (
            manifest.is_symlink()
            or not isinstance(data, dict)
            or data.get("written_by") != DANCE_MANIFEST
            or not isinstance(data.get("sha256"), dict)
        ):
            raise FileExistsError(
                f"{manifest}: exists and is not a dance manifest of e3d2-hf; nothing was written. "
                "Choose another --name or --output_dir"
            )
        ours = {str(k): str(v) for k, v in data["sha256"].items()}
    suffixes = {f if f != "mp4" else "gif" for f in formats} | set(formats)
    for suffix in sorted(suffixes):
        path = output_dir / f"{name}.{suffix}"
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_symlink() or not path.is_file() or ours.get(path.name) != file_sha256(path):
            raise FileExistsError(
                f"{path}: exists and was not written by e3d2 dance, or changed since; nothing "
                "was written. Choose another --name or --output_dir"
            )
